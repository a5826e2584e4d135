"""Corpus loaders on tiny fake corpora named exactly as the real releases name their files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_core.cli import main
from ser_core.corpora import CORPORA, prepare, scan
from ser_core.corpora.aggregate import aggregate, read_manifest, select_emotions, summarize, write_manifest
from ser_core.corpora.csv_manifest import prepare_csv, scan_csv
from ser_core.corpora.folder import scan_folder
from ser_core.corpora.vocabulary import MANIFEST_COLUMNS, CorpusError

SAMPLE_RATE = 16_000
CLIP_S = 0.3


def write_clip(path: Path, seconds: float = CLIP_S) -> Path:
    """A short sine at SAMPLE_RATE; the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE)
    return path


def make_corpus(root: Path, names) -> Path:
    for name in names:
        write_clip(root / name)
    return root


def labels(manifest: pd.DataFrame, root: Path) -> dict[str, tuple[str, str, str]]:
    """relative path -> (speaker, emotion, gender) of every manifest row."""
    return {
        Path(row.path).relative_to(root.resolve()).as_posix(): (row.speaker, row.emotion, row.gender)
        for row in manifest.itertuples()
    }


# kind, then relative file name -> (speaker, emotion, gender) the loader must give it
CORPUS_CASES = {
    "emodb-flat": ("emodb", {
        "03a01Fa.wav": ("emodb-03", "happy", "male"),
        "08b02Wb.wav": ("emodb-08", "angry", "female"),
        "16a05Lc.wav": ("emodb-16", "bored", "female"),
    }),
    "emodb-wav-folder": ("emodb", {
        "wav/10a07Ta.wav": ("emodb-10", "sad", "male"),
        "wav/13b09Ea.wav": ("emodb-13", "disgust", "female"),
        "wav/11a02Ad.wav": ("emodb-11", "fearful", "male"),
    }),
    "ravdess": ("ravdess", {
        "Actor_07/03-01-05-02-01-01-07.wav": ("ravdess-07", "angry", "male"),
        "Actor_12/03-01-02-01-02-02-12.flac": ("ravdess-12", "calm", "female"),
        "Actor_24/03-01-08-02-02-01-24.wav": ("ravdess-24", "surprised", "female"),
    }),
    "tess-flat": ("tess", {
        "OAF_back_angry.wav": ("tess-OAF", "angry", "female"),
        "YAF_bite_ps.wav": ("tess-YAF", "surprised", "female"),
        "oaf_chain_Fear.wav": ("tess-OAF", "fearful", "female"),
    }),
    "tess-folders": ("tess", {
        "OAF_angry/OAF_back_angry.wav": ("tess-OAF", "angry", "female"),
        "YAF_Pleasant_surprise/YAF_bite_pleasant_surprise.wav": ("tess-YAF", "surprised", "female"),
        "YAF_neutral/dog.wav": ("tess-YAF", "neutral", "female"),
    }),
    "savee-folders": ("savee", {
        "DC/a01.wav": ("savee-DC", "angry", "male"),
        "KL/sa15.wav": ("savee-KL", "sad", "male"),
        "JE/su03.flac": ("savee-JE", "surprised", "male"),
    }),
    "savee-flat": ("savee", {
        "DC_a01.wav": ("savee-DC", "angry", "male"),
        "JK_n30.wav": ("savee-JK", "neutral", "male"),
        "KL_h02.wav": ("savee-KL", "happy", "male"),
    }),
    "cremad": ("cremad", {
        "1001_DFA_ANG_XX.wav": ("cremad-1001", "angry", ""),
        "1091_IEO_HAP_HI.wav": ("cremad-1091", "happy", ""),
        "1040_TIE_FEA_LO.wav": ("cremad-1040", "fearful", ""),
    }),
    "emovo": ("emovo", {
        "f1/dis-f1-b1.wav": ("emovo-f1", "disgust", "female"),
        "m3/gio-m3-n5.wav": ("emovo-m3", "happy", "male"),
        "m1/pau-m1-l2.wav": ("emovo-m1", "fearful", "male"),
    }),
    "folder": ("folder", {
        "Anger/anna_01.wav": ("folder-anna", "angry", ""),
        "joy/ben-take2.wav": ("folder-ben", "happy", ""),
        "neutral/day2/anna_x.flac": ("folder-anna", "neutral", ""),
    }),
}


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_every_corpus_and_layout_is_labelled_as_its_names_say(tmp_path, case):
    kind, expected = CORPUS_CASES[case]
    root = make_corpus(tmp_path / case, expected)
    prepared = scan(kind, root)
    manifest = prepared.manifest
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert labels(manifest, root) == expected
    assert set(manifest["corpus"]) == {kind}
    assert all(Path(path).is_absolute() for path in manifest["path"])
    assert np.allclose(manifest["duration"], CLIP_S)
    assert prepared.skipped.empty


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_odd_names_are_reported_and_the_rest_loads(tmp_path, case):
    kind, expected = CORPUS_CASES[case]
    root = make_corpus(tmp_path / case, [*expected, "odd name.wav"])
    (root / "README.txt").write_text("not audio, not reported")
    prepared = scan(kind, root)
    assert len(prepared.manifest) == len(expected)
    assert [Path(path).name for path in prepared.skipped["path"]] == ["odd name.wav"]


