"""Live: record or upload a clip, see which emotion a trained model hears and where the clip lands on its map."""

import hashlib

import pandas as pd
import streamlit as st

from app import explore, state, widgets
from ser_core.audio import AUDIO_EXTENSIONS, AudioError
from ser_core.predict import FunctionalsPredictor, FusionPredictor, Prediction, Predictor
from ser_core.training.runs import RunFolder
from ser_core.voices import (PROMPTS, SUGGESTED_CLIPS, Voice, add_to_voice, calibrates, check_clips, list_voices,
                             normalization_used, too_few_clips)

SESSION_CLIPS = "live_clips"  # this session's usable clips: {sha1 of the bytes: (name, bytes)}
MAX_SESSION_CLIPS = 20
CALIBRATION_CLIPS = "live_calibration"  # clips recorded for a voice, not saved yet: {sha1: VoiceClip}
CALIBRATION_ROUND = "live_calibration_round"  # a new round, new empty recorder and uploader: saved clips leave them
PICK_VOICE = "live_pick_voice"  # a voice just saved, picked on the next run (a drawn widget's value cannot change)
NO_VOICE = ""
AUDIO_TYPES = sorted(ext[1:] for ext in AUDIO_EXTENSIONS)


def live_page() -> None:
    st.title("Live")
    st.caption("Record a clip in the browser or upload one: the run's model says which emotion it hears, "
               "and the clip is placed on the run's map among the clips it sounds like.")
    run = widgets.pick_run("live_run", label="Model (run)", need_model=True)
    if run is None:
        return
    predictor = state.load_predictor(str(run.path))
    voice, stats = _voice(run, predictor)
    source = st.radio("Clip", ["Record", "Upload"], horizontal=True, key="live_source")
    if source == "Record":
        clip = st.audio_input("Record a clip (say a sentence, 2 to 5 s)", key="live_record")
    else:
        clip = st.file_uploader("Upload a clip", type=AUDIO_TYPES, key="live_upload")
    if clip is None:
        st.caption(f"The model knows {', '.join(predictor.labels)}; it listens to {predictor.listens}.")
    else:
        data = clip.getvalue()
        try:
            prediction = explore.predict_clip(predictor, data, clip.name, speaker_stats=stats)
        except AudioError as exc:
            st.warning(f"Cannot use this clip ({clip.name}): {exc.reason}.", icon=":material/warning:")
        else:
            _remember(clip.name, data)
            _prediction(predictor, prediction, normalization_used(predictor, voice))
            _placement(run, prediction)
    _session_clips(predictor, voice, stats)


def _voice(run: RunFolder, predictor: Predictor) -> tuple[Voice | None, object]:
    """The saved voice picked (None: no calibration) and this run's statistics of it; the calibration form."""
    if PICK_VOICE in st.session_state:
        st.session_state["live_voice"] = st.session_state.pop(PICK_VOICE)
    saved = {v.name: v for v in list_voices()}
    refusal = calibrates(predictor)
    name = st.selectbox("Voice profile", [NO_VOICE, *saved], key="live_voice", disabled=refusal is not None,
                        format_func=lambda n: n or "none: the training audio's statistics",
                        help="Clips of your voice, saved by name: their statistics normalise your clips, as each "
                             "speaker's own statistics did in training." if refusal is None else refusal)
    with st.expander("Calibrate to my voice", expanded=not saved and refusal is None,
                     icon=":material/record_voice_over:"):
        if refusal:
            st.caption(f"Not for this run: {refusal}.")
        else:
            _calibration(predictor)
    voice = saved.get(name) if refusal is None else None
    if voice is None:
        return None, None
    if few := too_few_clips(voice):
        st.warning(few[0].upper() + few[1:] + ".", icon=":material/warning:")
    try:
        return voice, explore.voice_stats_for(run, voice)
    except ValueError as exc:
        st.warning(str(exc), icon=":material/warning:")
        return None, None


