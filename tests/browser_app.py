"""Run the app and drive it in Debian's chromium with Playwright (tests/test_browser.py, bench/app.py).

Never `playwright install`: the browser is /usr/bin/chromium (`apt-get install chromium`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ("Home", "Data", "Train", "Evaluate", "Explore", "Live", "Kernel study")  # sidebar labels
WAIT_MS = 90_000  # generous: the first page of a server imports torch on a shared CPU

# Records every play() with its src and time, and the time of the last mouse move (page clock).
PLAY_HOOK = """
window.__plays = [];
window.__lastMove = null;
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  window.__plays.push({ src: this.src, t: performance.now() });
  return play.call(this);
};
document.addEventListener("mousemove", () => { window.__lastMove = performance.now(); }, true);
"""

# The mapped clip with a ready preview farthest from any other on screen, so that hovering it
# cannot pick a neighbour: {x, y, row, url} in page coordinates.
ISOLATED_POINT = """
() => {
  const gd = document.querySelector(".ser-scatter-plot");
  const box = gd.getBoundingClientRect();
  const { xaxis, yaxis } = gd._fullLayout;
  const base = new URL(gd.closest(".ser-scatter").__serScatter.data.preview_base, document.baseURI).href;
  const points = [];
  gd._fullData.forEach((trace) => {
    trace.customdata.forEach(([row, preview], i) => {
      if (row < 0 || !preview) return;
      points.push({ x: box.left + xaxis._offset + xaxis.l2p(trace.x[i]),
                    y: box.top + yaxis._offset + yaxis.l2p(trace.y[i]), row, url: base + preview });
    });
  });
  let best = null, farthest = -1;
  for (const p of points) {
    let nearest = Infinity;
    for (const q of points) if (q !== p) nearest = Math.min(nearest, (p.x - q.x) ** 2 + (p.y - q.y) ** 2);
    if (nearest > farthest) { farthest = nearest; best = p; }
  }
  return best;
}
"""

MAP_WITH_PREVIEWS = """
() => {
  const root = document.querySelector(".ser-scatter[data-ready='true']");
  const gd = root && root.querySelector(".ser-scatter-plot");
  return !!gd && gd._fullData.some((t) => t.customdata.some(([row, preview]) => row >= 0 && preview));
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(ser_home: Path, log_path: Path, timeout_s: float = 60) -> Iterator[str]:
    """`streamlit run streamlit_app.py` on a free port with $SER_HOME = ser_home: -> its URL."""
    port = free_port()
    env = {**os.environ, "SER_HOME": str(ser_home), "SER_NO_AUTOSTART": "1"}
    env.pop("SER_STATIC_DIR", None)  # the server serves the repository's static/ only
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited ({process.returncode}):\n{log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app did not answer in {timeout_s} s:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Playwright runs its own scripts as user gestures, so the page would always look activated:
# this makes it report none, and the map must rely on the clicks it sees itself.
NO_ACTIVATION = """
Object.defineProperty(Navigator.prototype, "userActivation", {
  get: () => ({ hasBeenActive: false, isActive: false }),
});
"""


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000, activation: bool = True):
    """A fresh headless chromium page with PLAY_HOOK installed (and NO_ACTIVATION unless `activation`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.add_init_script(PLAY_HOOK)
            if not activation:
                page.add_init_script(NO_ACTIVATION)
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            browser.close()


def open_page(page, label: str) -> None:
    """Click `label` in the sidebar and wait until that page has run and drawn its charts."""
    title = page.locator("h1").first.inner_text()
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
    page.wait_for_function("title => (document.querySelector('h1') || {}).innerText !== title", arg=title)
    wait_until_idle(page)


def wait_until_idle(page) -> None:
    """The script run has finished, nothing shown is stale or a placeholder, every Plotly chart is drawn."""
    page.wait_for_selector("h1")
    page.wait_for_function("""() => {
        const app = document.querySelector('[data-testid="stApp"]');
        return app && app.dataset.testScriptState === "notRunning"
          && !document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]')
          && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every((c) => c.querySelector(".main-svg"));
    }""")


def wait_for_map(page, with_previews: bool = True) -> None:
    page.wait_for_selector(".ser-scatter[data-ready='true']")
    if with_previews:
        page.wait_for_function(MAP_WITH_PREVIEWS)


def hover_until_played(page, point: dict) -> dict:
    """Move the mouse onto `point` and wait for play(): -> {src, latency_ms} (mouse move to play() call)."""
    page.mouse.move(point["x"] - 40, point["y"] - 40)
    before = page.evaluate("window.__plays.length")
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function(f"window.__plays.length > {before}", timeout=10_000)
    return page.evaluate("(({ src, t }) => ({ src, latency_ms: t - window.__lastMove }))(window.__plays.at(-1))")
