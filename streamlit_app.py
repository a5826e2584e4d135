"""SER Explorer's entry: routing only. Run with `ser app` or `streamlit run streamlit_app.py`."""

import streamlit as st

from app.state import ensure_first_launch

st.set_page_config(page_title="SER Explorer", page_icon=":material/graphic_eq:", layout="wide")
ensure_first_launch()  # with nothing prepared, the demo run starts training in the background

pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/library_music:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("app_pages/explore.py", title="Explore", icon=":material/scatter_plot:"),
    st.Page("app_pages/live.py", title="Live", icon=":material/mic:"),
    st.Page("app_pages/kernels.py", title="Kernel study", icon=":material/grid_on:"),
]
st.navigation(pages).run()
