"""Spreadsheet edge cases: number formats with units, far stray cells, hidden sheets,
and CSV separators under a title line. Fixtures are built here."""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
import zipfile

import openpyxl
import pytest

from zhibiao.errors import FileTooLarge
from zhibiao.ingest import extract, extract_all, read_document
from zhibiao.ingest.model import Paragraph, Table
from zhibiao.ingest.numfmt import display

HEADER = ["一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据"]


def _head(ws, name, budget=120):
    """Title, name, budget and the header; returns the header's row number."""
    ws.append([f"{name}绩效目标表"])
    ws.merge_cells("A1:E1")
    ws.append(["项目名称", name])
    ws.append(["项目预算（万元）", budget])
    ws.append(HEADER)
    return 4


# ---------------------------------------------------------------- number formats

TYPED = [  # level3, value, number format, what Excel shows
    ("保洁面积", 1200, '0"平方米"', "1200平方米"),
    ("配备保洁员", 35, '"≥"0"人"', "≥35人"),
    ("保洁合格率", 0.95, "0%", "95%"),
    ("群众满意度", 0.9, '"≥"0%', "≥90%"),
    ("人均成本", 0.35, '0.00"万元"', "0.35万元"),
    ("完成时间", dt.datetime(2024, 12, 31), 'yyyy"年"m"月"d"日"', "2024年12月31日"),
    ("开工月份", dt.datetime(2024, 3, 1), '[$-804]yyyy"年"m"月"', "2024年3月"),
    ("清运量", 12345.6, '#,##0.0"吨"', "12345.6吨"),
    ("培训人次", 1500, '\\≥#,##0\\人\\次', "≥1500人次"),
    ("减排量", -3, '0"吨";"减少"0"吨"', "减少3吨"),
    ("覆盖村数", 12, "#,##0", "12"),           # no literal: plain number as before
    ("检测日期", dt.datetime(2024, 6, 30), "yyyy-mm-dd", "2024-06-30"),
]


