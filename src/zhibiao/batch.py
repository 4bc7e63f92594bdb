"""Batch normalization: many documents or big rows files, streamed in chunks.

``run_batch`` is a thin layer over ``Normalizer.normalize`` (DESIGN §4):

* **streaming** – inputs are read chunk by chunk (pandas ``read_csv(chunksize=)``,
  ``read_json(lines=True, chunksize=)``, pyarrow ``iter_batches``; one chunk per
  document for .txt/.docx/.xlsx/.xls), and the output is written incrementally:
  ``.csv`` and ``.jsonl`` are appended chunk by chunk, ``.parquet`` becomes a
  directory of part files (``out.parquet/part-000000.parquet`` …), which
  ``pandas.read_parquet("out.parquet")`` reads as one table; ``.xlsx`` is
  converted at the end from such a directory beside it (``out.xlsx.parts.parquet``);
* **dedupe** – within a chunk each distinct (level3, description, value, level1,
  level2) tuple is normalized once and broadcast back; results are kept in a
  sqlite cache keyed by (normalizer.fingerprint, hash of the tuple) and reused
  across chunks and runs;
* **resume** – a JSON manifest beside the output (``out.csv.manifest.json``)
  records every committed chunk and the output byte offset / part file,
  replaced atomically after each chunk. ``resume=True`` skips committed
  chunks, truncates a CSV/JSONL to the last committed offset and drops part
  files that were never committed, so nothing is lost or duplicated;
* **parallel** – ``jobs > 1`` normalizes chunks in local worker processes
  (each loads the normalizer once); chunks are written in input order;
* **dask** – ``engine="dask"`` reads with ``dask.dataframe`` (``read_csv`` with
  a ``blocksize``) and runs the same per-chunk function with
  ``map_partitions`` on ``Client(scheduler)`` or a ``LocalCluster``;
* **no row is ever lost** – a row whose normalization raises is kept, with
  ``normalize_error`` in ``flags`` and the exception in ``error``.
* **template copies** – a document's rows are checked against its own projects
  afterwards, as ``Normalizer.normalize`` does; rows files are cut into chunks
  that may split a project, so for them that check is left to ``zhibiao audit``.

The normalizer is duck-typed: anything with ``normalize(df) -> df`` (same rows,
same order, input columns kept, result columns added) and, for the cache, a
``fingerprint`` string. An optional ``key_columns`` attribute overrides the
dedupe key (add ``year`` there if results depend on it).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .errors import InputError, UnsupportedFormat, ZhibiaoError

__all__ = ["run_batch", "BatchReport", "normalize_chunk", "ResultCache",
           "KEY_COLUMNS", "RESULT_COLUMNS"]

KEY_COLUMNS = ("level3", "description", "value", "level1", "level2")
RESULT_COLUMNS = ("category", "category_confidence", "level1_canonical", "declared_category",
                  "indicator_id", "indicator_name", "indicator_confidence",
                  "value_kind", "op", "number", "unit", "base_value", "base_unit", "date", "flags")
FLOAT_COLUMNS = frozenset({"category_confidence", "indicator_confidence", "number", "base_value"})
ERROR_COLUMN = "error"
ERROR_FLAG = "normalize_error"
ROWS_SUFFIXES = (".csv", ".jsonl", ".parquet")
DOCUMENT_SUFFIXES = (".txt", ".docx", ".xlsx", ".xls")
OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet", ".xlsx")
# the columns `zhibiao extract` writes (DESIGN §4), used as the schema of document inputs
DOCUMENT_COLUMNS = ("source", "location", "project_id", "project_name", "table_title", "project_code",
                    "department", "year", "budget_wan", "level1", "level2", "level3", "description",
                    "value", "basis", "actual_value", "value_op_raw", "value_number_raw", "value_unit_raw",
                    "warnings")


def _document_columns() -> list[str]:
    try:
        from .ingest.assemble import ROW_COLUMNS
        return list(ROW_COLUMNS)
    except (ImportError, AttributeError):
        return list(DOCUMENT_COLUMNS)
MANIFEST_VERSION = 1
_SEP = "\x1f"


# --------------------------------------------------------------------------- report

@dataclass
class BatchReport:
    """What a batch run did. ``rows_in == rows_out`` always (no row is dropped)."""
    output: str = ""
    rows_in: int = 0            # input rows, including those of chunks skipped on resume
    rows_out: int = 0           # rows in the output, including those written by an earlier run
    rows_processed: int = 0     # rows normalized (or served from cache) in this run
    distinct: int = 0           # distinct key tuples, summed over chunks
    cache_hits: int = 0         # of those, served from the on-disk cache
    normalized: int = 0         # of those, sent to the normalizer
    error_rows: int = 0         # rows kept with the normalize_error flag
    chunks: int = 0             # chunks in the input (done now + skipped)
    skipped_chunks: int = 0     # chunks already committed by an earlier run (resume)
    failures: list[str] = field(default_factory=list)   # files that could not be read (or not to the end)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows_per_s: float = 0.0
    engine: str = "local"
    jobs: int = 1

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.distinct if self.distinct else 0.0

    @property
    def dedupe_ratio(self) -> float:
        """Rows per distinct tuple actually computed or looked up."""
        return self.rows_processed / self.distinct if self.distinct else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cache_hit_rate"] = round(self.cache_hit_rate, 4)
        return d

    def summary(self) -> str:
        return (f"{self.rows_out} rows → {self.output} in {self.seconds:.1f}s "
                f"({self.rows_per_s:,.0f} rows/s); {self.distinct} distinct, "
                f"{self.cache_hits} cache hits ({self.cache_hit_rate:.0%}); "
                f"{self.chunks} chunks ({self.skipped_chunks} resumed); "
                f"{self.error_rows} error rows; {len(self.failures)} unreadable files")


# --------------------------------------------------------------------------- cache

class ResultCache:
    """sqlite3 store: (fingerprint, blake2b(key tuple)) → JSON of the result columns.

    Safe for several processes on one machine (WAL, busy timeout). One
    connection per thread.
    """

    def __init__(self, path: str | Path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = str(fingerprint)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        con = self._con()
        with con:
            con.execute("CREATE TABLE IF NOT EXISTS results (fingerprint TEXT NOT NULL, key BLOB NOT NULL, "
                        "payload TEXT NOT NULL, PRIMARY KEY (fingerprint, key)) WITHOUT ROWID")

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def get_many(self, keys: list[bytes]) -> dict[bytes, dict]:
        found: dict[bytes, dict] = {}
        con = self._con()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = ("SELECT key, payload FROM results WHERE fingerprint = ? AND key IN (%s)"
                 % ",".join("?" * len(part)))
            for k, payload in con.execute(q, [self.fingerprint, *part]):
                found[bytes(k)] = json.loads(payload)
        return found

    def put_many(self, items: list[tuple[bytes, dict]]) -> None:
        if not items:
            return
        con = self._con()
        rows = [(self.fingerprint, k, json.dumps(v, ensure_ascii=False, default=str)) for k, v in items]
        con.execute("BEGIN")
        try:
            con.executemany("INSERT OR IGNORE INTO results VALUES (?, ?, ?)", rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def __getstate__(self):  # picklable: reconnect on the other side
        return {"path": self.path, "fingerprint": self.fingerprint}

    def __setstate__(self, state):
        self.path = state["path"]
        self.fingerprint = state["fingerprint"]
        self._local = threading.local()


def _default_cache_dir(output: Path) -> Path:
    env = os.environ.get("ZHIBIAO_CACHE_DIR")
    if env:
        return Path(env)
    return output.resolve().parent / ".zhibiao-cache"


# --------------------------------------------------------------------------- normalizer handles

class _NormalizerRef:
    """How a worker gets its normalizer: the instance itself (pickled once per
    worker), or a model path to ``Normalizer.load`` once per process."""

    def __init__(self, instance=None, path=None):
        self.instance = instance
        self.path = None if path is None else str(path)

    def resolve(self):
        if self.instance is not None:
            return self.instance
        key = self.path or ""
        with _LOADED_LOCK:
            if key not in _LOADED:
                _LOADED[key] = _load_normalizer(self.path)
            return _LOADED[key]


_LOADED: dict[str, Any] = {}
_LOADED_LOCK = threading.Lock()


def _load_normalizer(path=None):
    try:
        from .classify import Normalizer
    except ImportError as exc:  # pragma: no cover - until classify lands
        raise ZhibiaoError(f"no normalizer available: {exc}") from exc
    return Normalizer.load(path)


# --------------------------------------------------------------------------- the per-chunk function

def _key_columns_of(normalizer) -> tuple[str, ...]:
    return tuple(getattr(normalizer, "key_columns", None) or KEY_COLUMNS)


def _as_text(s: pd.Series) -> pd.Series:
    """Key column as text; missing → ''."""
    if isinstance(s.dtype, pd.StringDtype):
        return s.fillna("").astype(str)
    return s.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                 else str(v)).astype(str)


@dataclass
class _Prepared:
    df: pd.DataFrame
    codes: np.ndarray            # row → distinct tuple
    uniq: pd.DataFrame           # one row per distinct tuple (the key columns, as text)
    hashes: list[bytes]
    cached: dict[int, dict]      # distinct index → result payload from the cache
    miss: np.ndarray             # distinct indexes to normalize

    def miss_frame(self) -> pd.DataFrame:
        return self.uniq.iloc[self.miss].reset_index(drop=True)


def _prepare(df: pd.DataFrame, key_columns, cache: ResultCache | None) -> _Prepared:
    if "level3" not in df.columns:
        raise InputError("input", "no level3 column")
    present = [c for c in key_columns if c in df.columns]
    text = {c: _as_text(df[c]) for c in present}
    joined = text[present[0]]
    if len(present) > 1:
        joined = joined.str.cat([text[c] for c in present[1:]], sep=_SEP)
    codes, uniques = pd.factorize(joined.to_numpy(dtype=object), use_na_sentinel=False)
    codes = np.asarray(codes, dtype=np.int64)
    _, first = np.unique(codes, return_index=True) if len(codes) else (None, np.array([], dtype=np.int64))
    uniq = pd.DataFrame({c: text[c].to_numpy(dtype=object)[first] for c in present})
    prefix = ("|".join(present) + "\x1e").encode()
    hashes = [hashlib.blake2b(prefix + u.encode("utf-8", "surrogatepass"), digest_size=16).digest()
              for u in uniques]
    cached: dict[int, dict] = {}
    if cache is not None and hashes:
        found = cache.get_many(hashes)
        if found:
            cached = {i: found[h] for i, h in enumerate(hashes) if h in found}
    miss = np.array([i for i in range(len(hashes)) if i not in cached], dtype=np.int64)
    return _Prepared(df, codes, uniq, hashes, cached, miss)


def _error_record(exc: BaseException) -> dict:
    msg = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
    return {"flags": ERROR_FLAG, ERROR_COLUMN: msg}


def _compute(normalizer, frame: pd.DataFrame) -> list[dict]:
    """Normalize the distinct tuples in ``frame``; one result dict per row, in order.

    If the call raises, split the batch in halves until the failing rows are
    isolated; those get an error record, the others their results.
    """
    if len(frame) == 0:
        return []
    try:
        out = normalizer.normalize(frame.copy())
        if len(out) != len(frame):
            raise ValueError(f"normalize returned {len(out)} rows for {len(frame)}")
        cols = [c for c in out.columns if c not in frame.columns]
        return out[cols].to_dict("records")
    except Exception as exc:  # noqa: BLE001 - isolate the bad rows, keep the rest
        if len(frame) == 1:
            return [_error_record(exc)]
        mid = len(frame) // 2
        return (_compute(normalizer, frame.iloc[:mid].reset_index(drop=True))
                + _compute(normalizer, frame.iloc[mid:].reset_index(drop=True)))


_PLAIN = (str, float, int, bool, type(None))


def _clean_value(v):
    if type(v) in _PLAIN:
        return v
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() else v.isoformat()
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _result_frame(records: list[dict]) -> pd.DataFrame:
    """Distinct results → a frame with the fixed column order and dtypes."""
    extras: list[str] = []
    seen = set(RESULT_COLUMNS) | {ERROR_COLUMN}
    for r in records:
        if len(r) > len(seen) or not seen.issuperset(r):
            for k in r:
                if k not in seen:
                    seen.add(k)
                    extras.append(k)
    cols = [*RESULT_COLUMNS, *extras, ERROR_COLUMN]
    frame = pd.DataFrame.from_records(records, columns=cols) if records else pd.DataFrame(columns=cols)
    for c in cols:
        s = frame[c]
        if c in FLOAT_COLUMNS:
            frame[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            if s.dtype == object and len(s):
                s = s.where(s.isna(), s.astype(str))
            frame[c] = s.astype("str")
    return frame


def _finish(prep: _Prepared, fresh: list[dict], cache: ResultCache | None) -> tuple[pd.DataFrame, dict]:
    if len(fresh) != len(prep.miss):
        raise RuntimeError(f"internal error: {len(fresh)} results for {len(prep.miss)} tuples")
    n_uniq = len(prep.hashes)
    records: list[dict] = [None] * n_uniq  # type: ignore[list-item]
    for i, payload in prep.cached.items():
        records[i] = payload
    to_store = []
    errors = 0
    for i, rec in zip(prep.miss.tolist(), fresh):
        if any(type(v) not in _PLAIN for v in rec.values()):
            rec = {k: _clean_value(v) for k, v in rec.items()}
        records[i] = rec
        if rec.get(ERROR_COLUMN):
            errors += 1
        else:
            to_store.append((prep.hashes[i], _jsonable(rec)))
    if cache is not None and to_store:
        cache.put_many(to_store)
    ures = _result_frame(records)
    res = ures.iloc[prep.codes].reset_index(drop=True)
    df = prep.df
    base = df.drop(columns=[c for c in res.columns if c in df.columns]).reset_index(drop=True)
    out = pd.concat([base, res], axis=1)
    out.index = df.index
    if len(out) != len(df):  # pragma: no cover - invariant
        raise RuntimeError("internal error: row count changed")
    err_rows = int((res[ERROR_COLUMN].notna() & (res[ERROR_COLUMN] != "")).sum()) if errors else 0
    stats = {"rows": len(df), "distinct": n_uniq, "cache_hits": len(prep.cached),
             "normalized": len(prep.miss), "error_rows": err_rows}
    return out, stats


def _jsonable(rec: dict) -> dict:
    out = {}
    for k, v in rec.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    return out


def normalize_chunk(df: pd.DataFrame, normalizer, cache: ResultCache | None = None,
                    key_columns=None) -> tuple[pd.DataFrame, dict]:
    """Normalize one chunk: dedupe, cache, normalize the misses, broadcast back.

    Returns the chunk with the result columns added (same rows, same order,
    same index) and a stats dict (rows, distinct, cache_hits, normalized, error_rows).
    """
    key_columns = tuple(key_columns or _key_columns_of(normalizer))
    prep = _prepare(df, key_columns, cache)
    fresh = _compute(normalizer, prep.miss_frame())
    return _finish(prep, fresh, cache)


# dask: the map_partitions function (runs on the workers) ------------------------

_THREAD_CACHES: dict[tuple, ResultCache] = {}


def _worker_cache(cache_path, fingerprint) -> ResultCache | None:
    if cache_path is None:
        return None
    key = (str(cache_path), fingerprint)
    with _LOADED_LOCK:
        c = _THREAD_CACHES.get(key)
        if c is None:
            try:
                c = ResultCache(cache_path, fingerprint)
            except (OSError, sqlite3.Error):  # the cache dir is not reachable from this worker
                c = None
            _THREAD_CACHES[key] = c
        return c


def _dask_partition(df: pd.DataFrame, ref: _NormalizerRef, key_columns, cache_path, fingerprint) -> pd.DataFrame:
    normalizer = ref.resolve()
    out, stats = normalize_chunk(df, normalizer, _worker_cache(cache_path, fingerprint), key_columns)
    out.attrs["zhibiao_stats"] = stats
    return out


# local processes ------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(ref: _NormalizerRef) -> None:
    _WORKER["normalizer"] = ref.resolve()


def _worker_compute(frame: pd.DataFrame) -> list[dict]:
    return _compute(_WORKER["normalizer"], frame)


# --------------------------------------------------------------------------- inputs

def _read_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (ZhibiaoError, ValueError, OSError)  # decode, parse, JSON, I/O
    try:
        import pyarrow
        errors += (pyarrow.ArrowException,)
    except ImportError:  # pragma: no cover - pyarrow is a core dependency
        pass
    return errors


# What reading a bad input raises: the file is reported and the run goes on with the next one.
_READ_ERRORS = _read_errors()


def _read_failure(path: Path, exc: BaseException) -> str:
    if isinstance(exc, ZhibiaoError):
        return str(exc)
    reason = str(exc).replace("\n", " ")[:200]
    return f"{path}: cannot read it as a rows file ({type(exc).__name__}: {reason})"


@dataclass
class _Input:
    index: int
    path: Path
    kind: str          # csv | jsonl | parquet | xlsx-rows | document
    columns: list[str]
    encoding: str = "utf-8-sig"   # of a csv rows file


def _csv_encoding(path: Path) -> str:
    """The encoding of a rows CSV, judged on its first MB as extraction judges a whole file (UTF-8,
    GB18030 as Excel saves "CSV" on a Chinese Windows, UTF-16 …). Should the file change encoding
    further on, the chunk that does fails to read, and the file is reported then."""
    from .ingest.encoding import detect_encoding
    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    cut = sample.rfind(b"\n") + 1
    return detect_encoding(sample[:cut] if cut > 1 and len(sample) == 1 << 20 else sample, path)


def _csv_columns(path: Path, encoding: str) -> list[str]:
    return list(pd.read_csv(path, nrows=0, dtype=str, encoding=encoding).columns)


def _classify_input(i: int, path: Path) -> _Input:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            encoding = _csv_encoding(path)
            cols = _csv_columns(path, encoding)
        except (InputError, ValueError, UnicodeDecodeError):  # not a rows file: extraction judges it
            encoding, cols = "utf-8-sig", []
        if "level3" in cols:
            return _Input(i, path, "csv", cols, encoding)
        return _Input(i, path, "document", _document_columns())  # a table to extract from
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
    if suffix == ".xlsx":
        try:
            cols = list(pd.read_excel(path, nrows=0).columns)
        except Exception:  # noqa: BLE001 - let extraction report it
            cols = []
        if "level3" in cols:
            return _Input(i, path, "xlsx-rows", cols)
        return _Input(i, path, "document", _document_columns())
    if suffix in DOCUMENT_SUFFIXES:
        return _Input(i, path, "document", _document_columns())
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
    empty = pd.DataFrame(columns=list(DOCUMENT_COLUMNS))
    try:
        from .ingest import extract_all
    except ImportError as exc:
        return empty, [f"{path}: document inputs need zhibiao.ingest.extract_all ({exc})"], None
    try:
        result = extract_all([path], errors="collect")
    except Exception as exc:  # noqa: BLE001 - one bad document never stops the run
        return empty, [f"{path}: {exc}"], None
    rows = result.rows if result.rows is not None else pd.DataFrame()
    if "level3" not in rows.columns and len(rows) == 0:
        rows = pd.DataFrame(columns=list(DOCUMENT_COLUMNS), dtype="str")
    notes.extend(result.notes)
    return rows.reset_index(drop=True), [str(f) for f in (result.failures or [])], result.projects


def _iter_chunks(inp: _Input, chunk_rows: int, skip: set[str], notes: list[str]) -> Iterator[tuple]:
    """(chunk id, frame or None when skipped, document failures, projects table or None) in input order.

    Only a document is a chunk whose projects are all whole, so only a document's chunk carries
    its projects table, for the template-copy check (:func:`_flag_template_copies`).
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
        from .tables import read_rows
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


