"""Normalizer behaviour on realistic rows, with the committed model artifacts."""
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from zhibiao.classify import OUTPUT_COLUMNS, IndicatorMatcher, Normalizer, choose_threshold, clean_name
from zhibiao.embed import get_embedder
from zhibiao.errors import ZhibiaoError
from zhibiao.resources import models_dir
from zhibiao.taxonomy import CATEGORIES, load_library
from zhibiao.training import data_hash


@pytest.fixture(scope="module")
def normalizer():
    return Normalizer.load()


def norm(normalizer, **cols):
    return normalizer.normalize(pd.DataFrame(cols))


def test_committed_models_are_built_from_committed_training_data():
    card = json.loads((models_dir() / "model_card.json").read_text(encoding="utf-8"))
    assert card["data_hash"] == data_hash(), "training_data changed: run `zhibiao train` and commit models/"


def test_keeps_rows_order_and_adds_contract_columns(normalizer):
    df = pd.DataFrame({"level3": ["新建道路长度", "群众满意度", "", "项目完成时间"],
                       "value": ["=1203米", "≥90%", "", "12月底前"],
                       "extra": ["a", "b", "c", "d"]}, index=[10, 11, 12, 13])
    out = normalizer.normalize(df)
    assert list(out.index) == [10, 11, 12, 13]
    assert list(out["extra"]) == ["a", "b", "c", "d"]
    assert set(OUTPUT_COLUMNS) <= set(out.columns)
    assert set(out["category"]) <= set(CATEGORIES)
    assert out["category_confidence"].between(0, 1).all()
    assert out["indicator_confidence"].between(0, 1).all()
    assert out.loc[13, "value_kind"] == "deadline"
    assert out.loc[10, "unit"] == "米" and out.loc[10, "number"] == 1203


def test_only_level3_is_required(normalizer):
    out = norm(normalizer, level3=["受益群众满意度"])
    assert out.loc[0, "category"] == "服务对象满意度指标"
    with pytest.raises(ZhibiaoError, match="level3"):
        normalizer.normalize(pd.DataFrame({"value": ["≥90%"]}))


def test_a_pasted_dump_is_read_on_its_start_and_flagged_cut(normalizer):
    """A name of 300,000 characters is not an indicator name: it is read on its first 200 (an expert's
    longest is a few dozen), a description or value on its first 1,000, and the row says so."""
    dump = "群众满意度" + "，" * 300_000
    out = norm(normalizer, level3=[dump, "群众满意度", "培训人数", "培训人数"],
               description=["", "", "培训" * 1_000, ""], value=["≥90%", "≥90%", "≥500人", "≥" * 2_000 + "500人"])
    flags = [set(f.split(";")) for f in out["flags"]]
    assert ["cut" in f for f in flags] == [True, False, True, True]
    assert out.loc[0, "level3"] == dump                    # the row keeps its cell: nothing is lost
    assert out.loc[0, "category"] == out.loc[1, "category"] == "服务对象满意度指标"


def test_category_comes_from_the_text_not_the_declared_label(normalizer):
    out = norm(normalizer, level1=["产出指标"], level2=["数量指标"], level3=["群众满意度"], value=["≥90%"])
    assert out.loc[0, "category"] == "服务对象满意度指标"
    assert out.loc[0, "declared_category"] == "数量指标"
    assert "category_mismatch" in out.loc[0, "flags"].split(";")


def test_a_deadline_worded_rate_is_the_timeliness_type_not_a_near_miss(normalizer):
    """资金在规定时间内下达率 (an Excel form from outside the seeds) is the funds' timeliness: no library
    wording has it, and the deadline words must not pull it to 开工率, whose wording 在规定时间内开工 they share."""
    out = norm(normalizer, level1=["产出指标"], level2=["时效指标"], level3=["资金在规定时间内下达率"], value=["≥95%"])
    assert out.loc[0, "indicator_id"] == "timeliness.fund_disbursement"
    assert out.loc[0, "category"] == "时效指标"


