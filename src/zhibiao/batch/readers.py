"""Batch inputs: what a file is (rows file or document), and its rows chunk by chunk (or as Dask partitions)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pandas as pd

from ..errors import InputError, UnsupportedFormat, ZhibiaoError
from ..ingest import ROW_COLUMNS, SUPPORTED_SUFFIXES
from ..tables import csv_encoding, read_rows, rows_file_columns, rows_file_failure

if TYPE_CHECKING:  # annotations only
    from .report import BatchReport

# Rows files (tables.is_rows_file): tables that already have a level3 column. A .csv or .xlsx without
# one is a document to extract from; every document type comes from ingest's one table of file types.


def _read_errors() -> tuple[type[BaseException], ...]:
    # decode, parse, JSON (RecursionError: nesting too deep for json), I/O
    errors: tuple[type[BaseException], ...] = (ZhibiaoError, ValueError, OSError, RecursionError)
    try:
        import pyarrow
        errors += (pyarrow.ArrowException,)
    except ImportError:  # pragma: no cover - pyarrow is a core dependency
        pass
    return errors


# What reading a bad input raises: the file is reported and the run goes on with the next one.
_READ_ERRORS = _read_errors()


@dataclass
class _Input:
    index: int
    path: Path
    kind: str          # csv | jsonl | parquet | xlsx-rows | document
    columns: list[str]
    encoding: str = "utf-8-sig"   # of a csv rows file


def _classify_input(i: int, path: Path) -> _Input:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        cols = rows_file_columns(path)
        if "level3" in cols:
            # Should the file change encoding further on, the chunk that does fails to read, and the
            # file is reported then.
            return _Input(i, path, "csv", cols, csv_encoding(path))
        return _Input(i, path, "document", list(ROW_COLUMNS))  # a table to extract from
    if suffix == ".jsonl":
        cols: list[str] = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    cols = list(json.loads(line).keys())
                    break
        return _Input(i, path, "jsonl", cols)
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        return _Input(i, path, "parquet", list(pq.ParquetFile(path).schema_arrow.names))
    if suffix in (".xlsx", ".xlsm"):
        cols = rows_file_columns(path)
        if "level3" in cols:
            return _Input(i, path, "xlsx-rows", cols)
        return _Input(i, path, "document", list(ROW_COLUMNS))
    if path.suffix.lower() in SUPPORTED_SUFFIXES:  # any other document type ingest reads
        return _Input(i, path, "document", list(ROW_COLUMNS))
    raise UnsupportedFormat(path, f"not a rows file or document: {suffix or 'no suffix'}")


def _scan_csv(path: Path) -> tuple[int, bool, list[int]]:
    """Exact data-row count of a CSV (quote aware), whether a quoted field holds a
    newline, and the byte offset at which each data row starts (only when it does)."""
    with open(path, "rb") as fh:
        data_has_quote = False
        nl = 0
        last = b"\n"
        while True:
            block = fh.read(1 << 24)
            if not block:
                break
            nl += block.count(b"\n")
            if not data_has_quote and b'"' in block:
                data_has_quote = True
            last = block[-1:]
    lines = nl + (0 if last == b"\n" else 1)
    if not data_has_quote:
        return max(lines - 1, 0), False, []
    starts: list[int] = []
    embedded = False
    in_quote = False
    pos = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not in_quote:
                starts.append(pos)
            if line.count(b'"') & 1:
                in_quote = not in_quote
            if in_quote:
                embedded = True
            pos += len(line)
    rows = max(len(starts) - 1, 0)
    return rows, embedded, starts[1:]


def _count_rows(inp: _Input) -> int | None:
    if inp.kind == "csv":
        return _scan_csv(inp.path)[0]
    if inp.kind == "jsonl":
        n = 0
        with open(inp.path, "rb") as fh:
            for line in fh:
                if line.strip():
                    n += 1
        return n
    if inp.kind == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(inp.path).metadata.num_rows
    return None


def _extract_document(path: Path, notes: list[str]) -> tuple[pd.DataFrame, list[str], pd.DataFrame | None]:
    """(indicator rows, failures, projects table) of one document; what its reader left out on
    purpose (a hidden sheet) is added to ``notes``."""
    empty = pd.DataFrame(columns=list(ROW_COLUMNS))
    try:
        from ..ingest import extract_all
    except ImportError as exc:
        return empty, [f"{path}: document inputs need zhibiao.ingest.extract_all ({exc})"], None
    try:
        result = extract_all([path], errors="collect")
    except Exception as exc:  # noqa: BLE001 - one bad document never stops the run
        return empty, [f"{path}: {exc}"], None
    rows = result.rows if result.rows is not None else pd.DataFrame()
    if "level3" not in rows.columns and len(rows) == 0:
        rows = pd.DataFrame(columns=list(ROW_COLUMNS), dtype="str")
    notes.extend(result.notes)
    return rows.reset_index(drop=True), [str(f) for f in (result.failures or [])], result.projects


def _iter_chunks(inp: _Input, chunk_rows: int, skip: set[str], notes: list[str]) -> Iterator[tuple]:
    """(chunk id, frame or None when skipped, document failures, projects table or None) in input order.

    Only a document is a chunk whose projects are all whole, so only a document's chunk carries
    its projects table, for the template-copy check (:func:`zhibiao.copies.check_copies`).
    """
    prefix = f"{inp.index}:"
    if inp.kind == "csv":
        reader = pd.read_csv(inp.path, dtype=str, keep_default_na=False, encoding=inp.encoding,
                             chunksize=chunk_rows)
        with reader:
            for k, df in enumerate(reader):
                cid = f"{prefix}{k}"
                yield cid, (None if cid in skip else df), [], None
    elif inp.kind == "jsonl":
        reader = pd.read_json(inp.path, lines=True, chunksize=chunk_rows, dtype=False,
                              encoding="utf-8")
        with reader:
            for k, df in enumerate(reader):
                cid = f"{prefix}{k}"
                yield cid, (None if cid in skip else df), [], None
    elif inp.kind == "parquet":
        import pyarrow.parquet as pq
        pf = pq.ParquetFile(inp.path)
        for k, batch in enumerate(pf.iter_batches(batch_size=chunk_rows)):
            cid = f"{prefix}{k}"
            yield cid, (None if cid in skip else batch.to_pandas()), [], None
    elif inp.kind == "xlsx-rows":
        df = read_rows(inp.path)
        for k in range(max(1, math.ceil(len(df) / chunk_rows))):
            cid = f"{prefix}{k}"
            yield cid, (None if cid in skip else df.iloc[k * chunk_rows:(k + 1) * chunk_rows]), [], None
    else:  # document: one chunk
        cid = f"{prefix}0"
        if cid in skip:
            yield cid, None, [], None
            return
        rows, failures, projects = _extract_document(inp.path, notes)
        yield cid, rows, failures, projects


def read_chunks(inp: _Input, chunk_rows: int, skip: set[str], report: BatchReport) -> Iterator[tuple]:
    """:func:`_iter_chunks`, where a read failure is reported (``report.failures``) and ends the input: its
    chunks read before stand, and the run goes on with the next input. Only reading is caught here; a
    failure of the work on a chunk is no bad input."""
    chunks = _iter_chunks(inp, chunk_rows, skip, report.warnings)
    while True:
        try:
            item = next(chunks)
        except StopIteration:
            return
        except _READ_ERRORS as exc:
            report.failures.append(rows_file_failure(inp.path, exc))
            return
        yield item
