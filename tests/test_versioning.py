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
