"""Safe extraction of an uploaded corpus zip, and the saving of the upload itself.

Every entry is checked before anything is written: no entry may land outside the
target folder (`../` paths, absolute paths, drive letters), links are refused,
and the entry count and total uncompressed size are capped, so a zip bomb is
refused from its directory alone (zipfile stops each entry at its declared
size and checks its CRC, so the directory bounds what is written).
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ser_core.corpora.vocabulary import CorpusError
from ser_core.paths import uploads_dir

MAX_FILES = 50_000  # CREMA-D, the largest corpus read here, has 7,442 clips
MAX_BYTES = 8 * 1024**3  # uncompressed; RAVDESS speech as WAV is about 1 GB
_CHUNK = 1024 * 1024


def _entry_target(info: zipfile.ZipInfo, root: Path, zip_name: str) -> Path | None:
    """Where an entry goes under `root` (None for a folder entry); CorpusError if it would escape."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and parts[0].endswith(":")) or ".." in parts:
        raise CorpusError(f"{zip_name}: entry {info.filename!r} would be written outside the target folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise CorpusError(f"{zip_name}: entry {info.filename!r} is a symbolic link; links are not extracted")
    if info.is_dir():
        return None
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise CorpusError(f"{zip_name}: entry {info.filename!r} would be written outside the target folder")
    return target


def extract_zip(zip_path: str | Path, out_dir: str | Path, *, max_files: int = MAX_FILES,
                max_bytes: int = MAX_BYTES) -> Path:
    """Extract `zip_path` into `out_dir` (created) after checking every entry; returns out_dir.

    Raises CorpusError naming the zip when it is not a zip, or an entry escapes the
    folder or is a link, or it holds more than `max_files` files or `max_bytes`
    uncompressed bytes. A refused zip writes nothing; one that fails mid-way is removed.
    """
    zip_path = Path(zip_path)
    name = zip_path.name
    root = Path(out_dir).resolve()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise CorpusError(f"{name}: not a readable zip file ({err})") from None
    with archive:
        entries = archive.infolist()
        targets = [(info, _entry_target(info, root, name)) for info in entries]
        files = [(info, target) for info, target in targets if target is not None]
        if len(files) > max_files:
            raise CorpusError(f"{name}: {len(files):,} files, more than the limit of {max_files:,}")
        declared = sum(info.file_size for info, _ in files)
        if declared > max_bytes:
            raise CorpusError(f"{name}: {declared:,} bytes uncompressed, more than the limit of {max_bytes:,}")
        existed = root.exists()
        root.mkdir(parents=True, exist_ok=True)
        try:
            _write(archive, files, name)
        except BaseException:
            if not existed:
                shutil.rmtree(root, ignore_errors=True)
            raise
    return root


def _write(archive: zipfile.ZipFile, files: list[tuple[zipfile.ZipInfo, Path]], name: str) -> None:
    for info, target in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, RuntimeError,
                NotImplementedError) as err:  # corrupt data, encrypted or unsupported compression
            raise CorpusError(f"{name}: entry {info.filename!r} could not be extracted ({err})") from None


def extract_upload(upload: BinaryIO, name: str, root: str | Path | None = None) -> Path:
    """Save an uploaded zip called `name` under `root` ($SER_HOME/uploads) and extract it with extract_zip
    into root/STEM, STEM being the file name's stem made safe; the saved zip is removed either way.

    Raises CorpusError as extract_zip does when the zip is refused.
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).stem).lstrip(".") or "upload"  # never "..": stay in root
    root = Path(root) if root is not None else uploads_dir()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{stem}.zip"
    with open(archive, "wb") as out:
        shutil.copyfileobj(upload, out)
    try:
        return extract_zip(archive, root / stem)
    finally:
        archive.unlink(missing_ok=True)
