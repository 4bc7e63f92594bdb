"""Reader for PDFs with a text layer (pdfplumber): text lines and tables in page order.

* Tables are found by their ruling lines; a page without ruled tables is tried
  by text alignment, kept only when it holds an indicator header (三级指标 …)
  or goes on with the previous page's table.
* A cell's text comes from the characters inside it. A line that is full
  (the next line's first character or word would not have fitted) is a soft
  wrap and is glued back (with a space only between two Latin words); a short
  line ends a paragraph of the cell and becomes "\\n", like a Word cell.
* Merged cells are expanded on the table grid like the .docx reader does:
  copies to the right and below are flagged ``merged``.
* A table that starts a page and has the same columns as the table that ended
  the previous page continues it: a repeated header row is dropped, and a row
  cut by the page break (every cell it has continues a full last line above)
  is joined to its first part.
* Text outside tables becomes paragraphs; lines wrapped at the right margin are
  joined, page numbers are skipped.

Locations are ``p3!T1!R5`` (page 3, 1st table on that page, its 5th row) and
``p3!L2`` (page 3, 2nd text line). Limits: pages (ZHIBIAO_MAX_PDF_PAGES) and
a time budget per file (ZHIBIAO_PDF_TIMEOUT seconds), each a one-line
:class:`~zhibiao.errors.FileTooLarge`; no text at all is a
:class:`~zhibiao.errors.ScannedDocument`.

    >>> _join("农村公路及城", "市次干道", soft=True), _join("total", "cost", soft=True)
    ('农村公路及城市次干道', 'total cost')
    >>> _join("≥90%", "≥95%", soft=False)
    '≥90%\\n≥95%'
"""
from __future__ import annotations

import bisect
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorruptDocument, FileTooLarge, ScannedDocument
from .limits import check_pdf_streams
from .model import Cell, Document, Paragraph, Row, Table
from .vocab import header_spellings, norm_header

# pdfminer logs every oddity of a file (a missing FontBBox …) as a warning: not the user's business
logging.getLogger("pdfminer").setLevel(logging.ERROR)

DEFAULT_MAX_PAGES = 2000
DEFAULT_TIMEOUT_S = 300.0
SNAP = 2.0          # pt: edges closer than this are one grid line
_PAGE_NUMBER = re.compile(r"^[\s\-—–第页共/of\d]*\d[\s\-—–第页共/of\d]*$", re.IGNORECASE)
_LATIN = re.compile(r"[A-Za-z0-9]")
# Characters a line may not start with (kinsoku): they travel with the character before them.
_NO_LINE_START = set("，。、；：！？）》」』】〕’”%‰℃·…,.;:!?)]}")
_RULED = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}


def max_pages() -> int:
    return int(os.environ.get("ZHIBIAO_MAX_PDF_PAGES", DEFAULT_MAX_PAGES))


def timeout_s() -> float:
    return float(os.environ.get("ZHIBIAO_PDF_TIMEOUT", DEFAULT_TIMEOUT_S))


def scanned_message() -> str:
    return ("this is a scanned PDF (no text layer); OCR is not supported: run OCR first "
            "(e.g. ocrmypdf) or use the .docx/.xlsx original")


# ----------------------------------------------------------------------------- text lines
@dataclass
class _Line:
    chars: list
    top: float
    x0: float
    x1: float
    size: float

    @property
    def text(self) -> str:
        out, prev = [], None
        for ch in self.chars:
            if prev is not None and ch["x0"] - prev["x1"] > 0.3 * max(ch["size"], 1) and ch["text"] != " " \
                    and out and out[-1] != " ":
                out.append(" ")  # a gap the PDF draws without a space glyph
            out.append(ch["text"])
            prev = ch
        return "".join(out).strip()

    def first_token_width(self) -> float:
        """Width of what would have had to fit on the line above: a CJK char, or a whole Latin word."""
        width, done = 0.0, False
        for ch in self.chars:
            if ch["text"] == " " or (done and ch["text"] not in _NO_LINE_START):
                break
            width += ch["x1"] - ch["x0"]
            # a Latin run goes on; "4119.901米" does not break before 米; "质，" keeps its comma
            done = done or not (_LATIN.match(ch["text"]) or ch["text"] in ".,")
        return width or self.size


