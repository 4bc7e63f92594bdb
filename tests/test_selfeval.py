"""绩效自评 scoring (DESIGN §7): hand-written target/actual pairs, generated 自评表 forms, the CLI.

The expectations in ``fixtures/selfeval_cases.csv`` were written from how a 财政 reviewer reads a
自评表 and from the rules of 财预〔2020〕10号, before the code was run on them.
"""
from __future__ import annotations

import ast
import csv
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from zhibiao.selfeval import ACHIEVED, RulesError, judge, load_rules, selfeval, selfeval_projects

HERE = Path(__file__).resolve().parent
CASES = HERE / "fixtures" / "selfeval_cases.csv"
REALWORLD = HERE / "fixtures" / "realworld"
SRC = HERE.parent / "src"


def _cases():
    with CASES.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_enough_hand_written_cases():
    rows = _cases()
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["achieved"] for r in rows} == set(ACHIEVED)   # every verdict is exercised


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c['id']}:{c['value']}|{c['actual_value']}")
def test_case(case):
    j = judge(case["value"], case["actual_value"], level3=case["level3"], level2=case["level2"], year=2021,
              weight=case["weight"] or None, reported_score=case["reported_score"] or None,
              deviation_reason=case["deviation_reason"])
    assert j.achieved == case["achieved"], (j.achieved, j.flags)
    if case["completion_rate"] == "":
        assert j.completion_rate is None, j.completion_rate
    else:
        assert j.completion_rate is not None and math.isclose(j.completion_rate, float(case["completion_rate"]),
                                                              abs_tol=6e-4), j.completion_rate
    if case["score"] != "":
        assert j.score is not None and math.isclose(j.score, float(case["score"]), abs_tol=0.006), j.score
    elif not case["weight"]:
        assert j.score is None
    for flag in filter(None, case["flags"].split(";")):
        if flag.startswith("!"):
            assert flag[1:] not in j.flags, j.flags
        else:
            assert flag in j.flags, j.flags
    if j.achieved == "无法判断":
        assert j.flags, "无法判断 always says why"
        assert j.score is None and j.completion_rate is None and j.scoring == ""
    else:
        assert j.scoring in ("定量", "定性", "预算执行率")


def test_every_flag_has_a_chinese_message():
    rules = load_rules()
    used = {f.lstrip("!") for c in _cases() for f in c["flags"].split(";") if f}
    used |= {"over_target", "score_mismatch", "missing_reason", "missing_actual", "unit_mismatch_actual"}
    for code in used:
        severity, message = rules.flags[code]
        assert severity in ("高", "中", "低", "提示") and any("\u4e00" <= ch <= "\u9fff" for ch in message), code


# ------------------------------------------------------------------ tables

