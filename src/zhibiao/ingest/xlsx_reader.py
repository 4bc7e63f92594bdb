"""Reader for .xlsx workbooks (openpyxl): one Table per visible sheet.

Merged ranges are filled with the anchor's text (copies flagged ``merged``),
cached formula results are used, and number formats are applied the way
Excel shows them (0.95 → "95%", 35 with ``"≥"0"人"`` → "≥35人"; see
:mod:`.numfmt`). Locations are "Sheet1!C5".

Sheets are streamed (read-only mode) and only cells with text are kept, so a
stray cell at XFD1048576 costs nothing; content beyond :data:`MAX_ROWS` rows
or :data:`MAX_COLS` columns is refused as :class:`~zhibiao.errors.FileTooLarge`.
Hidden sheets are skipped; ``Document.notes`` records each.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from pathlib import Path

from ..errors import FileTooLarge
from .limits import EXCEL_MAX_ROWS, MAX_CELL_CHARS, check_cell
from .model import Cell, Document, Row, Table
from .numfmt import display

MAX_ROWS = 200_000  # rows with text, per sheet
MAX_COLS = 500
MAX_CELLS = 2_000_000  # rows × columns of the table built from a sheet


def hidden_sheet_note(name: str) -> str:
    return f"隐藏工作表“{name}”未读取 (hidden sheet not read)"


def read_xlsx(path) -> Document:
    import openpyxl
    path = Path(path)
    wb = openpyxl.load_workbook(path, data_only=True, read_only=True)
    try:
        doc = Document(source=path.name)
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":
                doc.notes.append(hidden_sheet_note(ws.title))
                continue
            doc.blocks.append(_sheet(ws, path))
    finally:
        wb.close()
    return doc


def _parse(ws):
    """A streaming parser of the sheet XML: rows as sparse cell dicts, then ``.merged_cells``.

    openpyxl's read-only sheet pads every row to the sheet's declared width and
    drops merged ranges; its parser gives both, sparse, in one pass.
    """
    from openpyxl.worksheet._reader import WorkSheetParser
    wb = ws.parent
    return WorkSheetParser(ws._get_source(), ws._shared_strings, data_only=True, epoch=wb.epoch,
                           date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)


def _sheet(ws, path) -> Table:
    from openpyxl.cell.read_only import ReadOnlyCell
    from openpyxl.utils import get_column_letter
    parser = _parse(ws)
    grid: dict[int, dict[int, str]] = {}  # row → column → text, only cells with text
    width = 0
    seen = 0
    try:
        for r, cells in parser.parse():
            seen += 1   # empty rows too: millions of them are a bomb, not a table
            if seen > EXCEL_MAX_ROWS:
                raise FileTooLarge(path, f"sheet {ws.title!r} has more than {EXCEL_MAX_ROWS:,} rows, "
                                         f"more than Excel allows")
            texts = {}
            for c in cells:
                if c["value"] is None:
                    continue
                text = display(c["value"], ReadOnlyCell(ws, **c).number_format)
                if len(text) > MAX_CELL_CHARS:
                    check_cell(path, text, f"cell {ws.title}!{get_column_letter(c['column'])}{r}")
                if text.strip():
                    texts[c["column"]] = text
            if not texts:
                continue  # empty rows are not stored
            width = max(width, max(texts))
            if width > MAX_COLS:
                cell = f"{get_column_letter(width)}{r}"
                raise FileTooLarge(path, f"sheet {ws.title!r} has content in {cell}, beyond the {MAX_COLS}-column "
                                         f"limit (delete stray cells far to the right)")
            grid[r] = texts
            if len(grid) > MAX_ROWS:
                raise FileTooLarge(path, f"sheet {ws.title!r} has more than {MAX_ROWS} rows with content")
    finally:
        parser.source.close()
    last_row = max(grid, default=0)

    # merged copies, clipped to the area with content (a range can span the whole sheet)
    spans = []
    for rng in (parser.merged_cells.mergeCell if parser.merged_cells else ()):
        min_col, min_row, max_col, max_row = _bounds(rng.ref)
        text = grid.get(min_row, {}).get(min_col, "")
        spans.append((min_row, min_col, min(max_row, last_row), min(max_col, MAX_COLS), text))
        if text:
            width = max(width, min(max_col, MAX_COLS))  # a merge with text widens the table
    content_rows = sorted(grid)
    copies: dict[tuple[int, int], str] = {}
    for min_row, min_col, max_row, max_col, text in spans:
        max_col = min(max_col, width)
        # an empty merge only marks cells of rows that are there anyway
        rows_in = range(min_row, max_row + 1) if text else \
            content_rows[bisect_left(content_rows, min_row):bisect_right(content_rows, max_row)]
        if len(copies) + len(rows_in) * (max_col - min_col + 1) > MAX_CELLS:
            raise FileTooLarge(path, f"sheet {ws.title!r} has merged ranges over more than {MAX_CELLS} cells")
        for r in rows_in:
            for c in range(min_col, max_col + 1):
                if (r, c) != (min_row, min_col):
                    copies[(r, c)] = text
            if text:
                grid.setdefault(r, {})  # a row of merged copies only is still a row, as before
    if len(grid) * width > MAX_CELLS:
        raise FileTooLarge(path, f"sheet {ws.title!r} is {len(grid)} rows × {width} columns, "
                                 f"above the {MAX_CELLS}-cell limit")

    rows = []
    cols = [get_column_letter(c) for c in range(1, width + 1)]
    for r in sorted(grid):
        texts, cells = grid[r], []
        for c, letter in enumerate(cols, start=1):
            loc = f"{ws.title}!{letter}{r}"
            if (r, c) in copies:
                cells.append(Cell(copies[(r, c)], loc, merged=True))
            else:
                cells.append(Cell(texts.get(c, ""), loc))
        rows.append(Row(cells, f"{ws.title}!A{r}"))
    return Table(rows=rows, name=ws.title)


def _bounds(ref: str) -> tuple[int, int, int, int]:
    from openpyxl.utils import range_boundaries
    return range_boundaries(ref if ":" in ref else f"{ref}:{ref}")
