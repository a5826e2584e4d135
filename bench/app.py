"""How fast the app answers, in a real headless chromium, and how long a 10,000-clip map takes.

  - map compute: t-SNE and UMAP (2D) of 10,000 synthetic 64-dim embeddings (a Gaussian
    mixture of 6 clusters), the time to a first map; UMAP's first call in a process
    includes its numba compilation, so it runs twice.
  - map payload: building the 10,000-point figure and the component's JSON, and its size.
  - previews: making the audio previews of a run's clips (clips/s).
  - browser: cold start (server launch to the first page drawn), the time to switch to
    each page (click to every chart drawn), the Explore page with 10,000 points (click to
    map drawn), and hover-to-play latency (the mouse move to the audio element's play()).
The browser part serves a temporary $SER_HOME with a trained run (default: the
quickstart run) and a 10,000-clip copy of it (synthetic embeddings over its clips).
Other people's jobs share the CPU: the load average is printed; run it twice.

    python bench/app.py [--run RUN_DIR] [--points 10000] [--hovers 30] [--out /tmp/bench_app.md]
    python bench/app.py --first-launch
    python bench/app.py --switches 5 [--run RUN_DIR]

--first-launch times what a new user meets: `ser app` on an empty $SER_HOME with the Home
page open in chromium while the demo model trains, until Home names the finished run;
beside it, in the same run, `ser quickstart` alone (the plain reference).

--switches N times only the page switches, N rounds of Home -> each page, with two copies
of the run in $SER_HOME; it prints each page's first visit (in the sidebar's order, as a
new user's), then the median and range of later ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app/ and tests/ are not installed packages

from ser_core.corpora.vocabulary import EMOTIONS  # noqa: E402
from ser_core.embedding import Projector, projection_path  # noqa: E402
from ser_core.previews import PreviewConfig  # noqa: E402
from ser_core.quickstart import quickstart_run  # noqa: E402
from ser_core.files import write_atomic  # noqa: E402
from ser_core.training.runs import EMBEDDED_COLUMNS, RunFolder  # noqa: E402


def mixture(n: int, dims: int = 64, clusters: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, dims) float32 points around `clusters` random centres, and each point's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(clusters, dims))
    labels = rng.integers(0, clusters, size=n)
    return (centres[labels] + rng.normal(size=(n, dims))).astype(np.float32), labels


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_projections(x: np.ndarray) -> dict[str, float]:
    figures = {}
    for method in ("tsne", "umap", "umap"):
        seconds, coords = timed(lambda: Projector(method=method).fit_transform(x))
        name = method if method not in figures else f"{method} (compiled)"
        figures[name] = seconds
        print(f"{name:>16}: {seconds:6.1f} s for {len(x):,} points")
    figures["coords"] = coords
    return figures


def bench_payload(coords: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from app.scatter import map_figure

    groups = np.asarray(EMOTIONS)[labels]
    texts = [f"{g} · clip {i}" for i, g in enumerate(groups)]
    previews = [f"{i:020x}{PreviewConfig().suffix}" for i in range(len(coords))]
    palette = {e: "#888888" for e in EMOTIONS}
    build_s, figure = timed(lambda: map_figure(coords, groups, texts, previews, palette, "emotion"))
    json_s, spec = timed(figure.to_json)
    print(f"   figure build: {build_s * 1000:6.0f} ms; to JSON {json_s * 1000:.0f} ms; {len(spec) / 1e6:.2f} MB")
    return {"build_s": build_s, "json_s": json_s, "mb": len(spec) / 1e6}


def big_run(source: RunFolder, home: Path, embeddings: np.ndarray, coords: np.ndarray) -> RunFolder:
    """A copy of `source` whose embeddings are `embeddings` over its clips (repeated), with its t-SNE map."""
    run = RunFolder(home / "runs" / f"bench-{len(embeddings)}").create()
    for name in ("config.json", "results.json", "model.pt", "predictions.csv"):
        shutil.copy(source.path / name, run.path / name)  # new mtimes: the newest run, which pickers choose
    with np.load(source.embeddings_path) as data:
        clips = {c: np.resize(data[c], len(embeddings)) for c in EMBEDDED_COLUMNS}
    import io

    buffer = io.BytesIO()
    np.savez(buffer, embeddings=embeddings.astype(np.float16), **clips)
    write_atomic(run.embeddings_path, buffer.getvalue())
    buffer = io.BytesIO()
    np.save(buffer, coords)
    write_atomic(projection_path(run, Projector("tsne", 2)), buffer.getvalue())
    return run


def bench_previews(run: RunFolder) -> dict[str, dict[str, float]]:
    """Encode a run's previews in each format into an empty folder (timed), then the default one into the
    served folder for the browser part: {format: {clips, seconds, kb}}."""
    from app.previews import preview_store
    from ser_core.previews import FORMATS, PreviewStore, generate_previews

    with np.load(run.embeddings_path) as data:
        paths = [str(p) for p in data["path"]]
    figures = {}
    for fmt in FORMATS:
        config = PreviewConfig(format=fmt)
        with tempfile.TemporaryDirectory(prefix="bench-previews-") as folder:
            seconds, _ = timed(lambda: generate_previews(PreviewStore(folder, config), paths))
            sizes = [p.stat().st_size for p in Path(folder).glob("*" + config.suffix)]
        print(f"       previews ({fmt}): {len(paths)} clips in {seconds:.1f} s ({len(paths) / seconds:.0f} clips/s), "
              f"median {statistics.median(sizes) / 1000:.1f} KB")
        figures[fmt] = {"clips": len(paths), "seconds": seconds, "kb": statistics.median(sizes) / 1000}
    generate_previews(preview_store(), paths)
    return figures


SPREAD_POINTS = """
n => {
  const gd = document.querySelector(".ser-scatter-plot");
  const box = gd.getBoundingClientRect();
  const { xaxis, yaxis } = gd._fullLayout;
  const points = [];
  gd._fullData.forEach((trace) => trace.customdata.forEach(([row, preview], i) => {
    if (preview) points.push({ x: box.left + xaxis._offset + xaxis.l2p(trace.x[i]),
                               y: box.top + yaxis._offset + yaxis.l2p(trace.y[i]) });
  }));
  const step = Math.max(1, Math.floor(points.length / n));
  return points.filter((_, i) => i % step === 0).slice(0, n);
}
"""


def click_for_details(page, point: dict) -> None:
    from tests.browser_app import wait_until_idle

    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector("h3")
    wait_until_idle(page)


def bench_browser(home: Path, hovers: int) -> dict:
    from tests.browser_app import PAGES, chromium_page, open_page, serve_app, wait_for_map, wait_until_idle

    figures: dict = {}
    log = home / "streamlit.log"
    start = time.perf_counter()
    with serve_app(home, log) as url, chromium_page() as page:
        figures["server_s"] = time.perf_counter() - start
        page.goto(url)
        wait_until_idle(page)
        figures["first_page_s"] = time.perf_counter() - start
        print(f"     cold start: server answers in {figures['server_s']:.1f} s, first page drawn at "
              f"{figures['first_page_s']:.1f} s")
        switches = {}
        for label in [*(p for p in PAGES[1:] if p != "Explore"), "Home", "Explore"]:  # ends on the map
            seconds, _ = timed(lambda: open_page(page, label))
            if label == "Explore":
                seconds += timed(lambda: wait_for_map(page))[0]
            switches[label] = seconds
        figures["switch_s"] = switches
        print("    page switch: " + ", ".join(f"{k} {v:.2f} s" for k, v in switches.items()))
        page.locator("h1").click()  # the gesture that lets the page play audio
        point = page.evaluate(SPREAD_POINTS, 1)[0]
        figures["click_s"], _ = timed(lambda: click_for_details(page, point))
        print(f"   click to details: {figures['click_s']:.2f} s (the clip's probabilities, spectrogram, player)")
        latencies = []
        for point in page.evaluate(SPREAD_POINTS, hovers):
            page.mouse.move(5, 5)
            before = page.evaluate("window.__plays.length")
            page.mouse.move(point["x"], point["y"])
            try:
                page.wait_for_function(f"window.__plays.length > {before}", timeout=3000)
            except Exception:
                continue  # the mouse landed between points
            latencies.append(page.evaluate("window.__plays.at(-1).t - window.__lastMove"))
        figures["hover_ms"] = latencies
        n_points = page.evaluate("document.querySelector('.ser-scatter-plot')._fullData"
                                 ".reduce((n, t) => n + t.customdata.length, 0)")
        figures["map_points"] = n_points
        if latencies:
            print(f"  hover to play: median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms "
                  f"over {len(latencies)} hovers on a {n_points:,}-point map")
    return figures


def bench_switches(home: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds from the sidebar click to every chart drawn, `rounds` times for each page (from Home each time)."""
    from tests.browser_app import PAGES, chromium_page, open_page, serve_app, wait_until_idle

    times: dict[str, list[float]] = {label: [] for label in PAGES[1:]}
    with serve_app(home, home / "streamlit.log") as url, chromium_page() as page:
        page.goto(url)
        wait_until_idle(page)
        first = {label: timed(lambda: open_page(page, label))[0] for label in times}  # pays each page's imports
        print("  first visits: " + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()), flush=True)
        for label in times:  # a second visit, not counted either
            open_page(page, label)
        for _ in range(rounds):
            for label in times:
                open_page(page, "Home")
                times[label].append(timed(lambda: open_page(page, label))[0])
    for label, seconds in times.items():
        print(f"  switch to {label:13s} median {statistics.median(seconds):.2f} s "
              f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} times)", flush=True)
    return times


