"""Reader for .docx (python-docx): paragraphs and tables in body order.

Merged cells are expanded on the table grid: a horizontal span (gridSpan)
repeats its text to the right, a vertical merge (vMerge) repeats the text of
the cell above; the copies are flagged ``merged``. Rows that start or end off
the grid (gridBefore/gridAfter) get empty cells, so columns stay aligned.
Locations are "T2!R5" (table 2, row 5, both 1-based); a table nested in a cell
of T2 is its own block "T2.1", right after T2.

Content controls (w:sdt) and custom XML wrappers are read through at body, row
and cell level. In text, w:br/w:cr become "\\n", w:tab "\\t", and w:sym (Insert ›
Symbol) its Unicode character.
"""
from __future__ import annotations

from pathlib import Path

from docx.oxml.ns import qn

from .limits import check_paragraphs
from .model import Cell, Document, Paragraph, Row, Table

W_P, W_TBL, W_TR, W_TC, W_R = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc"), qn("w:r")
W_VAL = qn("w:val")
_WRAPPERS = {qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")}
_RUN_TEXT = {qn("w:t"): None, qn("w:tab"): "\t", qn("w:ptab"): "\t", qn("w:br"): "\n", qn("w:cr"): "\n"}
W_SYM = qn("w:sym")
MAX_COLUMNS = 64  # span cap for a table without a w:tblGrid

# Adobe Symbol encoding: Symbol-font code F0xx is byte xx. Bytes 20–7E not listed
# here are ASCII; letters are Greek. Anything else keeps its raw (private-use) char.
_SYMBOL = {0x22: "∀", 0x24: "∃", 0x27: "∋", 0x2A: "∗", 0x40: "≅", 0x5C: "∴", 0x5E: "⊥", 0x7E: "∼",
           0xA1: "ϒ", 0xA2: "′", 0xA3: "≤", 0xA5: "∞", 0xAB: "↔", 0xAC: "←", 0xAD: "↑", 0xAE: "→",
           0xAF: "↓", 0xB0: "°", 0xB1: "±", 0xB2: "″", 0xB3: "≥", 0xB4: "×", 0xB5: "∝", 0xB6: "∂",
           0xB7: "•", 0xB8: "÷", 0xB9: "≠", 0xBA: "≡", 0xBB: "≈", 0xBC: "…", 0xC6: "∅", 0xC7: "∩",
           0xC8: "∪", 0xCE: "∈", 0xCF: "∉", 0xD0: "∠", 0xD2: "®", 0xD3: "©", 0xD4: "™", 0xD6: "√",
           0xD7: "⋅", 0xD8: "¬", 0xD9: "∧", 0xDA: "∨", 0xDB: "⇔", 0xDC: "⇐", 0xDE: "⇒", 0xE0: "◊",
           0xE5: "∑", 0xF2: "∫"}
_SYMBOL.update(zip(range(0x41, 0x5B), "ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖ"))
_SYMBOL.update(zip(range(0x61, 0x7B), "αβχδεφγηιϕκλμνοπθρστυϖωξψζ"))


def read_docx(path) -> Document:
    import docx
    path = Path(path)
    body = docx.Document(str(path)).element.body
    doc = Document(source=path.name)
    n_tables = n_paras = 0
    for child in _children(body):
        if child.tag == W_P:
            n_paras += 1
            check_paragraphs(path, n_paras)
            text = _para_text(child)
            if text.strip():
                doc.blocks.append(Paragraph(text, f"P{n_paras}"))
        elif child.tag == W_TBL:
            n_tables += 1
            doc.blocks.extend(_tables(child, f"T{n_tables}"))
    return doc


def _children(element):
    """Child elements, looking through content controls and custom XML wrappers."""
    for child in element.iterchildren():
        if child.tag not in _WRAPPERS:
            yield child
        elif not _is_toc(child):  # a table of contents repeats every title: skip it
            yield from _children(child)


def _is_toc(element) -> bool:
    gallery = element.find(f"{qn('w:sdtPr')}/{qn('w:docPartObj')}/{qn('w:docPartGallery')}")
    return gallery is not None and "contents" in (gallery.get(W_VAL) or "").lower()


def _para_text(p) -> str:
    out = []
    for el in p.iter(*_RUN_TEXT, W_SYM):
        if el.tag == qn("w:t"):
            out.append(el.text or "")
        elif el.getparent().tag == W_R:  # w:tab also defines tab stops in w:pPr
            out.append(_symbol(el) if el.tag == W_SYM else _RUN_TEXT[el.tag])
    return "".join(out)


def _symbol(sym) -> str:
    try:
        code = int(sym.get(qn("w:char"), ""), 16)
    except ValueError:
        return "\ufffd"  # unreadable: a visible placeholder, not nothing
    font = (sym.get(qn("w:font")) or "").lower()
    if font == "symbol" and (code < 0x100 or 0xF000 <= code <= 0xF0FF):
        byte = code & 0xFF
        return _SYMBOL.get(byte, chr(byte) if 0x20 <= byte < 0x7F else chr(code))
    return chr(code) if 0 < code < 0x110000 else "\ufffd"


def _cell_text(tc) -> str:
    """The cell's own paragraphs as lines; nested tables are blocks of their own."""
    return "\n".join(_para_text(p) for p in _children(tc) if p.tag == W_P)


def _int(element, default: int) -> int:
    try:
        return int(element.get(W_VAL, default)) if element is not None else default
    except ValueError:
        return default


def _tables(tbl, name: str) -> list[Table]:
    """The table, then each table nested in its cells (named T1.1, T1.2, …)."""
    rows, nested = [], []
    above: dict[int, str] = {}  # grid column → text of the cell above (for vMerge)
    n_grid = len(tbl.findall(f"{qn('w:tblGrid')}/{qn('w:gridCol')}"))
    for r, tr in enumerate((c for c in _children(tbl) if c.tag == W_TR), start=1):
        loc = f"{name}!R{r}"
        tcs = [c for c in _children(tr) if c.tag == W_TC]
        limit = max(n_grid or MAX_COLUMNS, len(tcs))  # never allocate past the grid
        cells: list[Cell] = []
        pr = tr.find(qn("w:trPr"))
        before = _int(pr.find(qn("w:gridBefore")) if pr is not None else None, 0)
        cells += [Cell("", loc) for _ in range(min(max(before, 0), limit - len(tcs)))]
        for i, tc in enumerate(tcs):
            nested += [c for c in _children(tc) if c.tag == W_TBL]
            props = tc.find(qn("w:tcPr"))
            span, continued = 1, False
            if props is not None:
                span = _int(props.find(qn("w:gridSpan")), 1)
                vm = props.find(qn("w:vMerge"))
                continued = vm is not None and vm.get(W_VAL, "continue") == "continue"
            col = len(cells)
            text = above.get(col, "") if continued else _cell_text(tc)
            room = limit - col - (len(tcs) - i - 1)  # leave a column for each cell still to come
            for k in range(max(1, min(span, room))):
                cells.append(Cell(text, loc, merged=continued or k > 0))
                above[col + k] = text
        after = _int(pr.find(qn("w:gridAfter")) if pr is not None else None, 0)
        cells += [Cell("", loc) for _ in range(min(max(after, 0), limit - len(cells)))]
        rows.append(Row(cells, loc))
    out = [Table(rows=rows, name=name)]
    for i, inner in enumerate(nested, start=1):
        out += _tables(inner, f"{name}.{i}")
    return out