FRAMEWORK_WORDINGS = {   # 共性指标体系框架 决策/过程 indicators, in wordings no library row has
    "专项资金使用合规性": "quality.fund_use_compliance",
    "财务监控措施有效性": "quality.financial_monitoring",
    "项目预算编制科学性": "quality.budget_soundness",
    "资金分配结果合理性": "quality.allocation_soundness",
}


def test_framework_management_indicators_have_their_types(normalizer):
    """A 自评表's 管理类指标 (one real form from outside the seeds has six) are the 共性框架's 决策/过程
    indicators: each wording is its own type, a 质量指标 with a qualitative target, never 政府采购执行率 or a
    coverage type that merely shares the object's characters."""
    names = list(FRAMEWORK_WORDINGS)
    out = norm(normalizer, level3=names, value=["合规", "有效", "科学", "合理"])
    assert dict(zip(names, out["indicator_id"])) == FRAMEWORK_WORDINGS
    assert set(out["category"]) == {"质量指标"}


def test_framework_management_types_are_never_suggested():
    """They have no number to target, and a measurable 产出 type without one is never offered."""
    from zhibiao.recommend import Recommender
    rec = Recommender.load()
    eligible = dict(zip(rec.ids_, rec.eligible_))
    assert not any(eligible[i] for i in FRAMEWORK_WORDINGS.values())
    assert eligible["timeliness.fund_disbursement"]


def test_value_signals_time_and_cost(normalizer):
    out = norm(normalizer, level3=["项目完成时间", "项目总成本"], value=["2021年12月底前", "≤700万元"])
    assert list(out["category"]) == ["时效指标", "成本指标"]
    assert out.loc[0, "date"] is None or str(out.loc[0, "date"]).startswith("2021-12-31")


def test_satisfaction_variants_are_one_type_and_subsidy_rates_two(normalizer):
    out = norm(normalizer, level3=["群众满意度", "受益群众满意程度", "服务对象满意度",
                                   "补贴发放及时率", "补贴发放准确率"])
    ids = list(out["indicator_id"])
    assert ids[0] and ids[0] == ids[1] == ids[2]
    assert ids[3] and ids[4] and ids[3] != ids[4]


def test_abstains_on_text_that_is_no_indicator(normalizer):
    out = norm(normalizer, level3=["锟斤拷烫烫烫", "的的的的"], value=["", ""])
    assert (out["indicator_id"] == "").all()
    assert out["flags"].str.contains("unmatched_indicator").all()
    assert out["flags"].str.contains("missing_value").all()


def test_row_flags(normalizer):
    out = norm(normalizer, level2=["数量指标", "质量指标"], level3=["新建道路长度", "工程验收合格率"],
               value=["提高", "292%"])
    assert "not_measurable" in out.loc[0, "flags"]
    assert "implausible_value" in out.loc[1, "flags"]


def test_a_name_judged_by_a_state_word_is_measurable_as_written_matched_or_not(normalizer):
    """财预〔2020〕10号's 过程 indicators (规范性, 合规性, 程序性) are met 合规 or not: the row flag agrees with
    the audit (data/state_names.txt), whether the library knows the name or the matcher picks a rate."""
    out = norm(normalizer, level2=["质量指标", "时效指标", "质量指标", "数量指标", "质量指标"],
               level3=["资金使用合规性", "资金支付规范性", "政府采购程序性", "城镇新增就业人数", "工程验收合格率"],
               value=["合规", "合规", "合规", "根据下达任务目标要求确定", "提高"])
    flagged = ["not_measurable" in f.split(";") for f in out["flags"]]
    assert flagged == [False, False, False, True, True]


