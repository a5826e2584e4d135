"""The app in a real headless chromium: hovering a point of the Explore map plays that clip.

Screenshots of every page go to test-artifacts/ (git-ignored) for a person to look at.
"""

import shutil
from pathlib import Path

import pytest

from tests.browser_app import (CHROMIUM, ISOLATED_POINT, PAGES, ROOT, chromium_page, hover_until_played, open_page,
                               serve_app, wait_for_map, wait_until_idle)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no {CHROMIUM} (Debian: apt-get install -y chromium)"),
]
ARTIFACTS = ROOT / "test-artifacts"
LATENCY_MS = 150  # hover to play() on localhost
DECODED = """() => {
  const audio = document.querySelector(".ser-scatter-audio");
  if (audio.error) throw new Error(`the preview did not decode: ${audio.error.message || audio.error.code}`);
  return audio.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA;
}"""


@pytest.fixture(scope="module")
def app_url(trained_run, tmp_path_factory):
    """The app serving a home with the trained run and its t-SNE map computed."""
    pytest.importorskip("playwright")
    from ser_core.embedding import Projector, projection
    from ser_core.training.runs import RunFolder

    home = tmp_path_factory.mktemp("browser_home")
    run = RunFolder(shutil.copytree(trained_run, home / "runs" / trained_run.name))
    projection(run, Projector("tsne", 2))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve_app(home, ARTIFACTS / "streamlit.log") as url:
        yield url


def screenshot(page, label: str) -> None:
    """The whole page: Streamlit scrolls inside its main section, so the window grows to fit it first."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.screenshot(path=ARTIFACTS / f"page-{label.lower().replace(' ', '-')}.png")
    page.set_viewport_size(size)


def test_hover_plays_the_points_clip_and_every_page_renders(app_url):
    with chromium_page(activation=False) as page:
        try:
            check_opened_by_its_url(page, app_url)
            check_hover_to_play(page)
            screenshot(page, "Explore")
            for label in PAGES:
                if label != "Explore":
                    open_page(page, label)
                    if label == "Live":
                        upload_clip(page)
                    screenshot(page, label)
        except Exception:
            screenshot(page, "failure")
            raise


def check_opened_by_its_url(page, app_url: str) -> None:
    """A bookmarked page, as the server's first visitor, runs inside the app with the app's sidebar."""
    page.goto(f"{app_url}/evaluate")
    wait_until_idle(page)
    assert page.locator("h1").first.inner_text() == "Evaluate"
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert all(label in nav for label in PAGES), nav  # not Streamlit's list of file names


def check_hover_to_play(page) -> None:
    open_page(page, "Explore")
    wait_for_map(page)  # its audio previews made in the background, then drawn
    status = page.locator(".ser-scatter-status")
    page.locator(".ser-scatter-plot").scroll_into_view_if_needed()
    point = page.evaluate(ISOLATED_POINT)
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function("() => document.querySelector('.ser-scatter-status.locked')")
    assert "Click once" in status.inner_text()
    assert page.evaluate("window.__plays.length") == 0  # no sound before the page had a gesture

    page.locator("h1").click()
    assert "Sound on" in status.inner_text()
    played = hover_until_played(page, point)
    assert played["src"] == point["url"]
    assert played["latency_ms"] < LATENCY_MS
    page.wait_for_function(DECODED, timeout=10_000)  # the preview's format is one the browser plays

    page.mouse.click(point["x"], point["y"])  # the clip's details, from Python
    details = page.locator("h3").first
    details.wait_for()
    assert Path(details.inner_text()).suffix == ".wav"
    wait_until_idle(page)


def upload_clip(page) -> None:
    """Live: upload a demo utterance and wait for its prediction and its place on the map."""
    import io

    import numpy as np
    import soundfile as sf

    from ser_core.corpora.demo import speak

    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate([speak(n, "angry", "m02") for n in (1, 2, 3)]), 16000, format="WAV")
    page.get_by_role("radiogroup", name="Clip", exact=True).get_by_text("Upload").click()  # not calibration's
    page.get_by_test_id("stFileUploader").filter(has_text="Upload a clip").locator("input[type=file]").set_input_files(
        {"name": "angry.wav", "mimeType": "audio/wav", "buffer": buffer.getvalue()})
    page.wait_for_selector(".ser-scatter[data-ready='true']")
    wait_until_idle(page)