@pytest.mark.parametrize("kind, name, reason", [
    ("emodb", "03a01Xa.wav", "unknown emotion letter 'X'"),
    ("ravdess", "Actor_01/03-02-05-01-01-01-01.wav", "song, not speech"),
    ("ravdess", "Actor_01/03-01-09-01-01-01-01.wav", "unknown emotion code '09'"),
    ("savee", "XY_a01.wav", "unknown speaker 'XY'"),
    ("savee", "DC/x01.wav", "unknown emotion code 'x'"),
    ("tess", "OAF_back_bored.wav", "unknown emotion word 'bored'"),
    ("cremad", "1001_DFA_XYZ_XX.wav", "unknown emotion code 'XYZ'"),
    ("emovo", "f1/abc-f1-b1.wav", "unknown emotion code 'abc'"),
])
def test_unknown_codes_are_skipped_with_the_reason(tmp_path, kind, name, reason):
    good = next(name for case_kind, names in CORPUS_CASES.values() if case_kind == kind for name in names)
    root = make_corpus(tmp_path / kind, [good, name])
    prepared = scan(kind, root)
    assert len(prepared.manifest) == 1
    assert reason in prepared.skipped["reason"].iloc[0]


def test_corrupt_and_empty_files_are_skipped_and_reported(tmp_path, caplog):
    root = make_corpus(tmp_path / "savee", ["DC/a01.wav"])
    (root / "DC" / "a02.wav").write_bytes(np.random.default_rng(0).bytes(2000))
    (root / "DC" / "a03.wav").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        prepared = scan("savee", root)
    assert [Path(p).name for p in prepared.manifest["path"]] == ["a01.wav"]
    reasons = dict(zip(prepared.skipped["path"].map(lambda p: Path(p).name), prepared.skipped["reason"]))
    assert set(reasons) == {"a02.wav", "a03.wav"}
    assert "corrupt" in reasons["a02.wav"]
    assert "skipped 2" in caplog.text


def test_clips_shorter_than_the_minimum_are_skipped_with_their_length(tmp_path, capsys):
    root = make_corpus(tmp_path / "ravdess", ["Actor_01/03-01-05-01-01-01-01.wav"])
    short = write_clip(root / "Actor_01" / "03-01-03-01-01-01-01.wav", seconds=1.0)
    short.write_bytes(short.read_bytes()[:300])  # a truncated copy: the header is intact, 8 ms of samples follow
    prepared = scan("ravdess", root)
    assert [Path(p).name for p in prepared.manifest["path"]] == ["03-01-05-01-01-01-01.wav"]
    (reason,) = prepared.skipped.loc[prepared.skipped["path"] == str(short.resolve()), "reason"]
    assert "too short: 0.008 s" in reason and "minimum 0.25 s" in reason

    manifest_csv = tmp_path / "manifest.csv"
    assert main(["corpus", "prepare", f"ravdess={root}", "-o", str(manifest_csv)]) == 0
    assert f"{short.resolve()}: too short: 0.008 s" in capsys.readouterr().out
    assert len(read_manifest(manifest_csv)) == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="No such directory"):
        prepare("ravdess", tmp_path / "nowhere")


def test_folder_without_audio_names_what_was_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(CorpusError, match=r"No audio files in .*Actor_01/03-01-05"):
        prepare("ravdess", tmp_path)


def test_folder_with_only_foreign_names_names_what_was_expected(tmp_path):
    make_corpus(tmp_path, ["DC/a01.wav"])  # SAVEE, read as EmoDB
    with pytest.raises(CorpusError, match=r"No usable recordings .*03a01Fa\.wav.*a01\.wav"):
        prepare("emodb", tmp_path)