def test_xlsx_number_formats_keep_their_literal_text(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "目标表"
    header_row = _head(ws, "农村环卫保洁项目")
    ws["B3"].number_format = '_ ￥* #,##0.00_ '  # accounting: the budget must stay 120 万元, not ¥120
    for i, (level3, value, fmt, _) in enumerate(TYPED, start=header_row + 1):
        ws.cell(i, 1, "产出指标"), ws.cell(i, 2, "数量指标"), ws.cell(i, 3, level3)
        ws.cell(i, 4, value).number_format = fmt
        ws.cell(i, 5, "测算")
    path = tmp_path / "typed.xlsx"
    wb.save(path)
    result = extract_all([path])
    rows = result.rows
    assert rows.level3.tolist() == [t[0] for t in TYPED]
    assert rows.value.tolist() == [t[3] for t in TYPED]
    assert rows.location.tolist()[:2] == ["目标表!C5", "目标表!C6"]
    assert result.projects.budget_wan.tolist() == [pytest.approx(120.0)]


def test_xls_number_formats_keep_their_literal_text(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("目标表")
    ws.write(0, 0, "项目名称"), ws.write(0, 1, "就业补助资金")
    for j, h in enumerate(HEADER):
        ws.write(2, j, h)
    cells = [("培训人数", 500, '0"人"'), ("就业率", 0.8, '"≥"0%'), ("完成时间", dt.date(2024, 6, 30), 'yyyy"年"m"月"d"日"'),
             ("合格率", 0.95, "0%"), ("拨付日期", dt.date(2024, 6, 30), "yyyy-mm-dd")]
    for i, (level3, value, fmt) in enumerate(cells, start=3):
        ws.write(i, 1, "数量指标"), ws.write(i, 2, level3)
        ws.write(i, 3, value, xlwt.easyxf(num_format_str=fmt))
    ws.write_merge(3, 7, 0, 0, "产出指标")
    path = tmp_path / "t.xls"
    wb.save(str(path))
    rows = extract(path)
    assert rows[["location", "level1", "level3", "value"]].values.tolist() == [
        ["目标表!C4", "产出指标", "培训人数", "500人"], ["目标表!C5", "产出指标", "就业率", "≥80%"],
        ["目标表!C6", "产出指标", "完成时间", "2024年6月30日"], ["目标表!C7", "产出指标", "合格率", "95%"],
        ["目标表!C8", "产出指标", "拨付日期", "2024-06-30"]]
    assert not any("filled_down" in w for w in rows.warnings)  # 产出指标 comes from the merge


@pytest.mark.parametrize("value,fmt,shown", [
    (0.955, '"≥"0%', "≥96%"),                  # Excel rounds half up
    (7, '"第"000"号"', "第007号"),
    (1.5, '0.##"米"', "1.5米"),
    (0, '0"人";-0"人";"-"', "0"),               # a zero section without digits: the number says more
    (5, '[>=10]0"个";0"件"', "5"),              # conditions are not rendered
    (1200.5, '[$¥-804]#,##0.00"元"', "1200.5"),  # nor currencies
    (0.95, "0.0%", "95%"),                      # plain formats keep the reader's old output
    (10891.615675, "#,##0.00", "10891.615675"),
])
def test_display_number_formats(value, fmt, shown):
    assert display(value, fmt) == shown


# ---------------------------------------------------------------- size

def _small_table(ws):
    ws.append(["项目名称", "城区道路改造项目"])
    ws.append(HEADER)
    ws.append(["产出指标", "数量指标", "新建道路长度", "≥2公里", "合同"])


def _patch_sheet(path, old: bytes, new: bytes):
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    assert old in parts[sheet]
    parts[sheet] = parts[sheet].replace(old, new)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_xlsx_stray_cell_in_the_last_row_is_read_fast(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    _small_table(ws)
    ws.cell(1048576, 8, "备注")      # H1048576: the old reader built a 1048576 × 8 grid (38 s, 1.9 GB)
    ws.cell(500000, 3, "   ")        # whitespace only: not content
    ws.merge_cells("F2:F3")
    path = tmp_path / "far.xlsx"
    wb.save(path)
    # a merge over the whole column (empty anchor), written into the XML: openpyxl itself would
    # take seconds to build it
    _patch_sheet(path, b'ref="F2:F3"', b'ref="F2:F1048576"')
    start = time.perf_counter()
    rows = extract(path)
    doc = read_document(path)
    assert time.perf_counter() - start < 10
    assert rows.level3.tolist() == ["新建道路长度"] and rows.project_name.tolist() == ["城区道路改造项目"]
    table = doc.blocks[0]
    assert [r.loc for r in table.rows] == ["Sheet!A1", "Sheet!A2", "Sheet!A3", "Sheet!A1048576"]
    assert all(len(r.cells) == 8 for r in table.rows)


def test_xlsx_content_far_to_the_right_is_file_too_large(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    _small_table(ws)
    ws.cell(3, 16384, "x")           # XFD3
    path = tmp_path / "wide.xlsx"
    wb.save(path)
    with pytest.raises(FileTooLarge) as info:
        extract(path)
    assert "XFD3" in str(info.value) and "\n" not in str(info.value)


def test_xlsx_too_many_rows_is_file_too_large(tmp_path, monkeypatch):
    from zhibiao.ingest import xlsx_reader
    monkeypatch.setattr(xlsx_reader, "MAX_ROWS", 20)
    wb = openpyxl.Workbook()
    ws = wb.active
    _small_table(ws)
    for i in range(30):
        ws.append(["产出指标", "数量指标", f"指标{i}", "1个", ""])
    path = tmp_path / "tall.xlsx"
    wb.save(path)
    with pytest.raises(FileTooLarge, match="more than 20 rows"):
        extract(path)


def test_xlsx_merged_cells_fill_down_and_right(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "项目1"
    r = _head(ws, "城区道路改造项目")
    data = [("产出指标", "数量指标", "新建道路长度", "≥2公里"), (None, None, "绿化面积", "1000平方米"),
            (None, "质量指标", "验收合格率", "100%"), ("满意度指标", "服务对象满意度指标", "群众满意度", "≥95%")]
    for i, row in enumerate(data, start=r + 1):
        for j, v in enumerate(row, start=1):
            ws.cell(i, j, v)
    ws.merge_cells(start_row=r + 1, start_column=1, end_row=r + 3, end_column=1)
    ws.merge_cells(start_row=r + 1, start_column=2, end_row=r + 2, end_column=2)
    ws.cell(r + 4, 5, "问卷调查")
    ws.merge_cells(start_row=r + 4, start_column=5, end_row=r + 4, end_column=7)  # basis spills right
    path = tmp_path / "merged.xlsx"
    wb.save(path)
    rows = extract(path)
    assert rows[["location", "level1", "level2", "level3", "value"]].values.tolist() == [
        ["项目1!C5", "产出指标", "数量指标", "新建道路长度", "≥2公里"],
        ["项目1!C6", "产出指标", "数量指标", "绿化面积", "1000平方米"],
        ["项目1!C7", "产出指标", "质量指标", "验收合格率", "100%"],
        ["项目1!C8", "满意度指标", "服务对象满意度指标", "群众满意度", "≥95%"]]
    assert rows.warnings.tolist() == ["", "", "", ""]  # merged copies, not filled down
    title_row = read_document(path).blocks[0].rows[0]
    assert [(c.text, c.merged) for c in title_row.cells[:2]] == [("城区道路改造项目绩效目标表", False),
                                                                  ("城区道路改造项目绩效目标表", True)]
    assert len(title_row.cells) == 7  # the merge from E to G widens the table


# ---------------------------------------------------------------- hidden sheets

def _two_sheets(wb, hidden_state):
    ws = wb.active
    ws.title = "项目1"
    _head(ws, "城区道路改造项目")
    ws.append(["产出指标", "数量指标", "新建道路长度", "≥2公里", "合同"])
    old = wb.create_sheet("旧版本")
    old.sheet_state = hidden_state
    _head(old, "作废的旧项目")
    old.append(["产出指标", "数量指标", "旧指标", "≥1公里", "合同"])
    ws2 = wb.create_sheet("项目2")
    ws2.append(["项目名称", "老旧小区供暖改造项目"])
    ws2.append(HEADER)
    ws2.append(["产出指标", "数量指标", "改造户数", "≥300户", "计划"])


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_xlsx_hidden_sheets_are_skipped_and_recorded(tmp_path, state):
    wb = openpyxl.Workbook()
    _two_sheets(wb, state)
    path = tmp_path / "layout.xlsx"
    wb.save(path)
    rows = extract(path)
    assert rows.project_name.tolist() == ["城区道路改造项目", "老旧小区供暖改造项目"]
    assert rows.location.tolist() == ["项目1!C5", "项目2!C3"]
    doc = read_document(path)
    assert [b.name for b in doc.blocks if isinstance(b, Table)] == ["项目1", "项目2"]
    assert not [b for b in doc.blocks if isinstance(b, Paragraph)]
    assert len(doc.notes) == 1 and "旧版本" in doc.notes[0]
    result = extract_all([path])                           # the user is told, not left to wonder
    assert len(result.notes) == 1 and result.notes[0].startswith("layout.xlsx: ") and "旧版本" in result.notes[0]


def test_xls_hidden_sheet_is_skipped(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    for name, project, level3, hidden in [("旧版本", "作废的旧项目", "旧指标", 1), ("目标表", "就业补助资金", "培训人数", 0)]:
        ws = wb.add_sheet(name)
        ws.visibility = hidden
        ws.write(0, 0, "项目名称"), ws.write(0, 1, project)
        for j, h in enumerate(HEADER):
            ws.write(1, j, h)
        for j, v in enumerate(["产出指标", "数量指标", level3, "≥500人次", "计划"]):
            ws.write(2, j, v)
    wb.active_sheet = 1
    path = tmp_path / "hidden.xls"
    wb.save(str(path))
    result = extract_all([path])
    assert result.rows[["location", "project_name", "level3"]].values.tolist() == [["目标表!C3", "就业补助资金", "培训人数"]]
    assert len(result.notes) == 1 and "旧版本" in result.notes[0]


# ---------------------------------------------------------------- csv separators

CSV_ROWS = [["2024年就业补助资金项目绩效目标表"], ["项目名称", "就业补助资金"], HEADER,
            ["产出指标", "数量指标", "培训人数", "≥500人次", "计划，历史数据"],
            ["效益指标", "社会效益指标", "带动就业", "≥1,000人", "测算"],
            ["满意度指标", "服务对象满意度指标", "满意度", "≥90%", "问卷"]]


def _csv_text(sep):
    s = io.StringIO()
    csv.writer(s, delimiter=sep, lineterminator="\r\n").writerows(CSV_ROWS)
    return s.getvalue()


@pytest.mark.parametrize("name,sep,encoding", [
    ("semi.csv", ";", "utf-8"), ("tab.csv", "\t", "gbk"),
    ("unicode_text.csv", "\t", "utf-16"),        # Excel "Unicode text": UTF-16 with BOM, TAB
    ("gbk.csv", ",", "gbk"), ("bom.csv", ",", "utf-8-sig"), ("gb18030.csv", ",", "gb18030"),
])
def test_csv_separator_under_a_title_line(tmp_path, name, sep, encoding):
    path = tmp_path / name
    path.write_bytes(_csv_text(sep).encode(encoding))
    rows = extract(path)
    assert rows.level3.tolist() == ["培训人数", "带动就业", "满意度"]
    assert rows.value.tolist() == ["≥500人次", "≥1,000人", "≥90%"]
    assert rows.basis.tolist()[0] == "计划，历史数据"
    assert set(rows.project_name) == {"就业补助资金"} and set(rows.year) == {"2024"}
    assert rows.location.tolist() == ["R4", "R5", "R6"]