def bench_first_launch(timeout_s: float = 900) -> dict:
    """Seconds from `ser app` on an empty $SER_HOME to Home naming the demo run, with Home open all along;
    and `ser quickstart` alone on another empty $SER_HOME, first, as the reference."""
    from tests.browser_app import chromium_page, free_port, wait_until_idle

    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        env = {**os.environ, "SER_HOME": str(Path(tmp) / "quickstart")}
        figures["quickstart_s"], _ = timed(lambda: subprocess.run(
            [sys.executable, "-m", "ser_core.cli", "quickstart", "--quiet"], env=env, check=True, cwd=ROOT))
        print(f"ser quickstart alone: {figures['quickstart_s']:.1f} s")
        port, log_path = free_port(), Path(tmp) / "server.log"
        env = {**os.environ, "SER_HOME": str(Path(tmp) / "app")}
        env.pop("SER_NO_AUTOSTART", None)
        start = time.perf_counter()
        with open(log_path, "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "ser_core.cli", "app", "--headless", "--port", str(port)],
                                      env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.perf_counter() - start > 60:
                        raise RuntimeError(f"the app did not start:\n{log_path.read_text()[-2000:]}")
                    time.sleep(0.2)
            with chromium_page() as page:
                page.goto(url)
                wait_until_idle(page)
                page.get_by_text("finished run(s); newest").wait_for(timeout=timeout_s * 1000)
                figures["first_launch_s"] = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(10)
        figures["watcher_lines"] = log_path.read_text(errors="replace").count("Inotify")
    print(f"ser app to the demo model ready on Home (browser open): {figures['first_launch_s']:.1f} s; "
          f"'Inotify' lines in the server log: {figures['watcher_lines']}")
    return figures


def write_report(path: Path, args, proj: dict, payload: dict, previews: dict, browser: dict) -> None:
    hover = browser.get("hover_ms") or [float("nan")]
    lines = [
        "## App responsiveness (bench/app.py)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} (shared with other jobs); headless Debian chromium, localhost.",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| cold start: server launch to first page drawn | {browser['first_page_s']:.1f} s "
        f"(server answers at {browser['server_s']:.1f} s) |",
        *[f"| page switch to {k} (click to every chart drawn) | {v:.2f} s |" for k, v in browser["switch_s"].items()],
        f"| click on a point to its details drawn ({browser['map_points']:,}-point map) | {browser['click_s']:.2f} s |",
        f"| hover to play() ({browser['map_points']:,}-point map, {len(hover)} hovers) | median "
        f"{statistics.median(hover):.1f} ms, max {max(hover):.1f} ms |",
        f"| t-SNE of {args.points:,} x 64 embeddings (time to first map) | {proj['tsne']:.1f} s |",
        f"| UMAP of {args.points:,} x 64, first call in a process (numba compile) | {proj['umap']:.1f} s |",
        f"| UMAP of {args.points:,} x 64, compiled | {proj['umap (compiled)']:.1f} s |",
        f"| {args.points:,}-point figure: build / to JSON / size | {payload['build_s'] * 1000:.0f} ms / "
        f"{payload['json_s'] * 1000:.0f} ms / {payload['mb']:.2f} MB |",
        *(f"| audio previews ({fmt.upper()}{', the default' if fmt == PreviewConfig().format else ''}, "
          f"16 kHz mono, <= 4 s) | {p['clips'] / p['seconds']:.0f} clips/s, median {p['kb']:.1f} KB |"
          for fmt, p in previews.items()),
        "",
    ]
    path.write_text("\n".join(lines))
    print(f"written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a trained run folder (default: the quickstart run)")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--hovers", type=int, default=30)
    parser.add_argument("--out", default="/tmp/bench_app.md")
    parser.add_argument("--first-launch", action="store_true", help="time the first launch only (see above)")
    parser.add_argument("--switches", type=int, default=0, metavar="N", help="time N rounds of page switches only")
    args = parser.parse_args()
    if args.first_launch:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(json.dumps(bench_first_launch(), indent=1))
        return
    source = RunFolder(args.run) if args.run else quickstart_run()
    if not source.embeddings_path.is_file():
        raise SystemExit(f"{source.path}: no finished run with embeddings; run `ser quickstart` or pass --run")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.switches:
        with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
            for copy in ("a", "b"):
                shutil.copytree(source.path, Path(tmp) / "runs" / f"{source.path.name}-{copy}")
            bench_switches(Path(tmp), args.switches)
        return

    x, labels = mixture(args.points)
    proj = bench_projections(x)
    payload = bench_payload(proj["coords"], labels)
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        home = Path(tmp)
        shutil.copytree(source.path, home / "runs" / source.path.name)
        previews = bench_previews(source)
        big_run(source, home, x, proj["coords"])
        browser = bench_browser(home, args.hovers)
    write_report(Path(args.out), args, proj, payload, previews, browser)
    print(json.dumps({k: v for k, v in browser.items() if k != "hover_ms"}, indent=1))


if __name__ == "__main__":
    main()
