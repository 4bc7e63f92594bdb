"""Reader for text dumps of Word documents (the seed format).

The dump rules, learnt from the seeds:

* a line that starts with TAB opens a table cell;
* an empty line followed by a TAB line closes the table row;
* a line without TAB right after a cell (at most one empty line in between)
  continues that cell: "\\t产出", "", "指标 " is ONE cell "产出\\n指标";
* any other line without TAB is prose (titles, paragraphs); two empty lines
  after a cell end the table.

    >>> doc = read_text_dump("t.txt", "标题\\n\\n\\t一级\\n\\n指标\\n\\t二级指标\\n\\n\\t产出\\n")
    >>> [type(b).__name__ for b in doc.blocks]
    ['Paragraph', 'Table']
    >>> [r.texts() for r in doc.blocks[1].rows]
    [['一级\\n指标', '二级指标'], ['产出']]
    >>> doc.blocks[1].rows[1].loc
    'L8'
"""
from __future__ import annotations

from .limits import check_cell, check_paragraphs, check_rows
from .model import Cell, Document, Paragraph, Row, Table


def read_text_dump(source: str, text: str, path=None) -> Document:
    """The tables and paragraphs of a dump, held to the readers' limits while they are built (.limits):
    a cell continued over 300,000 lines took 99 s to grow, one line at a time. ``path`` names the file
    in an error (default: ``source``)."""
    doc = Document(source=source)
    path = source if path is None else path
    table: Table | None = None
    row: Row | None = None
    blanks = 0  # empty lines since the last non-empty line
    n_rows = n_paragraphs = 0

    def close_table():
        nonlocal table, row
        if table is not None:
            if row is not None and row.cells:
                table.rows.append(row)
            doc.blocks.append(table)
        table, row = None, None

    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        loc = f"L{number}"
        if raw.startswith("\t"):
            if table is None:
                table = Table(rows=[], name=f"T{sum(isinstance(b, Table) for b in doc.blocks) + 1}")
            if row is None or blanks:
                if row is not None and row.cells:
                    table.rows.append(row)
                row = Row(cells=[], loc=loc)
                n_rows += 1
                check_rows(path, n_rows, "table rows")
            row.cells.append(Cell(raw[1:], loc))
            blanks = 0
        elif not raw.strip(" \t"):
            blanks += 1
        elif table is not None and row is not None and row.cells and blanks <= 1:
            cell = row.cells[-1]
            cell.text += "\n" + raw  # the cell goes on
            check_cell(path, cell.text, f"cell {cell.loc}")
            blanks = 0
        else:
            close_table()
            doc.blocks.append(Paragraph(raw.strip(), loc))
            n_paragraphs += 1
            check_paragraphs(path, n_paragraphs)
            blanks = 0
    close_table()
    return doc


def read_text_file(path) -> Document:
    """Decode a .txt file (UTF-8, UTF-8-BOM, GBK, GB18030; see :func:`decode`) and read it."""
    from pathlib import Path
    from .encoding import decode
    path = Path(path)
    return read_text_dump(path.name, decode(path.read_bytes(), path), path)
