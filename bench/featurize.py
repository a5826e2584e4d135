"""How fast the feature store makes log-mels, against a plain librosa loop, in one run.

  - plain: per file, librosa.load(sr=16000) + librosa.feature.melspectrogram (same
    n_fft, win_length, hop_length, n_mels, f_min) + power_to_db, one process. Its
    first call (imports, numba compilation) is timed apart. The mel matmul runs on
    the default BLAS threads, then once more on one thread (on a shared CPU two
    threads can make it slower); ratios use the faster of the two.
  - cold: `featurize_manifest` into an empty cache (hashing, decoding, trimming,
    levelling, log-mel, writing shards), `--workers` processes.
  - warm: the same call again, twice: every clip comes from the cache.
Reports wall and CPU seconds (this process and its workers), files/s, seconds of
audio per second and the wall-time ratio to the plain loop, with the machine and its
load average: other people's jobs share the CPU, so run it twice.

    python bench/featurize.py [--corpus DIR] [--limit N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
from threadpoolctl import threadpool_limits

from ser_core.audio import AUDIO_EXTENSIONS
from ser_core.config import FeatureConfig
from ser_core.features.store import featurize_manifest
from ser_core.paths import development_corpora


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def plain_log_mel(path: str, config: FeatureConfig) -> np.ndarray:
    wave, _ = librosa.load(path, sr=config.sample_rate)
    mel = librosa.feature.melspectrogram(
        y=wave, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
        win_length=config.win_length, n_mels=config.n_mels, fmin=config.f_min, fmax=config.f_max,
    )
    return librosa.power_to_db(mel)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the store's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds, result."""
    start, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return time.perf_counter() - start, cpu_seconds() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(development_corpora() / "ravdess"), help="folder of audio files")
    parser.add_argument("--limit", type=int, default=None, help="first N files only")
    parser.add_argument("--workers", type=int, default=None, help="feature-store processes (default: all cores)")
    args = parser.parse_args()

    files = sorted(str(p) for p in Path(args.corpus).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    files = files[: args.limit] if args.limit else files
    if not files:
        raise SystemExit(f"no audio files under {args.corpus}")
    audio_s = sum(sf.info(f).duration for f in files)
    config = FeatureConfig()
    manifest = pd.DataFrame({"path": files})
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpu_model()}, {cores} cores; python {platform.python_version()}, librosa {librosa.__version__}")
    print(f"corpus: {args.corpus}: {len(files)} files, {audio_s / 60:.1f} min of audio")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    first, first_cpu, _ = timed(lambda: plain_log_mel(files[0], config))
    rows = [("plain, first call", first, first_cpu)]
    rows.append(("plain, BLAS default threads", *timed(lambda: [plain_log_mel(f, config) for f in files])[:2]))
    with threadpool_limits(1, user_api="blas"):
        rows.append(("plain, BLAS 1 thread", *timed(lambda: [plain_log_mel(f, config) for f in files])[:2]))
    baseline = min(rows[1][1], rows[2][1])

    with tempfile.TemporaryDirectory(prefix="ser-bench-") as cache:
        run = lambda: featurize_manifest(manifest, config, cache_dir=cache, workers=args.workers, progress=False)  # noqa: E731
        cold, cold_cpu, cold_set = timed(run)
        rows.append((f"store cold ({cold_set.computed} computed)", cold, cold_cpu))
        for i in (1, 2):
            warm, warm_cpu, warm_set = timed(run)
            rows.append((f"store warm #{i} ({warm_set.cache_hits} from cache)", warm, warm_cpu))
            assert warm_set.computed == 0
            assert all(np.array_equal(a, b) for a, b in zip(warm_set.mels, cold_set.mels, strict=True))

    print(f"{'':36s} {'wall s':>8s} {'CPU s':>7s} {'files/s':>9s} {'audio s/s':>10s} {'x plain':>8s}")
    for i, (name, seconds, cpu) in enumerate(rows):
        speed = f"{len(files) / seconds:9.1f} {audio_s / seconds:10.1f} {baseline / seconds:8.1f}" if i else ""
        print(f"{name:36s} {seconds:8.3f} {cpu:7.2f} {speed}")
    print(f"\nstore output: {warm_set.describe()}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