def _flag_template_copies(out: pd.DataFrame, projects: pd.DataFrame) -> None:
    """The template-copy check of ``Normalizer.normalize``, on one whole document's rows.

    The per-chunk normalization sees only de-duplicated texts, never their projects.
    """
    if len(out) and "project_id" in out.columns and "flags" in out.columns:
        from .audit import flag_template_copies
        flag_template_copies(out, projects)


# --------------------------------------------------------------------------- output + manifest

def _manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


def _atomic_write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _input_signature(inputs: list[_Input]) -> list[dict]:
    sig = []
    for inp in inputs:
        st = inp.path.stat()
        sig.append({"path": str(inp.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return sig


class _Writer:
    """Appends committed chunks to the output and records them in the manifest."""

    def __init__(self, output: Path, settings: dict, base_columns: list[str], resume: bool,
                 warnings: list[str]):
        self.output = output
        self.fmt = output.suffix.lower().lstrip(".")
        self.manifest_path = _manifest_path(output)
        self.warnings = warnings
        self.base_columns = base_columns
        self._warned_extra = False
        self._schema = None
        manifest = None
        if resume and self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            for k, v in settings.items():
                if manifest.get("settings", {}).get(k) != v:
                    raise ZhibiaoError(
                        f"cannot resume {output}: {k} differs from the interrupted run "
                        f"({manifest.get('settings', {}).get(k)!r} then, {v!r} now); rerun without --resume")
        if manifest is None:
            manifest = {"version": MANIFEST_VERSION, "settings": settings, "columns": None,
                        "offset": 0, "chunks": [], "complete": False}
            self._reset_output()
        else:
            self._restore(manifest)
        self.manifest = manifest
        self.done = {c["id"]: c for c in manifest["chunks"]}
        self.columns: list[str] | None = manifest["columns"]
        _atomic_write_json(self.manifest_path, manifest)

    # -- setup
    def _reset_output(self):
        import shutil
        if self.output.is_dir():
            shutil.rmtree(self.output)
        elif self.output.exists():
            self.output.unlink()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "parquet":
            self.output.mkdir()
        else:
            self.output.write_bytes(b"")

    def _restore(self, manifest):
        if self.fmt == "parquet":
            self.output.mkdir(parents=True, exist_ok=True)
            keep = {c["part"] for c in manifest["chunks"]}
            for p in self.output.iterdir():
                if p.name not in keep:
                    p.unlink()
        else:
            if not self.output.exists():
                if manifest["offset"]:
                    raise ZhibiaoError(f"cannot resume: {self.output} is gone; rerun without --resume")
                self.output.write_bytes(b"")
            with open(self.output, "r+b") as fh:
                size = fh.seek(0, 2)
                if size < manifest["offset"]:
                    raise ZhibiaoError(f"cannot resume: {self.output} is shorter than the manifest says; "
                                       "rerun without --resume")
                fh.truncate(manifest["offset"])

    # -- commit
    def _conform(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.columns is None:
            result_cols = [c for c in df.columns if c not in self.base_columns]
            extra_in = [c for c in result_cols if c not in RESULT_COLUMNS and c != ERROR_COLUMN]
            self.columns = [c for c in self.base_columns if c not in result_cols] + [
                *[c for c in df.columns if c in RESULT_COLUMNS or c == ERROR_COLUMN or c in extra_in]]
            self.manifest["columns"] = self.columns
        unknown = [c for c in df.columns if c not in self.columns]
        if unknown and not self._warned_extra:
            self.warnings.append(f"columns not in the output schema were dropped: {', '.join(map(str, unknown))}")
            self._warned_extra = True
        return df.reindex(columns=self.columns)

    def commit(self, chunk_id: str, df: pd.DataFrame, failures: list[str], stats: dict) -> None:
        df = self._conform(df).reset_index(drop=True)
        record = {"id": chunk_id, "rows": len(df), "failures": failures, "stats": stats}
        if self.fmt == "parquet":
            record["part"] = self._write_part(len(self.manifest["chunks"]), df)
        else:
            self.manifest["offset"] = self._append(df)
            record["end"] = self.manifest["offset"]
        self.manifest["chunks"].append(record)
        self.done[chunk_id] = record
        _atomic_write_json(self.manifest_path, self.manifest)

    def _append(self, df: pd.DataFrame) -> int:
        first = self.manifest["offset"] == 0
        if self.fmt == "csv":
            payload = _csv_bytes(df, header=first)
            if first:
                payload = b"\xef\xbb\xbf" + payload
        else:
            payload = df.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8") if len(df) else b""
            if payload and not payload.endswith(b"\n"):
                payload += b"\n"
        with open(self.output, "r+b") as fh:
            fh.seek(self.manifest["offset"])
            fh.truncate()
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
            return fh.tell()

    def _write_part(self, n: int, df: pd.DataFrame) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq
        for c in df.columns:
            if df[c].dtype == object:
                s = df[c]
                df[c] = s.where(s.isna(), s.astype(str)).astype("str")
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._schema is None:
            if n > 0:
                self._schema = pq.read_schema(self.output / self.manifest["chunks"][0]["part"])
            else:
                self._schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                                          for f in table.schema]).remove_metadata()
        try:
            table = table.cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            self.warnings.append(f"part {n}: schema differs from the first part")
        name = f"part-{n:06d}.parquet"
        tmp = self.output / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.output / name)
        return name

    def finish(self) -> None:
        if self.columns is None:  # no chunk at all: still write a header / an empty part
            self.columns = [*self.base_columns, *RESULT_COLUMNS, ERROR_COLUMN]
            self.manifest["columns"] = self.columns
            if self.fmt != "jsonl":
                self.commit("empty", pd.DataFrame(columns=self.columns), [], {})
        self.manifest["complete"] = True
        _atomic_write_json(self.manifest_path, self.manifest)

    @property
    def rows_written(self) -> int:
        return sum(c["rows"] for c in self.manifest["chunks"])


def _csv_bytes(df: pd.DataFrame, header: bool) -> bytes:
    """CSV text of a chunk (pyarrow's writer: ~15x faster than DataFrame.to_csv)."""
    import io
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pandas' writer: same data (quoting differs), slower
        return df.to_csv(index=False, header=header, lineterminator="\n").encode("utf-8")
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:   # mixed values (e.g. from jsonl inputs) → text
            s = df[c]
            df[c] = s.where(s.isna(), s.astype(str)).astype("str")
    buf = io.BytesIO()
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                                  for f in table.schema]))
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=header))
    return buf.getvalue()


