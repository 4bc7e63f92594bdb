"""Recommender behaviour: grounded, complete, cleanly rendered suggestions."""
import pandas as pd
import pytest

from zhibiao import suggest
from zhibiao.recommend import GROUP_OF, REQUIRED_GROUPS, best_name, default_recommender, typical_value
from zhibiao.errors import ZhibiaoError
from zhibiao.taxonomy import load_library
from zhibiao.values import parse_value


@pytest.fixture(scope="module")
def road():
    return suggest("新建市政道路三水一路及路灯工程", k=10)


def test_contract_shape(road):
    assert set(road) >= {"query", "neighbours", "suggestions"}
    assert len(road["suggestions"]) == 10
    keys = {"indicator_id", "indicator_name", "category", "level1", "suggested_level3", "suggested_value",
            "op", "unit", "basis", "score", "support", "examples"}
    for s in road["suggestions"]:
        assert keys <= set(s)
    scores = [s["score"] for s in road["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert len({s["indicator_id"] for s in road["suggestions"]}) == 10


def test_ids_are_the_normalizers_ids(road):
    ids = set(load_library()["indicator_id"])
    assert all(s["indicator_id"] in ids for s in road["suggestions"])


def test_every_required_category_is_covered(road):
    groups = {GROUP_OF.get(s["category"]) for s in road["suggestions"]}
    assert set(REQUIRED_GROUPS) <= groups


def test_grounded_in_similar_projects(road):
    top = [n["project_name"] for n in road["neighbours"][:3]]
    assert any("路" in name for name in top), top
    # Road projects measure road length or area; the suggestion must be about roads.
    quantity = [s for s in road["suggestions"] if s["category"] == "数量指标"]
    assert any("路" in s["suggested_level3"] or "路" in s["indicator_name"] for s in quantity)
    assert all(s["support"] >= 0 for s in road["suggestions"])
    assert any(s["support"] > 0 and s["examples"] for s in road["suggestions"])


def test_suggested_values_parse_back_to_their_parts(road):
    filled = 0
    for s in road["suggestions"]:
        if "___" in s["suggested_value"]:
            # a blank form (≥___米) carries its operator and unit for the clerk's own number
            assert s["unit"] and s["suggested_value"].endswith(s["unit"]), s
            continue
        if s["op"] and s["suggested_value"] and s["unit"]:
            pv = parse_value(s["suggested_value"])
            assert (pv.op, pv.unit) == (s["op"], s["unit"]), s
            filled += 1
    assert filled


def test_satisfaction_is_a_rate(road):
    sat = [s for s in road["suggestions"] if s["category"] == "服务对象满意度指标"]
    assert sat and sat[0]["unit"] == "%" and sat[0]["op"] == ">="


def test_budget_sets_the_cost_target():
    out = suggest("农村环卫保洁项目", budget=120, k=10)
    costs = [s for s in out["suggestions"] if "成本" in s["category"]]
    assert costs and any(s["suggested_value"] == "≤120万元" for s in costs)


def test_draft_gets_only_what_is_missing_and_odd_rows_flagged():
    draft = pd.DataFrame({"level1": ["满意度指标", "产出指标"], "level2": ["服务对象满意度指标", "成本指标"],
                          "level3": ["群众满意度", "农村部分计划生育家庭奖励扶助金发放标准"], "value": ["≥90%", "≥90百分比"]})
    out = suggest("新建市政道路三水一路及路灯工程", k=8, draft=draft)
    reviewed = {r["level3"]: r for r in out["draft"]}
    sat_id = next(r["indicator_id"] for r in out["draft"] if r["level3"] == "群众满意度")
    assert sat_id and sat_id not in {s["indicator_id"] for s in out["suggestions"]}
    assert "unusual_for_project" in reviewed["农村部分计划生育家庭奖励扶助金发放标准"]["flags"]
    assert "unusual_for_project" not in reviewed["群众满意度"]["flags"]


def test_empty_query_is_a_clear_error():
    with pytest.raises(ZhibiaoError):
        suggest("   ")


def test_typical_value_is_the_majority_not_a_typo():
    values = [(1, "≥90%"), (1, "≥90百分比"), (1, "大于等于90%"), (1, "≥9O%"), (1, "≥95%")]
    assert typical_value(values)[:3] == ("≥90%", ">=", "%")
    assert typical_value([(1, "12月底前"), (1, "2021年12月底前"), (1, "11月底前")])[0] == "12月底前"
    assert typical_value([(1, "是"), (1, "是"), (1, "否")])[0] == "是"
    assert typical_value([])[0] == ""


def test_best_name_prefers_clean_context_names():
    assert best_name("道路长度", [(1, "新建道路长度"), (3, "道路长度（米）2021")], "新建道路") == "新建道路长度"
    assert best_name("道路长度", [], "x") == "道路长度"


def test_recommender_loads_once():
    assert default_recommender() is default_recommender()


def test_a_past_projects_sector_does_not_depend_on_the_process():
    """A project whose types split evenly between two sectors is given one of them; which one must not
    change with the process's string hashing (it decides the leave-one-sector-out folds the ranker is
    trained on, and the suggest figures per sector)."""
    import os
    import subprocess
    import sys
    script = ("from zhibiao.recommend import default_recommender as d; r = d(); "
              "print([r.project_sector(i) for i in range(len(r.projects_))])")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1


@pytest.mark.parametrize("project, sector", [("就业补助资金", "社会保障和就业"), ("农村公路养护工程", "交通运输")])
def test_a_generic_suggestion_offers_its_sector_refinement_first(project, sector):
    """群众满意度 suits any project, but a 就业 project's table names whose satisfaction it is: the
    library's refinement of the generic type for the project's sector is the first alternative."""
    lib = load_library().set_index("indicator_id")
    out = suggest(project, k=10)
    satisfaction = next(s for s in out["suggestions"] if s["indicator_id"] == "satisfaction.beneficiary")
    first = satisfaction["alternatives"][0]["indicator_id"]
    assert lib.loc[first, "parent"] == "satisfaction.beneficiary"
    assert sector in lib.loc[first, "sectors"]
