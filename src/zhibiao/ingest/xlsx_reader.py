"""Reader for .xlsx workbooks (openpyxl): one Table per sheet.

Merged ranges are filled with the anchor's text (copies flagged ``merged``),
cached formula results are used, and % formats are applied (0.95 → "95%").
Locations are "Sheet1!C5".
"""
from __future__ import annotations

from pathlib import Path

from .cells import display_value
from .model import Cell, Document, Row, Table


def read_xlsx(path) -> Document:
    import openpyxl
    path = Path(path)
    wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
    doc = Document(source=path.name)
    for ws in wb.worksheets:
        doc.blocks.append(_sheet(ws))
    wb.close()
    return doc


def _sheet(ws) -> Table:
    from openpyxl.utils import get_column_letter
    anchors = {}
    for rng in ws.merged_cells.ranges:
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                if (r, c) != (rng.min_row, rng.min_col):
                    anchors[(r, c)] = (rng.min_row, rng.min_col)
    grid = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None and (cell.row, cell.column) not in anchors:
                grid[(cell.row, cell.column)] = display_value(cell.value, cell.number_format)
    rows = []
    max_col = ws.max_column or 0
    for r in range(1, (ws.max_row or 0) + 1):
        cells = []
        for c in range(1, max_col + 1):
            loc = f"{ws.title}!{get_column_letter(c)}{r}"
            if (r, c) in anchors:
                cells.append(Cell(grid.get(anchors[(r, c)], ""), loc, merged=True))
            else:
                cells.append(Cell(grid.get((r, c), ""), loc))
        if any(c.text.strip() for c in cells):
            rows.append(Row(cells, f"{ws.title}!A{r}"))
    return Table(rows=rows, name=ws.title)
