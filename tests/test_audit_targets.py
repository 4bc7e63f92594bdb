"""Issue 17: 核心指标缺失, 指标值合理性 (range, budget, budget year, last year) and the row rules,
on realistic rows; the category_mismatch gate; the 自评 sheets of the report. Expected findings are
written from the rules of 绩效目标审核, before running the audit."""
from __future__ import annotations

import pandas as pd

from zhibiao.audit import RuleNormalizer, audit, audit_files, write_report
from zhibiao.audit import mismatch
from zhibiao.audit.history import dice, match_projects
from zhibiao.audit.kinds import core_rules, project_kind

# the groups every table needs, so that only the rule under test fires
SATISFACTION = ("满意度指标", "服务对象满意度指标", "群众满意度", "", "≥90%")
BENEFIT = ("效益指标", "社会效益指标", "群众生活条件改善情况", "", "明显改善")


def table(project, indicators, *, source="t.xlsx", dept="某某局", year="", budget=None, weights=None):
    recs = []
    for i, (l1, l2, l3, desc, value) in enumerate(indicators):
        rec = {"source": source, "location": f"A{i + 5}", "project_id": f"{source}#{project}", "project_name": project,
               "table_title": "", "department": dept, "year": year, "level1": l1, "level2": l2, "level3": l3,
               "description": desc, "value": value, "basis": "", "warnings": "", "budget_wan": budget}
        if weights is not None:
            rec["weight"] = weights[i]
        recs.append(rec)
    return pd.DataFrame(recs)


