"""`ser corpus download` against a local HTTP server serving a small RAVDESS-like zip made here."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_core.cli import main
from ser_core.corpora import CORPORA, CorpusError
from ser_core.corpora.download import Source, fetch_corpus, normalise_hash, sources

ACTORS = ("01", "02")
EMOTIONS = ("01", "05")  # neutral, angry


def ravdess_zip() -> bytes:
    """Two actors saying two emotions, named as the RAVDESS speech zip names its files."""
    buffer = io.BytesIO()
    t = np.arange(3 * 16000) / 16000  # 3 s: the archive spans several of the downloader's chunks
    with zipfile.ZipFile(buffer, "w") as archive:
        for actor in ACTORS:
            for i, emotion in enumerate(EMOTIONS):
                wave = (0.3 * np.sin(2 * np.pi * (180 + 40 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)))
                clip = io.BytesIO()
                sf.write(clip, wave.astype(np.float32), 16000, format="WAV")
                archive.writestr(f"Actor_{actor}/03-01-{emotion}-01-01-01-{actor}.wav", clip.getvalue())
    return buffer.getvalue()


class Server:
    """A threaded http.server on 127.0.0.1 serving one archive, with Range support and a switch that
    cuts the next response short, as a dropped connection would."""

    def __init__(self, data: bytes):
        self.data, self.requests, self.sent, self.cut_next = data, [], 0, False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                start = int(self.headers["Range"][6:].split("-")[0]) if self.headers.get("Range") else 0
                body = server.data[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_next:
                    server.cut_next = False
                    body = body[: len(body) // 2]
                self.wfile.write(body)
                server.sent += len(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Audio_Speech_Actors_01-24.zip"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def archive() -> bytes:
    return ravdess_zip()


@pytest.fixture
def server(archive):
    served = Server(archive)
    yield served
    served.close()


def ravdess_from(server: Server, hash: str) -> Source:
    """The registry's RAVDESS entry, pointed at the local server, with this checksum."""
    real = sources()["ravdess"]
    return Source(**{**real.__dict__, "url": server.url, "hash": hash})


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_download_verifies_unpacks_and_prepares_the_manifest(server, archive, tmp_path):
    fetched = fetch_corpus(ravdess_from(server, sha256(archive)), tmp_path / "ravdess")
    assert fetched.verified_with == sha256(archive)
    assert len(fetched.manifest) == len(ACTORS) * len(EMOTIONS)
    assert set(fetched.manifest["speaker"]) == {"ravdess-01", "ravdess-02"}
    assert set(fetched.manifest["emotion"]) == {"neutral", "angry"}
    assert fetched.manifest_path.read_text().startswith("path,")
    assert "CC BY-NC-SA 4.0" in (tmp_path / "ravdess" / "LICENCE.txt").read_text()
    record = json.loads((tmp_path / "ravdess" / "download.json").read_text())
    assert record["sha256"] == sha256(archive)[7:] and record["clips"] == 4


def test_an_md5_as_zenodo_publishes_it_is_checked_too(server, archive, tmp_path):
    md5 = "md5:" + hashlib.md5(archive).hexdigest()
    assert fetch_corpus(ravdess_from(server, md5), tmp_path).verified_with == md5


def test_a_second_call_downloads_nothing(server, archive, tmp_path):
    src = ravdess_from(server, sha256(archive))
    fetch_corpus(src, tmp_path)
    requests_before, sent_before = len(server.requests), server.sent
    again = fetch_corpus(src, tmp_path)
    assert (len(server.requests), server.sent) == (requests_before, sent_before)
    assert len(again.manifest) == 4


