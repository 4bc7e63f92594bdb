"""Public entry points: :func:`extract_all` and :func:`extract`.

Every failure a user can cause with a file becomes a typed
:class:`~zhibiao.errors.InputError` with a one-line message; library exceptions
are caught at the reader boundary (:func:`read_document`).

    >>> from pathlib import Path
    >>> seed = sorted(Path(__file__).resolve().parents[3].glob("training_data/raw/001_*.txt"))[0]
    >>> df = extract(seed)
    >>> df.loc[0, ["location", "level1", "level3", "value"]].tolist()
    ['L127', '产出指标', '村干部和聘用人员工资发放次数', '12']
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import (CorruptDocument, EmptyDocument, EncryptedDocument, FileTooLarge, InputError,
                      NoIndicatorTable)
from .limits import check_cell
from .assemble import PROJECT_COLUMNS, ROW_COLUMNS, SELFEVAL_COLUMNS, assemble
from .model import Document
from .registry import FILE_TYPES, read, sniff

DEFAULT_MAX_MB = 200.0


@dataclass
class ExtractResult:
    rows: pd.DataFrame
    projects: pd.DataFrame
    failures: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # "file: what a reader left out on purpose"


def max_bytes() -> int:
    return int(float(os.environ.get("ZHIBIAO_MAX_FILE_MB", DEFAULT_MAX_MB)) * 1024 * 1024)


# Kept for callers that imported it from here; the registry is the one list.
READERS = {suffix: ft.reader for suffix, ft in FILE_TYPES.items()}


def read_document(path: str | Path, limit: int | None = None) -> Document:
    """Read one file into the shared table model; every failure is an InputError."""
    path = Path(path)
    found = sniff(path, max_bytes() if limit is None else limit)
    kind = found.reader
    try:
        return _check_cells(read(path, found), path)
    except InputError:
        raise
    except MemoryError:
        raise FileTooLarge(path, "the file is too large to read into memory") from None
    except Exception as exc:  # noqa: BLE001 - any library failure on a bad file is a corrupt document
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "encrypt" in message.lower() or "password" in message.lower():
            raise EncryptedDocument(path, "the file is password protected; save an unprotected copy") from None
        raise CorruptDocument(path, f"cannot read the {kind} file ({type(exc).__name__}: {message[:120]})") from None


def _check_cells(doc: Document, path: Path) -> Document:
    """Every reader's output is held to the one cell-length limit (.limits), whatever the format:
    a 150,000-character cell is a pasted dump, not an indicator, and costs every later stage."""
    from .model import Paragraph
    for block in doc.blocks:
        if isinstance(block, Paragraph):
            check_cell(path, block.text, f"paragraph {block.loc}")
        else:
            for row in block.rows:
                for cell in row.cells:
                    check_cell(path, cell.text, f"cell {cell.loc}")
    return doc


def extract_file(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(rows, projects) of one file; raises InputError subclasses."""
    rows, projects, _ = _extract_file(path)
    return rows, projects


def _extract_file(path) -> tuple[list[dict], list[dict], list[str]]:
    doc = read_document(path)
    if not any(doc.blocks):
        raise EmptyDocument(path, "the document has no text")
    rows, projects = assemble(doc)
    if not rows and not projects:  # a blank form (a header, no indicators) is a project with none
        raise NoIndicatorTable(path, "no indicator table found (no header row with 三级指标/指标名称 and 指标值)")
    return rows, projects, [f"{doc.source}: {note}" for note in doc.notes]


def _as_list(paths) -> list:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    return list(paths)


def extract_all(paths, errors: str = "raise") -> ExtractResult:
    """Rows and projects of many files.

    ``errors="raise"`` raises the first InputError; ``errors="collect"`` records
    it in ``failures`` and goes on with the other files.
    """
    if errors not in ("raise", "collect"):
        raise ValueError("errors must be 'raise' or 'collect'")
    rows, projects, failures, notes = [], [], [], []
    for path in _as_list(paths):
        try:
            file_rows, file_projects, file_notes = _extract_file(path)
        except InputError as exc:
            if errors == "raise":
                raise
            failures.append(exc)
            continue
        rows.extend(file_rows)
        projects.extend(file_projects)
        notes.extend(file_notes)
    extra = [c for c in SELFEVAL_COLUMNS if any(c in r for r in rows)]   # a 自评表's 分值/得分/偏差原因
    frame = _frame(rows, ROW_COLUMNS + extra)
    for c in extra:   # rows of other tables in the same run have none: blank text, like every text column
        if not c.startswith("budget_"):
            frame[c] = frame[c].fillna("")
    return ExtractResult(rows=frame, projects=_frame(projects, PROJECT_COLUMNS),
                         failures=failures, notes=notes)


def extract(paths) -> pd.DataFrame:
    """Indicator rows of one path or a list of paths; raises on bad input.

    Columns: see ``zhibiao.ingest.ROW_COLUMNS`` (DESIGN.md §4).
    """
    return extract_all(paths, errors="raise").rows


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(records, columns=columns)
    if "budget_wan" in df:
        df["budget_wan"] = pd.to_numeric(df["budget_wan"], errors="coerce").astype(float)
    if "n_indicators" in df:
        df["n_indicators"] = df["n_indicators"].astype(int)
    return df
