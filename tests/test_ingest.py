"""Extraction from the four seed text dumps and the four real-world forms.

The per-seed counts were verified by hand (see test docstrings): every table
was read in the dump, and an independent awk record counter was compared table
by table; each disagreement was inspected and resolved in the dump itself.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pytest

from zhibiao.ingest import PROJECT_COLUMNS, ROW_COLUMNS, extract, extract_all

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "training_data" / "raw"
REALWORLD = Path(__file__).parent / "fixtures" / "realworld"

SEED_COUNTS = {  # file prefix: (indicator rows, projects)
    "000": (364, 56),  # 唐山高新区: 56 tables, 3 of them with the title printed after the table
    "001": (90, 14),   # 街道办事处
    "002": (249, 35),  # 永清: 34 numbered project tables + the 部门整体 table (7 rows, 符号/值/单位)
    "004": (75, 15),   # 定州西城区: incl. the 21-row 环保专项资金 table
}


@pytest.fixture(scope="module")
def seeds():
    return extract_all(sorted(RAW.glob("*.txt")))


def _seed(df, prefix):
    return df[df.source.str.startswith(prefix)]


def _row(rows, prefix, location):
    hit = rows[rows.source.str.startswith(prefix) & (rows.location == location)]
    assert len(hit) == 1, f"{prefix} {location}: {len(hit)} rows"
    return hit.iloc[0]


@pytest.mark.parametrize("prefix", sorted(SEED_COUNTS))
def test_seed_counts(seeds, prefix):
    n_rows, n_projects = SEED_COUNTS[prefix]
    assert len(_seed(seeds.rows, prefix)) == n_rows
    assert len(_seed(seeds.projects, prefix)) == n_projects
    assert _seed(seeds.projects, prefix).n_indicators.sum() == n_rows


def test_columns_and_keys(seeds):
    assert list(seeds.rows.columns) == ROW_COLUMNS
    assert list(seeds.projects.columns) == PROJECT_COLUMNS
    assert not seeds.rows.duplicated(["source", "location"]).any()
    assert set(seeds.rows.project_id) == set(seeds.projects.project_id)
    assert (seeds.rows.level3 != "").all()
    assert seeds.failures == []


def test_no_spending_plan_or_header_rows(seeds):
    cells = seeds.rows[["level1", "level2", "level3", "value"]].astype(str).agg("|".join, axis=1)
    for word in ("资金支出计划", "第一季度", "3月底", "三级指标", "指标值确定依据", "项目名称", "符号"):
        assert not cells.str.contains(word).any(), word


def test_multiline_cells(seeds):
    r = _row(seeds.rows, "000", "L58")  # "\t产出\n\n指标 " is one cell
    assert (r.level1, r.level2, r.level3, r.value) == ("产出指标", "数量指标", "招商目标达成数量", "≥20个")
    r = _row(seeds.rows, "000", "L4141")  # description continued across an empty line
    assert r.description == "如有增减贫困户，对项目进行及时的动态调整"
    assert r.level1 == "效果指标" and r.value == "是"
    r = _row(seeds.rows, "000", "L617")  # 二级 "社会效益\n\n指标"
    assert (r.level1, r.level2) == ("效果指标", "社会效益指标")


def test_compound_value(seeds):
    r = _row(seeds.rows, "000", "L1570")
    assert r.value == "给水等于4032.37米；污水等于4119.901米"
    assert r.level3 == "工程量" and r.basis == "合同约定"


def test_1100_lu(seeds):
    hit = _seed(seeds.rows, "000").query("value == '≥1100路'")
    assert len(hit) == 1
    assert hit.iloc[0].project_name.startswith("智慧高新指挥中心建设")


def test_fill_down(seeds):
    r = _row(seeds.rows, "000", "L703")  # 一级 and 二级 cells both empty (merged)
    assert (r.level1, r.level2, r.level3) == ("产出指标", "数量指标", "树木栽植量")
    assert "level1_filled_down" in r.warnings and "level2_filled_down" in r.warnings


def test_title_mismatch_keeps_both(seeds):
    r = _row(seeds.rows, "000", "L1465")
    assert r.project_name == "规划道路7（支路1—大庆道）"
    assert r.table_title == "北安道（学院路—建设路）项目绩效目标表"
    assert "title_mismatch" in r.warnings


def test_two_line_titles(seeds):
    p = _seed(seeds.projects, "000").set_index("project_name")
    assert p.loc["9村村民参加企业职工养老保险财政补贴", "table_title"] == "9村村民参加企业职工养老保险财政补贴项目绩效目标表"
    assert p.loc["医药卫生体制改革和乡村一体化", "table_title"] == "医药卫生体制改革和乡村一体化项目绩效目标表"
    # a title printed after its table goes to that table, not to the next one
    assert p.loc["龙泽学校装备费及运行经费", "table_title"] == "龙泽学校装备费及运行经费项目绩效目标表"


def test_yongqing_split_columns(seeds):
    r = _row(seeds.rows, "002", "L145")
    assert (r.value, r.value_op_raw, r.value_number_raw, r.value_unit_raw) == ("≥40件", "≥", "40.00", "件")
    assert r.level1 == "部门产出" and r.level2 == "数量" and r.basis == "计划标准"
    r = _row(seeds.rows, "002", "L165")  # 文字描述: the words are the target
    assert (r.value, r.value_op_raw) == ("按工作计划及时完成", "文字描述")
    assert _row(seeds.rows, "002", "L206").value == "≥98%"


def test_project_metadata(seeds):
    p = seeds.projects.set_index("project_id")
    first = p.loc["000_20f4f411ab1f5f47.txt#1"]
    assert first.project_name == "唐山创新中心运营服务费"
    assert first.budget_wan == 700.0
    assert first.purpose.startswith("为更好引进人才")
    assert "目标1" in first.goals and "目标2" in first.goals
    dz = _seed(seeds.projects, "004").iloc[0]
    assert (dz.project_code, dz.budget_wan) == ("917-0101-YCN-16DG", 17.54)  # 单位：万元 applies
    yq = _seed(seeds.projects, "002").iloc[1]
    assert yq.project_name == "经开区编外人员资金" and yq.year == "2021"


# Where each seed states its department (read in the dumps by hand):
# 000 唐山高新区 and 001 街道办事处 never name one (001 only says "街道办事处");
# 002 永清 names it in the 机构设置 table (单位名称 over 河北永清经济开发区管理委员会,
# L53/L63) before any project; 004 定州 heads every project table with
# "917003西城区政府办公室 | 单位：万元" (L38, L118, ...).
SEED_DEPARTMENTS = {
    ("000", "L58"): "", ("000", "L5617"): "",
    ("001", "L127"): "", ("001", "L1268"): "",
    ("002", "L145"): "河北永清经济开发区管理委员会",   # the 部门整体 table
    ("002", "L2360"): "河北永清经济开发区管理委员会",  # the last project table
    ("004", "L81"): "917003西城区政府办公室", ("004", "L1228"): "917003西城区政府办公室",
}


@pytest.mark.parametrize("prefix,location", sorted(SEED_DEPARTMENTS))
def test_seed_department(seeds, prefix, location):
    assert _row(seeds.rows, prefix, location).department == SEED_DEPARTMENTS[(prefix, location)]


def test_seed_departments_per_document(seeds):
    by_seed = {prefix: set(_seed(seeds.projects, prefix).department) for prefix in SEED_COUNTS}
    assert by_seed == {"000": {""}, "001": {""}, "002": {"河北永清经济开发区管理委员会"},
                       "004": {"917003西城区政府办公室"}}


def test_no_department_is_a_label_word(seeds):
    from zhibiao.ingest.vocab import header_spellings, label_kinds, norm_label
    words = set(label_kinds()) | {sp for _, sps in header_spellings() for sp in sps}
    assert {"单位性质", "部门名称", "单位名称", "单位"} <= words
    for df in (seeds.rows, seeds.projects):
        assert not set(df.department.map(norm_label)) & words


def test_empty_target_row_is_kept_with_warning(seeds):
    r = _row(seeds.rows, "004", "L501")
    assert r.level3 == "受益人数" and r.value == ""
    assert "no_value" in r.warnings


@pytest.mark.parametrize("name,count", [("SSTQA-zh_table_1.xlsx", 19), ("SSTQA-zh_table_40.xlsx", 16),
                                        ("SSTQA-zh_table_17.xlsx", 13), ("SSTQA-zh_table_72.xlsx", 16)])
def test_realworld_counts(name, count):
    assert len(extract(REALWORLD / name)) == count


def test_realworld_details():
    rows = extract([REALWORLD / "SSTQA-zh_table_17.xlsx", REALWORLD / "SSTQA-zh_table_72.xlsx"])
    by_loc = rows.set_index("location")
    assert by_loc.loc["Sheet1!E45", "value"] == "95%"          # 0.95 stored with a % format
    assert by_loc.loc["Sheet1!E36", "level3"] == "城镇新增就业人数"  # 指标内容 is the name here
    assert by_loc.loc["Sheet1!E36", "project_name"] == "专项资金"
    r = by_loc.loc["就业补助资金!B17"]                             # 自评表, split columns
    assert (r.value, r.actual_value, r.value_unit_raw) == ("≥39500人", "49358", "人")
    assert by_loc.loc["就业补助资金!B21", "actual_value"] == "88%"
    assert by_loc.loc["就业补助资金!B22", "value"] == "合规"       # 指标性质 无: a text target


def test_training_data_up_to_date():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_training_data
    finally:
        sys.path.pop(0)
    built = build_training_data.build()
    for name, path in build_training_data.OUTPUTS.items():
        assert path.read_text(encoding="utf-8") == built[name], f"{path} is stale: run scripts/build_training_data.py"
    rows = pd.read_csv(io.StringIO(built["rows"]), dtype=str, keep_default_na=False)
    assert len(rows) == sum(n for n, _ in SEED_COUNTS.values())
