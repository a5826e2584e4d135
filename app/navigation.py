"""The app's pages in sidebar order: the entry builds its navigation from this list, Home its links."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

APP_ROOT = Path(__file__).resolve().parents[1]  # holds streamlit_app.py: the checkout, or the installed package


class AppPage(NamedTuple):
    path: str  # relative to APP_ROOT (not pages/: Streamlit's legacy folder, see README)
    title: str
    icon: str
    what: str = ""  # one line for Home's list of the other pages

    @property
    def file(self) -> str:
        """The page's absolute path. Streamlit resolves a relative one against its main script,
        and `ser app` runs a launcher in $SER_HOME as the main script (ser_core.cli.serve)."""
        return str(APP_ROOT / self.path)


HOME = AppPage("app_pages/home.py", "Home", ":material/home:")
PAGES = (
    HOME,
    AppPage("app_pages/data.py", "Data", ":material/library_music:",
            "browse corpora, listen, see spectrograms and volumes"),
    AppPage("app_pages/train.py", "Train", ":material/model_training:",
            "train a 3D CNN or a baseline with a live dashboard"),
    AppPage("app_pages/evaluate.py", "Evaluate", ":material/analytics:",
            "UA, WA, confusion matrix, per speaker and corpus"),
    AppPage("app_pages/explore.py", "Explore", ":material/scatter_plot:",
            "the learned feature space: hover a point to hear it"),
    AppPage("app_pages/live.py", "Live", ":material/mic:",
            "record or upload a clip and see what the model hears"),
    AppPage("app_pages/kernels.py", "Kernel study", ":material/grid_on:",
            "which 3D kernel works best, as in the paper"),
    AppPage("app_pages/claims.py", "Claims", ":material/gavel:",
            "the paper's three claims, re-tested on your runs, with verdicts"),
)
