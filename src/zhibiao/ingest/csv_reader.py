"""Reader for .csv files: one table, encoding detected (see :mod:`.encoding`).

Locations are "R<row>" (1-based, the header line is R1 when it is the first).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .encoding import decode
from .model import Cell, Document, Row, Table


def read_csv(path) -> Document:
    path = Path(path)
    text = decode(path.read_bytes(), path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows = []
    for number, values in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        loc = f"R{number}"
        rows.append(Row([Cell(v, loc) for v in values], loc))
    return Document(source=path.name, blocks=[Table(rows=rows, name="csv")])
