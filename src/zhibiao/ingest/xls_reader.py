"""Reader for .xls workbooks (xlrd): one Table per visible sheet, like the .xlsx reader.

Number formats are applied as in Excel (500 with ``0"人"`` → "500人"; see
:mod:`.numfmt`); only cells with text are kept, trailing empty columns are
trimmed, and hidden sheets are skipped (``Document.notes`` records each).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import FileTooLarge
from .model import Cell, Document, Row, Table
from .numfmt import display
from .xlsx_reader import MAX_CELLS, hidden_sheet_note


def read_xls(path) -> Document:
    import xlrd
    path = Path(path)
    # ragged rows: a row is only as long as its last cell, not the sheet's widest row
    book = xlrd.open_workbook(str(path), formatting_info=True, ragged_rows=True)
    doc = Document(source=path.name)
    for sheet in book.sheets():
        if sheet.visibility:  # 1 hidden, 2 very hidden
            doc.notes.append(hidden_sheet_note(sheet.name))
            continue
        doc.blocks.append(_sheet(book, sheet, path))
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
    fmt = book.format_map.get(book.xf_list[cell.xf_index].format_key) if cell.xf_index is not None else None
    value = cell.value
    if cell.ctype == xlrd.XL_CELL_DATE:
        value = xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)
    return display(value, fmt.format_str if fmt else "General")


def _sheet(book, sheet, path) -> Table:
    grid: dict[int, dict[int, str]] = {}  # row → column → text, only cells with text
    for r in range(sheet.nrows):
        texts = {c: t for c in range(sheet.row_len(r)) if (t := _text(book, sheet, r, c)).strip()}
        if texts:
            grid[r] = texts
    width = max((max(t) + 1 for t in grid.values()), default=0)
    last_row = max(grid, default=-1)
    copies: dict[tuple[int, int], str] = {}
    for rlo, rhi, clo, chi in sheet.merged_cells:
        text = grid.get(rlo, {}).get(clo, "")
        if text:
            width = max(width, chi)
        rhi = min(rhi, last_row + 1)  # clipped: a range may span the whole sheet
        if len(copies) + max(0, rhi - rlo) * (chi - clo) > MAX_CELLS:
            raise FileTooLarge(path, f"sheet {sheet.name!r} has merged ranges over more than {MAX_CELLS} cells")
        for r in range(rlo, rhi):
            for c in range(clo, chi):
                if (r, c) != (rlo, clo):
                    copies[(r, c)] = text
    for (r, c), text in copies.items():
        if text and c < width:
            grid.setdefault(r, {})  # a row of merged copies only is still a row, as before
    rows = []
    for r in sorted(grid):
        cells = []
        for c in range(width):
            loc = f"{sheet.name}!{_col(c)}{r + 1}"
            if (r, c) in copies:
                cells.append(Cell(copies[(r, c)], loc, merged=True))
            else:
                cells.append(Cell(grid[r].get(c, ""), loc))
        rows.append(Row(cells, f"{sheet.name}!A{r + 1}"))
    return Table(rows=rows, name=sheet.name)
