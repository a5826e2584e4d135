"""Featurise a manifest once: log-mels cached on disk, keyed by audio content and settings.

Layout under `cache_dir`:
  hashes.json                   abspath -> [size, mtime_ns, ctime_ns, inode, content hash]
  <spectrogram_fingerprint>/    one folder per audio + STFT + mel setting
    config.json                 those settings, for people
    shards/<name>.npy           (M, F): the log-mels (float16) of up to 64 file contents end to end,
                                or their functionals (float32, one row each)
    shards/<name>.json          their content hashes and offsets, and the contents that failed
                                with the reason; written after the .npy, it commits the shard
Each worker task writes one shard, so a cold run makes a few dozen files, not one per
clip (every small file created or opened costs time: see BENCHMARKS.md, "Feature store"),
and a warm run over any set of cached clips reads the shard indexes and a few large arrays.

A stale feature is never served. Results are filed under the blake2b hash of the file's
bytes, inside a folder named by `config.spectrogram_fingerprint()`, so changed audio or
settings simply miss. hashes.json only spares re-reading a file to hash it while its
size, mtime_ns, ctime_ns and inode all match what they were when it was hashed: the
kernel moves ctime on every write, rename or touch and nothing can set it back, and an
entry is only remembered once its ctime is 2 s old (git's racy-clean rule), so a rewrite
within one tick of a coarse clock cannot hide. A worker re-hashes the bytes it decodes
and refuses a file that changed after it was hashed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Union

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ser_core import paths
from ser_core.audio import AudioError, load_audio
from ser_core.config import FeatureConfig, FunctionalsFeatures
from ser_core.features.logmel import log_mel, mel_filterbank
from ser_core.files import write_atomic

Progress = Union[bool, Callable[[int, int], None]]
Result = Union[np.ndarray, str]  # a float16 (T, F) log-mel, or why the content cannot be used

_RACY_NS = 2_000_000_000  # remember a file's hash only once its ctime is this old
_CHUNK = 64  # files per worker task and shard: few files on disk, yet frequent progress
_CHANGED = "file changed while being featurised; run again"


# ---------------------------------------------------------------- the result


def _no_failures() -> pd.DataFrame:
    return pd.DataFrame({"path": pd.Series(dtype=str), "reason": pd.Series(dtype=str)})


@dataclass
class FeatureSet:
    """Log-mels of a manifest's usable rows: mels[i] belongs to manifest row i.

    The store's arrays are float16 views into the cached shards (no copy on a warm
    load); training normalises them into float32 (`normalize_mels`).
    """

    manifest: pd.DataFrame  # the rows kept, index reset, the input's columns
    mels: list[np.ndarray]  # N arrays (T_i, F); for functionals (1, D) float32
    config: FeatureConfig | FunctionalsFeatures
    failures: pd.DataFrame = field(default_factory=_no_failures)  # path, reason: rows skipped
    cache_hits: int = 0  # distinct file contents served from the cache
    computed: int = 0  # distinct file contents featurised by this call

    def __len__(self) -> int:
        return len(self.mels)

    def describe(self) -> str:
        frames = int(sum(m.shape[0] for m in self.mels))
        size = sum(m.nbytes for m in self.mels) / 1e6
        dtype = self.mels[0].dtype if self.mels else np.float16
        head = (f"{len(self)} clips featurised ({self.cache_hits} contents from the cache, {self.computed} computed), "
                f"{len(self.failures)} skipped; ")
        if isinstance(self.config, FunctionalsFeatures):
            width = self.mels[0].shape[1] if self.mels else 0
            return head + f"{width} {self.config.feature_set} functionals a clip ({size:.1f} MB {dtype})"
        return head + f"{frames} frames x {self.config.n_mels} mels ({size:.1f} MB {dtype})"


# ---------------------------------------------------------------- the store


def featurize_manifest(
    manifest: pd.DataFrame,
    config: FeatureConfig | FunctionalsFeatures,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: Progress = True,
) -> FeatureSet:
    """Log-mels (or functionals) of every manifest row, cached (default cache: ser_core.paths.cache_dir() / "features")."""
    cache = Path(cache_dir) if cache_dir is not None else paths.cache_dir() / "features"
    return FeatureStore(cache, config, workers).featurize(manifest, progress)


class FeatureStore:
    """Computes log-mels in worker processes and caches them by content + settings."""

    def __init__(self, cache_dir: str | Path, config: FeatureConfig | FunctionalsFeatures, workers: int | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.cache_dir = Path(cache_dir)
        self.config = config
        self.workers = workers or _cpu_count()
        self.root = self.cache_dir / _fingerprint(config)

    def featurize(self, manifest: pd.DataFrame, progress: Progress = True) -> FeatureSet:
        """Every row's log-mel; rows whose audio fails are listed in `failures`, never fatal.

        `progress`: True for a tqdm bar, False for none, or a callback(done, total)
        counting distinct file contents.
        """
        if "path" not in manifest.columns:
            raise ValueError(f"manifest needs a 'path' column, got columns {list(manifest.columns)}")
        row_paths = manifest["path"].astype(str).tolist()
        digests, reasons = self._hash_files(list(dict.fromkeys(row_paths)))
        results = _read_shards(self.root, set(digests.values()))
        jobs = {d: p for p, d in digests.items() if d not in results}  # one path per missing content
        hits = len(set(digests.values())) - len(jobs)
        with _progress_bar(progress, hits, hits + len(jobs)) as advance:
            for digest, result in self._compute(list(jobs.items())):
                results[digest] = result
                advance()
        for path, digest in digests.items():
            if isinstance(results[digest], str):
                reasons[path] = results[digest]
        kept = [i for i, p in enumerate(row_paths) if p not in reasons]
        failures = [(p, reasons[p]) for p in row_paths if p in reasons]
        return FeatureSet(
            manifest=manifest.iloc[kept].reset_index(drop=True),
            mels=[results[digests[row_paths[i]]] for i in kept],
            config=self.config,
            failures=pd.DataFrame(failures, columns=["path", "reason"], dtype=str) if failures else _no_failures(),
            cache_hits=hits,
            computed=len(jobs),
        )

    def _hash_files(self, unique_paths: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Content hash per readable path, and why the others fail."""
        memo = _HashMemo(self.cache_dir / "hashes.json")
        digests, reasons, misses = {}, {}, []
        for path in unique_paths:
            try:
                digest = memo.lookup(path)
            except OSError as exc:
                reasons[path] = _os_reason(exc)
                continue
            if digest is None:
                misses.append(path)
            else:
                digests[path] = digest
        if misses:
            with ThreadPoolExecutor(self.workers) as pool:  # reads and hashlib release the GIL
                for path, outcome in zip(misses, pool.map(memo.hash, misses)):
                    if isinstance(outcome, OSError):
                        reasons[path] = _os_reason(outcome)
                    else:
                        digests[path] = outcome
        memo.save()
        return digests, reasons

    def _compute(self, jobs: list[tuple[str, str]]) -> Iterator[tuple[str, Result]]:
        if not jobs:
            return
        if isinstance(self.config, FeatureConfig):
            mel_filterbank(self.config)  # built once here; forked workers inherit it
        _write_config(self.root, self.config)
        size = max(1, min(_CHUNK, math.ceil(len(jobs) / (4 * self.workers))))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        if self.workers == 1 or len(chunks) == 1:
            for chunk in chunks:
                yield from _featurize_chunk(chunk, self.root, self.config)
            return
        pool = ProcessPoolExecutor(min(self.workers, len(chunks)), mp_context=_pool_context())
        try:
            futures = [pool.submit(_featurize_chunk, chunk, self.root, self.config) for chunk in chunks]
            for future in as_completed(futures):
                yield from future.result()
        finally:
            pool.shutdown(cancel_futures=True)


