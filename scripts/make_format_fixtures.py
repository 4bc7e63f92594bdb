"""Generate the PDF / .doc / .wps / .et twins under tests/fixtures/formats/ (issue 14).

Needs LibreOffice (Debian: apt-get install libreoffice-writer libreoffice-calc)
and a CJK font (fonts-wqy-microhei) so the PDFs carry real Chinese glyphs.
CI does not run this: the generated files are committed, with converted/<name>.doc.docx
(LibreOffice's reading of each .doc/.wps) for machines without LibreOffice.

    PYTHONPATH=src python scripts/make_format_fixtures.py

Sources:
* the four seeds (training_data/raw/*.txt) rebuilt as .docx (``seed_<id>.docx``):
  paragraphs as paragraphs, dump tables as bordered Word tables, a short row's
  last cell spanning the rest of the grid, as in the Word originals;
* ``wrapped.docx``: long names and values in narrow columns (cells wrap over lines);
* ``split.docx``: one project whose table runs over two pages with a repeated
  header row, then one whose table breaks without a repeated header;
* tests/fixtures/realworld/*.xlsx (Calc prints them without ruling lines).
Each source goes to .pdf; the .docx ones also to .doc (and a .wps copy of one
.doc, the Kingsoft Writer format being Word 97 inside), an .xlsx to .et.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import docx
from docx.enum.section import WD_ORIENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from zhibiao.ingest.legacy import convert  # noqa: E402
from zhibiao.ingest.model import Paragraph, Table  # noqa: E402
from zhibiao.ingest.text_dump import read_text_file  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "formats"
HEADER = ["一级指标", "二级指标", "三级指标", "绩效指标描述", "指标值", "指标值确定依据"]


def _new_doc(landscape: bool = False) -> docx.Document:
    d = docx.Document()
    style = d.styles["Normal"]
    style.font.size = Pt(9)
    style.element.rPr.get_or_add_rFonts().set(qn("w:eastAsia"), "WenQuanYi Micro Hei")
    if landscape:
        s = d.sections[0]
        s.orientation = WD_ORIENT.LANDSCAPE
        s.page_width, s.page_height = s.page_height, s.page_width
    return d


def _repeat_header(row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


def _save(d, dest: Path) -> None:
    d.add_paragraph("")  # Word ends a body with a paragraph; LibreOffice's .doc export drops a final table
    d.save(dest)


def _table(d, grid: list[list[str]], widths_cm: list[float] | None = None):
    n_cols = max(len(r) for r in grid)
    t = d.add_table(rows=len(grid), cols=n_cols)
    t.style = "Table Grid"
    for r, texts in enumerate(grid):
        row = t.rows[r]
        for c, text in enumerate(texts):
            cell = row.cells[c]
            lines = text.split("\n")
            cell.text = lines[0]
            for line in lines[1:]:
                cell.add_paragraph(line)
        if 0 < len(texts) < n_cols:  # a short dump row: its last cell spans the rest, as in Word
            last = row.cells[len(texts) - 1]
            last.merge(row.cells[n_cols - 1])
            last.text = texts[-1]
    if widths_cm:
        for row in t.rows:
            for c, w in enumerate(widths_cm[:len(row.cells)]):
                row.cells[c].width = Cm(w)
    return t


def seed_docx(txt: Path, dest: Path, ruled: bool = True) -> None:
    """``ruled=False``: portrait, tables without borders (more wrapping, more page breaks)."""
    doc = read_text_file(txt)
    d = _new_doc(landscape=ruled)
    for block in doc.blocks:
        if isinstance(block, Paragraph):
            d.add_paragraph(block.text)
        elif isinstance(block, Table) and block.rows:
            t = _table(d, [r.texts() for r in block.rows])
            if not ruled:
                t.style = None
    _save(d, dest)


def wrapped_docx(dest: Path) -> None:
    d = _new_doc()
    d.add_paragraph("城乡道路养护项目绩效目标表")
    d.add_paragraph("项目名称：城乡道路养护")
    d.add_paragraph("预算金额：1200万元")
    grid = [HEADER,
            ["产出指标", "数量指标", "农村公路及城市次干道日常养护里程（含桥梁、涵洞）", "全年完成县域内农村公路日常养护", "≥1203.5公里", "年度养护计划"],
            ["", "", "路面病害处治面积", "坑槽、裂缝等病害及时处治", "=45000平方米", "上年度实际完成数"],
            ["", "质量指标", "养护路段优良路率（按交通运输部公路技术状况评定标准）", "", "≥85%", "行业标准"],
            ["", "时效指标", "病害处治完成时限", "", "2026年12月31日前完成", "计划标准"],
            ["效益指标", "社会效益指标", "群众出行条件改善情况及道路通行能力提升程度", "", "明显改善", "历史标准"],
            ["满意度指标", "服务对象满意度指标", "沿线群众满意度", "", "≥90%", "问卷调查"]]
    _table(d, grid, widths_cm=[1.8, 2.0, 3.0, 3.2, 2.0, 2.2])
    _save(d, dest)


def split_docx(dest: Path) -> None:
    d = _new_doc()
    d.add_paragraph("1.乡村学校营养餐补助项目绩效目标表")
    d.add_paragraph("项目名称：乡村学校营养餐补助")
    d.add_paragraph("预算金额：860万元")
    grid = [HEADER] + [["产出指标", "数量指标", f"第{i}学区受助学生人数", "按学籍核定", f"≥{100 + 7 * i}人", "学籍系统"]
                       for i in range(1, 29)]
    grid += [["满意度指标", "服务对象满意度指标", "家长满意度", "抽样调查", "≥92%", "问卷"]]
    t = _table(d, grid)
    _repeat_header(t.rows[0])
    d.add_paragraph("2.村级公益设施维护项目绩效目标表")
    d.add_paragraph("项目名称：村级公益设施维护")
    d.add_paragraph("预算金额：45万元")
    grid = [HEADER] + [["产出指标", "质量指标", f"第{i}村设施完好率", "", f"≥{80 + i % 15}%", "行业标准"]
                       for i in range(1, 31)]
    _table(d, grid)  # no repeated header: page 2 starts with data rows
    _save(d, dest)


def fit_to_width(src: Path, tmp: Path) -> Path:
    """A copy printed one page wide, as a disclosure is published (Calc would otherwise put the
    right-hand columns of a wide sheet on pages of their own)."""
    import openpyxl
    wb = openpyxl.load_workbook(src)
    for ws in wb.worksheets:
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    dest = tmp / src.name
    wb.save(dest)
    return dest


def noborders_docx(dest: Path) -> None:
    """Tables without ruling lines (python-docx's default table style): two projects on the
    first page, a third whose table runs onto the next page; some cells wrap."""
    d = _new_doc()
    projects = [("社区养老服务补贴", "120万元", [("产出指标", "数量指标", "享受补贴的高龄老人人数", "", "≥3200人", "民政台账"),
                                          ("", "质量指标", "补贴发放准确率", "", "100%", "行业标准"),
                                          ("满意度指标", "服务对象满意度指标", "老年人满意度", "", "≥90%", "问卷")]),
                ("河道保洁", "35万元", [("产出指标", "数量指标", "保洁河道长度", "", "=18.6公里", "合同"),
                                    ("效益指标", "生态效益指标", "河面漂浮物清除情况", "", "明显改善", "现场检查")])]
    projects.append(("农村公路安全生命防护工程", "980万元",
                     [("产出指标", "数量指标", f"第{i}标段波形护栏安装长度（含端头及立柱）", "按设计图纸施工",
                       f"≥{1000 + 35 * i}米", "设计文件") for i in range(1, 25)]))
    for n, (name, budget, rows) in enumerate(projects, 1):
        d.add_paragraph(f"{n}.{name}项目绩效目标表")
        d.add_paragraph(f"项目名称：{name}")
        d.add_paragraph(f"预算金额：{budget}")
        t = d.add_table(rows=len(rows) + 1, cols=6)  # no style: no borders
        for c, h in enumerate(HEADER):
            t.cell(0, c).text = h
        for r, values in enumerate(rows, 1):
            for c, v in enumerate(values):
                t.cell(r, c).text = v
    _save(d, dest)


def merged_docx(dest: Path) -> None:
    """Vertically merged category cells, centred, one with two lines (产出 / 指标) that straddle
    the rows it spans, as in most real forms."""
    from docx.enum.table import WD_ALIGN_VERTICAL
    d = _new_doc()
    d.add_paragraph("社区卫生服务项目绩效目标表")
    d.add_paragraph("项目名称：社区卫生服务")
    t = d.add_table(rows=6, cols=4)
    t.style = "Table Grid"
    for c, h in enumerate(["一级指标", "二级指标", "三级指标", "指标值"]):
        t.cell(0, c).text = h
    data = [("产出指标", "数量指标", "家庭医生签约人数", "≥5000人"), ("", "", "健康档案建档数", "≥12000份"),
            ("", "质量指标", "建档合格率", "≥95%"), ("", "", "慢病规范管理率", "≥80%"),
            ("满意度指标", "服务对象满意度指标", "居民满意度", "≥90%")]
    for r, values in enumerate(data, 1):
        for c, v in enumerate(values):
            if v:
                t.cell(r, c).text = v
    for (r0, r1, c), text in (((1, 4, 0), "产出\n指标"), ((1, 2, 1), "数量指标"), ((3, 4, 1), "质量指标")):
        cell = t.cell(r0, c).merge(t.cell(r1, c))
        lines = text.split("\n")
        cell.text = lines[0]
        for line in lines[1:]:
            cell.add_paragraph(line)
        cell.vertical_alignment = WD_ALIGN_VERTICAL.CENTER
    _save(d, dest)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    docx_sources = []
    for txt in sorted((ROOT / "training_data" / "raw").glob("*.txt")):
        dest = OUT / f"seed_{txt.stem.split('_')[0]}.docx"
        seed_docx(txt, dest)
        docx_sources.append(dest)
    # Borderless portrait twins of three seeds (PDF only). Seed 002's 部门整体 table, whose 指标值
    # splits into 符号/值/单位 under the header, is not read right without lines: left out.
    for seed in ("000", "001", "004"):
        txt = next((ROOT / "training_data" / "raw").glob(f"{seed}_*.txt"))
        seed_docx(txt, OUT / f"seed_{seed}_plain.docx", ruled=False)
        convert(OUT / f"seed_{seed}_plain.docx", "pdf", OUT)
    for name, build in (("wrapped", wrapped_docx), ("split", split_docx), ("noborders", noborders_docx),
                        ("merged", merged_docx)):
        build(OUT / f"{name}.docx")
        docx_sources.append(OUT / f"{name}.docx")
    for src in docx_sources:
        convert(src, "pdf", OUT)
        convert(src, "doc:MS Word 97", OUT)
    shutil.copyfile(OUT / "wrapped.doc", OUT / "wrapped.wps")
    for src in sorted((ROOT / "tests" / "fixtures" / "realworld").glob("*.xlsx")):
        with tempfile.TemporaryDirectory() as tmp:
            pdf = convert(fit_to_width(src, Path(tmp)), "pdf", OUT)
        pdf.rename(OUT / f"rw_{src.stem.split('_')[-1]}.pdf")
    # What LibreOffice makes of each legacy file: CI (no LibreOffice) reads these instead.
    for legacy in sorted(OUT.glob("*.doc")) + [OUT / "wrapped.wps"]:
        convert(legacy, "docx", OUT / "converted", as_suffix=".doc").rename(
            OUT / "converted" / f"{legacy.name}.docx")
    xls = convert(ROOT / "tests" / "fixtures" / "realworld" / "SSTQA-zh_table_72.xlsx", "xls:MS Excel 97", OUT)
    xls.rename(OUT / "rw_72.et")
    for f in sorted(OUT.rglob("*.*")):
        print(f"{f.stat().st_size:>9,}  {f.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