def _calibration(predictor: Predictor) -> None:
    """Record or upload clips of one voice, see which are refused and why, save the good ones by name."""
    pending = st.session_state.setdefault(CALIBRATION_CLIPS, {})
    round_ = st.session_state.setdefault(CALIBRATION_ROUND, 0)
    st.markdown(f"Record or upload **{SUGGESTED_CLIPS} clips** of your voice, a sentence each (2 to 5 s), with the "
                "microphone and in the room you will use. Say them in different moods (calm, cheerful, annoyed, "
                "sad): the model scales each voice by the statistics of all its speech, as it did in training.")
    st.markdown(f"Say: *{PROMPTS[len(pending) % len(PROMPTS)]}*")
    if st.radio("Calibration clips", ["Record", "Upload"], horizontal=True, key="live_calibration_source") == "Record":
        recorded = st.audio_input("Record a calibration clip", key=f"live_calibration_record_{round_}")
        new = [(f"recording {len(pending) + 1}", recorded.getvalue())] if recorded is not None else []
    else:
        uploaded = st.file_uploader("Upload calibration clips", type=AUDIO_TYPES, accept_multiple_files=True,
                                    key=f"live_calibration_upload_{round_}")
        new = [(f.name, f.getvalue()) for f in uploaded or []]
    good, refused = check_clips([c for c in new if hashlib.sha1(c[1]).hexdigest() not in pending],
                                predictor.features.audio, known=tuple(pending.values()))
    for clip in good:
        pending[hashlib.sha1(clip.data).hexdigest()] = clip
    for r in refused:
        st.warning(f"Not used for calibration ({r.name}): {r.reason}.", icon=":material/warning:")
    if not pending:
        return
    seconds = sum(c.speech_s for c in pending.values())
    st.caption(f"{len(pending)} of {SUGGESTED_CLIPS} clips ready ({seconds:.1f} s of speech): "
               + ", ".join(c.name for c in pending.values()) + ".")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    name = left.text_input("Save as", key="live_voice_name", placeholder="your name",
                           help="Saving under a name already taken adds these clips to that voice.")
    if right.button("Save voice", key="live_save_voice", disabled=not name.strip(), type="primary"):
        try:
            clips = [(c.name, c.data) for c in pending.values()]
            voice, _ = add_to_voice(name.strip(), clips, predictor.features.audio)
        except ValueError as exc:
            st.error(str(exc))
            return
        _new_round()
        st.session_state[PICK_VOICE] = voice.name
        st.rerun()
    if st.button("Forget these clips", key="live_forget_calibration"):
        _new_round()
        st.rerun()


def _new_round() -> None:
    st.session_state.pop(CALIBRATION_CLIPS)
    st.session_state[CALIBRATION_ROUND] += 1


def _remember(name: str, data: bytes) -> None:
    clips = st.session_state.setdefault(SESSION_CLIPS, {})
    clips[hashlib.sha1(data).hexdigest()] = (name, data)
    while len(clips) > MAX_SESSION_CLIPS:
        clips.pop(next(iter(clips)))


def _prediction(predictor: Predictor, prediction: Prediction, normalization: str) -> None:
    confidence = prediction.probabilities[prediction.emotion]
    cols = st.columns(3)
    cols[0].metric("Emotion", prediction.emotion)
    cols[1].metric("Probability", f"{confidence:.0%}")
    cols[2].metric("Length", f"{prediction.duration_s:.1f} s")
    st.caption(f"Normalised by {normalization}.")
    left, right = st.columns(2)
    left.plotly_chart(explore.probability_figure(prediction.probabilities, "What the model hears"),
                      key="live_probabilities")
    window_s = predictor.features.window_seconds
    if prediction.spans_several_windows:
        right.plotly_chart(explore.timeline_figure(prediction), key="live_timeline")
    elif isinstance(predictor, (FunctionalsPredictor, FusionPredictor)):
        right.caption(f"One prediction for the whole clip: the model hears {predictor.listens}.")
    elif prediction.duration_s <= window_s:
        right.caption(f"The clip is one window long ({prediction.duration_s:.1f} s; the model's window is "
                      f"{window_s:.1f} s): one prediction for the whole clip.")
    else:
        right.caption(f"The clip is under two windows long ({prediction.duration_s:.1f} s; the model's window is "
                      f"{window_s:.1f} s): its windows overlap almost wholly, so one prediction for the whole clip. "
                      f"A clip of {2 * window_s:.1f} s or more gets a timeline.")