def test_a_wrong_checksum_is_refused_and_nothing_is_left_half_done(server, tmp_path):
    with pytest.raises(CorpusError, match=r"ravdess: checksum mismatch .*Nothing was unpacked"):
        fetch_corpus(ravdess_from(server, "sha256:" + "0" * 64), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LICENCE.txt"]


def test_an_interrupted_download_resumes_where_it_stopped(server, archive, tmp_path):
    src = ravdess_from(server, sha256(archive))
    server.cut_next = True
    with pytest.raises(CorpusError, match=r"ravdess: the download .* failed: .*bytes kept in .*\.part"):
        fetch_corpus(src, tmp_path)
    kept = (tmp_path / "Audio_Speech_Actors_01-24.zip.part").stat().st_size
    assert 0 < kept <= len(archive) // 2
    fetched = fetch_corpus(src, tmp_path)
    assert server.requests[-1] == f"bytes={kept}-"
    assert server.sent == len(archive) // 2 + len(archive) - kept  # the rest only, not all again
    assert len(fetched.manifest) == 4 and not (tmp_path / "Audio_Speech_Actors_01-24.zip.part").exists()


def test_no_checksum_means_no_download_unless_asked_for_explicitly(server, archive, tmp_path):
    src = ravdess_from(server, "")
    with pytest.raises(CorpusError, match=r"ravdess: no published checksum .*--unverified"):
        fetch_corpus(src, tmp_path)
    assert server.requests == []
    fetched = fetch_corpus(src, tmp_path, unverified=True)
    assert fetched.verified_with == "" and fetched.sha256 == sha256(archive)[7:]
    assert fetch_corpus(src, tmp_path / "again", known_hash=sha256(archive)).verified_with == sha256(archive)


def test_no_network_names_the_url_and_the_manual_way(tmp_path):
    src = Source(**{**sources()["ravdess"].__dict__, "url": "http://127.0.0.1:9/Audio_Speech_Actors_01-24.zip"})
    with pytest.raises(CorpusError, match=r"ravdess: could not reach http://127.0.0.1:9/.*ser corpus prepare ravdess=DIR"):
        fetch_corpus(src, tmp_path)


def test_a_corpus_behind_a_registration_says_what_to_do():
    with pytest.raises(CorpusError, match=r"savee: cannot be downloaded automatically\. SAVEE needs registration"):
        fetch_corpus("savee")


def test_an_archive_already_here_is_checked_in_place(archive, tmp_path):
    mine = tmp_path / "mine.zip"
    mine.write_bytes(archive)
    with pytest.raises(CorpusError, match=r"checksum mismatch .*left where it is"):
        fetch_corpus("ravdess", tmp_path / "out", origin=mine)  # the registry's real MD5 is not this zip's
    assert mine.is_file() and not (tmp_path / "out" / "corpus").exists()
    fetched = fetch_corpus("ravdess", tmp_path / "out", origin=mine, known_hash=sha256(archive)[7:])
    assert len(fetched.manifest) == 4 and mine.is_file()


def test_the_command_prints_the_licence_and_the_result(archive, tmp_path, capsys):
    mine = tmp_path / "mine.zip"
    mine.write_bytes(archive)
    code = main(["corpus", "download", "ravdess", "--to", str(tmp_path / "r"), "--from", str(mine),
                 "--hash", sha256(archive), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.index("Licence: CC BY-NC-SA 4.0") < out.index("verified (sha256:")
    assert f"wrote {tmp_path / 'r' / 'manifest.csv'} (4 clips)" in out
    assert main(["corpus", "download", "emodb", "--to", str(tmp_path / "e")]) == 2
    assert "emodb: no published checksum" in capsys.readouterr().err


def test_the_registry_names_known_corpora_and_well_formed_checksums():
    text = (Path(__file__).resolve().parents[1] / "ser_core" / "corpora" / "sources.toml").read_text()
    assert set(tomllib.loads(text)) == set(sources())
    for src in sources().values():
        assert src.name in CORPORA and src.homepage and src.licence
        assert src.automatic != bool(src.manual), src.name  # a URL, or what to do by hand
        if src.automatic:
            assert src.filename.endswith(".zip") and src.hash_note
        if src.hash:
            assert normalise_hash(src.hash) == src.hash
    assert sources()["ravdess"].hash == "md5:bc696df654c87fed845eb13823edef8a"


def test_hashes_are_read_with_or_without_their_algorithm():
    assert normalise_hash("BC696DF654C87FED845EB13823EDEF8A") == "md5:bc696df654c87fed845eb13823edef8a"
    assert normalise_hash("sha256:" + "a" * 64) == "sha256:" + "a" * 64
    for bad in ("md5:abc", "sha256:" + "a" * 32, "nothex", "crc:1234"):
        with pytest.raises(ValueError, match="not a checksum"):
            normalise_hash(bad)


def test_the_data_page_gets_a_corpus_with_progress_and_saves_its_manifest(server, archive, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app import jobs
    from ser_core.corpora import download

    monkeypatch.setenv("SER_HOME", str(tmp_path))
    monkeypatch.setenv(jobs.AUTOSTART_OFF, "1")
    monkeypatch.setattr(download, "sources", lambda: {"ravdess": ravdess_from(server, sha256(archive)),
                                                      "savee": sources()["savee"]})
    page = Path(__file__).resolve().parents[1] / "app_pages" / "data.py"
    at = AppTest.from_file(str(page), default_timeout=60).run()
    at.selectbox(key="get_name").set_value("savee").run()
    assert "SAVEE needs registration" in at.info[0].value
    at.selectbox(key="get_name").set_value("ravdess").run()
    at.button(key="get_start").click().run()
    assert not at.exception and not at.error
    assert "4 clips of ravdess" in at.success[0].value
    assert (tmp_path / "manifests" / "ravdess.csv").is_file()
    assert (tmp_path / "corpora" / "ravdess" / "corpus" / "Actor_01").is_dir()
