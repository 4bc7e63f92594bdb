"""The 绩效目标表 workbook: what zhibiao writes, zhibiao (and a clerk) can read back."""
import pandas as pd
from openpyxl import load_workbook
from typer.testing import CliRunner

from zhibiao import extract
from zhibiao.cli import app
from zhibiao.forms import STANDARD_HEADERS, suggestion_rows, target_table_xlsx
from zhibiao.recommend import REQUIRED_GROUPS, GROUP_OF
from zhibiao.taxonomy import CATEGORIES

ROWS = pd.DataFrame({
    "project_name": ["城区道路维修", "城区道路维修", "城区道路维修", "社区活动经费", "社区活动经费"],
    "level1": ["产出指标", "产出指标", "满意度指标", "产出指标", "效益指标"],
    "level2": ["数量指标", "质量指标", "服务对象满意度指标", "数量指标", "社会效益指标"],
    "level3": ["维修道路长度", "验收合格率", "群众满意度", "开展活动次数", "居民参与度"],
    "description": ["全年维修城区道路", "", "", "", "提升"],
    "value": ["≥1200米", "=100%", "≥90%", "≥12次", "提升"],
    "basis": ["工作计划", "", "", "", ""],
})
PROJECTS = pd.DataFrame({"project_name": ["城区道路维修", "社区活动经费"], "budget_wan": [700.0, 5.0],
                         "purpose": ["维修主次干道", "开展党建活动"]})


def test_workbook_reads_back_as_the_same_rows(tmp_path):
    path = tmp_path / "表.xlsx"
    path.write_bytes(target_table_xlsx(ROWS, PROJECTS))
    back = extract([path])
    assert list(back["level3"]) == list(ROWS["level3"])
    assert list(back["value"]) == list(ROWS["value"])           # =100% stays text, not a formula
    assert list(back["project_name"]) == list(ROWS["project_name"])
    assert list(back["level2"]) == list(ROWS["level2"])
    ws = load_workbook(path).active
    cells = [list(r) for r in ws.iter_rows(values_only=True)]
    assert cells[0][0] == "城区道路维修项目绩效目标表"
    assert ["预算数", "700万元"] == cells[2][:2]
    assert cells[4][:6] == STANDARD_HEADERS
    assert ws.merged_cells.ranges                              # titles and project rows span the table


def test_suggest_writes_a_complete_table_in_framework_order(tmp_path):
    path = tmp_path / "out" / "建议.xlsx"
    result = CliRunner().invoke(app, ["suggest", "农村环卫保洁项目", "--budget", "120", "--xlsx", str(path)])
    assert result.exit_code == 0, result.output
    back = extract([path])
    assert len(back) == 10 and set(back["project_name"]) == {"农村环卫保洁项目"}
    groups = {GROUP_OF[c] for c in back["level2"]}
    assert groups == set(REQUIRED_GROUPS)
    position = [CATEGORIES.index(c) for c in back["level2"]]
    assert position == sorted(position)
    assert any(v == "≤120万元" for v in back["value"])         # the budget shapes the cost target


def test_suggest_with_draft_keeps_the_draft_rows():
    result = {"query": "道路", "suggestions": [
        {"level1": "产出指标", "category": "时效指标", "suggested_level3": "项目完成时限",
         "suggested_value": "12月底前", "basis": "计划标准"}],
        "draft": [{"level3": "群众满意度", "value": "≥90%", "category": "服务对象满意度指标", "flags": []},
                  {"level3": "看不懂的行", "value": "", "category": "", "flags": ["unmatched_indicator"]}]}
    rows = suggestion_rows(result)
    assert list(rows["level3"]) == ["项目完成时限", "群众满意度", "看不懂的行"]   # no row lost, unknown last
    assert list(rows["level1"]) == ["产出指标", "满意度指标", ""]


def test_suggest_xlsx_needs_an_xlsx_path(tmp_path):
    result = CliRunner().invoke(app, ["suggest", "道路", "--xlsx", str(tmp_path / "a.csv")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert ".xlsx" in result.output and not (tmp_path / "a.csv").exists()


def test_form_groups_by_level_keeps_the_clerks_words_and_notes_findings(tmp_path):
    rows = pd.DataFrame({
        "project_id": ["p"] * 4, "location": ["r1", "r2", "r3", "r4"], "project_name": ["社区活动经费"] * 4,
        "level1": ["满意度指标", "效果指标", "产出指标", "产出指标"],
        "level2": ["服务对象满意度指标", "社会效益指标", "时效指标", "数量指标"],
        "level3": ["居民满意度（%）", "居民参与度", "活动完成时限", "开展活动次数"],
        "value": ["≥90%", "提升", "12月底前", "≥12次"],
        "category": ["服务对象满意度指标", "社会效益指标", "时效指标", "数量指标"],
        "indicator_id": ["satisfaction.x", "", "timeliness.x", "quantity.x"],
    })
    findings = pd.DataFrame([
        {"project_id": "p", "location": "r2", "label": "指标值不可衡量", "message": "目标值“提升”是定性表述",
         "suggestion": "改为具体数值"},
        {"project_id": "p", "location": "", "label": "缺少必设指标", "message": "项目缺少成本指标", "suggestion": ""},
    ])
    path = tmp_path / "表.xlsx"
    path.write_bytes(target_table_xlsx(rows, findings=findings))
    wb = load_workbook(path)
    ws = wb["绩效目标表"]
    cells = [list(r) for r in ws.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(cells) if r[0] == "一级指标")
    body = cells[header + 1:header + 5]
    # 产出 (数量 before 时效), then 效果 (the old name of 效益), then 满意度; words as written
    assert [r[2] for r in body] == ["开展活动次数", "活动完成时限", "居民参与度", "居民满意度（%）"]
    assert [r[0] for r in body] == ["产出指标", None, "效果指标", "满意度指标"]   # 产出 merged over two rows
    assert cells[header][6] == "审核意见"
    assert body[2][6].startswith("【指标值不可衡量】") and "改为具体数值" in body[2][6]
    assert body[0][6] in (None, "")
    text = "\n".join(str(v) for r in cells for v in r if v is not None)
    assert "quantity.x" not in text and "规范二级指标" not in text
    assert wb["标准化信息"].sheet_state == "hidden"
    assert [c.value for c in wb["项目审核意见"]["B"]][1].startswith("【缺少必设指标】项目缺少成本指标")
