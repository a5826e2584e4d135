"""What the Claims page needs: the cards (cached briefly, as runs finish under it) and the runs that settle them."""

from __future__ import annotations

import streamlit as st

from app import jobs
from ser_core.claims import Card, Settle, claim_cards
from ser_core.paths import runs_dir, sweeps_dir


@st.cache_data(ttl=5, show_spinner="Reading your runs and sweeps…")
def _cards(runs_root: str, sweeps_root: str) -> list[Card]:
    return claim_cards(runs_root, sweeps_root)


def cards() -> list[Card]:
    """The three claims' cards from $SER_HOME's runs and sweeps."""
    return _cards(str(runs_dir()), str(sweeps_dir()))


def settle_job(settle: Settle) -> jobs.Job | None:
    """The job running the settle's command in its folder, if one was started there."""
    job = jobs.find_job(settle.out)
    return job if job is not None and [a for a in job.args if a != "--quiet"] == list(settle.args) else None


def start(settle: Settle) -> jobs.Job:
    """Launch the settle's `ser` command in the background, as the Train and Kernel study pages launch theirs."""
    if not settle.ready:
        raise ValueError("this command needs a manifest first: save one on the Data page")
    job = jobs.launch([*settle.args, "--quiet"], settle.out, settle.meta)
    _cards.clear()  # the cards now point at the started run
    return job