def test_matcher_threshold_and_calibration():
    lib = load_library()
    names = list(lib["name"])
    m = IndicatorMatcher(get_embedder("tfidf").fit(names)).fit(names, list(lib["indicator_id"]))
    matches = m.match(["预算执行率", "资金到位率"])
    assert matches[0].indicator_id != matches[1].indicator_id
    # A calibrator fitted on separable held-out scores puts the cut between them.
    score = np.r_[np.full(50, .9), np.full(50, .3)]
    m.calibrate(score, np.r_[np.full(50, .3), np.full(50, .01)], np.r_[np.ones(50), np.zeros(50)])
    hi, lo = m.confidence(np.array([.9, .3]), np.array([.3, .01]), np.array([1.0, 1.0]))
    assert lo < m.threshold <= hi


def test_the_grammar_keeps_near_misses_apart():
    """受益户数 is no 受益人数 and 牲畜成活率 no 苗木成活率, however alike the characters."""
    names = ["受益人数", "苗木成活率", "资金到位率"]
    m = IndicatorMatcher(get_embedder("tfidf").fit(names)).fit(names, ["people", "trees", "funds"])
    S, A = m.scores(["受益户数", "牲畜成活率", "资金拨付及时率", "受益人口数"], with_agreement=True)
    ids = list(m.ids_)
    assert A[0, ids.index("people")] == 0 and A[1, ids.index("trees")] == 0 and A[2, ids.index("funds")] == 0
    # a paraphrase agrees and scores best
    assert A[3, ids.index("people")] > 0.4 and S[3].argmax() == ids.index("people")
    # the near-misses score below the paraphrase of the same type
    assert S[0, ids.index("people")] < S[3, ids.index("people")]


def test_a_refitted_matcher_forgets_what_it_derived_from_its_last_library():
    """Matching keeps per-name candidates and derived exemplar matrices; a new fit must not serve them."""
    emb = get_embedder("tfidf").fit(["受益人数", "苗木成活率", "资金到位率", "道路长度"])
    m = IndicatorMatcher(emb).fit(["受益人数", "苗木成活率"], ["people", "trees"])
    assert m.match(["受益人数"])[0].indicator_id == "people"
    m.fit(["资金到位率", "道路长度", "受益人数"], ["funds", "road", "beneficiaries"])
    assert m.match(["受益人数"])[0].indicator_id == "beneficiaries"
    assert m.match(["道路长度"])[0].indicator_id == "road"


def test_grammar_agreement_of_generic_and_specific_names():
    """The agreement's rules (DESIGN §8): two generic names (no subject) agree; a generic and a specific name
    of the same measure half agree; subjects without a shared character, or different measures, do not."""
    names = ["满意度", "群众满意度", "受益人数"]
    m = IndicatorMatcher(get_embedder("tfidf").fit(names)).fit(names, ["1_generic", "2_crowd", "3_people"])
    _, A = m.scores(["满意度", "群众满意度", "服务对象满意度"], with_agreement=True)
    np.testing.assert_array_equal(A, [[1.0, 0.5, 0.0],     # 满意度: generic, the specific one, another measure
                                      [0.5, 1.0, 0.0],     # 群众满意度
                                      [0.5, 0.0, 0.0]])    # 服务对象满意度 shares no character with 群众


def test_a_names_best_types_carry_their_best_exemplars_scores(normalizer):
    """The batch path keeps a name's 64 best types with each type's best exemplar score and agreement; they
    must be what scoring every type gives (a type has several exemplars: its name, aliases, labelled names)."""
    m = normalizer.cascade.matcher
    names = ["群众满意度", "受益户数", "农村第3片区道路硬化长度", "资金拨付及时率", "满意度", "项目完成时间"]
    types, S, A = m._candidates(names)
    S_all, A_all = m.scores(names, with_agreement=True)
    assert types.shape == (len(names), m.top_types)
    np.testing.assert_array_equal(A, np.take_along_axis(A_all, types.astype(np.intp), axis=1))
    np.testing.assert_array_equal(S, np.take_along_axis(S_all, types.astype(np.intp), axis=1))
    # and they are the best: no type left out scores above the lowest kept
    kept = np.zeros_like(S_all, dtype=bool)
    np.put_along_axis(kept, types.astype(np.intp), True, axis=1)
    assert (np.where(kept, -np.inf, S_all).max(axis=1) <= S.min(axis=1)).all()


