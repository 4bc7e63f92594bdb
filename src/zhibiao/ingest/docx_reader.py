"""Reader for .docx (python-docx): paragraphs and tables in body order.

Merged cells are expanded on the table grid: a horizontal span (gridSpan)
repeats its text to the right, a vertical merge (vMerge) repeats the text of
the cell above; the copies are flagged ``merged``. Locations are "T2!R5"
(table 2, row 5, both 1-based).
"""
from __future__ import annotations

from pathlib import Path

from .model import Cell, Document, Paragraph, Row, Table


def read_docx(path) -> Document:
    import docx
    from docx.oxml.ns import qn
    path = Path(path)
    body = docx.Document(str(path)).element.body
    doc = Document(source=path.name)
    n_tables = n_paras = 0
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            n_paras += 1
            text = _text(child)
            if text.strip():
                doc.blocks.append(Paragraph(text, f"P{n_paras}"))
        elif child.tag == qn("w:tbl"):
            n_tables += 1
            doc.blocks.append(_table(child, f"T{n_tables}"))
    return doc


def _text(element) -> str:
    """Text of a paragraph or cell; paragraphs inside a cell become lines."""
    from docx.oxml.ns import qn
    if element.tag == qn("w:p"):
        return "".join(t.text or "" for t in element.iter(qn("w:t")))
    return "\n".join(_text(p) for p in element.iter(qn("w:p")))


def _table(tbl, name: str) -> Table:
    from docx.oxml.ns import qn
    rows: list[Row] = []
    above: dict[int, str] = {}  # grid column → text of the cell above (for vMerge)
    for r, tr in enumerate(tbl.iter(qn("w:tr")), start=1):
        if tr.getparent() is not tbl:
            continue  # a row of a nested table
        loc = f"{name}!R{r}"
        cells: list[Cell] = []
        for tc in tr.findall(qn("w:tc")):
            props = tc.find(qn("w:tcPr"))
            span, continued = 1, False
            if props is not None:
                gs = props.find(qn("w:gridSpan"))
                if gs is not None:
                    span = int(gs.get(qn("w:val"), "1"))
                vm = props.find(qn("w:vMerge"))
                continued = vm is not None and vm.get(qn("w:val"), "continue") == "continue"
            col = len(cells)
            text = above.get(col, "") if continued else _text(tc)
            for k in range(span):
                cells.append(Cell(text, loc, merged=continued or k > 0))
                above[col + k] = text
        rows.append(Row(cells, loc))
    return Table(rows=rows, name=name)
