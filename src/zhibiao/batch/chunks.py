"""One chunk of rows: de-duplicate on the key columns, look up the cache, normalize the misses,
broadcast the results back; a row whose normalization raises is kept with ``normalize_error``."""
from __future__ import annotations

import hashlib
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..classify import OUTPUT_COLUMNS
from ..errors import InputError, ZhibiaoError
from ..text import as_text
from .cache import ResultCache

KEY_COLUMNS = ("level3", "description", "value", "level1", "level2")
# The normalize columns (DESIGN §4), as the Normalizer adds them.
RESULT_COLUMNS = tuple(OUTPUT_COLUMNS)
FLOAT_COLUMNS = frozenset({"category_confidence", "indicator_confidence", "number", "base_value"})
ERROR_COLUMN = "error"
ERROR_FLAG = "normalize_error"
_SEP = "\x1f"


# --------------------------------------------------------------------------- memory

def use_lean_allocator():
    """Allocate pyarrow's buffers (pandas 3's text columns) with jemalloc as Arrow sets it up, which gives the
    pages a chunk freed back to the system at once, instead of pyarrow's default, mimalloc, which keeps them
    (the system allocator where pyarrow has no jemalloc). On 100,000 rows in chunks of 50,000 Dask peaked at
    958-976 MB instead of 1,056-1,064 and ``--jobs 2`` at 805-806 instead of 850-889, one process level,
    rows/s level (``benchmarks/batch.py --variety high``, two rounds each). Returns what undoes it; buffers
    already made keep their own pool."""
    try:
        import pyarrow as pa
    except ImportError:   # pandas without pyarrow keeps text as Python objects
        return lambda: None
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:
        pa.set_memory_pool(pa.system_memory_pool())
    return lambda: pa.set_memory_pool(before)


@contextmanager
def lean_allocator():
    """:func:`use_lean_allocator` for a ``with`` block: a batch run; forked workers inherit it."""
    undo = use_lean_allocator()
    try:
        yield
    finally:
        undo()


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``; None elsewhere (other C libraries give free pages back themselves, or not)."""
    import ctypes
    import sys
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):   # a C library without it (musl)
        return None


def give_back_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``), once a process has done a
    chunk: the frames a chunk freed otherwise stay in the heap, and each process of a long run holds what
    its largest chunk needed. With chunks streamed to the output (:func:`.writers._write_csv`), Dask on 1M
    rows in chunks of 50,000 peaked at 921-971 MB instead of 1,073-1,094, rows/s level
    (``benchmarks/batch.py --variety high``, two rounds); a call takes about a millisecond."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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

    @contextmanager
    def for_local_workers(self):
        """This reference as a model file in a temporary folder (removed on exit), for workers on this
        machine: a spawned worker loads the file, where a pickled instance would reach it through the spawn
        pipe (the parent's write waits until the child has imported the model stack, so the workers start
        one after the other) or, on Dask, with every task's graph. A worker forked from this process finds
        the instance already loaded under the file's name, in the memory it shares with this process."""
        if self.instance is None:
            yield self
            return
        import pickle
        with tempfile.TemporaryDirectory(prefix="zhibiao-workers-") as folder:
            path = Path(folder) / "normalizer.pickle"
            # A plain pickle, which Normalizer.load reads with the C unpickler (versioning.load_saved):
            # joblib's pickler runs in Python and took 1.2 s to write the shipped model (3.5 s under load),
            # before any worker could start, and its unpickler 1.1-1.3 s in each; 0.1 s and 0.3 s.
            with open(path, "wb") as fh:
                pickle.dump(self.instance, fh, protocol=pickle.HIGHEST_PROTOCOL)
            with _LOADED_LOCK:
                _LOADED[str(path)] = self.instance
            try:
                yield _NormalizerRef(path=path)
            finally:
                with _LOADED_LOCK:
                    _LOADED.pop(str(path), None)


_LOADED: dict[str, Any] = {}
_LOADED_LOCK = threading.Lock()


def _load_normalizer(path=None):
    try:
        from ..classify import Normalizer
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
    return s.map(as_text).astype(str)


@dataclass
class _Prepared:
    df: pd.DataFrame
    codes: np.ndarray            # row → distinct tuple
    uniq: pd.DataFrame           # one row per distinct tuple (the key columns, as text)
    hashes: list[bytes]          # per distinct tuple: its result cache key

    def share(self, rows) -> tuple[pd.DataFrame, list[bytes]]:
        """The distinct tuples at positions ``rows`` and their cache keys: one process's part of the chunk."""
        return self.uniq.iloc[rows].reset_index(drop=True), [self.hashes[i] for i in rows]


def _prepare(df: pd.DataFrame, key_columns) -> _Prepared:
    if "level3" not in df.columns:
        raise InputError("input", "no level3 column")
    present = [c for c in key_columns if c in df.columns]
    text = {c: _as_text(df[c]) for c in present}
    codes = _tuple_codes([text[c] for c in present])
    _, first = np.unique(codes, return_index=True) if len(codes) else (None, np.array([], dtype=np.int64))
    columns = {c: text[c].to_numpy(dtype=object)[first] for c in present}
    uniq = pd.DataFrame(columns)
    # a tuple's cache key: its columns joined, as before the codes were made per column (caches stay valid)
    prefix = ("|".join(present) + "\x1e").encode()
    hashes = [hashlib.blake2b(prefix + _SEP.join(t).encode("utf-8", "surrogatepass"), digest_size=16).digest()
              for t in zip(*columns.values())]
    return _Prepared(df, codes, uniq, hashes)