def _rows(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_frame_keeps_every_row_and_order():
    df = _rows(level3=["培训人数", "群众满意度", "奇怪的行", "预算执行率"],
               value=["≥500人", "≥90%", None, "≥90%"],
               actual_value=["520人", float("nan"), 12.5, "0.88"],
               weight=[10, "10", None, 8], extra=["a", "b", "c", "d"])
    out = selfeval(df)
    assert len(out) == 4 and out["extra"].tolist() == ["a", "b", "c", "d"]
    assert out["achieved"].tolist() == ["达成", "无法判断", "无法判断", "部分达成"]
    assert out.loc[1, "selfeval_flags"] == "missing_actual"
    assert out.loc[2, "selfeval_flags"] == "missing_target"
    assert math.isclose(out.loc[3, "score"], 8 * 88 / 90, abs_tol=1e-3)
    assert "实际完成值为空" in out.loc[1, "selfeval_messages"]
    assert df.columns.tolist() == ["level3", "value", "actual_value", "weight", "extra"]   # input untouched


def test_split_columns_without_value():
    df = _rows(level3=["培训人数"], value=[""], value_op_raw=["≥"], value_number_raw=["500"],
               value_unit_raw=["人"], actual_value=["450"])
    out = selfeval(df)
    assert out.loc[0, "achieved"] == "部分达成" and math.isclose(out.loc[0, "completion_rate"], 0.9)


def test_level3_required():
    with pytest.raises(RulesError):
        selfeval(pd.DataFrame({"value": ["1"]}))


def test_public_name():
    import zhibiao
    df = _rows(level3=["培训人数"], value=["≥500人"], actual_value=["450人"])
    assert "selfeval" in zhibiao.__all__
    assert zhibiao.selfeval(df)["achieved"].tolist() == ["部分达成"]   # the submodule is callable too


# ------------------------------------------------------------------ rules and variants

def test_rules_file_overrides_and_variants(tmp_path):
    args = dict(level3="服务对象满意度", weight=10)
    assert "over_target" in judge("≥70%", "95%", **args).flags
    mine = tmp_path / "province.tsv"
    mine.write_text("# a province that calls 150 % over-achievement\nrule\tover_target_ratio\t1.5\n", encoding="utf-8")
    assert "over_target" not in judge("≥70%", "95%", rules=mine, **args).flags
    # 重庆: 预算执行率 90 % 以上满分, 每低于 5 % 扣 1 分
    assert judge("≥90%", "88%", level3="预算执行率", weight=8, variant="重庆").score == 7
    assert judge("≥90%", "79%", level3="预算执行率", weight=8, variant="重庆").score == 5
    assert math.isclose(judge("≥90%", "88%", level3="预算执行率", weight=8).score, 8 * 88 / 90, abs_tol=1e-3)


def test_bad_rules(tmp_path):
    with pytest.raises(RulesError, match="unknown rules variant"):
        load_rules(variant="火星")
    bad = tmp_path / "bad.tsv"
    bad.write_text("rule over_target_ratio\n", encoding="utf-8")
    with pytest.raises(RulesError, match="bad.tsv:1"):
        load_rules(bad)
    with pytest.raises(RulesError, match="no such rules file"):
        load_rules(tmp_path / "none.tsv")


def test_projects_total_grade_and_budget_columns():
    df = _rows(project_id=["p1"] * 3 + ["p2"] * 2,
               level1=["产出指标", "产出指标", "满意度指标", "产出指标", "成本指标"],
               level2=["数量指标", "质量指标", "服务对象满意度指标", "数量指标", "经济成本指标"],
               level3=["培训人数", "验收合格率", "服务对象满意度", "道路长度", "项目成本"],
               value=["≥500人", "≥95%", "≥90%", "≥1000米", "≤700万元"],
               actual_value=["520人", "90%", "", "1000米", "650万元"],
               weight=[40, 30, 20, 50, 40],
               budget_total=[100, 100, 100, "", ""], budget_executed=[96, 96, 96, "", ""])
    p = selfeval_projects(selfeval(df)).set_index("project_id")
    p1 = p.loc["p1"]
    # 40 + 30 × 90/95 + (满意度 unjudged) + 预算执行率 10 × 0.96
    assert math.isclose(p1.score_total, 40 + 30 * 90 / 95 + 9.6, abs_tol=1e-3)
    assert p1.weight_total == 100 and p1.n_unjudged == 1 and math.isclose(p1.budget_execution_rate, 0.96)
    assert math.isclose(p1.score_total_max, p1.score_total + 20, abs_tol=1e-3)
    assert p1.grade == "" and "grade_uncertain" in p1.project_flags     # 中 (78) or 优 (98)
    assert p.loc["p2", "grade"] == "优" and p.loc["p2", "score_total"] == 90
    # a province that deducts 5 points when no 成本指标 was set: p1 has none, p2 has one
    q = selfeval_projects(selfeval(df), variant="成本必设").set_index("project_id")
    assert math.isclose(q.loc["p1", "score_total"], p1.score_total - 5, abs_tol=1e-3)
    assert q.loc["p2", "score_total"] == 90


# ------------------------------------------------------------------ real and generated forms

def test_realworld_chongqing_selfeval_form():
    out = selfeval(REALWORLD / "SSTQA-zh_table_72.xlsx", variant="重庆")
    by = out.set_index("level3")
    assert out["weight"].astype(float).sum() == 100
    assert by.loc["新增区级创业孵化基地数量", "achieved"] == "达成"
    assert "over_target" in by.loc["新增区级创业孵化基地数量", "selfeval_flags"]
    assert by.loc["预算执行率", "achieved"] == "部分达成"
    assert by.loc["管理制度健全性", "achieved"] == "部分达成" and by.loc["财务监控有效性", "achieved"] == "部分达成"
    assert (out["achieved"] == "无法判断").sum() == 0
    p = selfeval_projects(out, variant="重庆").iloc[0]
    assert math.isclose(p.budget_execution_rate, 6643 / 7574, abs_tol=1e-6)
    assert p.budget_score is None or p.budget_score != p.budget_score   # scored by its own row, not twice
    # full marks except 预算执行率 (8 − 1) and the two 较… rows at the 部分达成 point (2 × 0.7 each)
    assert math.isclose(p.score_total, 100 - 1 - 2 * 0.6, abs_tol=1e-6) and p.grade == "优"


HEADER = ["一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"]
BODY = [
    ["产出指标", "数量指标", "培训人数", "≥500人", "520人", 20, 20, ""],
    ["产出指标", "数量指标", "发放补贴户数", "≥200户", "150户", 20, 15, "部分对象资格未通过审核"],
    ["产出指标", "质量指标", "补贴发放准确率", "100%", "100%", 15, 15, ""],
    ["产出指标", "时效指标", "资金拨付时间", "12月底前", "11月", 10, 10, ""],
    ["效益指标", "社会效益指标", "群众生活水平", "明显提升", "有所提升", 15, 15, ""],
    ["满意度指标", "服务对象满意度指标", "服务对象满意度", "≥90%", "95%", 10, 10, ""],
]
# expected by hand: (achieved, score, flags it must carry)
EXPECTED = [("达成", 20, []), ("部分达成", 15, []), ("达成", 15, []), ("达成", 10, []),
            ("部分达成", 10.5, ["score_mismatch", "missing_reason"]), ("达成", 10, [])]
BUDGET_LABELS = ["项目资金（万元）", "", "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分"]
BUDGET_AMOUNTS = ["年度资金总额", "", 100, 100, 96, 10, "96%", 9.6]


def _check_generated(rows: pd.DataFrame):
    assert rows["level3"].tolist() == [r[2] for r in BODY]
    assert rows["level1"].tolist() == [r[0] for r in BODY]          # merged 一级 cells filled down
    for col in ("weight", "reported_score", "deviation_reason"):
        assert col in rows.columns
    assert rows["deviation_reason"].tolist()[1] == "部分对象资格未通过审核"
    out = selfeval(rows)
    for (achieved, score, flags), (_, r) in zip(EXPECTED, out.iterrows()):
        assert r.achieved == achieved and math.isclose(r.score, score, abs_tol=1e-6), (r.level3, r.achieved, r.score)
        assert all(f in r.selfeval_flags for f in flags), (r.level3, r.selfeval_flags)
    assert "score_mismatch" not in "".join(out["selfeval_flags"].iloc[:4])
    p = selfeval_projects(out).iloc[0]
    assert p.project_name == "就业技能培训补贴项目"
    assert math.isclose(p.budget_execution_rate, 0.96) and math.isclose(p.budget_score, 9.6)
    assert math.isclose(p.score_total, 20 + 15 + 15 + 10 + 10.5 + 10 + 9.6, abs_tol=1e-6)
    assert p.weight_total == 100 and p.grade == "优" and p.reported_total == 85


def test_generated_xlsx_selfeval_form_with_merged_cells(tmp_path):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.title = "自评表"
    ws.append(["就业技能培训补贴项目支出绩效自评表"] + [None] * 7)
    ws.merge_cells("A1:H1")
    ws.append(["项目名称", "就业技能培训补贴项目", None, None, "主管部门", "某区人力资源和社会保障局", None, None])
    ws.merge_cells("B2:D2")
    ws.append(BUDGET_LABELS)
    ws.merge_cells("A3:B3")
    ws.append(BUDGET_AMOUNTS)
    ws.merge_cells("A4:B4")
    ws.append(HEADER)                                     # row 5
    for r in BODY:
        ws.append(r)                                      # rows 6–11
    for rng in ("A6:A9", "B6:B7"):                        # 产出指标 over four rows, 数量指标 over two
        top = ws[rng.split(":")[0]].value
        ws.merge_cells(rng)
        assert ws[rng.split(":")[0]].value == top
    ws.append(["总分", None, None, None, None, 100, 85, None])
    path = tmp_path / "自评表.xlsx"
    wb.save(path)
    from zhibiao.ingest import extract
    _check_generated(extract(path))


def test_generated_docx_selfeval_form_with_merged_cells(tmp_path):
    import docx
    d = docx.Document()
    d.add_paragraph("就业技能培训补贴项目支出绩效自评表")
    # the (A)/(B) spellings some provinces print on the 10号 form
    header = [h.replace("年度指标值", "年度指标值（A）").replace("实际完成值", "实际完成值(B)") for h in HEADER]
    labels = [h.replace("全年预算数", "全年预算数（A）").replace("全年执行数", "全年执行数（B）") for h in BUDGET_LABELS]
    rows = [["项目名称", "就业技能培训补贴项目", "", "", "主管部门", "某区人力资源和社会保障局", "", ""],
            labels, BUDGET_AMOUNTS, header, *BODY, ["总分", "", "", "", "", 100, 85, ""]]
    t = d.add_table(rows=len(rows), cols=8)
    for i, r in enumerate(rows):
        for k, v in enumerate(r):
            t.cell(i, k).text = "" if v is None else str(v)
    # vertical merges as Word makes them: 产出指标 (table rows 4–7), 数量指标 (4–5); horizontal: 项目名称 value
    t.cell(4, 0).merge(t.cell(7, 0)).text = "产出指标"
    t.cell(4, 1).merge(t.cell(5, 1)).text = "数量指标"
    t.cell(0, 1).merge(t.cell(0, 3)).text = "就业技能培训补贴项目"
    path = tmp_path / "自评表.docx"
    d.save(path)
    from zhibiao.ingest import extract
    _check_generated(extract(path))


def test_report_sheets_for_the_audit_workbook():
    from zhibiao.selfeval import report_sheets
    sheets = report_sheets(selfeval(REALWORLD / "SSTQA-zh_table_72.xlsx"))
    rows, totals = sheets["自评"], sheets["自评汇总"]
    assert len(rows) == 16 and len(totals) == 1
    assert {"三级指标", "年度指标值", "实际完成值", "完成情况", "规则得分", "问题级别", "审核意见"} <= set(rows.columns)
    by = rows.set_index("三级指标")
    assert by.loc["新增区级创业孵化基地数量", "问题级别"] == "中"        # over_target, missing_reason
    assert by.loc["社会保险补贴发放准确率", "问题级别"] == ""           # only 提示 (unit assumed)
    assert totals.loc[0, "等级"] == "优"


def test_as_json_is_plain_json():
    import json
    from zhibiao.selfeval import as_json
    rows = selfeval(_rows(level3=["培训人数", "满意度"], value=["≥500人", "≥90%"], actual_value=["520人", ""],
                          weight=[10, 10]))
    body = json.loads(json.dumps(as_json(rows, selfeval_projects(rows)), ensure_ascii=False, allow_nan=False))
    assert [r["achieved"] for r in body["rows"]] == ["达成", "无法判断"]
    assert body["rows"][1]["score"] is None and body["projects"][0]["score_total_max"] == 20


# ------------------------------------------------------------------ CLI and layering

def _cli(*args, cwd):
    import os
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "zhibiao.cli", "selfeval", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_rows_file_and_document(tmp_path):
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"level3": ["培训人数", "安全事故发生次数", "管理制度健全性"], "value": ["≥500人", "0次", "健全"],
                  "actual_value": ["450", "0", "较健全"], "weight": ["10", "5", "5"]}).to_csv(rows, index=False)
    res = _cli(rows, REALWORLD / "SSTQA-zh_table_72.xlsx", "-o", tmp_path / "out.xlsx",
               "--projects", tmp_path / "projects.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = pd.read_excel(tmp_path / "out.xlsx", dtype=str)
    assert len(out) == 3 + 16
    assert out["achieved"].iloc[:3].tolist() == ["部分达成", "达成", "部分达成"]
    projects = pd.read_csv(tmp_path / "projects.csv")
    assert len(projects) == 2
    assert rows.read_text(encoding="utf-8").count("\n") == 4            # input untouched


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16"])
def test_cli_reads_a_rows_file_in_the_encodings_normalize_reads(tmp_path, encoding):
    """Excel on a Chinese Windows saves "CSV" as GB18030 and "Unicode text" as UTF-16; normalize reads
    both as rows files, so selfeval must too (it failed on GB18030 and took UTF-16 for a document)."""
    rows = tmp_path / "rows.csv"
    rows.write_text("level3,value,actual_value\n群众满意度,≥90%,95%\n培训人数,≥500人,450人\n", encoding=encoding)
    res = _cli(rows, "-o", tmp_path / "out.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert out["level3"].tolist() == ["群众满意度", "培训人数"]
    assert out["achieved"].tolist() == ["达成", "部分达成"]


def test_cli_variant_and_rules_file(tmp_path):
    res = _cli(REALWORLD / "SSTQA-zh_table_72.xlsx", "-o", tmp_path / "o.csv", "--variant", "重庆", cwd=tmp_path)
    assert res.returncode == 0 and "就业补助资金: 97.80 / 100 优" in res.stdout, res.stdout + res.stderr
    mine = tmp_path / "mine.tsv"
    mine.write_text("grade\t优\t99\n", encoding="utf-8")     # a stricter 优
    res = _cli(REALWORLD / "SSTQA-zh_table_72.xlsx", "-o", tmp_path / "o.csv", "--rules", mine, cwd=tmp_path)
    assert res.returncode == 0 and "就业补助资金: 98.62 / 100 良" in res.stdout, res.stdout + res.stderr


def test_cli_bad_input_is_one_line(tmp_path):
    res = _cli(tmp_path / "missing.xlsx", "-o", tmp_path / "o.csv", cwd=tmp_path)
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
    res = _cli(REALWORLD / "SSTQA-zh_table_72.xlsx", "-o", tmp_path / "o.csv", "--variant", "火星", cwd=tmp_path)
    assert res.returncode == 1 and "unknown rules variant" in res.stderr and "Traceback" not in res.stderr
    res = _cli(REALWORLD / "SSTQA-zh_table_72.xlsx", "-o", tmp_path / "o.txt", cwd=tmp_path)
    assert res.returncode == 1 and not (tmp_path / "o.txt").exists()
    rows = tmp_path / "rows.csv"
    rows.write_text("level3,value,actual_value\n培训人数,≥500人,450人\n", encoding="utf-8")
    res = _cli(rows, "-o", rows, cwd=tmp_path)
    assert res.returncode == 1 and "never overwrites an input" in res.stderr
    assert rows.read_text(encoding="utf-8") == "level3,value,actual_value\n培训人数,≥500人,450人\n"


def test_judgement_layer_imports():
    """selfeval is a judgement layer: no models, no interfaces (DESIGN §2)."""
    tree = ast.parse((SRC / "zhibiao" / "selfeval.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            imported.add((node.module or "").split(".")[0])
    forbidden = {"cli", "service", "audit", "batch", "recommend", "classify", "embed", "pipeline", "demo"}
    assert imported and not imported & forbidden, imported & forbidden
