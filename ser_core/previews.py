"""Short compressed previews of clips, for hover-to-play in the explorer.

A preview is a clip's first seconds, cleaned as the models hear it (mono, 16 kHz,
silence trimmed, level set) and encoded as MP3 (every browser, Safari included, plays
it) or Ogg Vorbis (faster to encode, not in Safari); sizes and encoding speeds are in
BENCHMARKS.md, "The app". Its file name is a hash of the clip's bytes and the preview
settings, so a preview never goes stale and a browser may cache it for good. The
folder's index (one per preview settings) records which name each clip had at which
size and modification time, so finding a clip's preview takes a `stat` call, not reading it.

    store = PreviewStore("static/previews")
    job = PreviewJob(store, paths).start()      # a background thread
    job.done, job.total                         # progress; job.report once finished
    store.lookup(paths)                         # names of the previews ready now, None elsewhere
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf

from ser_core.audio import AudioError, load_audio
from ser_core.config import AudioConfig, ConfigMixin
from ser_core.files import write_atomic

FORMATS = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}  # soundfile format, subtype
_FADE_S = 0.02  # a cut preview fades out instead of ending in a click
_SAVE_EVERY_S = 2.0  # the index is rewritten at most this often while a batch runs


@dataclass(frozen=True)
class PreviewConfig(ConfigMixin):
    """How a clip becomes its preview."""

    sample_rate: int = 16000
    max_seconds: float = 4.0  # a hover preview is a taste of the clip, not all of it
    format: str = "mp3"  # "mp3" (plays in every browser) or "ogg" (Vorbis: faster to encode, not in Safari)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {sorted(FORMATS)}, got {self.format!r}")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")

    @property
    def suffix(self) -> str:
        return "." + self.format


def preview_name(data: bytes, config: PreviewConfig = PreviewConfig()) -> str:
    """The content address of a clip's preview: a hash of its file bytes and the settings, plus the suffix."""
    digest = hashlib.sha1(config.fingerprint().encode())
    digest.update(data)
    return digest.hexdigest()[:20] + config.suffix


def encode_preview(data: bytes, config: PreviewConfig = PreviewConfig(), name: str | None = None) -> bytes:
    """A clip's file bytes -> its preview's file bytes; AudioError (naming `name`) if the clip is unusable."""
    wave = load_audio(data, AudioConfig(sample_rate=config.sample_rate), name=name)
    keep = int(config.max_seconds * config.sample_rate)
    if len(wave) > keep:
        wave = wave[:keep].copy()
        fade = min(keep, int(_FADE_S * config.sample_rate))
        wave[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    buffer = io.BytesIO()
    container, subtype = FORMATS[config.format]
    sf.write(buffer, wave, config.sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _signature(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None when it is gone."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass
class PreviewReport:
    """What a batch did: previews encoded, previews found ready, and the clips it skipped with why."""

    made: int = 0
    reused: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason


class PreviewStore:
    """A folder of previews named by content, and an index: path -> [size, mtime_ns, name]."""

    def __init__(self, folder: str | Path, config: PreviewConfig = PreviewConfig()):
        self.folder = Path(folder)
        self.config = config
        self._index_cache: tuple[int, dict[str, list]] | None = None  # (index mtime_ns, index)

    @property
    def index_path(self) -> Path:
        # One index per settings, so a store never hands out previews made with other settings
        # (an index from when previews were Ogg would keep serving Ogg to Safari).
        return self.folder / f"index-{self.config.fingerprint()[:8]}.json"

    def read_index(self) -> dict[str, list]:
        """The index on disk (re-read only when it changed)."""
        signature = _signature(str(self.index_path))
        if signature is None:
            return {}
        if self._index_cache is None or self._index_cache[0] != signature[1]:
            try:
                self._index_cache = (signature[1], json.loads(self.index_path.read_text()))
            except (OSError, json.JSONDecodeError):
                return {}  # being replaced right now: the next look sees the new one
        return self._index_cache[1]

    def lookup(self, paths: Sequence[str]) -> list[str | None]:
        """For each clip, the name of its ready preview, or None (never made, clip changed, or file gone)."""
        index = self.read_index()
        names: list[str | None] = []
        for path in paths:
            entry = index.get(os.path.abspath(path))
            ok = (entry is not None and list(_signature(path) or ()) == entry[:2]
                  and (self.folder / entry[2]).is_file())
            names.append(entry[2] if ok else None)
        return names

    def make(self, path: str) -> tuple[str, bool]:
        """Encode one clip's preview unless a preview of the same bytes exists: -> (name, encoded now)."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise AudioError(str(path), "no such file") from None
        except OSError as exc:
            raise AudioError(str(path), f"cannot read ({exc.strerror or type(exc).__name__})") from None
        name = preview_name(data, self.config)
        target = self.folder / name
        if target.is_file():
            return name, False
        write_atomic(target, encode_preview(data, self.config, name=str(path)))
        return name, True

    def save_index(self, entries: dict[str, list]) -> None:
        """Merge `entries` into the index on disk (another batch may have added its own)."""
        write_atomic(self.index_path, json.dumps(self.read_index() | entries).encode())


def generate_previews(store: PreviewStore, paths: Sequence[str],
                      progress: Callable[[int, int], None] | None = None) -> PreviewReport:
    """Make the previews of `paths` that are not ready; unreadable clips are skipped and reported.

    progress(done, total) is called after every clip.
    """
    report = PreviewReport()
    ready = store.lookup(paths)
    entries: dict[str, list] = {}
    saved = time.monotonic()
    for done, (path, name) in enumerate(zip(paths, ready), start=1):
        if name is not None:
            report.reused += 1
        else:
            signature = _signature(path)
            try:
                name, encoded = store.make(path)
            except AudioError as exc:
                report.skipped[str(path)] = exc.reason
            else:
                report.made += encoded
                report.reused += not encoded
                if signature is not None:
                    entries[os.path.abspath(path)] = [*signature, name]
        if entries and time.monotonic() - saved > _SAVE_EVERY_S:
            store.save_index(entries)  # pages see previews appear while the batch runs
            entries, saved = {}, time.monotonic()
        if progress is not None:
            progress(done, len(paths))
    if entries:
        store.save_index(entries)
    return report


class PreviewJob:
    """generate_previews in a daemon thread: read `done`, `total`, `finished`, then `report` or `error`."""

    def __init__(self, store: PreviewStore, paths: Sequence[str]):
        self.store = store
        self.paths = list(paths)
        self.total = len(self.paths)
        self.done = 0
        self.report: PreviewReport | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="previews", daemon=True)

    def start(self) -> "PreviewJob":
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        return self.report is not None or self.error is not None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def wait(self, timeout: float | None = None) -> "PreviewJob":
        self._thread.join(timeout)
        return self

    def _progress(self, done: int, total: int) -> None:
        self.done = done

    def _run(self) -> None:
        try:
            self.report = generate_previews(self.store, self.paths, self._progress)
        except Exception as exc:  # a full disk, a folder we cannot write: shown to the user, not lost in a thread
            self.error = f"{type(exc).__name__}: {exc}"
