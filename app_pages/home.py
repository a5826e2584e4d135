"""Home: what SER Explorer is, the first launch's progress, and the way to every page."""

import streamlit as st

from app import state, widgets
from app.navigation import HOME, PAGES


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
    for i, page in enumerate(p for p in PAGES if p is not HOME):
        with (left if i % 2 == 0 else right):
            st.page_link(page.file, label=f"**{page.title}**: {page.what}", icon=page.icon)


home()
