"""The one table model every reader produces.

A reader turns a file into a :class:`Document`: an ordered list of blocks, each
a :class:`Paragraph` (prose, titles, "项目名称：XXX" lines) or a :class:`Table`
(a grid of :class:`Cell`). Everything after that — header detection, project
metadata, indicator rows — is format-independent and lives in ``assemble.py``.

    >>> t = Table([Row([Cell("一级指标", "L3"), Cell("三级指标", "L4")], "L3")], name="T1")
    >>> t.rows[0].texts()
    ['一级指标', '三级指标']
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cell:
    """One cell. ``merged`` marks a copy of a merged cell's text (not the anchor)."""
    text: str
    loc: str
    merged: bool = False


@dataclass
class Row:
    cells: list[Cell]
    loc: str

    def texts(self) -> list[str]:
        return [c.text for c in self.cells]


@dataclass
class Table:
    rows: list[Row]
    name: str = ""


@dataclass
class Paragraph:
    text: str
    loc: str


@dataclass
class Document:
    """What a reader returns: the blocks in reading order, the file's basename, and notes on what
    it left out on purpose (a hidden sheet), for the user."""
    source: str
    blocks: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
