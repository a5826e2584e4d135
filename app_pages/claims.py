"""Claims: the paper's three claims, each re-tested on the user's runs, with a verdict by a declared rule."""

import pandas as pd
import streamlit as st

from app import charts, claims
from ser_core.claims import FAILS, HOLDS, Card, Settle

BADGES = {HOLDS: ("green", ":material/check_circle:"), FAILS: ("red", ":material/cancel:")}
WHERE_TO_FOLLOW = {"train": "the Train page", "sweep": "the Kernel study page"}


def settle_block(card: Card, settle: Settle, index: int) -> None:
    st.markdown(f"**To settle it:** {settle.why}")
    st.code(settle.command, language="bash")
    job = claims.settle_job(settle)
    where = WHERE_TO_FOLLOW.get(settle.args[0], "its folder")
    if job is not None and job.running():
        st.info(f"Running (follow it on {where}); the verdict updates when it finishes.", icon=":material/sync:")
    elif not settle.ready:
        st.caption("Fill in MANIFEST (save one on the Data page) to run it.")
    elif st.button("Start this run", key=f"claims_start_{card.key}_{index}", icon=":material/play_arrow:"):
        claims.start(settle)
        st.toast(f"Started: follow it on {where}.")
        st.rerun()


def kernel_cells(table: pd.DataFrame) -> None:
    """The sweep's grids, UA with its spread and parameters side by side, and the cells as a table."""
    for sweep, cells in table.groupby("sweep", sort=False):
        left, right = st.columns(2)
        left.plotly_chart(charts.sweep_heatmap(cells, "ua", f"{sweep}: UA by kernel"), key=f"claims_ua_{sweep}")
        right.plotly_chart(charts.sweep_heatmap(cells, "params", f"{sweep}: parameters"),
                           key=f"claims_params_{sweep}")
    number = st.column_config.NumberColumn
    st.dataframe(table[["sweep", "cell", "ua", "ua_sd", "params", "size_group", "paper_side"]], hide_index=True,
                 column_config={"ua": number("UA", format="%.3f"), "ua_sd": number("± over folds", format="%.3f"),
                                "size_group": "size group", "paper_side": "paper's side"}, key="claims_cells")


def card_view(card: Card) -> None:
    with st.container(border=True):
        st.subheader(card.title)
        st.markdown(f"**The paper:** {card.claim}")
        color, icon = BADGES.get(card.verdict, ("gray", ":material/help:"))
        st.badge(card.verdict, color=color, icon=icon)
        st.markdown(card.reason)
        if card.evidence:
            st.markdown("\n".join(f"- {line}" for line in card.evidence))
        if card.table is not None:
            kernel_cells(card.table)
        st.caption(f"Rule: {card.rule}")
        for i, settle in enumerate(card.settle):
            settle_block(card, settle, i)


def claims_page() -> None:
    st.title("Claims")
    st.markdown("Kim et al. (ACII 2017) make three claims. Each card re-tests one on your own runs and sweeps and "
                "gives a verdict, **holds**, **does not hold** or **not enough evidence**, by the rule stated on "
                "it, and names the run that would settle it. Speakers are the unit of every paired test: clips "
                "of one speaker are not independent.")
    for card in claims.cards():
        card_view(card)


claims_page()
