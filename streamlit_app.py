"""SER Explorer's entry: routing only. Run with `ser app` or `streamlit run streamlit_app.py`."""

import streamlit as st

from app.navigation import HOME, PAGES
from app.state import ensure_first_launch

st.set_page_config(page_title="SER Explorer", page_icon=":material/graphic_eq:", layout="wide")
ensure_first_launch()  # with nothing prepared, the demo run starts training in the background

st.navigation([st.Page(page.file, title=page.title, icon=page.icon, default=page is HOME)
               for page in PAGES]).run()
