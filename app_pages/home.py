"""Home: what SER Explorer is, the first launch's progress, and the way to every page."""

import streamlit as st

from app import state, widgets

PAGES = (
    ("app_pages/data.py", "Data", ":material/library_music:", "browse corpora, listen, see spectrograms and volumes"),
    ("app_pages/train.py", "Train", ":material/model_training:", "train a 3D CNN or a baseline with a live dashboard"),
    ("app_pages/evaluate.py", "Evaluate", ":material/analytics:", "UA, WA, confusion matrix, per speaker and corpus"),
    ("app_pages/explore.py", "Explore", ":material/scatter_plot:", "the learned features: hover a point to hear it"),
    ("app_pages/live.py", "Live", ":material/mic:", "record or upload a clip and see what the model hears"),
    ("app_pages/kernels.py", "Kernel study", ":material/grid_on:", "which 3D kernel works best, as in the paper"),
)


def home() -> None:
    st.title("SER Explorer")
    st.markdown(
        "Speech emotion recognition with **3D convolutional networks over spectro-temporal volumes** "
        "(Kim, Truong, Englebienne and Evers, ACII 2017): a log-mel spectrogram is cut into segments "
        "of frames, and a 3D CNN learns long-term (across segments), short-term (within a segment) and "
        "spectral patterns at once. Evaluation is speaker-independent, reported as unweighted accuracy "
        "(UA, the mean recall over emotions)."
    )
    runs = state.finished_runs()
    if runs:
        widgets.first_launch_banner()
        results = state.load_results(str(runs[0].path))
        st.caption(f"{len(runs)} finished run(s); newest: {runs[0].path.name}, UA {results['ua']:.3f}.")
    else:
        widgets.no_run_message(key="home_quickstart")
    st.subheader("Pages")
    left, right = st.columns(2)
    for i, (path, title, icon, what) in enumerate(PAGES):
        with (left if i % 2 == 0 else right):
            st.page_link(path, label=f"**{title}**: {what}", icon=icon)


home()
