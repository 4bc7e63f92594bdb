"""Saved models carry the zhibiao version that built them; another version's model warns but loads."""
import warnings

import pytest

import zhibiao
from zhibiao import versioning
from zhibiao.classify import Normalizer
from zhibiao.errors import InconsistentVersionWarning


def test_the_committed_model_loads_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        model = Normalizer.load()
    assert model.built_with in (None, zhibiao.__version__)   # None: saved before the stamp existed


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "normalizer.joblib"
    Normalizer.load().save(path)
    return path


def test_a_saved_model_carries_this_version(saved):
    assert Normalizer.load(saved).built_with == zhibiao.__version__


def test_a_model_from_another_version_warns_and_still_works(saved, monkeypatch):
    monkeypatch.setattr(versioning, "__version__", "9.9.9")
    with pytest.warns(InconsistentVersionWarning, match=f"zhibiao {zhibiao.__version__}.*9.9.9"):
        model = Normalizer.load(saved)
    import pandas as pd
    out = model.normalize(pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]}))
    assert out.loc[0, "category"] == "服务对象满意度指标"


def test_the_public_normalizer_saves_as_the_model_class(saved, tmp_path):
    """Artifacts keep the import path zhibiao.classify.Normalizer, whoever saves them."""
    public = zhibiao.Normalizer.load(saved)
    path = public.save(tmp_path / "again.joblib")
    assert type(Normalizer.load(path)) is Normalizer


# Loading through a plain copy in the user cache (versioning.load_saved) --------------------------

NAMES = ["群众满意度", "道路建设里程", "农村第180片区工作完成时间"]


def _copies(folder):
    return sorted(folder.glob("model-normalizer-*.pickle"))


def pd_rows():
    import pandas as pd
    return pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]})


def test_a_saved_model_is_read_again_from_its_plain_copy_and_answers_the_same(saved, tmp_path, monkeypatch):
    import joblib
    import pandas as pd

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    first = Normalizer.load(saved)                 # joblib reads the file and writes the copy
    (copy,) = _copies(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [copy.name]   # no temporary file left
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("joblib read the saved file again"))
    second = Normalizer.load(saved)                # the copy, without joblib
    rows = pd.DataFrame({"level3": NAMES, "value": ["≥90%", "12公里", "12月底前"]})
    pd.testing.assert_frame_equal(second.normalize(rows), first.normalize(rows))
    assert second.built_with == first.built_with == zhibiao.__version__


def test_a_damaged_copy_is_never_read_and_is_written_again(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    Normalizer.load(saved)
    (copy,) = _copies(tmp_path)
    good = copy.read_bytes()
    with open(copy, "r+b") as f:                   # one byte of the pickled model changed
        f.seek(len(good) // 2)
        f.write(bytes([good[len(good) // 2] ^ 0xFF]))
    model = Normalizer.load(saved)
    assert model.normalize(pd_rows()).loc[0, "category"] == "服务对象满意度指标"
    assert copy.read_bytes() == good


def test_a_copy_that_does_not_unpickle_is_written_again(saved, tmp_path, monkeypatch):
    """Whole and with its digest, but not a pickle this environment reads (a class gone, say)."""
    import hashlib

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    Normalizer.load(saved)
    (copy,) = _copies(tmp_path)
    good = copy.read_bytes()
    copy.write_bytes(hashlib.blake2b(b"not a pickle", digest_size=32).digest() + b"not a pickle")
    assert Normalizer.load(saved).normalize(pd_rows()).loc[0, "category"] == "服务对象满意度指标"
    assert copy.read_bytes() == good


def test_another_model_file_never_gets_the_copy_of_the_first(saved, tmp_path, monkeypatch):
    """Retrained in place (same name, other content): its own copy, and its own answers."""
    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "normalizer.joblib"
    path.write_bytes(saved.read_bytes())
    Normalizer.load(path)
    other = Normalizer.load(saved)
    other.mismatch_confidence = 0.123              # a visible difference, saved over the first file
    other.save(path)
    assert Normalizer.load(path).mismatch_confidence == 0.123
    assert len(_copies(tmp_path / "cache")) == 2


def test_a_model_built_by_another_version_warns_each_time_also_from_its_copy(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path / "cache"))
    old = Normalizer.load(saved)
    old.built_with = "0.0.9"                       # as a model saved by zhibiao 0.0.9 loads
    path = old.save(tmp_path / "normalizer.joblib")
    import joblib
    for _ in range(2):                             # joblib, then the copy
        with pytest.warns(InconsistentVersionWarning, match="0.0.9"):
            assert Normalizer.load(path).built_with == "0.0.9"
        monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("joblib read the saved file again"))


def test_the_batch_engines_plain_pickle_is_read_without_joblib(tmp_path, monkeypatch):
    import pickle

    import joblib
    path = tmp_path / "normalizer.pickle"
    path.write_bytes(pickle.dumps(Normalizer.load()))
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("joblib read a plain pickle"))
    assert Normalizer.load(path).normalize(pd_rows()).loc[0, "category"] == "服务对象满意度指标"


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(saved, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("ZHIBIAO_CACHE", str(blocked / "cache"))
    for _ in range(2):
        assert Normalizer.load(saved).normalize(pd_rows()).loc[0, "category"] == "服务对象满意度指标"
    assert blocked.read_text() == "" and list(tmp_path.iterdir()) == [blocked]
