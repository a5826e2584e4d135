"""From a finished recording to the Live page's probabilities: where the time goes, on this machine's CPU.

A 3 s clip of synthetic speech, as st.audio_input hands it over (16 kHz mono WAV bytes), goes
through each stage the page runs, timed apart (model loaded, torch warm; the median of --repeats):

  decode      the WAV bytes to samples (libsndfile)
  clean       resample if needed, trim silence, set the level (ser_core.audio.load_audio less decode)
  log-mel     the STFT and mel filter bank
  windows     normalisation and the half-overlapping windows cut into volumes
  forward     the model's forward pass and softmax over the windows
  figures     the probability and timeline figures built and serialised to JSON, as Streamlit sends them

for a run's own model (default: the quickstart run) and, for each recipe of --recipes, its cnn3d
with random weights (the time does not depend on the weights); each with the machine's threads and
with one (BLAS and OpenMP, as the page predicts: app.explore.THREAD_POOLS). Then the whole Live page rerun
under AppTest with a new recording each time, which also places the clip on the run's map: the
server's share of "recording stops -> probabilities shown" (the browser's drawing comes on top).
Other jobs share the CPU: the load average is printed.

    python bench/live_latency.py [--run RUN] [--recipes demo,laptop] [--repeats 20]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from threadpoolctl import ThreadpoolController

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app/ is not an installed package

from ser_core.audio import decode, load_audio  # noqa: E402
from ser_core.corpora.demo import speak  # noqa: E402
from ser_core.corpora.vocabulary import EMOTIONS  # noqa: E402
from ser_core.features.logmel import log_mel  # noqa: E402
from ser_core.features.normalize import Stats  # noqa: E402
from ser_core.features.volume import sliding_volumes  # noqa: E402
from ser_core.models import create_model  # noqa: E402
from ser_core.predict import Predictor  # noqa: E402
from ser_core.quickstart import quickstart_run  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.runs import RunFolder  # noqa: E402

CLIP_S = 3.0
SAMPLE_RATE = 16000  # st.audio_input's default


def recording(index: int, seconds: float = CLIP_S) -> bytes:
    """`seconds` of one demo speaker's speech as WAV bytes; each index another emotion and sentences."""
    emotion = ("angry", "sad", "happy", "neutral", "fearful")[index % 5]
    wave = np.concatenate([speak(n, emotion, "m02") for n in range(1 + index % 3, 5 + index % 3)])
    buffer = io.BytesIO()
    sf.write(buffer, wave[: int(seconds * SAMPLE_RATE)], SAMPLE_RATE, format="WAV")
    return buffer.getvalue()


def median_ms(fn, repeats: int) -> float:
    fn()  # warm: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def stages(predictor: Predictor, data: bytes, repeats: int) -> dict[str, float]:
    """Milliseconds of each stage for one clip (see the module docstring)."""
    from app.explore import probability_figure, timeline_figure

    f = predictor.features
    wave = load_audio(data, f.audio)
    mel = log_mel(wave, f)
    normalized = predictor.normalize(mel)
    hop = max(1, f.window_frames // 2)
    volumes, _ = sliding_volumes(normalized, f.segments, f.segment_frames, hop)
    x = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))
    prediction = predictor.predict_mel(mel)

    def forward():
        with torch.no_grad():
            predictor.model.forward_head(predictor.model.forward_features(x)).softmax(-1)

    def figures():
        probability_figure(prediction.probabilities, "What the model hears").to_json()
        if prediction.spans_several_windows:
            timeline_figure(prediction).to_json()

    decode_ms = median_ms(lambda: decode(data), repeats)
    figures_ms = {
        "decode": decode_ms,
        "clean": median_ms(lambda: load_audio(data, f.audio), repeats) - decode_ms,
        "log-mel": median_ms(lambda: log_mel(wave, f), repeats),
        "windows": median_ms(lambda: sliding_volumes(predictor.normalize(mel), f.segments, f.segment_frames, hop),
                             repeats),
        "forward": median_ms(forward, repeats),
        "figures": median_ms(figures, repeats),
    }
    figures_ms["total"] = sum(figures_ms.values())
    figures_ms["windows_n"] = len(volumes)
    figures_ms["predict_file"] = median_ms(lambda: predictor.predict_file(data), repeats)
    return figures_ms


def recipe_predictor(recipe: str) -> Predictor:
    """A recipe's cnn3d with random weights, for its speed."""
    spec = resolve(recipe, [("model.name", "cnn3d")])
    f = spec.features
    model = create_model("cnn3d", num_classes=len(EMOTIONS), input_shape=(f.segments, f.segment_frames, f.n_mels),
                         **spec.model.to_dict())
    stats = Stats(np.zeros(f.n_mels, dtype=np.float32), np.ones(f.n_mels, dtype=np.float32))
    return Predictor(model, list(EMOTIONS), f, stats, torch.device("cpu"))


def page_reruns(run: RunFolder, repeats: int) -> list[float]:
    """Seconds of each Live page rerun after a new recording (the first, which loads the model, left out)."""
    from streamlit.testing.v1 import AppTest

    times = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as home:
        shutil.copytree(run.path, Path(home) / "runs" / run.path.name)
        os.environ["SER_HOME"], os.environ["SER_NO_AUTOSTART"] = home, "1"
        at = AppTest.from_file(str(ROOT / "app_pages" / "live.py"), default_timeout=120).run()
        for index in range(repeats + 1):
            at.audio_input(key="live_record").set_value((f"take{index}.wav", recording(index), "audio/wav"))
            start = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - start)
            if at.exception:
                raise RuntimeError(at.exception[0].message)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained run folder (default: the quickstart run)")
    parser.add_argument("--recipes", default="demo,laptop", help="recipes whose cnn3d to time too; '' for none")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    run = RunFolder(args.run) if args.run else quickstart_run()
    if run.final_model_path is None:
        raise SystemExit(f"{run.path}: no trained model; run `ser quickstart` or pass --run")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; a {CLIP_S:g} s clip at {SAMPLE_RATE} Hz")

    data = recording(0)
    models = {f"run {run.path.name}": Predictor.load(run.path)}
    models.update({f"{r} cnn3d (random weights)": recipe_predictor(r) for r in args.recipes.split(",") if r})
    names = ("decode", "clean", "log-mel", "windows", "forward", "figures", "total", "predict_file")
    print(f"{'model':34s} {'threads':>7s} {'windows':>7s} " + " ".join(f"{n:>12s}" for n in names) + "   (ms)")
    pools = ThreadpoolController()
    for label, predictor in models.items():
        for threads in (torch.get_num_threads(), 1):
            with pools.limit(limits=1) if threads == 1 else nullcontext():
                ms = stages(predictor, data, args.repeats)
            print(f"{label:34s} {threads:7d} {ms['windows_n']:7d} " + " ".join(f"{ms[n]:12.1f}" for n in names))

    times = page_reruns(run, max(5, args.repeats // 2))
    print(f"Live page rerun after a new recording (AppTest, {len(times)} reruns, run {run.path.name}): "
          f"median {1000 * statistics.median(times):.0f} ms, max {1000 * max(times):.0f} ms")


if __name__ == "__main__":
    main()
