"""Read and write row tables by file suffix: .csv, .xlsx, .jsonl, .parquet."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import CorruptDocument, InputError, UnsupportedFormat, ZhibiaoError
from .ingest.limits import EXCEL_MAX_ROWS, check_package
from .resources import _directory_output, atomic_path  # noqa: F401  (re-exported: the writers' home)

WRITABLE = (".csv", ".xlsx", ".jsonl", ".parquet")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same resolved path, or (hard links) the same inode."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwrite(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path]) -> None:
    """Raise before any work if an output path is one of the inputs, or a directory holding one (a
    parquet output is a directory, replaced whole): zhibiao never overwrites an input."""
    inputs = [Path(p) for p in inputs]
    for out in outputs:
        if out is None:
            continue
        if Path(out).is_dir() and Path(out).suffix.lower() != ".parquet":   # a batch's parquet is a directory
            raise _directory_output(out)
        for inp in inputs:
            if same_file(out, inp) or _inside(inp, out):
                raise UnsupportedFormat(out, "is also an input, or holds one; zhibiao never overwrites an input "
                                             "(choose another output path)")


def _inside(path: Path, folder: Path) -> bool:
    try:
        return folder.is_dir() and path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` by suffix, atomically (a temporary file, then a rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise UnsupportedFormat(path, f"cannot write {suffix or 'a file without suffix'}; use one of {', '.join(WRITABLE)}")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            write_xlsx([df], tmp)
        elif suffix == ".jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            try:
                df.to_parquet(tmp, index=False)
            except ImportError as exc:
                raise UnsupportedFormat(path, "writing parquet needs pyarrow (pip install pyarrow)") from exc
    return path


def csv_encoding(path: str | Path) -> str:
    """The encoding of a CSV, judged on its first MB as extraction judges a whole file (UTF-8,
    GB18030 as Excel saves "CSV" on a Chinese Windows, UTF-16 …)."""
    from .ingest.encoding import detect_encoding
    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    cut = sample.rfind(b"\n") + 1
    return detect_encoding(sample[:cut] if cut > 1 and len(sample) == 1 << 20 else sample, path)


def rows_file_columns(path: str | Path) -> list[str]:
    """The column names of a .csv or .xlsx read as a rows file, or [] when it cannot be read as
    one (then it is a document, and extraction gives its own message)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            return list(pd.read_csv(path, nrows=0, dtype=str, encoding=csv_encoding(path)).columns)
        check_package(path)
        return [str(c) for c in pd.read_excel(path, nrows=0).columns]
    except Exception:  # noqa: BLE001 - any unreadable header (or a bomb): not a rows file; extraction says why
        return []


def is_rows_file(path: str | Path) -> bool:
    """A rows file is a table with a level3 column (.jsonl and .parquet always are); a .csv or .xlsx
    without one is a document to extract from."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        return False   # extraction reports it: no such file, or a directory
    return suffix in (".jsonl", ".parquet") or (suffix in (".csv", ".xlsx", ".xlsm")
                                                and "level3" in rows_file_columns(path))


def read_inputs(paths, errors: str = "collect"):
    """The rows of rows files (read as they are) and of documents (extracted, with their projects), in
    the order given, as one :class:`zhibiao.ingest.ExtractResult`: what every command, the service and
    the pipeline read their inputs with. ``errors`` as :func:`zhibiao.ingest.extract_all`."""
    from .ingest import extract_all
    from .ingest.api import ExtractResult
    frames, projects, failures, notes = [], [], [], []
    for path in [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]:
        if not is_rows_file(path):
            result = extract_all([path], errors=errors)
            frames.append(result.rows)
            projects.append(result.projects)
            failures += result.failures
            notes += result.notes
            continue
        try:
            frames.append(read_rows(path))
        except Exception as exc:  # noqa: BLE001 - a bad rows file is one line, like a bad document
            failure = exc if isinstance(exc, InputError) else CorruptDocument(
                path, rows_file_failure(path, exc).removeprefix(f"{path}: "))
            if errors == "raise":
                raise failure from None
            failures.append(failure)
    empty = extract_all([])
    rows = pd.concat([f for f in frames if len(f.columns)] or [empty.rows], ignore_index=True)
    text = [c for c in rows.columns if c != "budget_wan" and not pd.api.types.is_numeric_dtype(rows[c])]
    rows[text] = rows[text].fillna("")   # a column one file lacks is blank text in its rows, as in extract's
    return ExtractResult(rows=rows, projects=pd.concat(projects or [empty.projects], ignore_index=True),
                         failures=failures, notes=notes)


def rows_file_failure(path: str | Path, exc: BaseException) -> str:
    """The one line that reports a rows file that could not be read."""
    if isinstance(exc, ZhibiaoError):
        return str(exc)
    reason = str(exc).replace("\n", " ")[:200]
    return f"{path}: cannot read it as a rows file ({type(exc).__name__}: {reason})"


def read_rows(path: str | Path) -> pd.DataFrame:
    """Read a rows file written by ``write_table`` (or any table with a level3 column; a CSV in any
    encoding extraction reads)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=csv_encoding(path))
    if suffix == ".jsonl":
        return pd.read_json(path, orient="records", lines=True, dtype=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".xlsx", ".xlsm"):
        check_package(path)   # a zip package: the documents' limits on what it may unpack to
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    raise UnsupportedFormat(path, f"not a rows file: {suffix}")


def cell_value(v: Any, fallback=str) -> Any:
    """A plain scalar (for a spreadsheet cell, or JSON): numpy and pandas scalars unwrapped, NaN, inf
    and missing → None, a Timestamp → ISO text; any other object → ``fallback(v)``."""
    item = getattr(v, "item", None)
    if callable(item) and not isinstance(v, (str, bytes)):
        try:
            v = item()
        except (TypeError, ValueError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return fallback(v)


def excel_value(v: Any) -> Any:
    """:func:`cell_value`, with the characters an .xlsx cannot hold (control characters) dropped."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    v = cell_value(v)
    return ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v


def as_text_cell(cell) -> None:
    """Keep a string that starts with "=" (指标值 "=100%") as text: openpyxl would store a formula,
    which Excel evaluates and a reader gets back empty."""
    if cell.data_type == "f":
        cell.data_type = "s"


def write_xlsx(frames: Iterable[pd.DataFrame], path: str | Path, sheet: str = "rows") -> Path:
    """Stream frames with the same columns into one .xlsx table (bounded memory).

    Every value is stored as data, never as a formula; characters that .xlsx cannot hold are
    dropped. Past Excel's 1,048,576 rows the table continues on sheets ``rows (2)``, ``rows (3)`` …,
    each with the header.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    path = Path(path)
    wb = Workbook(write_only=True)
    ws, used, header, n_sheets = None, 0, None, 0

    def value(v):
        v = excel_value(v)
        if isinstance(v, str) and v.startswith("="):
            c = WriteOnlyCell(ws, value=v)
            as_text_cell(c)
            return c
        return v

    def new_sheet():
        nonlocal ws, used, n_sheets
        n_sheets += 1
        ws = wb.create_sheet(sheet if n_sheets == 1 else f"{sheet} ({n_sheets})")
        ws.append([value(h) for h in header])
        used = 1

    for df in frames:
        if header is None:
            header = [str(c) for c in df.columns]
            new_sheet()
        for row in df.itertuples(index=False, name=None):
            if used >= EXCEL_MAX_ROWS:
                new_sheet()
            ws.append([value(v) for v in row])
            used += 1
    if header is None:
        header = []
        new_sheet()
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path