def projects_of(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby("project_id", sort=False).first().reset_index()
    return g.assign(n_indicators=rows.groupby("project_id", sort=False).size().values, purpose="", goals="")[
        ["project_id", "source", "project_name", "table_title", "department", "budget_wan", "purpose", "goals",
         "n_indicators"]]


def run(rows, **kw):
    return audit(rows, projects_of(rows), normalizer=RuleNormalizer(), **kw)


def found(report, code):
    f = report.findings
    return f[f["code"] == code]


# --- 核心指标缺失 -------------------------------------------------------------------------------

ROAD = [("产出指标", "数量指标", "新建道路长度", "", "≥1000米"),
        ("产出指标", "数量指标", "路灯安装数量", "", "120盏"),
        ("产出指标", "成本指标", "项目总成本", "", "≤500万元"),
        BENEFIT, SATISFACTION]


def test_a_road_project_without_acceptance_rate_or_deadline_misses_both():
    report = run(table("新建市政道路三水一路及路灯工程", ROAD, budget=500))
    f = found(report, "missing_core")
    assert sorted(f["message"].str.extract(r"未设“(.+)”")[0]) == ["完成时限", "验收合格率"]
    assert all(f["suggestion"].str.len() > 10) and all(f["label"] == "核心指标缺失")


def test_a_road_project_with_them_misses_none():
    rows = ROAD + [("产出指标", "质量指标", "工程验收合格率", "", "=100%"),
                   ("产出指标", "时效指标", "工程完工时间", "", "12月底前")]
    assert found(run(table("新建市政道路三水一路及路灯工程", rows, budget=500)), "missing_core").empty


def test_a_deadline_value_answers_the_deadline_whatever_the_name():
    rows = ROAD + [("产出指标", "质量指标", "道路质量达标率", "", "=100%"),
                   ("产出指标", "时效指标", "项目完成", "", "2024年11月底前")]
    assert found(run(table("老旧小区道路改造工程", rows, budget=500)), "missing_core").empty


def test_a_subsidy_project_needs_recipients_and_the_standard():
    rows = [("产出指标", "数量指标", "城乡居民基础养老金标准", "", "≥190元每人每月"),   # the standard, filed as 数量
            ("产出指标", "质量指标", "资金发放准确率", "", "100%"),
            ("产出指标", "时效指标", "资金按月发放及时率", "", "100%"), BENEFIT, SATISFACTION]
    f = found(run(table("城乡居民基础养老金补助资金", rows)), "missing_core")
    assert list(f["message"].str.extract(r"未设“(.+)”")[0]) == ["补助对象数量"]


def test_a_subsidy_project_with_recipients_but_no_standard():
    rows = [("产出指标", "数量指标", "高龄津贴发放人数", "", "≥3000人"),
            ("产出指标", "质量指标", "发放准确率", "", "100%"), BENEFIT, SATISFACTION]
    f = found(run(table("高龄津贴发放", rows)), "missing_core")
    assert list(f["message"].str.extract(r"未设“(.+)”")[0]) == ["补助标准"]


def test_equipment_purchase_needs_quantity_and_acceptance():
    rows = [("产出指标", "数量指标", "购置执法车辆数量", "", "5辆"), BENEFIT, SATISFACTION]
    f = found(run(table("执法执勤车辆购置", rows)), "missing_core")
    assert list(f["message"].str.extract(r"未设“(.+)”")[0]) == ["验收合格率"]


def test_training_project_needs_trainees():
    rows = [("产出指标", "数量指标", "培训期数", "", "≥4期"), ("产出指标", "质量指标", "培训合格率", "", "≥90%"),
            BENEFIT, SATISFACTION]
    f = found(run(table("农民工职业技能培训", rows)), "missing_core")
    assert list(f["message"].str.extract(r"未设“(.+)”")[0]) == ["培训人数"]


def test_words_that_are_not_works_do_not_make_a_works_project():
    assert "工程建设" not in project_kind("平安建设工作经费")["archetypes"] or \
        found(run(table("平安建设工作经费", [BENEFIT, SATISFACTION])), "missing_core").empty
    assert project_kind("党建工作经费")["archetypes"] != ["工程建设"]


def test_every_core_rule_names_known_measures_and_a_reason_and_fix():
    from zhibiao.taxonomy.names import lexicon
    measures = set(lexicon().measures) if hasattr(lexicon(), "measures") else None
    for rule in core_rules():
        assert rule.reason and rule.fix and rule.need
        if measures is not None:
            assert set(rule.measures) <= measures, rule


# --- 指标值合理性 ----------------------------------------------------------------------------

def test_targets_out_of_the_range_similar_projects_set():
    rows = [("产出指标", "数量指标", "保洁村数", "", "≥20个"),
            ("产出指标", "质量指标", "安全事故发生率", "", "100%"),
            ("产出指标", "质量指标", "保洁合格率", "", "≥95%"),
            BENEFIT, ("满意度指标", "服务对象满意度指标", "村民满意度", "", "≥5%")]
    f = found(run(table("农村环卫保洁项目", rows)), "out_of_range").set_index("level3")
    assert sorted(f.index) == ["安全事故发生率", "村民满意度"]
    assert "越低越好" in f.loc["安全事故发生率", "message"]


def test_a_cost_over_the_budget_and_a_deadline_after_the_budget_year():
    rows = [("产出指标", "数量指标", "保洁村数", "", "≥20个"),
            ("产出指标", "成本指标", "项目总成本", "", "≤800万元"),
            ("产出指标", "成本指标", "单村保洁成本", "", "≤40万元/个"),     # a unit cost: not compared
            ("产出指标", "时效指标", "完成时间", "", "2025年6月底前"),
            ("产出指标", "时效指标", "资金拨付时间", "", "12月底前"), BENEFIT, SATISFACTION]
    report = run(table("农村环卫保洁项目", rows, year="2024", budget=700))
    assert list(found(report, "cost_over_budget")["level3"]) == ["项目总成本"]
    assert "700" in found(report, "cost_over_budget")["message"].iloc[0]
    assert list(found(report, "deadline_after_year")["level3"]) == ["完成时间"]


def test_a_cost_within_the_budget_is_fine():
    rows = [("产出指标", "成本指标", "项目总成本", "", "≤700万元"), BENEFIT, SATISFACTION]
    assert found(run(table("农村环卫保洁项目", rows, budget=700)), "cost_over_budget").empty


# --- 指标可衡量: pmkpi row rules ---------------------------------------------------------------

def test_a_bare_number_needs_a_unit_unless_the_name_gives_it():
    rows = [("产出指标", "数量指标", "城镇新增就业人数（人）", "", "50000"),
            ("产出指标", "数量指标", "扶持创业企业（项目）个数", "", "350"),
            ("产出指标", "数量指标", "城市道路养护", "", "5000"), BENEFIT, SATISFACTION]
    assert list(found(run(table("就业创业扶持", rows)), "missing_unit")["level3"]) == ["城市道路养护"]


def test_weights_must_sum_to_100():
    rows = [("产出指标", "数量指标", "保洁村数", "", "≥20个"), BENEFIT, SATISFACTION]
    bad = run(table("农村环卫保洁项目", rows, weights=[30, 30, 30]))
    assert list(found(bad, "weights_sum")["message"].str.extract(r"合计为(\d+)")[0]) == ["90"]
    assert found(run(table("农村环卫保洁项目", rows, weights=[40, 30, 30])), "weights_sum").empty


def test_duplicate_names_are_reported_once():
    rows = [("产出指标", "数量指标", "保洁村数", "", "≥20个"), ("产出指标", "数量指标", "保洁村数", "", "≥20个"),
            BENEFIT, SATISFACTION]
    assert len(found(run(table("农村环卫保洁项目", rows)), "duplicate_indicator")) == 1


# --- 目标值偏低: two years ---------------------------------------------------------------------

LAST_YEAR = [("产出指标", "数量指标", "培训人数", "", "≥600人", "650人"),
             ("产出指标", "质量指标", "培训合格率", "", "≥95%", "97%"),
             ("产出指标", "数量指标", "就业人数", "", "≥900人", "1200人"),
             ("产出指标", "质量指标", "安全事故发生次数", "", "≤1次", "0次"),
             ("产出指标", "成本指标", "项目总成本", "", "≤100万元", "98万元"),
             ("满意度指标", "服务对象满意度指标", "学员满意度", "", "≥90%", "93%")]
THIS_YEAR = [("产出指标", "数量指标", "培训人数", "", "≥500人"),          # below last year's target → fire
             ("产出指标", "质量指标", "培训考核合格率", "", "≥90%"),       # renamed, same indicator → fire
             ("产出指标", "数量指标", "就业人数", "", "≥1000人"),         # above last target, below actual → fire
             ("产出指标", "质量指标", "安全事故发生次数", "", "≤2次"),      # reverse, looser → fire
             ("产出指标", "成本指标", "项目总成本", "", "≤80万元"),        # a cost follows the budget → no
             ("满意度指标", "服务对象满意度指标", "学员满意度", "", "≥95%"),  # higher → no
             BENEFIT]


def two_years(name_now="2024年农民工职业技能培训项目", name_then="2023年农民工职业技能培训项目", dept="人社局",
              dept_then="人社局"):
    now = table(name_now, THIS_YEAR, dept=dept, year="2024", source="2024.xlsx")
    then = table(name_then, [r[:5] for r in LAST_YEAR], dept=dept_then, year="2023", source="2023.xlsx")
    then["actual_value"] = [r[5] for r in LAST_YEAR]
    return now, then


def test_targets_below_last_years_target_or_actual():
    now, then = two_years()
    f = found(run(now, previous=(then, projects_of(then))), "target_below_last_year").set_index("level3")
    assert sorted(f.index) == ["培训人数", "培训考核合格率", "安全事故发生次数", "就业人数"]
    assert "上年实际完成值" in f.loc["就业人数", "message"] and "上年目标值" not in f.loc["就业人数", "message"]
    assert "≥600人" in f.loc["培训人数", "message"]
    assert all(f["suggestion"] != "")


def test_no_comparison_without_a_matching_project():
    now, then = two_years(name_then="2023年城区道路维修项目")
    assert found(run(now, previous=(then, projects_of(then))), "target_below_last_year").empty
    now, then = two_years(dept_then="交通局")
    assert found(run(now, previous=(then, projects_of(then))), "target_below_last_year").empty


def test_without_previous_tables_there_is_no_year_over_year_finding():
    now, _ = two_years()
    assert found(run(now), "target_below_last_year").empty


def test_project_matching_by_name():
    assert dice("2024年农民工技能培训", "2024年农民工技能培训") == 1.0
    cur = pd.DataFrame({"project_id": ["a", "b"], "project_name": ["2024年农村环卫保洁项目", "城区道路维修"],
                        "department": ["", ""]})
    prev = pd.DataFrame({"project_id": ["x", "y"], "project_name": ["2023年农村环卫保洁经费", "城区绿化养护"],
                         "department": ["", ""]})
    assert match_projects(cur, prev) == {"a": "x"}


def _write_form(path, project, rows, actual=False):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["项目名称", project])
    ws.append(["主管部门", "人社局"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"] + (["实际完成值"] if actual else []))
    for r in rows:
        ws.append([r[0], r[1], r[2], r[4]] + ([r[5]] if actual else []))
    wb.save(path)


def test_audit_files_with_previous_documents(tmp_path):
    _write_form(tmp_path / "2023.xlsx", "2023年农民工职业技能培训项目", LAST_YEAR, actual=True)
    _write_form(tmp_path / "2024.xlsx", "2024年农民工职业技能培训项目", THIS_YEAR)
    report = audit_files([tmp_path / "2024.xlsx"], normalizer=RuleNormalizer(), previous=[tmp_path / "2023.xlsx"])
    assert "培训人数" in set(found(report, "target_below_last_year")["level3"])
    assert set(report.rows["source"]) == {"2024.xlsx"}   # last year's rows are evidence, not audited


# --- category_mismatch gate ------------------------------------------------------------------

def test_the_gate_fires_only_for_a_listed_pair_above_its_cut():
    table_ = {("质量指标", "数量指标"): 0.8}
    assert mismatch.fires("质量指标", "数量指标", 0.85, table_)
    assert not mismatch.fires("质量指标", "数量指标", 0.75, table_)
    assert not mismatch.fires("数量指标", "质量指标", 0.99, table_)   # a pair never measured abstains


def test_a_confident_mismatch_of_a_reliable_pair_is_reported(monkeypatch):
    rows = table("农村环卫保洁项目", [("产出指标", "质量指标", "保洁村数", "", "≥20个"), BENEFIT, SATISFACTION])
    norm = RuleNormalizer().normalize(rows)
    norm.loc[0, ["category", "category_confidence"]] = ["数量指标", 0.95]
    monkeypatch.setattr(mismatch, "pair_table", lambda: {("质量指标", "数量指标"): 0.9})
    f = found(audit(norm, normalizer=object()), "category_mismatch")
    assert list(f["level3"]) == ["保洁村数"] and "数量指标" in f["message"].iloc[0]
    monkeypatch.setattr(mismatch, "pair_table", lambda: {})
    assert found(audit(norm, normalizer=object()), "category_mismatch").empty


# --- the 自评 sheets ------------------------------------------------------------------------------

def test_report_has_selfeval_sheets_when_rows_carry_actuals(tmp_path):
    import openpyxl
    _, then = two_years()
    report = run(then)
    path = write_report(report, tmp_path / "r.xlsx")
    names = openpyxl.load_workbook(path, read_only=True).sheetnames
    assert "自评" in names and "自评汇总" in names
    now, _ = two_years()
    path = write_report(run(now), tmp_path / "s.xlsx")
    assert "自评" not in openpyxl.load_workbook(path, read_only=True).sheetnames


# --- the CLI ---------------------------------------------------------------------------------------

def _cli(*args):
    from typer.testing import CliRunner
    from zhibiao.cli import app
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_refuses_a_file_that_is_both_this_year_and_last_year(tmp_path):
    _write_form(tmp_path / "2024.xlsx", "2024年农民工职业技能培训项目", THIS_YEAR)
    result = _cli("audit", tmp_path / "2024.xlsx", "--previous", tmp_path / "2024.xlsx", "-o", tmp_path / "r.xlsx")
    assert result.exit_code != 0 and "--previous" in result.output
    assert not (tmp_path / "r.xlsx").exists()


def test_cli_audit_with_previous_reports_targets_below_last_year(tmp_path, monkeypatch):
    """The --previous wiring, with the declared-label normalizer (the year-over-year rule does not
    depend on the model)."""
    import openpyxl
    from zhibiao.pipeline import Pipeline
    monkeypatch.setattr(Pipeline, "_audit_normalizer", lambda self: RuleNormalizer())
    _write_form(tmp_path / "2023.xlsx", "2023年农民工职业技能培训项目", LAST_YEAR, actual=True)
    _write_form(tmp_path / "2024.xlsx", "2024年农民工职业技能培训项目", THIS_YEAR)
    out = tmp_path / "r.xlsx"
    result = _cli("audit", tmp_path / "2024.xlsx", "--previous", tmp_path / "2023.xlsx", "-o", out)
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out, read_only=True)["问题明细"]
    rows = list(ws.iter_rows(values_only=True))
    col = rows[0].index("问题类型"), rows[0].index("三级指标")
    below = {r[col[1]] for r in rows[1:] if r[col[0]] == "目标值低于上年"}
    assert {"培训人数", "就业人数"} <= below


def test_audited_rows_carry_the_gated_flag(monkeypatch):
    """The page marks rows from the audited rows' flags: an ungated category_mismatch from the model
    must not show there when the audit does not report it."""
    rows = table("农村环卫保洁项目", [("产出指标", "质量指标", "保洁村数", "", "≥20个"), BENEFIT, SATISFACTION])
    norm = RuleNormalizer().normalize(rows)
    norm.loc[0, ["category", "category_confidence", "flags"]] = ["数量指标", 0.75, "category_mismatch;unmatched_indicator"]
    monkeypatch.setattr(mismatch, "pair_table", lambda: {("质量指标", "数量指标"): 0.9})
    report = audit(norm, normalizer=object())
    assert report.rows.loc[0, "flags"] == "unmatched_indicator"
    assert found(report, "category_mismatch").empty


def test_state_judged_process_indicators_are_measurable_as_written():
    """财预〔2020〕10号's 过程 indicators are judged 合规/有效/明确; a 时效 target 按计划完成 is not measurable."""
    rows = [("产出指标", "质量指标", "资金使用合规性", "", "合规"), ("产出指标", "质量指标", "财务监控有效性", "", "有效"),
            ("产出指标", "时效指标", "工作完成时间", "", "按工作计划及时完成"), BENEFIT, SATISFACTION]
    assert list(found(run(table("就业补助资金", rows)), "not_measurable")["level3"]) == ["工作完成时间"]