# --------------------------------------------------------------------------- progress

def _progress(enabled: bool, total: int | None):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "– rows/s")

    console = Console(stderr=True)
    progress = Progress(SpinnerColumn(), TextColumn("normalize"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("rows"), RowsPerSecond(), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=console,
                        disable=not (enabled and console.is_terminal), transient=False)
    return progress


# --------------------------------------------------------------------------- run

def run_batch(inputs: list[Path] | list[str], output: Path | str, *, normalizer=None,
              chunk_rows: int = 50_000, jobs: int = 1, engine: str = "local",
              scheduler: str | None = None, resume: bool = False, cache_dir: Path | str | None = None,
              cache: bool = True, progress: bool = True) -> BatchReport:
    """Normalize rows files or documents into one output table, streaming.

    ``normalizer``: an object with ``normalize(df)`` (and ``fingerprint`` for the
    cache); ``None`` loads ``zhibiao.Normalizer.load()`` (each worker loads its
    own); a str/Path loads ``Normalizer.load(path)``.
    ``output`` suffix picks the format: ``.csv``, ``.jsonl``, ``.parquet``
    (a directory of part files) or ``.xlsx`` (written at the end from a
    parquet store beside it, which ``resume`` continues until then). Returns a :class:`BatchReport`.
    """
    t0 = time.perf_counter()
    output = Path(output)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UnsupportedFormat(output, f"batch output must be one of {', '.join(OUTPUT_SUFFIXES)}")
    xlsx = None
    if output.suffix.lower() == ".xlsx":  # an xlsx cannot be appended to: stream parquet parts, convert at the end
        xlsx, output = output, output.with_name(output.name + ".parts.parquet")
    if engine not in ("local", "dask"):
        raise ZhibiaoError(f"unknown engine {engine!r}; use local or dask")
    if chunk_rows < 1 or jobs < 1:
        raise ZhibiaoError("chunk_rows and jobs must be at least 1")
    if not inputs:
        raise ZhibiaoError("no inputs")

    if normalizer is None or isinstance(normalizer, (str, os.PathLike)):
        path = None if normalizer is None else str(normalizer)
        ref = _NormalizerRef(path=path)
        normalizer = ref.resolve()
    else:
        ref = _NormalizerRef(instance=normalizer)
    if not callable(getattr(normalizer, "normalize", None)):
        raise ZhibiaoError("normalizer has no normalize(df) method")
    key_columns = _key_columns_of(normalizer)
    fingerprint = getattr(normalizer, "fingerprint", None)

    report = BatchReport(output=str(output), engine=engine, jobs=jobs)
    store: ResultCache | None = None
    if cache and fingerprint:
        cdir = Path(cache_dir) if cache_dir is not None else _default_cache_dir(output)
        store = ResultCache(cdir / "normalize.sqlite", str(fingerprint))
    elif cache:
        report.warnings.append("normalizer has no fingerprint; the on-disk cache is off")

    ins = []
    for i, p in enumerate(inputs):  # one unreadable file is reported at the end, not fatal
        try:
            inp = _classify_input(i, Path(p))
            if inp.kind in ("csv", "jsonl", "parquet", "xlsx-rows") and "level3" not in inp.columns:
                raise InputError(inp.path, "no level3 column")
            ins.append(inp)
        except _READ_ERRORS as exc:
            report.failures.append(_read_failure(Path(p), exc))
    if not ins:
        raise ZhibiaoError("no readable input: " + "; ".join(report.failures))
    base_columns: list[str] = []
    for inp in ins:
        base_columns += [c for c in inp.columns if c not in base_columns]

    settings = {"engine": engine, "chunk_rows": chunk_rows, "fingerprint": fingerprint,
                "key_columns": list(key_columns), "inputs": _input_signature(ins)}
    writer = _Writer(output, settings, base_columns, resume, report.warnings)

    want_total = progress or engine == "dask"
    total = None
    if want_total and all(i.kind != "document" for i in ins):
        counts = [_count_rows(i) for i in ins]
        total = None if any(c is None for c in counts) else sum(counts)

    bar = _progress(progress, total)
    with bar:
        task = bar.add_task("normalize", total=total)

        def on_commit(cid, df, failures, stats, projects=None):
            if stats.get("rows", len(df)) != len(df):  # pragma: no cover - invariant
                raise RuntimeError(f"internal error: chunk {cid} has {len(df)} rows out of {stats['rows']} in")
            if projects is not None:
                _flag_template_copies(df, projects)
            writer.commit(cid, df, failures, stats)
            report.chunks += 1
            report.rows_in += int(stats.get("rows", len(df)))
            report.rows_processed += len(df)
            report.failures.extend(failures)
            for k in ("distinct", "cache_hits", "normalized", "error_rows"):
                setattr(report, k, getattr(report, k) + int(stats.get(k, 0)))
            bar.update(task, advance=len(df))

        def on_skip(cid):
            rec = writer.done[cid]
            report.chunks += 1
            report.skipped_chunks += 1
            report.rows_in += rec["rows"]
            report.failures.extend(rec.get("failures", []))
            bar.update(task, advance=rec["rows"])

        if engine == "dask":
            _run_dask(ins, writer, ref, normalizer, key_columns, store, chunk_rows, jobs, scheduler,
                      on_commit, on_skip, report)
        elif jobs == 1:
            for inp in ins:
                try:
                    chunks = _iter_chunks(inp, chunk_rows, set(writer.done), report.warnings)
                    for cid, df, failures, projects in chunks:
                        if df is None:
                            on_skip(cid)
                            continue
                        out, stats = normalize_chunk(df, normalizer, store, key_columns)
                        on_commit(cid, out, failures, stats, projects)
                except _READ_ERRORS as exc:
                    report.failures.append(_read_failure(inp.path, exc))
        else:
            _run_processes(ins, writer, ref, key_columns, store, chunk_rows, jobs, on_commit, on_skip,
                           report)

    writer.finish()
    report.rows_out = writer.rows_written
    if xlsx is not None:
        _parts_to_xlsx(writer, xlsx)
        report.output = str(xlsx)
    report.seconds = time.perf_counter() - t0
    report.rows_per_s = report.rows_processed / report.seconds if report.seconds else 0.0
    return report


def _parts_to_xlsx(writer: _Writer, xlsx: Path) -> None:
    """Convert a finished parquet store to one .xlsx, part by part, then remove the store."""
    import shutil

    from .tables import write_xlsx
    parts = [writer.output / c["part"] for c in writer.manifest["chunks"]]
    tmp = xlsx.with_name(f".{xlsx.name}.tmp.xlsx")
    write_xlsx((pd.read_parquet(p) for p in parts), tmp)
    os.replace(tmp, xlsx)
    shutil.rmtree(writer.output, ignore_errors=True)
    writer.manifest_path.unlink(missing_ok=True)


def _run_processes(ins, writer, ref, key_columns, store, chunk_rows, jobs, on_commit, on_skip, report):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    window = 2 * jobs
    pending: deque = deque()

    def drain_one():
        cid, prep, fut, failures, projects = pending.popleft()
        fresh = fut.result() if fut is not None else []
        out, stats = _finish(prep, fresh, store)
        on_commit(cid, out, failures, stats, projects)

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(ref,)) as pool:
        for inp in ins:
            try:
                chunks = _iter_chunks(inp, chunk_rows, set(writer.done), report.warnings)
                for cid, df, failures, projects in chunks:
                    if df is None:
                        while pending:
                            drain_one()
                        on_skip(cid)
                        continue
                    prep = _prepare(df, key_columns, store)
                    fut = pool.submit(_worker_compute, prep.miss_frame()) if len(prep.miss) else None
                    pending.append((cid, prep, fut, failures, projects))
                    while len(pending) >= window:
                        drain_one()
            except _READ_ERRORS as exc:
                report.failures.append(_read_failure(inp.path, exc))
        while pending:
            drain_one()


