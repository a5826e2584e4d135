"""Safe zip extraction: what a corpus upload may and may not write."""

import stat
import zipfile

import pytest

from ser_core.corpora.archive import extract_zip
from ser_core.corpora.vocabulary import CorpusError


def make_zip(path, entries):
    """entries: name -> bytes, or name -> ("link", target) for a symbolic link."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            if isinstance(data, tuple):
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(info, data[1])
            else:
                z.writestr(name, data)
    return path


def test_normal_zip_extracts_in_place(tmp_path):
    archive = make_zip(tmp_path / "corpus.zip", {"Actor_01/a.wav": b"abc", "Actor_02/b.wav": b"defg", "empty/": b""})
    out = extract_zip(archive, tmp_path / "out")
    assert (out / "Actor_01" / "a.wav").read_bytes() == b"abc"
    assert (out / "Actor_02" / "b.wav").read_bytes() == b"defg"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_entries_outside_the_folder_are_refused(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", {"ok.wav": b"x", name: b"boom"})
    with pytest.raises(CorpusError, match="bad.zip.*outside the target folder"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written, not even the good entry
    assert not (tmp_path / "evil.txt").exists()


def test_symbolic_links_are_refused(tmp_path):
    archive = make_zip(tmp_path / "link.zip", {"passwd": ("link", "/etc/passwd")})
    with pytest.raises(CorpusError, match="link.zip.*symbolic link"):
        extract_zip(archive, tmp_path / "out")


def test_too_many_files(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"{i}.wav": b"x" for i in range(6)})
    with pytest.raises(CorpusError, match="many.zip: 6 files, more than the limit of 5"):
        extract_zip(archive, tmp_path / "out", max_files=5)


def test_too_large_uncompressed(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.wav": bytes(10_000)})  # compresses to a few bytes
    with pytest.raises(CorpusError, match="bomb.zip: 10,000 bytes uncompressed"):
        extract_zip(archive, tmp_path / "out", max_bytes=1_000)


def test_corrupt_entry_names_the_zip(tmp_path):
    archive = make_zip(tmp_path / "broken.zip", {"a.wav": bytes(range(256)) * 40})
    data = bytearray(archive.read_bytes())
    data[60:90] = bytes(30)  # overwrite part of the compressed data
    archive.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match="broken.zip: entry 'a.wav' could not be extracted"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # a failed extraction leaves no half folder


def test_not_a_zip(tmp_path):
    path = tmp_path / "notes.zip"
    path.write_text("not a zip")
    with pytest.raises(CorpusError, match="notes.zip: not a readable zip"):
        extract_zip(path, tmp_path / "out")
