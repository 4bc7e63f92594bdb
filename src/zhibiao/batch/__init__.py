"""Batch normalization: many documents or big rows files, streamed in chunks.

``run_batch`` is what :meth:`zhibiao.pipeline.Pipeline.pipe` runs: ``Normalizer.normalize``
(DESIGN §4) over many inputs. Modules: :mod:`.readers` (what an input is, its chunks),
:mod:`.chunks` (dedupe, normalize, broadcast), :mod:`.cache`, :mod:`.writers` (outputs and the
resume manifest), :mod:`.engines` (processes, Dask), :mod:`.report` (report, progress bar),
:mod:`.run` (``run_batch``).

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
* **parallel** – ``jobs > 1``: this process and ``jobs - 1`` local workers (each loads the
  normalizer once) share each chunk's distinct rows by name, in shares that follow their measured
  speed; chunks are written in input order;
* **dask** – ``engine="dask"``: the same map over each chunk's distinct rows by name, on the workers
  of ``Client(scheduler)``, or of a ``LocalCluster`` of ``jobs - 1`` workers beside which this process
  computes a share, as with ``jobs``; this process reads, joins and writes;
* **no row is ever lost** – a row whose normalization raises is kept, with
  ``normalize_error`` in ``flags`` and the exception in ``error``.
* **template copies** – a document's rows are checked against its own projects
  afterwards (:func:`zhibiao.copies.check_copies`, as the pipeline does); rows files are cut into chunks
  that may split a project, so for them that check is left to ``zhibiao audit``.

The normalizer is duck-typed: anything with ``normalize(df) -> df`` (same rows,
same order, input columns kept, result columns added) and, for the cache, a
``fingerprint`` string. An optional ``key_columns`` attribute overrides the
dedupe key (add ``year`` there if results depend on it).
"""
from __future__ import annotations

from ..errors import InputError, UnsupportedFormat, ZhibiaoError  # noqa: F401  (re-exported)
from .cache import ResultCache
from .chunks import ERROR_COLUMN, ERROR_FLAG, KEY_COLUMNS, RESULT_COLUMNS, normalize_chunk  # noqa: F401
from .report import BatchReport
from .run import run_batch
from .writers import OUTPUT_SUFFIXES  # noqa: F401

__all__ = ["run_batch", "BatchReport", "normalize_chunk", "ResultCache",
           "KEY_COLUMNS", "RESULT_COLUMNS"]