def _lines(chars: list) -> list[_Line]:
    """Characters → lines, top to bottom; a char joins a line whose top is within half its size."""
    lines: list[_Line] = []
    for ch in sorted(chars, key=lambda c: (round(c["top"], 1), c["x0"])):
        tol = max(1.5, 0.5 * ch["size"])
        for line in reversed(lines[-3:]):
            if abs(line.top - ch["top"]) <= tol:
                line.chars.append(ch)
                line.x0, line.x1 = min(line.x0, ch["x0"]), max(line.x1, ch["x1"])
                break
        else:
            lines.append(_Line([ch], ch["top"], ch["x0"], ch["x1"], ch["size"]))
    for line in lines:
        line.chars.sort(key=lambda c: c["x0"])
    lines.sort(key=lambda ln: ln.top)
    return lines


def _join(a: str, b: str, soft: bool) -> str:
    if not soft:
        return f"{a}\n{b}"
    if a and b and _LATIN.match(a[-1]) and _LATIN.match(b[0]):
        return f"{a} {b}"  # Latin text wraps at a space
    return a + b


def _is_soft(line: _Line, nxt: _Line, right: float) -> bool:
    """The line is full: the next line's first token would not have fitted before ``right``."""
    return line.x1 + nxt.first_token_width() > right - 0.25 * line.size  # in doubt, soft


# ----------------------------------------------------------------------------- tables
@dataclass
class _CellText:
    text: str = ""
    last: _Line | None = None    # geometry for joining a row cut by a page break
    first: _Line | None = None
    right: float = 0.0


def _cell_text(chars: list, bbox) -> _CellText:
    lines = _lines(chars)
    if not lines:
        return _CellText()
    # the cell's inner margin, from its left-most line; centred or right-aligned short text
    # says nothing about it, so it is capped near Word's 0.19 cm default
    pad = min(max(0.0, min(ln.x0 for ln in lines) - bbox[0]), max(6.0, 0.7 * lines[0].size))
    right = bbox[2] - pad
    text = lines[0].text
    for prev, nxt in zip(lines, lines[1:]):
        text = _join(text, nxt.text, _is_soft(prev, nxt, right))
    return _CellText(text, lines[-1], lines[0], right)