def _os_reason(exc: OSError) -> str:
    return "no such file" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc.strerror or exc})"


# ---------------------------------------------------------------- worker side


def _fingerprint(config: FeatureConfig | FunctionalsFeatures) -> str:
    """The cache folder's name: what changes the stored arrays, and nothing else."""
    if isinstance(config, FunctionalsFeatures):
        return f"functionals-{config.fingerprint()}"
    return config.spectrogram_fingerprint()


def _extract(data: bytes, path: str, config: FeatureConfig | FunctionalsFeatures) -> np.ndarray:
    wave = load_audio(data, config.audio, name=path)
    if isinstance(config, FunctionalsFeatures):
        from ser_core.features.functionals import functionals

        return functionals(wave, config)  # float32: some functionals exceed float16's range
    return log_mel(wave, config).astype(np.float16)


def _featurize_chunk(jobs: list[tuple[str, str]], root: Path, config: FeatureConfig | FunctionalsFeatures,
                     ) -> list[tuple[str, Result]]:
    """Runs in a worker: (content hash, path) pairs -> (content hash, result), saved as one shard.

    Only what belongs to the content (a log-mel, or why the audio is unusable) is
    saved; a file that vanished or changed since it was hashed is reported, not cached.
    """
    results, lasting = [], []
    # One BLAS thread: the mel matmul is small, and on a busy CPU more threads make it far slower
    # (BENCHMARKS.md, "Feature store").
    with threadpool_limits(1, user_api="blas"):
        for digest, path in jobs:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                results.append((digest, _os_reason(exc)))
                continue
            if _hash(data) != digest:
                results.append((digest, _CHANGED))
                continue
            try:
                result: Result = _extract(data, path, config)
            except AudioError as exc:
                result = exc.reason
            results.append((digest, result))
            lasting.append((digest, result))
    if lasting:
        _write_shard(root, lasting)
    return results