def test_choose_threshold_meets_target_precision():
    conf = np.linspace(1, 0, 101)
    correct = (conf > 0.4).astype(int)
    t = choose_threshold(conf, correct, 0.95)
    answered = conf >= t
    assert correct[answered].mean() >= 0.95 and answered.mean() > 0.55


def test_clean_name_drops_bracketed_units():
    assert clean_name("受访人员满意度（%）") == "受访人员满意度"
    assert clean_name("（%）") == "(%)"


def test_template_copies_flagged_when_rows_carry_their_projects(normalizer, seed_dir):
    # the public Normalizer runs the copy check after the model's tags (the model alone does not)
    from zhibiao import Normalizer, extract
    out = Normalizer.wrap(normalizer).normalize(extract(seed_dir / "004_61a35c4abf65a0b4.txt"))
    copied = out[out["flags"].str.contains("template_copy")]
    assert copied["level3"].str.contains("计划生育").sum() >= 5
    # the 环保专项资金 project has its own indicators
    assert not copied["project_name"].str.contains("环保专项资金").any()


def test_unit_mismatch_catches_wrong_counters_and_rates_not_same_units(normalizer):
    out = norm(normalizer, level3=["协管员人数", "验收合格率", "受益人数", "培训人次"],
               value=["≥5次", "≥95个", "≥100人", "≥300人次"])
    flagged = ["unit_mismatch" in f for f in out["flags"]]
    assert flagged == [True, True, False, False]


def test_2021_cost_framework(normalizer):
    """A 2021 table files money costs under 一级 成本指标 / 二级 经济成本指标: that agrees with the
    model's 成本指标 and keeps the table's name; a money cost filed as an environmental cost does not."""
    out = norm(normalizer,
               level1=["成本指标", "成本指标", "成本指标", "产出指标"],
               level2=["经济成本指标", "经济成本指标", "生态环境成本指标", "成本指标"],
               level3=["项目总成本", "道路单位造价", "设备购置成本", "社会成本"],
               value=["≤500万元", "≤450元/平方米", "≤30万元", "无"])
    assert list(out["category"][:2]) == ["经济成本指标", "经济成本指标"]
    assert list(out["level1_canonical"][:3]) == ["成本指标"] * 3
    flags = out["flags"].str.split(";")
    assert not any("category_mismatch" in f for f in flags[:2])
    assert out.loc[2, "category"] == "成本指标" and "category_mismatch" in flags[2]
    # the older tables' undivided 成本指标 covers the 2021 social cost
    assert out.loc[3, "category"] == "社会成本指标" and "category_mismatch" not in flags[3]


def test_fingerprint_follows_the_data_files(normalizer, tmp_path, monkeypatch):
    """Batch caches are keyed on the fingerprint: an expert's edit to a data file must change it."""
    import shutil

    from zhibiao import resources
    data = tmp_path / "data"
    shutil.copytree(resources.DATA_DIR, data)
    monkeypatch.setattr(resources, "DATA_DIR", data)
    resources.rules_fingerprint.cache_clear()
    try:
        before = normalizer.fingerprint
        with open(data / "units.txt", "a", encoding="utf-8") as fh:
            fh.write("\n# a reviewed correction\n")
        resources.rules_fingerprint.cache_clear()
        assert normalizer.fingerprint != before
        assert normalizer.fingerprint.startswith(normalizer.card["fingerprint"])
    finally:
        resources.rules_fingerprint.cache_clear()


