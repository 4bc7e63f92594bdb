"""Reader for .xls workbooks (xlrd): one Table per sheet, like the .xlsx reader."""
from __future__ import annotations

from pathlib import Path

from .cells import display_value
from .model import Cell, Document, Row, Table


def read_xls(path) -> Document:
    import xlrd
    path = Path(path)
    book = xlrd.open_workbook(str(path), formatting_info=True)
    doc = Document(source=path.name)
    for sheet in book.sheets():
        doc.blocks.append(_sheet(book, sheet))
    return doc


def _col(c: int) -> str:
    name = ""
    c += 1
    while c:
        c, rem = divmod(c - 1, 26)
        name = chr(65 + rem) + name
    return name


def _text(book, sheet, r: int, c: int) -> str:
    import xlrd
    cell = sheet.cell(r, c)
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    if cell.ctype == xlrd.XL_CELL_DATE:
        return display_value(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
    fmt = book.format_map.get(book.xf_list[cell.xf_index].format_key) if cell.xf_index is not None else None
    return display_value(cell.value, fmt.format_str if fmt else "General")


def _sheet(book, sheet) -> Table:
    anchors = {}
    for rlo, rhi, clo, chi in sheet.merged_cells:
        for r in range(rlo, rhi):
            for c in range(clo, chi):
                if (r, c) != (rlo, clo):
                    anchors[(r, c)] = (rlo, clo)
    rows = []
    for r in range(sheet.nrows):
        cells = []
        for c in range(sheet.ncols):
            loc = f"{sheet.name}!{_col(c)}{r + 1}"
            if (r, c) in anchors:
                cells.append(Cell(_text(book, sheet, *anchors[(r, c)]), loc, merged=True))
            else:
                cells.append(Cell(_text(book, sheet, r, c), loc))
        if any(x.text.strip() for x in cells):
            rows.append(Row(cells, f"{sheet.name}!A{r + 1}"))
    return Table(rows=rows, name=sheet.name)