# dask -----------------------------------------------------------------------------

def _read_csv_rows(spec) -> pd.DataFrame:
    """Read data rows [start, end) of a CSV (byte offsets of row starts) plus its header."""
    path, header_end, start, end, encoding = spec
    import io
    with open(path, "rb") as fh:
        header = fh.read(header_end)
        fh.seek(start)
        body = fh.read(end - start) if end is not None else fh.read()
    return pd.read_csv(io.BytesIO(header + body), dtype=str, keep_default_na=False, encoding=encoding)


def _dask_frames(inp: _Input, chunk_rows: int, report: BatchReport):
    """(dask DataFrame, failures, projects) for one input; partitions ≈ chunk_rows rows.

    ``projects`` is the projects table of a document, None for a rows file (as in _iter_chunks)."""
    import dask.dataframe as dd
    size = inp.path.stat().st_size
    if inp.kind == "csv":
        rows, embedded, starts = _scan_csv(inp.path)
        if rows == 0:
            return dd.from_pandas(pd.read_csv(inp.path, dtype=str, keep_default_na=False,
                                              encoding=inp.encoding), npartitions=1), [], None
        if not embedded:
            blocksize = max(1 << 16, int(size / max(rows, 1) * chunk_rows))
            return dd.read_csv(str(inp.path), dtype=str, keep_default_na=False, encoding=inp.encoding,
                               blocksize=blocksize), [], None
        # a quoted field holds a newline: byte-based blocks could split a row, so
        # cut at the row starts found by the quote-aware scan instead
        header_end = starts[0] if starts else size
        specs = []
        for k in range(0, len(starts), chunk_rows):
            end = starts[k + chunk_rows] if k + chunk_rows < len(starts) else None
            specs.append((str(inp.path), header_end, starts[k], end, inp.encoding))
        report.warnings.append(f"{inp.path}: quoted newlines; partitioned by a quote-aware scan")
        return dd.from_map(_read_csv_rows, specs, enforce_metadata=False), [], None
    if inp.kind == "jsonl":
        rows = _count_rows(inp) or 1
        blocksize = max(1 << 16, int(size / rows * chunk_rows))
        return dd.read_json(str(inp.path), lines=True, blocksize=blocksize, dtype=False,
                            encoding="utf-8"), [], None
    if inp.kind == "parquet":
        return dd.read_parquet(str(inp.path), split_row_groups="adaptive",
                               blocksize=max(1 << 20, int(size / max(_count_rows(inp) or 1, 1) * chunk_rows * 4))), [], None
    if inp.kind == "xlsx-rows":
        from .tables import read_rows
        df = read_rows(inp.path)
        return dd.from_pandas(df, chunksize=chunk_rows), [], None
    # documents are extracted on the client, one at a time, and normalized on the cluster
    rows, failures, projects = _extract_document(inp.path, report.warnings)
    return dd.from_pandas(rows, npartitions=1), failures, projects


