"""Streamlit helpers the pages share: cached state, widgets, chart builders, the job launcher.

Pages import from here; nothing here is imported by ser_core.
"""