def test_ravdess_audio_visual_copies_are_kept_only_without_an_audio_only_take(tmp_path, caplog):
    root = make_corpus(tmp_path / "ravdess", [
        "Actor_01/03-01-05-01-01-01-01.wav",
        "Actor_01/01-01-05-01-01-01-01.wav",  # the same take, from the audio-visual release
        "Actor_01/01-01-06-01-01-01-01.wav",  # no audio-only take: kept
    ])
    with caplog.at_level(logging.WARNING):
        prepared = scan("ravdess", root)
    assert sorted(Path(p).name for p in prepared.manifest["path"]) == [
        "01-01-06-01-01-01-01.wav", "03-01-05-01-01-01-01.wav",
    ]
    assert Path(prepared.skipped["path"].iloc[0]).name == "01-01-05-01-01-01-01.wav"
    assert "duplicate of 03-01-05-01-01-01-01.wav" in prepared.skipped["reason"].iloc[0]
    assert "skipped 1" in caplog.text


def test_a_lossless_copy_wins_over_a_lossy_one(tmp_path):
    root = make_corpus(tmp_path / "cremad", ["AudioOGG/1001_DFA_ANG_XX.ogg", "AudioWAV/1001_DFA_ANG_XX.wav"])
    prepared = scan("cremad", root)
    assert [Path(p).suffix for p in prepared.manifest["path"]] == [".wav"]
    assert [Path(p).suffix for p in prepared.skipped["path"]] == [".ogg"]


@pytest.mark.parametrize("csv_place", ["corpus", "parent"])
def test_cremad_sex_comes_from_the_demographics_table(tmp_path, csv_place):
    audio = make_corpus(tmp_path / "AudioWAV", ["1001_DFA_ANG_XX.wav", "1002_DFA_SAD_XX.wav"])
    table = audio if csv_place == "corpus" else tmp_path
    (table / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
                                                 "1002,21,Female,Caucasian,Not Hispanic\n")
    manifest = prepare("cremad", audio)
    assert dict(zip(manifest["speaker"], manifest["gender"])) == {"cremad-1001": "male", "cremad-1002": "female"}


def test_folder_corpus_with_its_own_speaker_pattern_and_name(tmp_path):
    root = make_corpus(tmp_path, ["sadness/rec_S01_1.wav", "sadness/rec_S02_1.wav", "sadness/unlabelled.wav",
                                  "laughter/rec_S01_2.wav", "rec_S03_1.wav"])
    prepared = scan_folder(root, speaker_pattern=r"_(?P<speaker>S\d+)_", corpus="lab")
    assert sorted(prepared.manifest["speaker"]) == ["lab-S01", "lab-S02"]
    reasons = dict(zip(prepared.skipped["path"].map(lambda p: Path(p).name), prepared.skipped["reason"]))
    assert "does not match" in reasons["unlabelled.wav"]
    assert "'laughter' is not an emotion" in reasons["rec_S01_2.wav"]
    assert "not inside an emotion folder" in reasons["rec_S03_1.wav"]


def test_folder_speaker_pattern_needs_a_speaker_group(tmp_path):
    with pytest.raises(ValueError, match="named group"):
        scan_folder(tmp_path, speaker_pattern=r"^\w+")


def test_csv_manifest_resolves_relative_paths_and_maps_synonyms(tmp_path):
    make_corpus(tmp_path / "audio", ["a.wav", "b.flac"])
    write_clip(tmp_path / "elsewhere" / "c.wav")
    csv = tmp_path / "lab.csv"
    csv.write_text(
        "path,speaker,emotion,gender\n"
        "audio/a.wav,anna,Joy,F\n"
        "audio/b.flac,lab-ben,anger,male\n"
        f"{tmp_path / 'elsewhere' / 'c.wav'},anna,neutral,\n"
        "audio/missing.wav,anna,sad,\n"
    )
    prepared = scan_csv(csv)
    manifest = prepared.manifest
    assert list(manifest["path"]) == [str(tmp_path / "audio" / "a.wav"), str(tmp_path / "audio" / "b.flac"),
                                      str(tmp_path / "elsewhere" / "c.wav")]
    assert list(manifest["speaker"]) == ["lab-anna", "lab-ben", "lab-anna"]
    assert list(manifest["emotion"]) == ["happy", "angry", "neutral"]
    assert list(manifest["gender"]) == ["female", "male", ""]
    assert set(manifest["corpus"]) == {"lab"}
    assert "no such file" in prepared.skipped["reason"].iloc[0]