# ---------------------------------------------------------------- disk


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _write_shard(root: Path, results: list[tuple[str, Result]]) -> None:
    """One .npy of the log-mels end to end, then the .json that names them (the commit)."""
    mels = [(d, r) for d, r in results if not isinstance(r, str)]
    meta = {
        "digests": [d for d, _ in mels],
        "offsets": np.cumsum([0] + [m.shape[0] for _, m in mels]).tolist(),
        "failed": {d: r for d, r in results if isinstance(r, str)},
    }
    name = _hash(" ".join(d for d, _ in results).encode())
    folder = root / "shards"
    buffer = io.BytesIO()
    np.save(buffer, np.concatenate([m for _, m in mels]) if mels else np.zeros((0, 0), dtype=np.float16))
    write_atomic(folder / f"{name}.npy", buffer.getvalue())
    write_atomic(folder / f"{name}.json", json.dumps(meta).encode())


def _read_shards(root: Path, wanted: set[str]) -> dict[str, Result]:
    """Cached results for the wanted content hashes, from the committed shards.

    An unreadable shard is passed over (its contents are computed again and re-saved).
    """
    folder = root / "shards"
    try:
        indexes = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
    except FileNotFoundError:
        return {}
    results: dict[str, Result] = {}
    for name in indexes:
        missing = wanted - results.keys()
        if not missing:
            break
        try:
            meta = json.loads((folder / name).read_text())
            take = [i for i, d in enumerate(meta["digests"]) if d in missing]
            if take:
                data = np.load(folder / name.replace(".json", ".npy"))
                offsets = meta["offsets"]
                if data.shape[0] != offsets[-1]:
                    continue
                results.update((meta["digests"][i], data[offsets[i] : offsets[i + 1]]) for i in take)
            results.update((d, r) for d, r in meta["failed"].items() if d in missing)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return results


def _write_config(root: Path, config: FeatureConfig | FunctionalsFeatures) -> None:
    path = root / "config.json"
    if not path.exists():
        write_atomic(path, json.dumps(config.to_dict(), indent=2).encode())


class _HashMemo:
    """Content hashes remembered per file while its stat signature is unchanged (see module doc)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, list] = json.loads(path.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: start afresh
            self.entries = {}
        self.signatures: dict[str, list[int]] = {}
        self.changed = False

    def lookup(self, path: str) -> str | None:
        """The remembered hash, or None if the file must be hashed; OSError if it cannot be read."""
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(0, "not a regular file", path)
        key = os.path.abspath(path)
        signature = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = self.entries.get(key)
        if entry is not None and entry[:4] == signature:
            return entry[4]
        self.signatures[path] = signature
        return None

    def hash(self, path: str) -> str | OSError:
        """Hash a file `lookup` missed (read after its stat, so a later write moves the signature)."""
        try:
            digest = _hash(Path(path).read_bytes())
        except OSError as exc:
            return exc
        signature = self.signatures[path]
        if time.time_ns() - signature[2] > _RACY_NS:
            self.entries[os.path.abspath(path)] = signature + [digest]
            self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            write_atomic(self.path, json.dumps(self.entries).encode())


# ---------------------------------------------------------------- processes and progress


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _pool_context() -> multiprocessing.context.BaseContext:
    """How to start workers. fork takes milliseconds and hands every loaded module and the
    filter bank down, but is only safe in a single-threaded process (the CLI, tests). A
    threaded host (the Streamlit server) gets forkserver; its server loads the feature
    modules once, and later pools in the same process fork from it warm."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "librosa.filters"])
        return context
    return multiprocessing.get_context("spawn")


@contextmanager
def _progress_bar(progress: Progress, done: int, total: int) -> Iterator[Callable[[], None]]:
    """Yields advance(), called per finished file: drives a tqdm bar (True), a callback(done, total), or nothing."""
    if progress is True:
        from tqdm.auto import tqdm

        with tqdm(total=total, initial=done, unit="file", desc="log-mels") as bar:
            yield lambda: bar.update(1)
        return
    callback = progress if callable(progress) else lambda done, total: None
    count = [done]

    def advance() -> None:
        count[0] += 1
        callback(count[0], total)

    callback(done, total)
    yield advance
