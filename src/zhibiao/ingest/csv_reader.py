"""Reader for .csv files: one table, encoding detected (see :mod:`.encoding`).

The separator is ",", TAB (Excel "Unicode text") or ";", whichever splits the
most lines into the same number of cells; a title line above the header does
not throw it off. Locations are "R<row>" (1-based, the header line is R1 when
it is the first).

    >>> sniff_delimiter("项目绩效目标表\\n一级指标;三级指标;指标值\\n产出指标;培训人数;≥1,000人\\n")
    ';'
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from itertools import islice
from pathlib import Path

from ..errors import FileTooLarge
from .encoding import decode
from .limits import MAX_CELL_CHARS, check_rows
from .model import Cell, Document, Row, Table

_DELIMITERS = (",", "\t", ";")  # ties go to the first


def sniff_delimiter(text: str, sample_lines: int = 200) -> str:
    """The separator that gives the most lines with one common cell count (> 1)."""
    lines = [ln for ln in islice(io.StringIO(text), sample_lines * 2) if ln.strip()][:sample_lines]
    best, best_score = ",", 0
    for delimiter in _DELIMITERS:
        try:
            counts = Counter(len(cells) for cells in csv.reader(lines, delimiter=delimiter) if len(cells) > 1)
        except csv.Error:   # a field past the csv module's limit: reading the file reports it
            continue
        score = max(counts.values(), default=0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_csv(path) -> Document:
    path = Path(path)
    text = decode(path.read_bytes(), path)
    rows = []
    reader = csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text))
    try:
        for number, values in enumerate(reader, start=1):
            check_rows(path, number, hint=": a table this big is a rows file (name its indicator column level3), "
                                          "read in chunks")
            loc = f"R{number}"
            rows.append(Row([Cell(v, loc) for v in values], loc))
    except csv.Error as exc:
        if "field limit" not in str(exc):
            raise
        # far past the cell limit (the csv module stops at 131,072 characters): the same refusal
        raise FileTooLarge(path, f"R{len(rows) + 1} holds a field of more than {csv.field_size_limit():,} "
                                 f"characters, above the {MAX_CELL_CHARS:,}-character limit of a cell") from exc
    return Document(source=path.name, blocks=[Table(rows=rows, name="csv")])
