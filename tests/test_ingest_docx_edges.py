""".docx edge cases seen in real forms: content controls, nested tables, Insert › Symbol,
line breaks and tabs in runs, rows off the grid (PDF→Word) and absurd spans."""
from __future__ import annotations

import docx
import pytest
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn

from zhibiao.ingest import extract, extract_all
from zhibiao.ingest.docx_reader import read_docx
from zhibiao.ingest.model import Paragraph, Table

HEADER = ["一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据"]
DATA = [["产出指标", "数量指标", "新建道路长度", "≥2公里", "合同约定"],
        ["产出指标", "质量指标", "验收合格率", "100%", "行业标准"],
        ["效益指标", "社会效益指标", "通行效率提升", "≥90%", "测算"],
        ["满意度指标", "服务对象满意度指标", "群众满意度", "≥95%", "问卷调查"]]


def _form(name="城区道路改造项目"):
    d = docx.Document()
    d.add_paragraph(f"{name}绩效目标表")
    d.add_paragraph(f"项目名称：{name}")
    return d


def _fill(table, rows):
    for r, values in enumerate(rows):
        for c, v in enumerate(values):
            table.cell(r, c).text = v
    return table


def _indicator_table(d):
    return _fill(d.add_table(rows=1 + len(DATA), cols=len(HEADER)), [HEADER, *DATA])


def _wrap_in_sdt(element):
    """Put element inside a content control (w:sdt/w:sdtContent), where it stood."""
    sdt = parse_xml(f"<w:sdt {nsdecls('w')}><w:sdtPr><w:alias w:val='填报'/></w:sdtPr><w:sdtContent/></w:sdt>")
    element.addprevious(sdt)
    sdt.find(qn("w:sdtContent")).append(element)  # lxml moves it


def _save(d, tmp_path, name="表.docx"):
    path = tmp_path / name
    d.save(path)
    return path


def _assert_all_rows(df, table="T1"):
    assert df.level3.tolist() == [r[2] for r in DATA]
    assert df.value.tolist() == [r[3] for r in DATA]
    assert df.basis.tolist() == [r[4] for r in DATA]
    assert df.location.tolist() == [f"{table}!R{i}" for i in range(2, 2 + len(DATA))]
    assert not df.warnings.str.contains("cell_count_mismatch").any()


# ---------------------------------------------------------------- content controls

@pytest.mark.parametrize("level", ["table", "row", "cell"])
def test_content_control_around_table_row_or_cell_is_read_through(tmp_path, level):
    d = _form()
    tbl = _indicator_table(d)._tbl
    if level == "table":
        _wrap_in_sdt(tbl)
    elif level == "row":
        _wrap_in_sdt(tbl.findall(qn("w:tr"))[2])          # 验收合格率
    else:
        _wrap_in_sdt(tbl.findall(qn("w:tr"))[2].findall(qn("w:tc"))[3])  # its value 100%
    df = extract(_save(d, tmp_path))
    _assert_all_rows(df)
    assert set(df.project_name) == {"城区道路改造项目"}


def test_content_control_around_metadata_paragraph_is_read(tmp_path):
    d = docx.Document()
    d.add_paragraph("城区道路改造项目绩效目标表")
    _wrap_in_sdt(d.add_paragraph("项目名称：城区主干道改造工程")._p)
    _indicator_table(d)
    assert set(extract(_save(d, tmp_path)).project_name) == {"城区主干道改造工程"}


def test_table_of_contents_control_does_not_open_projects(tmp_path):
    d = docx.Document()
    toc = parse_xml(f"<w:sdt {nsdecls('w')}><w:sdtPr><w:docPartObj>"
                    "<w:docPartGallery w:val='Table of Contents'/></w:docPartObj></w:sdtPr>"
                    "<w:sdtContent/></w:sdt>")
    d.element.body.insert(0, toc)
    toc[-1].append(d.add_paragraph("其他项目绩效目标表")._p)   # a TOC line without page number
    d.add_paragraph("城区道路改造项目绩效目标表")
    _indicator_table(d)
    result = extract_all(_save(d, tmp_path))
    assert result.projects.table_title.tolist() == ["城区道路改造项目绩效目标表"]


# ---------------------------------------------------------------- nested tables

def test_indicator_table_nested_in_a_layout_cell_is_its_own_table(tmp_path):
    d = docx.Document()
    outer = _fill(d.add_table(rows=3, cols=2), [["项目名称", "城区道路改造项目"], ["预算数", "100万元"],
                                                ["绩效指标", ""]])
    _fill(outer.cell(2, 1).add_table(rows=1 + len(DATA), cols=len(HEADER)), [HEADER, *DATA])
    d.add_paragraph("绿化养护项目绩效目标表")
    _fill(d.add_table(rows=2, cols=5), [HEADER, ["效益指标", "生态效益指标", "绿化覆盖率", "≥40%", "规划"]])
    path = _save(d, tmp_path)

    df = extract(path)
    _assert_all_rows(df[df.project_name == "城区道路改造项目"], table="T1.1")
    later = df[df.project_name == "绿化养护"]
    assert later.location.tolist() == ["T2!R2"]  # numbering of top-level tables is unchanged

    blocks = read_docx(path).blocks
    assert [b.name for b in blocks if isinstance(b, Table)] == ["T1", "T1.1", "T2"]
    layout_cell = blocks[0].rows[2].cells[1].text
    assert "三级指标" not in layout_cell and "群众满意度" not in layout_cell


# ---------------------------------------------------------------- run content