def _tuple_codes(columns: list[pd.Series]) -> np.ndarray:
    """Per row, the code of its tuple of column values, numbered by first appearance: each column factorized
    apart and the codes combined, two at a time (a join of the columns to factorize took twice as long).
    The pair codes stay below the rows squared, far inside int64.

    >>> _tuple_codes([pd.Series(["a", "a", "b", "a"]), pd.Series(["x", "y", "x", "x"])]).tolist()
    [0, 1, 2, 0]
    """
    codes = None
    for column in columns:
        k, uniques = pd.factorize(column, use_na_sentinel=False)
        k = np.asarray(k, dtype=np.int64)
        codes = k if codes is None else pd.factorize(codes * len(uniques) + k, use_na_sentinel=False)[0]
    return np.asarray(codes, dtype=np.int64)


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
        return _results(normalizer, frame)
    except Exception as exc:  # noqa: BLE001 - isolate the bad rows, keep the rest
        if len(frame) == 1:
            return [_error_record(exc)]
        mid = len(frame) // 2
        return (_compute(normalizer, frame.iloc[:mid].reset_index(drop=True))
                + _compute(normalizer, frame.iloc[mid:].reset_index(drop=True)))


def _results(normalizer, frame: pd.DataFrame) -> list[dict]:
    """The normalizer's result columns of each row of ``frame``: its records where it gives them
    (``tag_records``, no frame built and taken apart again), else the columns ``normalize`` adds."""
    if hasattr(normalizer, "tag_records"):
        records = normalizer.tag_records(frame)
    else:
        out = normalizer.normalize(frame.copy())
        records = out[[c for c in out.columns if c not in frame.columns]].to_dict("records")
    if len(records) != len(frame):
        raise ValueError(f"normalize returned {len(records)} rows for {len(frame)}")
    return records


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


def settle(records: list[dict], hashes: list[bytes], cache: ResultCache | None) -> list[dict]:
    """Fresh results with plain (JSON) values, stored in ``cache`` under ``hashes`` unless they are errors."""
    out, to_store = [], []
    for h, rec in zip(hashes, records):
        if any(type(v) not in _PLAIN for v in rec.values()):
            rec = {k: _clean_value(v) for k, v in rec.items()}
        out.append(rec)
        if not rec.get(ERROR_COLUMN):
            to_store.append((h, rec))
    if cache is not None and to_store:
        cache.put_many(to_store)
    return out


def compute_cached(normalizer, frame: pd.DataFrame, hashes: list[bytes],
                   cache: ResultCache | None) -> tuple[pd.DataFrame, int]:
    """The result frame of the distinct rows ``frame`` (cache keys ``hashes``): from ``cache`` where it has
    them, else normalized and stored; and how many came from the cache. A worker's whole job (it sends
    back columns, which pickle far smaller and faster than a dict per row)."""
    found = cache.get_many(hashes) if cache is not None and hashes else {}
    todo = [i for i, h in enumerate(hashes) if h not in found]
    fresh = settle(_compute(normalizer, frame.iloc[todo].reset_index(drop=True)), [hashes[i] for i in todo], cache)
    records = [found.get(h) for h in hashes]
    for i, rec in zip(todo, fresh):
        records[i] = rec
    return _result_frame(records), len(found)


def merge_results(parts: list[tuple[np.ndarray, pd.DataFrame]]) -> pd.DataFrame:
    """One result frame from the frames of several processes, each for the distinct rows at its positions."""
    frames = [f for _, f in parts]
    if len(frames) == 1:
        return frames[0]
    order = np.argsort(np.concatenate([rows for rows, _ in parts]), kind="stable")
    if any(list(f.columns) != list(frames[0].columns) for f in frames):   # a normalizer's extra columns
        records = [r for f in frames for r in f.to_dict("records")]
        return _result_frame([records[i] for i in order])
    return pd.concat(frames, ignore_index=True).iloc[order].reset_index(drop=True)


def _finish(prep: _Prepared, ures: pd.DataFrame, hits: int) -> tuple[pd.DataFrame, dict]:
    """The chunk with its results: ``ures``, one row per distinct tuple (:func:`compute_cached`),
    ``hits`` of them from the cache."""
    n_uniq = len(prep.hashes)
    if len(ures) != n_uniq:
        raise RuntimeError(f"internal error: {len(ures)} results for {n_uniq} tuples")
    res = ures.iloc[prep.codes].reset_index(drop=True)
    df = prep.df
    base = df.drop(columns=[c for c in res.columns if c in df.columns]).reset_index(drop=True)
    out = pd.concat([base, res], axis=1)
    out.index = df.index
    if len(out) != len(df):  # pragma: no cover - invariant
        raise RuntimeError("internal error: row count changed")
    err_rows = int((res[ERROR_COLUMN].notna() & (res[ERROR_COLUMN] != "")).sum())
    stats = {"rows": len(df), "distinct": n_uniq, "cache_hits": hits,
             "normalized": n_uniq - hits, "error_rows": err_rows}
    return out, stats


def normalize_chunk(df: pd.DataFrame, normalizer, cache: ResultCache | None = None,
                    key_columns=None) -> tuple[pd.DataFrame, dict]:
    """Normalize one chunk: dedupe, cache, normalize the misses, broadcast back.

    Returns the chunk with the result columns added (same rows, same order,
    same index) and a stats dict (rows, distinct, cache_hits, normalized, error_rows).
    """
    key_columns = tuple(key_columns or _key_columns_of(normalizer))
    prep = _prepare(df, key_columns)
    return _finish(prep, *compute_cached(normalizer, prep.uniq, prep.hashes, cache))
