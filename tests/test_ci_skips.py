"""Under CI, a skip for a missing model, label file, seed or zhibiao module is a failure (conftest.py)."""
from types import SimpleNamespace

import pytest

from conftest import _hidden_regression


def report(reason: str):
    return SimpleNamespace(skipped=True, longrepr=("test_x.py", 1, f"Skipped: {reason}"))


@pytest.mark.parametrize("reason", [
    "trained models missing in /x/models (run `zhibiao train`)",
    "training_data/labels.csv not there yet",
    "no 定州 seed",
    "zhibiao.audit not available",
    "could not import 'zhibiao.selfeval': No module named 'zhibiao.selfeval'",
])
def test_a_missing_part_fails_under_ci(monkeypatch, reason):
    monkeypatch.setenv("CI", "1")
    assert _hidden_regression(report(reason)) is not None
    monkeypatch.delenv("CI")
    assert _hidden_regression(report(reason)) is None      # locally it stays a skip


@pytest.mark.parametrize("reason", [
    "could not import 'sentence_transformers': No module named 'sentence_transformers'",
    "set ZHIBIAO_TEST_ST_MODEL to a local sentence-transformers model directory",
    "atheris is not installed on this platform",
    "swagger-ui-py not installed: /docs loads Swagger UI from a CDN",
])
def test_an_optional_tool_stays_a_skip_under_ci(monkeypatch, reason):
    monkeypatch.setenv("CI", "1")
    assert _hidden_regression(report(reason)) is None