def _placement(run: RunFolder, prediction: Prediction) -> None:
    st.subheader("Where it lands on the map")
    if not run.embeddings_path.is_file():
        st.caption(widgets.no_map_reason(run))
        return
    _, table = explore.map_table(run)
    if "predicted_emotion" not in table.columns:
        st.caption("This run has no predictions.csv, so its map has no emotions to show.")
        return
    placed = explore.place_clip(run, prediction.embedding)
    if placed is None:
        explore.wait_for_map(explore.map_coords(run, "tsne", 2, len(table)))
        return
    label = f"your clip: {prediction.emotion}"
    explore.show_map(run, table, placed.coords, "emotion", key=f"live_map_{run.path.name}", height=460,
                     highlight={"x": float(placed.xy[0]), "y": float(placed.xy[1]), "label": label})
    nearest = table.iloc[placed.neighbors]
    counts = nearest["emotion"].value_counts()
    st.caption(f"On the {explore.METHOD_NAMES[placed.method]} map, placed among its {len(nearest)} nearest clips "
               "in the model's feature space: " + ", ".join(f"{n} {e}" for e, n in counts.items()) + ".")


def _session_clips(predictor: Predictor, voice: Voice | None, stats) -> None:
    clips = list(st.session_state.get(SESSION_CLIPS, {}).values())
    if len(clips) < 2:
        return
    st.subheader(f"Your {len(clips)} clips")
    speaker_mode = predictor.features.normalization == "speaker"
    together = st.toggle(
        "Treat my clips as one speaker", key="live_one_speaker", disabled=not speaker_mode,
        help="The model normalises each speaker's log-mels by that speaker's own statistics. A single clip "
             "falls back to the training audio's statistics; several clips of one person give that person's own, "
             "as in training, so the model hears them better (see BENCHMARKS.md)."
             if speaker_mode else f"This run normalises by {predictor.features.normalization}, not by speaker.",
    )
    alone = [explore.predict_clip(predictor, data, name) for name, data in clips]
    rows = pd.DataFrame({"clip": [name for name, _ in clips],
                         "emotion (clip alone)": [p.emotion for p in alone],
                         "probability": [p.probabilities[p.emotion] for p in alone]})
    if together:
        joint = explore.predict_as_one_speaker(predictor, clips)
        rows["emotion (as one speaker)"] = [p.emotion for p in joint]
        rows["probability (as one speaker)"] = [p.probabilities[p.emotion] for p in joint]
    if voice is not None:
        calibrated = [explore.predict_clip(predictor, data, name, speaker_stats=stats) for name, data in clips]
        rows[f"emotion ({voice.name}'s voice)"] = [p.emotion for p in calibrated]
        rows[f"probability ({voice.name}'s voice)"] = [p.probabilities[p.emotion] for p in calibrated]
    st.dataframe(rows, hide_index=True, key="live_clips_table",
                 column_config={c: st.column_config.ProgressColumn(c, min_value=0, max_value=1, format="percent")
                                for c in rows.columns if c.startswith("probability")})
    used = [f"each clip alone by {normalization_used(predictor)}"]
    if together:
        used.append(f"as one speaker by {normalization_used(predictor, own_clips=len(clips))}")
    if voice is not None:
        used.append(f"with {voice.name}'s voice by {normalization_used(predictor, voice)}")
    st.caption("Normalised " + "; ".join(used) + ".")
    if st.button("Forget my clips", key="live_forget"):
        st.session_state.pop(SESSION_CLIPS, None)
        st.rerun()


live_page()