def _snap(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > SNAP:
            out.append(v)
    return out


def _slot(edges: list[float], v: float) -> int:
    """Index of the grid edge nearest ``v``."""
    i = bisect.bisect_left(edges, v)
    if i == len(edges) or (i and v - edges[i - 1] < edges[i] - v):
        i -= 1
    return i


@dataclass
class _Grid:
    table: Table
    top: float
    bottom: float
    cols: list[float]                            # x edges
    starts: list[float] | None = None            # where text starts in each column (no ruling lines)
    geom: list[list[_CellText]] = field(default_factory=list)  # per row, per column


def _grid(pdf_table, chars: list, page_no: int, t_no: int) -> _Grid | None:
    cells = [c for c in pdf_table.cells if c[2] - c[0] > 1 and c[3] - c[1] > 1]
    if not cells:
        return None
    xs = _snap([c[0] for c in cells] + [c[2] for c in cells])
    ys = _snap([c[1] for c in cells] + [c[3] for c in cells])
    n_rows, n_cols = len(ys) - 1, len(xs) - 1
    if n_rows < 1 or n_cols < 2:
        return None
    owner: dict[tuple[int, int], int] = {}     # (row, col) slot → cell index
    spans = []
    for k, (x0, top, x1, bottom) in enumerate(cells):
        c0, c1, r0, r1 = _slot(xs, x0), _slot(xs, x1), _slot(ys, top), _slot(ys, bottom)
        spans.append((r0, c0))
        for r in range(r0, max(r1, r0 + 1)):
            for c in range(c0, max(c1, c0 + 1)):
                owner.setdefault((r, c), k)
    inside: dict[int, list] = {}
    x0t, topt, x1t, bottomt = pdf_table.bbox
    for ch in chars:
        cx, cy = (ch["x0"] + ch["x1"]) / 2, (ch["top"] + ch["bottom"]) / 2
        if x0t <= cx <= x1t and topt <= cy <= bottomt:
            r, c = bisect.bisect_right(ys, cy) - 1, bisect.bisect_right(xs, cx) - 1
            k = owner.get((min(max(r, 0), n_rows - 1), min(max(c, 0), n_cols - 1)))
            if k is not None:
                inside.setdefault(k, []).append(ch)
    texts = {k: _cell_text(inside.get(k, []), cells[k]) for k in range(len(cells))}
    name = f"p{page_no}!T{t_no}"
    grid = _Grid(Table(rows=[], name=name), ys[0], ys[-1], xs)
    for r in range(n_rows):
        loc = f"{name}!R{r + 1}"
        row, geom = [], []
        for c in range(n_cols):
            k = owner.get((r, c))
            if k is None:
                row.append(Cell("", loc))
                geom.append(_CellText())
                continue
            anchor = spans[k] == (r, c)
            row.append(Cell(texts[k].text, loc, merged=not anchor))
            geom.append(texts[k] if anchor else _CellText(texts[k].text))
        grid.table.rows.append(Row(row, loc))
        grid.geom.append(geom)
    return grid


# ----------------------------------------------------------------------------- tables without lines
def _segments(line: _Line) -> list[_Line]:
    """A line cut where the gap between characters is wider than most of a character: cells."""
    out, cur = [], [line.chars[0]]
    for ch in line.chars[1:]:
        if ch["x0"] - cur[-1]["x1"] > 0.8 * max(ch["size"], 1):
            out.append(cur)
            cur = [ch]
        else:
            cur.append(ch)
    out.append(cur)
    return [_Line(cs, line.top, min(c["x0"] for c in cs), max(c["x1"] for c in cs), line.size) for cs in out]


def _header_at(lines: list[_Line], i: int) -> tuple[list[float], int] | None:
    """Column starts of an indicator header on line i (its cells may wrap onto the next line),
    and how many lines it takes."""
    from .assemble import map_header
    segs = _segments(lines[i])
    if len(segs) < 3:
        return None
    texts = [sg.text for sg in segs]
    known = {sp for _, spellings in header_spellings() for sp in spellings}
    n = 1
    # header cells wrap ("绩效指标描" / "述") or hold two paragraphs ("一级" / "指标"): a following
    # line makes header words of what is above it, and spoils none (a first data row under
    # "一级" would make "一级产出指标")
    while i + n < len(lines) and n <= 3 and lines[i + n].top - lines[i + n - 1].top < 2.5 * lines[i].size:
        joined = list(texts)
        for sg in _segments(lines[i + n]):
            k = min(range(len(segs)), key=lambda j: abs(segs[j].x0 - sg.x0))
            if abs(segs[k].x0 - sg.x0) > 2:
                joined = None
                break
            joined[k] += sg.text
        if joined is None:
            break
        changed = [k for k in range(len(segs)) if joined[k] != texts[k]]
        if not any(norm_header(joined[k]) in known for k in changed) or any(
                norm_header(texts[k]) in known and norm_header(joined[k]) not in known for k in changed):
            break
        texts, n = joined, n + 1
    if map_header(texts):
        return [sg.x0 for sg in segs], n
    return None


def _fits(segs: list[_Line], starts: list[float], right: float) -> bool:
    """Every cell of the line starts at a column start and stays inside its column."""
    for sg in segs:
        c = bisect.bisect_right(starts, sg.x0 + 2) - 1
        if c < 0 or abs(sg.x0 - starts[c]) > 2:
            return False
        if c + 1 < len(starts) and sg.x1 > starts[c + 1] + 1:  # the last column may run to the margin
            return False
    return True


def _by_column(head: list[list[_Line]], starts: list[float]) -> list[list[_Line]]:
    cols: list[list[_Line]] = [[] for _ in starts]
    for segs in head:
        for sg in segs:
            cols[max(0, bisect.bisect_right(starts, sg.x0 + 2) - 1)].append(sg)
    return cols


def _aligned_table(lines: list[_Line], i: int, starts: list[float], n_head: int, page_no: int,
                   t_no: int, right: float | None = None) -> tuple[_Grid, int]:
    """The table whose columns start at ``starts``, from line i; returns it and the next line."""
    right = right if right is not None else max(ln.x1 for ln in lines) + 1
    body: list[list[_Line]] = []
    j = i + n_head
    while j < len(lines):
        line = lines[j]
        prev = lines[j - 1] if j > i else None
        if _PAGE_NUMBER.match(line.text):
            break
        if prev is not None and line.top - prev.top > 8 * prev.size:
            break
        segs = _segments(line)
        if not _fits(segs, starts, right):
            break
        body.append(segs)
        j += 1
    head = [_segments(ln) for ln in lines[i:i + n_head]]
    all_lines = head + body
    tops = [lines[k].top for k in range(i, j)]
    gaps = [b - a for a, b in zip(tops, tops[1:])]
    # rows are further apart than the lines of a cell: cut the body's sorted gaps at their first
    # clear jump (the header's own gaps and the one below it say nothing about the body's rows)
    ladder = sorted(set(round(g, 1) for g in gaps[n_head:]))
    jump = next((k for k in range(1, len(ladder)) if ladder[k] > 1.3 * ladder[k - 1]), None)
    loose = jump is not None
    cut = (ladder[jump] + ladder[jump - 1]) / 2 if loose else 0.0

    def col(sg):
        return bisect.bisect_right(starts, sg.x0 + 2) - 1

    widest = {}
    for segs in all_lines:
        for sg in segs:
            widest[col(sg)] = max(widest.get(col(sg), 0.0), sg.x1)
    # group lines into rows: a line goes on the row above when it follows at wrap distance
    # (rows are further apart), or, rows not being further apart, when it only continues full cells
    from .assemble import map_header
    colmap = map_header(["".join(sg.text for sg in segs_c) for segs_c in _by_column(head, starts)]) if head else None
    name_col = colmap.get("level3") if colmap else None
    rows: list[list[list[_Line]]] = []
    for k, segs in enumerate(all_lines):
        cells: list[list[_Line]] = [[] for _ in starts]
        for sg in segs:
            cells[col(sg)].append(sg)
        if k == 0 or k == n_head:
            rows.append(cells)
            continue
        gap = gaps[k - 1]
        above = rows[-1]
        if loose:
            # a further paragraph of a cell ("给水…；" / "污水…") looks like a new row; a row without
            # an indicator name, with text only under cells above that have some, is not one
            joins = gap < cut or (name_col is not None and k > n_head and not cells[name_col]
                                  and all(above[c] for c in range(len(starts)) if cells[c]))
        else:
            joins = all(above[c] and _is_soft(above[c][-1], cells[c][0], widest.get(c, right))
                        for c in range(len(starts)) if cells[c])
        if k < n_head or (joins and k != n_head):
            for c in range(len(starts)):
                above[c].extend(cells[c])
        else:
            rows.append(cells)
    name = f"p{page_no}!T{t_no}"
    cols = [starts[0] - 2] + [s - 2 for s in starts[1:]] + [right]
    top = lines[i].top - 1
    bottom = max(sg.top + sg.size for segs in all_lines for sg in segs) + 1
    grid = _Grid(Table(rows=[], name=name), top, bottom, cols, starts=list(starts))
    for r, cells in enumerate(rows, 1):
        loc = f"{name}!R{r}"
        row, geom = [], []
        for c, parts in enumerate(cells):
            if not parts:
                row.append(Cell("", loc))
                geom.append(_CellText())
                continue
            text = parts[0].text
            for a, b in zip(parts, parts[1:]):
                text = _join(text, b.text, _is_soft(a, b, widest.get(c, right)))
            row.append(Cell(text, loc))
            geom.append(_CellText(text, parts[-1], parts[0], widest.get(c, right)))
        grid.table.rows.append(Row(row, loc))
        grid.geom.append(geom)
    return grid, j


def _aligned_tables(lines: list[_Line], page_no: int, carry: "_Grid | None") -> list[_Grid]:
    """Tables without ruling lines, anchored on an indicator header row (三级指标 … 指标值), or at
    the top of the page on the columns of a table without lines that ended the last page."""
    out: list[_Grid] = []
    i = 0
    if carry is not None and carry.starts:
        first = next((k for k, ln in enumerate(lines) if not _PAGE_NUMBER.match(ln.text)), None)
        right = max((ln.x1 for ln in lines), default=0) + 1
        if first is not None and _header_at(lines, first) is None \
                and _fits(_segments(lines[first]), carry.starts, max(right, carry.cols[-1])):
            grid, i = _aligned_table(lines, first, carry.starts, 0, page_no, 1, right=carry.cols[-1])
            out.append(grid)
    while i < len(lines):
        found = _header_at(lines, i)
        if found is None:
            i += 1
            continue
        grid, i = _aligned_table(lines, i, found[0], found[1], page_no, len(out) + 1)
        out.append(grid)
    return out


def _has_header(texts: list[str]) -> bool:
    keys = {norm_header(t) for t in texts}
    wanted = dict(header_spellings())
    return bool(keys & set(wanted.get("level3", ()))) and bool(keys & set(wanted.get("value", ())))


# ----------------------------------------------------------------------------- pages
def _page_blocks(page, page_no: int, carry: "_Grid | None") -> tuple[list, int]:
    """(blocks sorted top to bottom as (top, Paragraph | _Grid), number of chars)."""
    n_all = len(page.chars)
    height = float(page.height)
    # text placed off the page (a spreadsheet's merged cell centred over a page break) is not seen
    chars = [c for c in page.chars if c["bottom"] > 0 and c["top"] < height]
    if not chars:
        return [], n_all
    found = page.find_tables(_RULED)
    grids = [g for t_no, t in enumerate(found, 1) if (g := _grid(t, chars, page_no, t_no))]
    continuing = carry is not None
    if not grids:
        grids = _aligned_tables(_lines(chars), page_no, carry)
    boxes = [(g.cols[0], g.top, g.cols[-1], g.bottom) for g in grids]

    def outside(ch) -> bool:
        cx, cy = (ch["x0"] + ch["x1"]) / 2, (ch["top"] + ch["bottom"]) / 2
        return not any(b[0] - 1 <= cx <= b[2] + 1 and b[1] - 1 <= cy <= b[3] + 1 for b in boxes)

    blocks: list[tuple[float, object]] = [(g.top, g) for g in grids]
    lines = _drop_overflow(_lines([c for c in chars if outside(c)]), grids, continuing, height)
    right = max((ln.x1 for ln in lines), default=0.0)
    para: list[_Line] = []
    first_no = 0  # the paragraph's first line, for its location

    def flush():
        nonlocal para
        if para:
            text = para[0].text
            for prev, nxt in zip(para, para[1:]):
                text = _join(text, nxt.text, soft=True)
            if text and not _PAGE_NUMBER.match(text):
                blocks.append((para[0].top, Paragraph(text, f"p{page_no}!L{first_no}")))
        para = []

    for n_line, line in enumerate(lines, 1):
        prev = para[-1] if para else None
        # a line that reached the right margin, followed closely by the next: one paragraph
        if prev is None or not (prev.x1 >= right - 1.5 * prev.size and line.top - prev.top < 2.0 * prev.size
                                and not any(prev.top < b[1] < line.top for b in boxes)):
            flush()
            first_no = n_line
        para.append(line)
    flush()
    blocks.sort(key=lambda b: b[0])
    return blocks, n_all


def _centred_in_column(line: _Line, grid: _Grid) -> bool:
    for x0, x1 in zip(grid.cols, grid.cols[1:]):
        if x0 - 1 <= line.x0 and line.x1 <= x1 + 1:
            return abs((line.x0 + line.x1) / 2 - (x0 + x1) / 2) <= 0.15 * (x1 - x0)
    return False


def _drop_overflow(lines: list[_Line], grids: list[_Grid], continuing: bool, height: float) -> list[_Line]:
    """Lines between the page edge and the table nearest it, each centred in one of its columns:
    the text of a merged cell that runs over the page break, drawn (clipped) outside the table.
    Only at a page break (a table that goes on from the last page, or one that reaches the
    bottom fifth of the page); kept unless every such line looks like that."""
    if not grids or not lines:
        return lines
    low, high = max(grids, key=lambda g: g.bottom), min(grids, key=lambda g: g.top)
    below = [ln for ln in lines if ln.top >= low.bottom - 1 and not _PAGE_NUMBER.match(ln.text)]
    above = [ln for ln in lines if ln.top + ln.size <= high.top + 1 and not _PAGE_NUMBER.match(ln.text)]
    drop = set()
    if low.bottom < 0.8 * height:
        below = []
    if not continuing:
        above = []
    for stray, grid in ((below, low), (above, high)):
        if stray and all(_centred_in_column(ln, grid) for ln in stray):
            drop.update(id(ln) for ln in stray)
    return [ln for ln in lines if id(ln) not in drop]


def _column_map(a: _Grid, b: _Grid) -> list[int] | None:
    """For each column of ``a``, the column of ``b`` under it (-1: none), when ``b`` continues ``a``:
    every edge of ``b`` on an edge of ``a`` (the head rows of ``a`` may split more; a spreadsheet
    may leave out a merged first column on the next page), and ``b`` most of ``a``'s width."""
    tol = 3 * SNAP
    if not all(any(abs(x - y) <= tol for y in a.cols) for x in b.cols):
        return None
    if b.cols[-1] - b.cols[0] < 0.5 * (a.cols[-1] - a.cols[0]):
        return None
    out = []
    for x0, x1 in zip(a.cols, a.cols[1:]):
        mid = (x0 + x1) / 2
        out.append(bisect.bisect_right(b.cols, mid) - 1 if b.cols[0] < mid < b.cols[-1] else -1)
    return out


def _regrid(grid: _Grid, cmap: list[int]) -> None:
    """Re-express ``grid``'s rows on the columns of the table it continues (wider cells become merges)."""
    for r, row in enumerate(grid.table.rows):
        cells, geom = [], []
        for j, c in enumerate(cmap):
            if c < 0:
                cells.append(Cell("", row.loc))
                geom.append(_CellText())
                continue
            src = row.cells[c]
            first = j == 0 or cmap[j - 1] != c
            cells.append(Cell(src.text, src.loc, merged=src.merged or not first))
            geom.append(grid.geom[r][c] if first else _CellText(src.text))
        row.cells = cells
        grid.geom[r] = geom


def _texts(row: Row) -> list[str]:
    return [re.sub(r"\s+", "", t) for t in row.texts()]


def _value_column(table: Table) -> int | None:
    from .assemble import map_header
    for row in table.rows[:12]:
        found = map_header(row.texts())
        if found:
            return found.get("value", found.get("value_number"))
    return None


def _is_fragment(prev_geom: list[_CellText], prev: Row, row: Row, geom: list[_CellText],
                 value_col: int | None) -> bool:
    """The row is the part of ``prev`` that the page break cut off: it has text only where ``prev``
    has, and that text continues a full last line above, in every such cell, or at least in one
    while the target (指标值), which ``prev`` has, is missing (a real indicator row has one)."""
    filled = [c for c, cell in enumerate(row.cells) if cell.text.strip() and not cell.merged]
    if not filled or any(c >= len(prev.cells) or not prev.cells[c].text.strip() for c in filled):
        return False
    full = [c for c in filled
            if prev_geom[c].last is not None and geom[c].first is not None and not prev.cells[c].merged
            and _is_soft(prev_geom[c].last, geom[c].first, prev_geom[c].right)]
    if len(full) == len(filled):
        return True
    return bool(full) and value_col is not None and value_col < len(row.cells) \
        and bool(prev.cells[value_col].text.strip()) and not row.cells[value_col].text.strip()


def _continue(open_grid: _Grid, grid: _Grid) -> None:
    """Append ``grid``'s rows to the table that ended the previous page."""
    rows, geoms = list(grid.table.rows), list(grid.geom)
    heads = {tuple(_texts(r)) for r in open_grid.table.rows[:3]}
    while rows and tuple(_texts(rows[0])) in heads:  # a repeated header
        rows.pop(0)
        geoms.pop(0)
    if rows and open_grid.table.rows:
        prev, prev_geom = open_grid.table.rows[-1], open_grid.geom[-1]
        if _is_fragment(prev_geom, prev, rows[0], geoms[0], _value_column(open_grid.table)):
            for c, cell in enumerate(rows[0].cells):
                if cell.text.strip() and not cell.merged:
                    above, below = prev_geom[c], geoms[0][c]
                    soft = above.last is None or below.first is None or _is_soft(above.last, below.first, above.right)
                    prev.cells[c].text = _join(prev.cells[c].text, cell.text, soft)
                    prev_geom[c] = _CellText(prev.cells[c].text, geoms[0][c].last, prev_geom[c].first,
                                             geoms[0][c].right)
            rows.pop(0)
            geoms.pop(0)
    open_grid.table.rows.extend(rows)
    open_grid.geom.extend(geoms)


def _page_count(path: Path) -> int | None:
    """The page count from the document catalogue (pdfium, fast); None if pdfium cannot tell."""
    try:
        import pypdfium2
        pdf = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - pdfminer gets its own chance and error
        return None
    try:
        return len(pdf)
    finally:
        pdf.close()


def read_pdf(path) -> Document:
    import pdfplumber
    path = Path(path)
    cap, budget = max_pages(), timeout_s()
    check_pdf_streams(path)
    n = _page_count(path)
    if n is not None and n > cap:
        raise FileTooLarge(path, f"the PDF has {n} pages, above the {cap}-page limit (raise it with ZHIBIAO_MAX_PDF_PAGES)")
    start = time.monotonic()
    doc = Document(source=path.name)
    n_chars = n_cid = 0
    open_grid: _Grid | None = None   # the table that ended the last page
    with pdfplumber.open(str(path)) as pdf:
        for page_no, page in enumerate(pdf.pages, 1):
            if page_no > cap:
                raise FileTooLarge(path, f"the PDF has more than {cap} pages (raise ZHIBIAO_MAX_PDF_PAGES)")
            if time.monotonic() - start > budget:
                raise FileTooLarge(path, f"reading stopped at page {page_no}: over the {budget:.0f} s budget "
                                         f"for one file (raise ZHIBIAO_PDF_TIMEOUT)")
            blocks, chars = _page_blocks(page, page_no, open_grid)
            n_chars += chars
            n_cid += sum(ch["text"].startswith("(cid:") for ch in page.chars)
            for i, (_, block) in enumerate(blocks):
                if isinstance(block, _Grid):
                    cmap = _column_map(open_grid, block) if i == 0 and open_grid is not None else None
                    if cmap is not None:
                        _regrid(block, cmap)
                        _continue(open_grid, block)
                        block = open_grid
                    else:
                        doc.blocks.append(block.table)
                    open_grid = block
                else:
                    doc.blocks.append(block)
                    open_grid = None
            if not blocks:
                open_grid = None
            page.flush_cache()
    if n_chars == 0:
        raise ScannedDocument(path, scanned_message())
    if n_cid > n_chars / 2:
        raise CorruptDocument(path, "the PDF's text layer cannot be decoded (fonts without a Unicode map); "
                                    "use the .docx/.xlsx original")
    return doc
