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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import (CorruptDocument, EmptyDocument, EncryptedDocument, FileNotFound, InputError,
                      FileTooLarge, NoIndicatorTable, UnsupportedFormat)
from .limits import check_cell, check_package
from .assemble import PROJECT_COLUMNS, ROW_COLUMNS, SELFEVAL_COLUMNS, assemble
from .model import Document

DEFAULT_MAX_MB = 200.0


@dataclass
class ExtractResult:
    rows: pd.DataFrame
    projects: pd.DataFrame
    failures: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # "file: what a reader left out on purpose"


def max_bytes() -> int:
    return int(float(os.environ.get("ZHIBIAO_MAX_FILE_MB", DEFAULT_MAX_MB)) * 1024 * 1024)


# OLE2/CFB magic (old .xls/.doc, and password-protected OOXML) and the UTF-16
# name of the stream that holds an encrypted OOXML package.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_NOT_DOCUMENTS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                  b"%PDF": "a PDF (convert it to .docx or .xlsx first)", b"\x1f\x8b": "a gzip archive",
                  b"Rar!": "a RAR archive", b"7z\xbc\xaf": "a 7z archive", b"\x7fELF": "a program"}
READERS = {".txt": "text", ".docx": "docx", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".csv": "csv"}


def _check_file(path: Path, limit: int) -> bytes:
    """The file's first bytes, after the checks every format shares."""
    if not path.exists():
        raise FileNotFound(path, "no such file")
    if path.is_dir():
        raise UnsupportedFormat(path, "is a directory, not a document")
    if path.suffix.lower() not in READERS:
        raise UnsupportedFormat(path, f"unsupported file type {path.suffix or '(no suffix)'}; "
                                      f"zhibiao reads {', '.join(sorted(READERS))}")
    size = path.stat().st_size
    if size == 0:
        raise EmptyDocument(path, "the file is empty")
    if size > limit:
        raise FileTooLarge(path, f"file is {size / 2**20:.0f} MB, above the {limit / 2**20:.0f} MB limit "
                                 f"(raise it with ZHIBIAO_MAX_FILE_MB)")
    with path.open("rb") as fh:
        head = fh.read(8)
    for magic, what in _NOT_DOCUMENTS.items():
        if head.startswith(magic):
            raise UnsupportedFormat(path, f"not a document: the content is {what}")
    return head


def _check_container(path: Path, head: bytes, kind: str) -> None:
    """Zip/OLE sanity for Office formats: encrypted, or not the format the suffix claims."""
    if head.startswith(_OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in path.read_bytes():
            raise EncryptedDocument(path, "the file is password protected; save an unprotected copy")
        if kind in ("docx", "xlsx"):
            raise CorruptDocument(path, f"not a valid .{kind}: this is an old binary Office file "
                                        f"(save it as .{kind})")
    elif kind in ("docx", "xlsx") and not zipfile.is_zipfile(path):
        raise CorruptDocument(path, f"not a valid .{kind}: the file is not a zip package (damaged or renamed?)")
    elif kind in ("docx", "xlsx"):
        check_package(path)   # a zip bomb is refused from the package directory, before any inflating
    elif kind == "xls" and not head.startswith(_OLE_MAGIC):
        if head.startswith(b"PK"):
            raise CorruptDocument(path, "not a valid .xls: this is an .xlsx package; rename it to .xlsx")
        raise CorruptDocument(path, "not a valid .xls: the file is not an Excel 97-2003 workbook")


def read_document(path: str | Path, limit: int | None = None) -> Document:
    """Read one file into the shared table model; every failure is an InputError."""
    path = Path(path)
    head = _check_file(path, max_bytes() if limit is None else limit)
    kind = READERS[path.suffix.lower()]
    _check_container(path, head, kind)
    try:
        return _check_cells(_read(path, kind), path)
    except InputError:
        raise
    except MemoryError:
        raise FileTooLarge(path, "the file is too large to read into memory") from None
    except Exception as exc:  # noqa: BLE001 - any library failure on a bad file is a corrupt document
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "encrypt" in message.lower() or "password" in message.lower():
            raise EncryptedDocument(path, "the file is password protected; save an unprotected copy") from None
        raise CorruptDocument(path, f"cannot read the {kind} file ({type(exc).__name__}: {message[:120]})") from None


def _read(path: Path, kind: str) -> Document:
    if kind == "text":
        from .text_dump import read_text_file
        return read_text_file(path)
    if kind == "csv":
        from .csv_reader import read_csv
        return read_csv(path)
    if kind == "docx":
        from .docx_reader import read_docx
        return read_docx(path)
    if kind == "xlsx":
        from .xlsx_reader import read_xlsx
        return read_xlsx(path)
    from .xls_reader import read_xls
    return read_xls(path)


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