def test_csv_manifest_errors_name_the_file_and_the_line(tmp_path):
    write_clip(tmp_path / "a.wav")
    missing_column = tmp_path / "no_speaker.csv"
    missing_column.write_text("path,emotion\na.wav,happy\n")
    with pytest.raises(CorpusError, match=r"no_speaker\.csv: missing columns \['speaker'\]"):
        prepare_csv(missing_column)
    unknown = tmp_path / "odd.csv"
    unknown.write_text("path,speaker,emotion\na.wav,anna,happy\na.wav,anna,ecstatic\n")
    with pytest.raises(CorpusError, match=r"odd\.csv, line 3: unknown emotion 'ecstatic'"):
        prepare_csv(unknown)


def test_registry_knows_every_kind_and_rejects_others(tmp_path):
    assert set(CORPORA) == {"emodb", "ravdess", "tess", "savee", "cremad", "emovo", "folder", "csv", "demo"}
    assert all(loader.description and "\n" not in loader.description for loader in CORPORA.values())
    with pytest.raises(ValueError, match="Unknown corpus kind 'iemocap'; known kinds: emodb, ravdess"):
        prepare("iemocap", tmp_path)


@pytest.fixture
def two_corpora(tmp_path) -> list[tuple[str, Path]]:
    """SAVEE and a folder corpus whose speaker is also called DC: two different people."""
    savee = make_corpus(tmp_path / "savee", ["DC_a01.wav", "DC_n01.wav", "JE_c01.wav", "KL_su01.wav"])
    lab = make_corpus(tmp_path / "lab", ["calm/DC_1.wav", "neutral/DC_2.wav", "angry/EV_1.wav"])
    return [("savee", savee), ("folder", lab)]


def test_aggregation_never_merges_speakers_of_two_corpora(two_corpora):
    manifest, skipped = aggregate(two_corpora)
    assert len(manifest) == 6
    assert sorted(manifest["speaker"].unique()) == ["folder-DC", "folder-EV", "savee-DC", "savee-KL"]
    assert [Path(p).name for p in skipped["path"]] == ["JE_c01.wav"]


def test_aggregation_keeps_a_file_listed_twice_once(two_corpora):
    manifest, skipped = aggregate([two_corpora[0], two_corpora[0]])
    assert manifest["path"].is_unique and len(manifest) == 3
    assert list(skipped["reason"]).count("listed by an earlier source") == 3


def test_summary_tables(two_corpora):
    tables = summarize(aggregate(two_corpora)[0])
    corpora = tables["corpora"]
    assert corpora.loc["savee", "files"] == 3 and corpora.loc["folder", "speakers"] == 2
    assert corpora.loc["folder", "hours"] == pytest.approx(3 * CLIP_S / 3600)
    assert list(tables["emotions"].index) == ["neutral", "calm", "angry", "surprised"]
    assert tables["emotions"].loc["neutral"].to_dict() == {"folder": 1, "savee": 1}
    assert tables["speakers"].loc["savee-DC"].to_dict() == {"corpus": "savee", "gender": "male", "files": 2,
                                                           "emotions": 2}


def test_select_emotions_merges_then_keeps_the_chosen(two_corpora):
    manifest = aggregate(two_corpora)[0]
    selected = select_emotions(manifest, ["neutral", "angry"], merge={"calm": "neutral"})
    assert selected["emotion"].value_counts().to_dict() == {"neutral": 3, "angry": 2}
    assert len(select_emotions(manifest)) == len(manifest)
    with pytest.raises(ValueError, match=r"unknown emotions \['joy'\]"):
        select_emotions(manifest, ["joy"])
    with pytest.raises(ValueError, match=r"\['calm'\] are merged into \['neutral'\]"):
        select_emotions(manifest, ["calm", "angry"], merge={"calm": "neutral"})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest_file_round_trip(two_corpora, tmp_path, suffix):
    manifest = aggregate(two_corpora)[0]
    path = write_manifest(manifest, tmp_path / "out" / f"manifest{suffix}")
    pd.testing.assert_frame_equal(read_manifest(path), manifest, check_dtype=False)


def test_manifest_file_missing_columns_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("path,emotion\n/a.wav,happy\n")
    with pytest.raises(CorpusError, match=r"bad\.csv: missing manifest columns \['corpus', 'speaker'"):
        read_manifest(path)


def test_parquet_without_pyarrow_is_a_clear_error(two_corpora, tmp_path, monkeypatch):
    manifest = aggregate(two_corpora)[0]

    def no_engine(*args, **kwargs):  # what pandas raises without pyarrow or fastparquet
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_engine)
    with pytest.raises(CorpusError, match="Parquet needs pyarrow"):
        write_manifest(manifest, tmp_path / "manifest.parquet")
