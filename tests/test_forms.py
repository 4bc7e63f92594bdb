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
