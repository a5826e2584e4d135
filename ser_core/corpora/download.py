"""Fetch a public corpus, check it, unpack it and prepare its manifest (`ser corpus download`).

Where each corpus comes from is data: sources.toml beside this module (URL, published
checksum, size, licence, or why it must be fetched by hand). pooch downloads and checks
the archive; a partial download is kept as NAME.part and the next attempt asks only
for the rest (HTTP Range). The folder a corpus is fetched into holds:

    LICENCE.txt      the corpus's licence, source and citation, written before downloading
    NAME.zip         the archive as downloaded; a later call checks it instead of downloading again
    corpus/          the archive unpacked (ser_core.corpora.archive: no entry escapes, links refused)
    manifest.csv     as `ser corpus prepare` writes it
    download.json    what was fetched from where, its SHA-256 and whether it was verified; written last

Nothing is ever used unchecked without saying so: a source with no published checksum
is refused unless the caller passes a hash or asks for `unverified` explicitly.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tomllib
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Callable

import pandas as pd

from ser_core.corpora.vocabulary import CorpusError
from ser_core.files import write_atomic
from ser_core.paths import ser_home

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)

UNPACKED = "corpus"
RECORD = "download.json"
_CHUNK = 64 * 1024  # an interruption loses at most the chunk being read
_TIMEOUT_S = 30  # to connect and between two reads, not for the whole download
_HASH = re.compile(r"(?:(?P<alg>md5|sha1|sha256|sha512):)?(?P<hex>[0-9a-fA-F]+)")
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


@dataclass(frozen=True)
class Source:
    """One corpus as sources.toml describes it; `url` empty when it cannot be fetched automatically."""

    name: str  # the corpus kind (`ser corpus list`) whose loader reads it
    title: str
    homepage: str
    licence: str
    citation: str = ""
    url: str = ""
    filename: str = ""
    size: int | None = None
    hash: str = ""  # "md5:..." or "sha256:...", as the host publishes it; "" where it publishes none
    hash_note: str = ""
    manual: str = ""  # how to get it by hand, where there is no url

    @property
    def automatic(self) -> bool:
        return bool(self.url)

    def licence_text(self) -> str:
        lines = [self.title, f"Source: {self.homepage}", f"Licence: {self.licence}"]
        if self.citation:
            lines.append(f"Cite: {self.citation}")
        return "\n".join(lines) + "\n"


@dataclass
class Fetched:
    """What fetch_corpus left in `folder`."""

    source: Source
    folder: Path
    archive: Path
    sha256: str
    verified_with: str  # the hash it matched; "" when fetched unverified
    manifest_path: Path
    manifest: pd.DataFrame = field(repr=False)
    skipped: pd.DataFrame = field(repr=False)

    @property
    def corpus_dir(self) -> Path:
        return self.folder / UNPACKED


def default_folder(name: str) -> Path:
    """Where a corpus is fetched unless told otherwise: $SER_HOME/corpora/NAME."""
    return ser_home() / "corpora" / name


@cache
def sources() -> dict[str, Source]:
    """Every corpus in sources.toml, by name."""
    text = resources.files("ser_core.corpora").joinpath("sources.toml").read_text(encoding="utf-8")
    return {name: Source(name=name, **entry) for name, entry in tomllib.loads(text).items()}


def source(name: str) -> Source:
    """The source named `name`; ValueError listing the known ones otherwise."""
    try:
        return sources()[name]
    except KeyError:
        raise ValueError(f"No download source for {name!r}; known: {', '.join(sources())}") from None


def normalise_hash(text: str) -> str:
    """'md5:HEX' / 'sha256:HEX', or bare hex (its length says md5 or sha256); ValueError otherwise."""
    found = _HASH.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"not a checksum: {text!r} (expected e.g. sha256:3f2a... or md5:bc69...)")
    hexdigest = found["hex"].lower()
    alg = found["alg"] or {32: "md5", 64: "sha256"}.get(len(hexdigest), "")
    if _HEX_LENGTHS.get(alg) != len(hexdigest):
        raise ValueError(f"not a checksum: {text!r} ({len(hexdigest)} hex digits{' for ' + alg if alg else ''})")
    return f"{alg}:{hexdigest}"


class ResumingDownloader:
    """A pooch downloader that writes into `part` as bytes arrive and, when `part` is already there,
    asks the server only for the rest (HTTP Range). An interrupted download keeps `part`;
    a finished one is moved to the file pooch checks, so a wrong download is never resumed."""

    def __init__(self, part: Path, progress: Progress | None = None):
        self.part = part
        self.progress = progress

    def __call__(self, url: str, output_file: str, pooch_, check_only: bool = False) -> None:
        import requests

        have = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT_S) as response:
            if have and response.status_code == 416:  # the part already holds every byte
                response.close()
            else:
                response.raise_for_status()
                if response.status_code != 206:  # the server ignored the range: start again
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length else None
                with open(self.part, "ab" if have else "wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        out.write(chunk)
                        have += len(chunk)
                        if self.progress:
                            self.progress(have, total)
                if total is not None and have < total:  # the server closed early without an error
                    raise requests.exceptions.ChunkedEncodingError(f"got {have:,} of {total:,} bytes")
        Path(self.part).replace(output_file)


def fetch_corpus(corpus: str | Source, to: str | Path | None = None, *, origin: str | Path | None = None,
                 known_hash: str | None = None, unverified: bool = False,
                 progress: Progress | None = None) -> Fetched:
    """Download (or take from `origin`: a mirror URL or an archive on disk), verify, unpack and prepare a corpus.

    `to` defaults to $SER_HOME/corpora/NAME. The archive is checked against `known_hash`, else the
    source's published hash; with neither, only `unverified=True` lets it through (its SHA-256 is
    recorded in download.json). Raises CorpusError naming the corpus and the problem: no
    automatic download (with what to do instead), no network (with the URL to fetch by hand),
    an interrupted download (kept, resumed by the next call), a checksum mismatch (the file
    deleted, nothing unpacked), an archive that cannot be unpacked.
    """
    src = corpus if isinstance(corpus, Source) else source(corpus)
    folder = Path(to).expanduser() if to is not None else default_folder(src.name)
    expected = normalise_hash(known_hash) if known_hash else src.hash
    if origin is None and not src.automatic:
        raise CorpusError(f"{src.name}: cannot be downloaded automatically. {src.manual} ({src.homepage})")
    if not expected and not unverified:
        raise CorpusError(
            f"{src.name}: no published checksum for {src.filename or 'this archive'}, so it cannot be verified. "
            "Pass --hash sha256:... if you have one, or --unverified to accept it as it comes "
            f"(its SHA-256 is then printed and kept in {RECORD})."
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "LICENCE.txt").write_text(src.licence_text(), encoding="utf-8")

    local = origin is not None and not re.match(r"https?://", str(origin))
    if local:
        archive = _check_local(src, Path(origin).expanduser(), expected)
    else:
        archive = _download(src, folder, str(origin or src.url), expected, progress)
    return _unpack_and_prepare(src, folder, archive, expected)


def _download(src: Source, folder: Path, url: str, expected: str, progress: Progress | None) -> Path:
    import pooch
    import requests

    filename = src.filename or Path(url.split("?")[0]).name or f"{src.name}.zip"
    part = folder / f"{filename}.part"
    pooch.get_logger().setLevel(logging.WARNING)  # this module says what happens, in its own words
    try:
        return Path(pooch.retrieve(url, known_hash=expected or None, fname=filename, path=folder,
                                   downloader=ResumingDownloader(part, progress)))
    except ValueError as err:  # pooch's hash mismatch: it has deleted the download already
        part.unlink(missing_ok=True)
        raise CorpusError(f"{src.name}: checksum mismatch for {filename} from {url}: {err} "
                          "Nothing was unpacked.") from None
    except (requests.ConnectionError, requests.Timeout) as err:
        if part.is_file():
            raise CorpusError(f"{src.name}: the download from {url} was interrupted ({type(err).__name__}) "
                              f"after {part.stat().st_size:,} bytes, kept in {part}: "
                              "run the same command again to resume it.") from None
        raise CorpusError(
            f"{src.name}: could not reach {url} ({type(err).__name__}). Without a network, fetch that URL by hand, "
            f"then `ser corpus download {src.name} --from FILE` to check, unpack and prepare it; "
            f"or unpack it yourself and `ser corpus prepare {src.name}=DIR -o {src.name}.csv`."
        ) from None
    except requests.RequestException as err:  # an HTTP error, or the stream broke mid-way
        kept = f"; {part.stat().st_size:,} bytes kept in {part}, the next call resumes" if part.is_file() else ""
        raise CorpusError(f"{src.name}: the download from {url} failed: {err}{kept}.") from None


def _check_local(src: Source, path: Path, expected: str) -> Path:
    """An archive the user already has: checked in place (never moved, never deleted)."""
    import pooch

    if not path.is_file():
        raise CorpusError(f"{src.name}: no such archive: {path} (a folder? then `ser corpus prepare "
                          f"{src.name}={path} -o {src.name}.csv`)")
    if expected:
        alg, _, want = expected.partition(":")
        got = pooch.file_hash(str(path), alg=alg)
        if got != want:
            raise CorpusError(f"{src.name}: checksum mismatch for {path}: expected {expected}, got {alg}:{got}. "
                              "The file was left where it is and nothing was unpacked.")
    return path


def _unpack_and_prepare(src: Source, folder: Path, archive: Path, expected: str) -> Fetched:
    import pooch

    from ser_core.corpora import scan
    from ser_core.corpora.aggregate import write_manifest
    from ser_core.corpora.archive import extract_zip

    sha256 = pooch.file_hash(str(archive), alg="sha256")
    unpacked, record = folder / UNPACKED, folder / RECORD
    done = json.loads(record.read_text()) if record.is_file() else {}
    if done.get("sha256") != sha256 or not unpacked.is_dir():
        partial = folder / f".{UNPACKED}.partial"  # unpacked beside, then renamed: never half a corpus
        shutil.rmtree(partial, ignore_errors=True)
        extract_zip(archive, partial)
        shutil.rmtree(unpacked, ignore_errors=True)
        partial.rename(unpacked)
    prepared = scan(src.name, unpacked)
    manifest_path = write_manifest(prepared.manifest, folder / "manifest.csv")
    fetched = Fetched(src, folder, archive, sha256, expected, manifest_path, prepared.manifest, prepared.skipped)
    write_atomic(record, json.dumps({
        "corpus": src.name, "archive": str(archive), "sha256": sha256, "verified_with": expected,
        "clips": len(prepared.manifest), "source": asdict(src),
    }, indent=2).encode())
    return fetched
