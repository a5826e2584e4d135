"""Data: choose corpora, see what is in them, listen to a clip and see its features, save a manifest."""

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, state
from ser_core.audio import AudioError, load_audio
from ser_core.corpora import CORPORA
from ser_core.corpora.aggregate import aggregate, summarize, write_manifest
from ser_core.corpora import download
from ser_core.corpora.archive import extract_upload
from ser_core.corpora.vocabulary import CorpusError
from ser_core.features import log_mel, to_volume
from ser_core.paths import demo_dir, manifests_dir
from ser_core.quickstart import demo_manifest_path
from ser_core.recipes import recipe_names, resolve

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@st.cache_data(ttl=300, show_spinner="Scanning the corpora…")
def scan_sources(sources: tuple[tuple[str, str], ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return aggregate(sources)


@st.cache_data(max_entries=32, show_spinner=False)
def clip_features(path: str, recipe: str):
    """(waveform, log-mel (T, F), volume (1, S, L, F)) of one clip with a recipe's features."""
    config = resolve(recipe).features
    wave = load_audio(path, config.audio)
    mel = log_mel(wave, config)
    return wave, mel, to_volume(mel, config.segments, config.segment_frames, pad_value=float(mel.min()))


def choose_sources() -> list[tuple[str, str]]:
    """The demo corpus, saved manifests and the folders, CSVs and zips added in this session."""
    added = st.session_state.setdefault("data_sources", [])
    sources = []
    demo_ready = demo_manifest_path().is_file()
    if st.checkbox("Demo corpus (synthetic)", value=demo_ready, disabled=not demo_ready, key="data_demo",
                   help=None if demo_ready else "Generated on first launch (see Home)."):
        sources.append(("demo", str(demo_dir())))
    saved = {name: path for name, path in state.list_manifests().items() if name != "demo"}
    for name in st.multiselect("Saved manifests", list(saved), key="data_saved"):
        sources.append(("csv", str(saved[name])))

    local, upload = st.tabs(["Add a local folder or CSV", "Upload a zip"])
    with local:
        with st.form("add_local", border=False):
            left, right = st.columns([2, 3])
            kind = left.selectbox("Kind", list(CORPORA), format_func=lambda k: f"{k}: {CORPORA[k].description}")
            path = right.text_input("Path", placeholder="/data/RAVDESS or /data/my_manifest.csv")
            if st.form_submit_button("Add"):
                target = Path(path.strip()).expanduser()
                if not path.strip() or not target.exists():
                    st.error(f"No such folder or file: {path!r}")
                else:
                    added.append((kind, str(target.resolve())))
    with upload:
        with st.form("add_zip", border=False):
            left, right = st.columns([2, 3])
            kind = left.selectbox("Kind", [k for k in CORPORA if k != "csv"], key="zip_kind",
                                  format_func=lambda k: f"{k}: {CORPORA[k].description}")
            file = right.file_uploader("Corpus zip", type=["zip"])
            if st.form_submit_button("Extract and add") and file is not None:
                try:
                    with st.spinner(f"Extracting {file.name}…"):
                        added.append((kind, str(extract_upload(file, file.name))))
                except CorpusError as err:
                    st.error(str(err))
    for i, (kind, path) in enumerate(list(added)):
        left, right = st.columns([6, 1])
        left.markdown(f"`{kind}` {path}")
        if right.button("Remove", key=f"remove_source_{i}"):
            added.pop(i)
            st.rerun()
    return sources + [s for s in added if s not in sources]


def get_corpus() -> None:
    """A public corpus downloaded with its checksum, unpacked and saved as a manifest; or where to get it."""
    catalogue = download.sources()
    name = st.selectbox("Corpus", list(catalogue), format_func=lambda n: catalogue[n].title, key="get_name")
    src = catalogue[name]
    st.caption(f"Licence: {src.licence}. Source: {src.homepage}")
    if not src.automatic:
        st.info(src.manual, icon=":material/person:")
        return
    size = f"{src.size / 1e6:,.0f} MB" if src.size else "Size unknown"
    if src.hash:
        st.caption(f"{size}, checked against its published {src.hash.split(':')[0].upper()} before use.")
    else:
        st.warning(f"{size}. {src.hash_note}", icon=":material/gpp_maybe:")
    unverified = not src.hash and st.checkbox("Download it unverified (its SHA-256 is recorded)", key="get_unverified")
    folder = download.default_folder(name)
    if not st.button(f"Download into {folder}", disabled=not (src.hash or unverified), key="get_start"):
        return
    bar = st.progress(0.0, text=f"Downloading {src.filename}…")
    shown = [-1]

    def show(done: int, total: int | None) -> None:
        percent = int(100 * done / total) if total else 0
        if percent != shown[0]:  # one message per percent, not one per chunk
            shown[0] = percent
            of = f" of {total / 1e6:,.1f}" if total else ""
            bar.progress(percent / 100, text=f"{src.filename}: {done / 1e6:,.1f}{of} MB")

    try:
        with st.spinner("Downloading, checking and unpacking…"):
            fetched = download.fetch_corpus(src, folder, unverified=unverified, progress=show)
    except CorpusError as err:
        st.error(str(err))
        return
    bar.empty()
    path = write_manifest(fetched.manifest, manifests_dir() / f"{name}.csv")
    check = f"verified ({fetched.verified_with})" if fetched.verified_with else f"unverified (sha256:{fetched.sha256})"
    st.success(f"{len(fetched.manifest):,} clips of {name} in {fetched.corpus_dir}, {check}. "
               f"Saved as the manifest {path.stem!r}: choose it below, or train on it from the Train page.")


def summary(manifest: pd.DataFrame) -> None:
    tables = summarize(manifest)
    corpora = tables["corpora"]
    cols = st.columns(4)
    cols[0].metric("Files", f"{len(manifest):,}")
    cols[1].metric("Speakers", manifest["speaker"].nunique())
    cols[2].metric("Hours", f"{corpora['hours'].sum():.2f}")
    cols[3].metric("Emotions", manifest["emotion"].nunique())
    left, right = st.columns(2)
    left.plotly_chart(charts.corpus_files(corpora), key="chart_corpora")
    right.plotly_chart(charts.emotion_files(tables["emotions"]), key="chart_emotions")
    left, right = st.columns([3, 1])
    left.plotly_chart(charts.speaker_files(tables["speakers"]), key="chart_speakers")
    right.plotly_chart(charts.sex_files(manifest), key="chart_sex")


def filtered(manifest: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns(4)
    keep = pd.Series(True, index=manifest.index)
    for col, column in zip(cols, ("corpus", "emotion", "speaker", "gender")):
        chosen = col.multiselect(column.capitalize(), sorted(manifest[column].unique()), key=f"filter_{column}")
        if chosen:
            keep &= manifest[column].isin(chosen)
    table = manifest.loc[keep]
    st.dataframe(table, hide_index=True, height=260,
                 column_config={"duration": st.column_config.NumberColumn("duration (s)", format="%.2f")})
    return table


def clip_view(table: pd.DataFrame) -> None:
    if table.empty:
        st.info("No clip matches the filters.")
        return
    left, right = st.columns([3, 1])
    path = left.selectbox("Clip", table["path"].tolist(), key="data_clip",
                          format_func=lambda p: f"{Path(p).parent.name}/{Path(p).name}")
    recipe = right.selectbox("Features of the recipe", recipe_names(), key="data_recipe",
                             help="Each recipe's log-mel and volume settings (ser recipes lists them).")
    try:
        wave, mel, vol = clip_features(path, recipe)
    except AudioError as err:
        st.error(str(err))
        return
    config = resolve(recipe).features
    row = table.loc[table["path"] == path].iloc[0]
    st.caption(f"{row['corpus']} · speaker {row['speaker']} · {row['emotion']} · {len(wave) / config.sample_rate:.2f} s")
    st.audio(path)
    st.plotly_chart(charts.waveform(wave, config.sample_rate), key="chart_wave")
    st.plotly_chart(charts.spectrogram(mel, config.hop_length / config.sample_rate), key="chart_mel")
    st.plotly_chart(charts.volume(vol), key="chart_volume")
    st.caption(f"The model sees {config.window_seconds:.1f} s (the centre of longer clips, padded shorter ones) "
               f"as {config.segments} segments of {config.segment_frames} frames x {config.n_mels} mel bins.")


def save_manifest(table: pd.DataFrame) -> None:
    with st.form("save_manifest"):
        name = st.text_input("Manifest name", placeholder="ravdess_savee",
                             help="Letters, digits, - _ . ; saved as $SER_HOME/manifests/NAME.csv")
        if st.form_submit_button(f"Save the {len(table):,} clips shown"):
            if not NAME.fullmatch(name):
                st.error(f"Choose a name of letters, digits, '-', '_' or '.', got {name!r}")
                return
            path = write_manifest(table, manifests_dir() / f"{name}.csv")
            st.success(f"Saved {path}; train on it from the Train page.")


def data_page() -> None:
    st.title("Data")
    with st.expander("Get a corpus", icon=":material/download:"):
        get_corpus()
    with st.expander("Corpora", expanded=True):
        sources = choose_sources()
    if not sources:
        st.info("Choose the demo corpus, a saved manifest, or add a corpus folder, a CSV or a zip above.")
        return
    try:
        manifest, skipped = scan_sources(tuple(sources))
    except (CorpusError, ValueError, OSError) as err:
        st.error(str(err))
        return
    if manifest.empty:
        st.warning("No usable clips in the chosen corpora.")
    else:
        summary(manifest)
        st.subheader("Clips")
        table = filtered(manifest)
        st.subheader("One clip")
        clip_view(table)
        st.subheader("Save as a manifest")
        save_manifest(table)
    if len(skipped):
        with st.expander(f"{len(skipped):,} files skipped, with the reason", icon=":material/warning:"):
            st.dataframe(skipped, hide_index=True)


data_page()
