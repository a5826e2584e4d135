import numpy as np
import pandas as pd
import pytest

from ser_core.training.splits import Fold, LeakageError, check_fold, make_folds


def manifest(speakers_per_corpus: dict[str, int], emotions=("neutral", "happy", "sad", "angry"), clips=3):
    rows = []
    for corpus, n in speakers_per_corpus.items():
        for s in range(n):
            for e in emotions:
                for c in range(clips):
                    rows.append({"path": f"/{corpus}/{s}/{e}{c}.wav", "corpus": corpus,
                                 "speaker": f"{corpus}-{s:02d}", "emotion": e})
    return pd.DataFrame(rows)


def assert_no_leak(m, folds):
    for fold in folds:
        sides = [fold.speakers(m, side) for side in ("train", "val", "test")]
        assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
        covered = np.concatenate([fold.train, fold.val, fold.test])
        assert sorted(covered) == list(range(len(m)))  # every clip on exactly one side


def test_loso_tests_each_speaker_once():
    m = manifest({"ravdess": 6})
    folds = make_folds(m, "loso")
    assert len(folds) == 6
    assert sorted(s for f in folds for s in f.speakers(m, "test")) == sorted(m["speaker"].unique())
    assert all(len(f.speakers(m, "test")) == 1 for f in folds)
    assert_no_leak(m, folds)


def test_kfold_covers_every_speaker_once_and_validates_on_training_speakers():
    m = manifest({"ravdess": 12, "savee": 4})
    folds = make_folds(m, "kfold:4", val_fraction=0.2, seed=3)
    tested = [s for f in folds for s in f.speakers(m, "test")]
    assert sorted(tested) == sorted(m["speaker"].unique())
    assert all(len(f.val) > 0 for f in folds)
    assert_no_leak(m, folds)
    # the same seed gives the same folds
    again = make_folds(m, "kfold:4", val_fraction=0.2, seed=3)
    assert all((a.test == b.test).all() and (a.val == b.val).all() for a, b in zip(folds, again))


def test_aggregated_corpora_with_same_raw_speaker_ids_stay_apart():
    m = manifest({"ravdess": 4, "savee": 4})  # ravdess-00 and savee-00 are two people
    for fold in make_folds(m, "loso"):
        (tested,) = fold.speakers(m, "test")
        assert (m.loc[fold.test, "speaker"] == tested).all()


def test_explicit_speakers_and_corpus_folds():
    m = manifest({"ravdess": 5, "savee": 4})
    (fold,) = make_folds(m, "speakers:ravdess-01,savee-02")
    assert fold.speakers(m, "test") == {"ravdess-01", "savee-02"}
    (fold,) = make_folds(m, "corpus:savee")
    assert set(m.loc[fold.test, "corpus"]) == {"savee"}
    assert set(m.loc[np.concatenate([fold.train, fold.val]), "corpus"]) == {"ravdess"}
    assert len(make_folds(m, "corpus")) == 2


def test_loso_within_one_corpus_always_trains_on_the_others():
    m = manifest({"ravdess": 6, "savee": 4})
    folds = make_folds(m, "loso:savee", val_fraction=0.2)
    assert [f.name for f in folds] == [f"test-savee-{s:02d}" for s in range(4)]
    for fold in folds:
        assert len(fold.speakers(m, "test")) == 1
        assert set(m.loc[fold.test, "corpus"]) == {"savee"}
        assert set(m.loc[np.concatenate([fold.train, fold.val]), "speaker"]) >= {f"ravdess-{s:02d}" for s in range(6)}
    assert_no_leak(m, folds)


def test_few_training_speakers_hold_none_out_for_validation():
    m = manifest({"savee": 4})
    assert all(len(f.val) == 0 for f in make_folds(m, "loso"))


@pytest.mark.parametrize(
    "spec", ["kfold:1", "kfold:x", "kfold:20", "speakers:nobody", "corpus:emodb", "loso:emodb", "loso:ravdess", "bogus"]
)
def test_bad_specs_are_clear_errors(spec):
    with pytest.raises(ValueError):
        make_folds(manifest({"ravdess": 4}), spec)


def test_check_fold_rejects_a_leaking_fold():
    m = manifest({"ravdess": 3})
    rows = np.arange(len(m))
    leaky = Fold("leaky", train=rows[:20], val=np.array([], dtype=int), test=rows[10:])
    with pytest.raises(LeakageError, match="ravdess-00"):
        check_fold(m, leaky)


def test_tested_speakers_are_those_some_fold_tests():
    from ser_core.training.splits import tested_speakers

    m = manifest({"ravdess": 6, "savee": 4})
    everyone = set(m["speaker"])
    assert tested_speakers(m, "kfold:3") == tested_speakers(m, "loso") == tested_speakers(m, "corpus") == everyone
    savee = {s for s in everyone if s.startswith("savee")}
    assert tested_speakers(m, "loso:savee") == tested_speakers(m, "corpus:savee") == savee
    assert tested_speakers(m, "speakers:ravdess-00,ravdess-03") == {"ravdess-00", "ravdess-03"}


def test_train_only_speakers_train_but_never_validate():
    m = manifest({"ravdess": 8, "savee": 4})
    ravdess = {s for s in m["speaker"] if s.startswith("ravdess")}
    folds = make_folds(m, "loso:savee", val_fraction=0.5, seed=0, train_only=ravdess)
    for fold in folds:
        assert ravdess <= fold.speakers(m, "train")
        assert len(fold.speakers(m, "val")) == 2 and not fold.speakers(m, "val") & ravdess  # 2 of 3 savee voices
    assert_no_leak(m, folds)
    plain = make_folds(m, "loso:savee", val_fraction=0.5, seed=0)
    assert any(fold.speakers(m, "val") & ravdess for fold in plain)  # without it, they are drawn too