@pytest.mark.parametrize("char, expected", [("F0B3", "≥"), ("F0A3", "≤"), ("F0B1", "±"), ("F0B4", "×"),
                                            ("F0B8", "÷"), ("F0B9", "≠"), ("F0B0", "°"), ("F0B7", "•"),
                                            ("F0AE", "→"), ("F03C", "<"), ("F03E", ">"), ("F06D", "μ")])
def test_insert_symbol_becomes_unicode(tmp_path, char, expected):
    d = _form()
    t = _indicator_table(d)
    cell = t.cell(1, 3)
    cell.text = ""
    run = cell.paragraphs[0].add_run()
    run._r.append(parse_xml(f'<w:sym {nsdecls("w")} w:font="Symbol" w:char="{char}"/>'))
    cell.paragraphs[0].add_run("2公里")
    df = extract(_save(d, tmp_path))
    assert df.value.iloc[0] == f"{expected}2公里"


def test_unknown_symbol_is_kept_not_dropped(tmp_path):
    d = _form()
    t = _indicator_table(d)
    t.cell(1, 3).paragraphs[0].add_run()._r.append(
        parse_xml(f'<w:sym {nsdecls("w")} w:font="Wingdings" w:char="F0FC"/>'))
    cell = read_docx(_save(d, tmp_path)).blocks[2].rows[1].cells[3]
    assert cell.text == "≥2公里\uf0fc"


def test_line_break_and_tab_inside_runs_are_kept(tmp_path):
    d = docx.Document()
    d.add_paragraph("城区道路改造项目绩效目标表")
    meta = d.add_paragraph()
    meta.paragraph_format.tab_stops.add_tab_stop(docx.shared.Cm(8))  # a w:tab in w:pPr is not text
    meta.add_run("项目名称：城区道路改造项目").add_tab()
    meta.add_run("主管部门：某区住房和城乡建设局")
    t = _indicator_table(d)
    t.cell(2, 3).text = ""
    run = t.cell(2, 3).paragraphs[0].add_run("120")
    run.add_break()
    run._r.append(OxmlElement("w:cr"))
    t.cell(2, 3).paragraphs[0].add_run("80")
    blocks = read_docx(_save(d, tmp_path)).blocks
    assert blocks[1] == Paragraph("项目名称：城区道路改造项目\t主管部门：某区住房和城乡建设局", "P2")
    assert blocks[2].rows[2].cells[3].text == "120\n\n80"


# ---------------------------------------------------------------- grid

def test_grid_before_and_after_keep_cells_on_the_grid(tmp_path):
    """PDF→Word output: rows that skip the first grid column, or end early."""
    d = _form()
    t = _fill(d.add_table(rows=1 + len(DATA), cols=6), [["", *HEADER], *[["", *r] for r in DATA]])
    for n, tr in enumerate(t._tbl.findall(qn("w:tr"))[1:]):
        tr.remove(tr.findall(qn("w:tc"))[0])
        trpr = tr.get_or_add_trPr()
        trpr.append(parse_xml(f'<w:gridBefore {nsdecls("w")} w:val="1"/>'))
        if n == 1:  # this row also stops one column short: its basis is missing
            tr.remove(tr.findall(qn("w:tc"))[-1])
            trpr.append(parse_xml(f'<w:gridAfter {nsdecls("w")} w:val="1"/>'))
    df = extract(_save(d, tmp_path))
    assert df.level3.tolist() == [r[2] for r in DATA]
    assert df.value.tolist() == [r[3] for r in DATA]
    assert df.basis.tolist() == ["合同约定", "", "测算", "问卷调查"]
    assert not df.warnings.str.contains("cell_count_mismatch").any()


@pytest.mark.parametrize("with_grid", [True, False])
def test_huge_grid_span_is_clamped_to_the_grid(tmp_path, with_grid):
    d = _form()
    t = _fill(d.add_table(rows=2, cols=2), [["三级指标", "指标值"], ["道路长度", "5公里"]])
    t.cell(1, 0)._tc.get_or_add_tcPr().append(parse_xml(f'<w:gridSpan {nsdecls("w")} w:val="1000000"/>'))
    if not with_grid:
        t._tbl.remove(t._tbl.find(qn("w:tblGrid")))
    path = _save(d, tmp_path)
    table = read_docx(path).blocks[-1]
    assert max(len(r.cells) for r in table.rows) == (2 if with_grid else 64)  # no grid: a fixed cap
    assert table.rows[1].cells[-1].text == "5公里"  # the cell after the span keeps its column
    assert extract(path).level3.tolist() == ["道路长度"]


def test_nonnumeric_grid_span_is_one_column(tmp_path):
    d = _form()
    t = _fill(d.add_table(rows=2, cols=2), [["三级指标", "指标值"], ["道路长度", "5公里"]])
    t.cell(1, 0)._tc.get_or_add_tcPr().append(parse_xml(f'<w:gridSpan {nsdecls("w")} w:val="abc"/>'))
    df = extract(_save(d, tmp_path))
    assert (df.level3.tolist(), df.value.tolist()) == (["道路长度"], ["5公里"])


def test_merged_cells_still_expand_with_vmerge_and_span(tmp_path):
    d = _form()
    t = _indicator_table(d)
    t.cell(1, 0).merge(t.cell(2, 0)).text = "产出指标"
    t.cell(3, 3).merge(t.cell(3, 4)).text = "≥90%"
    df = extract(_save(d, tmp_path))
    assert df.level1.tolist() == ["产出指标", "产出指标", "效益指标", "满意度指标"]
    assert not df.warnings.iloc[1]                       # a merge, not a fill-down
    assert df.value.iloc[2] == "≥90%" and df.basis.iloc[2] == "≥90%"