def _run_dask(ins, writer, ref, normalizer, key_columns, store, chunk_rows, jobs, scheduler,
              on_commit, on_skip, report):
    try:
        import dask.dataframe  # noqa: F401
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ZhibiaoError("engine dask needs: pip install 'zhibiao[dask]'") from exc
    cluster = None
    if scheduler:
        client = Client(scheduler, set_as_default=False)
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster, set_as_default=False)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
    cache_path = str(store.path) if store is not None else None
    fingerprint = store.fingerprint if store is not None else None
    try:
        for inp in ins:
            doc_cid = f"{inp.index}:0"
            if inp.kind == "document" and doc_cid in writer.done:
                on_skip(doc_cid)
                continue
            try:
                _dask_input(inp, client, writer, ref, normalizer, key_columns, cache_path, fingerprint,
                            chunk_rows, n_workers, on_commit, on_skip, report)
            except _READ_ERRORS as exc:
                report.failures.append(_read_failure(inp.path, exc))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_input(inp, client, writer, ref, normalizer, key_columns, cache_path, fingerprint, chunk_rows,
                n_workers, on_commit, on_skip, report):
    """Normalize one input on the cluster, committing its partitions in order."""
    ddf, failures, projects = _dask_frames(inp, chunk_rows, report)
    # meta from a small sample, run through the same function
    sample = ddf.partitions[0].head(2, compute=False).compute(scheduler="sync")
    meta = normalize_chunk(sample, normalizer, None, key_columns)[0].iloc[:0]
    out = ddf.map_partitions(_dask_partition, ref, key_columns, cache_path, fingerprint,
                             meta=meta, enforce_metadata=False)
    parts = out.to_delayed()
    cids = [f"{inp.index}:d{k}" for k in range(len(parts))] if inp.kind != "document" else [f"{inp.index}:0"]
    # a sliding window of partitions in flight: results wait on the workers
    # only until the client writes them, in order
    window = max(2, 2 * n_workers)
    todo = deque((cid, part) for cid, part in zip(cids, parts) if cid not in writer.done)
    in_flight: dict[str, Any] = {}

    def top_up():
        while todo and len(in_flight) < window:
            cid_, part_ = todo.popleft()
            in_flight[cid_] = client.compute(part_)

    for cid in cids:
        if cid in writer.done:
            on_skip(cid)
            continue
        top_up()
        fut = in_flight.pop(cid)
        df = fut.result()
        fut.release()
        top_up()
        stats = df.attrs.get("zhibiao_stats") or {"rows": len(df)}
        on_commit(cid, df, failures if inp.kind == "document" else [], stats, projects)
