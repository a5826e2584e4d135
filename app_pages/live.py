"""Live: record or upload a clip, see which emotion a trained model hears and where the clip lands on its map."""

import hashlib

import pandas as pd
import streamlit as st

from app import explore, state, widgets
from ser_core.audio import AUDIO_EXTENSIONS, AudioError
from ser_core.predict import Prediction, Predictor
from ser_core.training.runs import RunFolder

SESSION_CLIPS = "live_clips"  # this session's usable clips: {sha1 of the bytes: (name, bytes)}
MAX_SESSION_CLIPS = 20


def live_page() -> None:
    st.title("Live")
    st.caption("Record a clip in the browser or upload one: the run's model says which emotion it hears, "
               "and the clip is placed on the run's map among the clips it sounds like.")
    run = widgets.pick_run("live_run", label="Model (run)", need_model=True)
    if run is None:
        return
    predictor = state.load_predictor(str(run.path))
    source = st.radio("Clip", ["Record", "Upload"], horizontal=True, key="live_source")
    if source == "Record":
        clip = st.audio_input("Record a clip (say a sentence, 2 to 5 s)", key="live_record")
    else:
        clip = st.file_uploader("Upload a clip", type=sorted(ext[1:] for ext in AUDIO_EXTENSIONS), key="live_upload")
    if clip is None:
        st.caption(f"The model knows {', '.join(predictor.labels)}; it listens to {predictor.listens}.")
    else:
        data = clip.getvalue()
        try:
            prediction = explore.predict_clip(predictor, data, clip.name)
        except AudioError as exc:
            st.warning(f"Cannot use this clip ({clip.name}): {exc.reason}.", icon=":material/warning:")
        else:
            _remember(clip.name, data)
            _prediction(prediction)
            _placement(run, prediction)
    _session_clips(predictor)


def _remember(name: str, data: bytes) -> None:
    clips = st.session_state.setdefault(SESSION_CLIPS, {})
    clips[hashlib.sha1(data).hexdigest()] = (name, data)
    while len(clips) > MAX_SESSION_CLIPS:
        clips.pop(next(iter(clips)))


def _prediction(prediction: Prediction) -> None:
    confidence = prediction.probabilities[prediction.emotion]
    cols = st.columns(3)
    cols[0].metric("Emotion", prediction.emotion)
    cols[1].metric("Probability", f"{confidence:.0%}")
    cols[2].metric("Length", f"{prediction.duration_s:.1f} s")
    left, right = st.columns(2)
    left.plotly_chart(explore.probability_figure(prediction.probabilities, "What the model hears"),
                      key="live_probabilities")
    if prediction.timeline:
        right.plotly_chart(explore.timeline_figure(prediction), key="live_timeline")
    else:
        right.caption("One prediction for the whole clip: it fits in one window of the model, or the model "
                      "hears a clip at once.")


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


def _session_clips(predictor: Predictor) -> None:
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
    st.dataframe(rows, hide_index=True, key="live_clips_table",
                 column_config={c: st.column_config.ProgressColumn(c, min_value=0, max_value=1, format="percent")
                                for c in rows.columns if c.startswith("probability")})
    if st.button("Forget my clips", key="live_forget"):
        st.session_state.pop(SESSION_CLIPS, None)
        st.rerun()


live_page()