def test_fingerprint_tells_the_full_models_from_the_cascade(normalizer):
    """The cascade settles some rows with other answers than the full models': a cache filled by one must
    not answer for the other."""
    import copy
    assert normalizer.cascade is not None and normalizer.use_cascade
    full = copy.copy(normalizer)
    full.use_cascade = False
    assert full.fingerprint != normalizer.fingerprint
    assert full.fingerprint.startswith(normalizer.card["fingerprint"])


@pytest.mark.parametrize("n_classes", [2, 4])
def test_block_wise_probabilities_equal_the_regression_on_all_features(n_classes):
    """predict_proba scores each block on its distinct inputs; it must equal the logistic regression on the
    full feature matrix, row by row, with repeated texts, values and names in one batch."""
    from scipy import sparse
    from zhibiao.classify import CategoryClassifier
    rows = [("道路新建长度", "新建农村公路", "≥12公里", "数量指标"), ("验收合格率", "工程验收", "100%", "质量指标"),
            ("完成时限", "年底前完成", "12月底前", "时效指标"), ("项目成本", "总投资", "≤700万元", "成本指标"),
            ("群众满意度", "受益群众", "≥90%", "质量指标"), ("培训人次", "培训农民", "500人次", "数量指标")]
    names, descs, values, y = map(list, zip(*rows))
    if n_classes == 2:
        y = ["数量指标" if c == "数量指标" else "其他" for c in y]
    texts = [n + " " + d for n, d in zip(names, descs)]
    clf = CategoryClassifier(get_embedder("tfidf").fit(names)).fit(texts, values, y, names=names)
    assert len(clf.classes_) == n_classes
    q_names = ["道路新建长度", "道路新建长度", "群众满意度", "新的指标名称", "验收合格率"]
    q_texts = [q_names[0] + " 新建农村公路", q_names[1] + " 别的描述", q_names[2], q_names[3], q_names[4]]
    q_values = ["≥12公里", "≥12公里", "≥95%", "", "100%"]
    X = sparse.hstack([clf.tfidf_.transform(q_texts),
                       clf.dict_.transform(clf._value_dicts(q_values, q_names)) * clf.value_weight,
                       sparse.csr_matrix(clf._embed(q_names) * clf.embedding_weight)], format="csr")
    # The blocks' scores are kept per input across calls: a call that meets some of them again (here, in
    # another order and beside new ones) must give the same probabilities as the first.
    clf.predict_proba(q_texts[3:1:-1], q_values[3:1:-1], q_names[3:1:-1])
    np.testing.assert_allclose(clf.predict_proba(q_texts, q_values, q_names), clf.model_.predict_proba(X), atol=1e-9)
    # Those kept scores are the fitted model's: fitted again on other labels, it scores afresh, and a
    # pickled copy carries none of them.
    refit = clf.fit(texts, values, y[1:] + y[:1], names=names)
    np.testing.assert_allclose(refit.predict_proba(q_texts, q_values, q_names), refit.model_.predict_proba(X), atol=1e-9)
    assert "_block_cache" not in pickle.loads(pickle.dumps(refit)).__dict__


def test_tag_records_are_the_normalize_columns_with_plain_values(normalizer):
    """The batch engine takes ``tag_records`` and stores them as JSON: one dict per row, in row order, the
    same tags as ``normalize``; rows alike are tagged alike; no numpy scalars."""
    df = pd.DataFrame({"level3": ["群众满意度", "新建道路长度", "群众满意度", "项目完成时间"],
                       "value": ["≥90%", "=1203米", "≥90%", "12月底前"]})
    records = normalizer.tag_records(df)
    assert len(records) == 4 and records[0] == records[2]
    assert records[1]["unit"] == "米" and records[1]["number"] == 1203 and records[3]["value_kind"] == "deadline"
    assert all(type(v) in (str, float, int, bool, type(None)) for r in records for v in r.values())
    out = normalizer.normalize(df)
    for i, rec in enumerate(records):
        for col in OUTPUT_COLUMNS:
            got = out[col].iloc[i]
            assert got == rec[col] or (pd.isna(got) and rec[col] is None), col
