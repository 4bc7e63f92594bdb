"""``run_batch``: many documents or big rows files → one normalized table, streaming and resumable."""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path

from ..copies import check_copies
from ..errors import InputError, UnsupportedFormat, ZhibiaoError
from ..tables import rows_file_failure
from .cache import ResultCache, _default_cache_dir, attach_vectors
from .chunks import _key_columns_of, _NormalizerRef, give_back_free_memory, lean_allocator, normalize_chunk
from .engines import _run_dask, _run_processes, dask_cluster, local_workers
from .names import one_thread, vector_path
from .readers import _READ_ERRORS, _classify_input, _count_rows, read_chunks
from .report import BatchReport, _progress
from .writers import OUTPUT_SUFFIXES, _input_signature, _parts_to_xlsx, _Writer


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
    parquet store beside it, which ``resume`` continues until then). ``jobs``: processes computing, this one
    and ``jobs - 1`` workers (local processes, or a Dask LocalCluster's; ``scheduler``: that cluster's own). Returns a
    :class:`BatchReport`.
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
    # the writer empties the output before the inputs are read: refuse an input as output first
    from ..tables import refuse_overwrite
    refuse_overwrite([xlsx, output], inputs)

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
    vectors = None
    if cache and fingerprint:
        cdir = Path(cache_dir) if cache_dir is not None else _default_cache_dir(output)
        store = ResultCache(cdir / "normalize.sqlite", str(fingerprint))
        # every distinct name embedded once per run and kept across runs, on every engine
        vectors = attach_vectors(normalizer, cdir / "vectors.sqlite")
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
            report.failures.append(rows_file_failure(Path(p), exc))
    if not ins:
        raise ZhibiaoError("no readable input: " + "; ".join(report.failures))
    base_columns: list[str] = []
    for inp in ins:
        base_columns += [c for c in inp.columns if c not in base_columns]

    settings = {"engine": engine, "chunk_rows": chunk_rows, "fingerprint": fingerprint,
                "key_columns": list(key_columns), "inputs": _input_signature(ins)}
    writer = _Writer(output, settings, base_columns, resume, report.warnings)

    if callable(getattr(normalizer, "warm_up", None)):
        normalizer.warm_up()   # what the first chunk would build, before workers fork from this process
    # Workers start before anything else of this run, so that a forked one copies no thread of it, and
    # they load their models while this process counts the rows.
    if engine == "dask":
        workers = dask_cluster(ref, jobs, scheduler)
    elif jobs > 1:
        workers = local_workers(ref, jobs, vector_path(vectors))
    else:
        workers = nullcontext()
    with lean_allocator(), workers as started:
        total = None
        if (progress or engine == "dask") and all(i.kind != "document" for i in ins):
            counts = [_count_rows(i) for i in ins]
            total = None if any(c is None for c in counts) else sum(counts)

        bar = _progress(progress, total)
        with bar:
            task = bar.add_task("normalize", total=total)

            def on_commit(cid, df, failures, stats, projects=None):
                if stats.get("rows", len(df)) != len(df):  # pragma: no cover - invariant
                    raise RuntimeError(f"internal error: chunk {cid} has {len(df)} rows out of {stats['rows']} in")
                if projects is not None:
                    check_copies(df, projects)
                writer.commit(cid, df, failures, stats)
                give_back_free_memory()   # before the next chunk is read
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

            stored_before = vectors.count() if vectors is not None else 0
            # Every engine shares each chunk's distinct rows out by name, so no two processes embed one
            # name; the vector store keeps what was embedded for later chunks and runs.
            if engine == "dask":
                # on a LocalCluster this process computes a share beside the workers, on one thread as they do
                with one_thread(normalizer) if started[3] else nullcontext():
                    _run_dask(ins, writer, started, normalizer, key_columns, store, chunk_rows, on_commit,
                              on_skip, report, vectors=vector_path(vectors))
            elif jobs == 1:
                for inp in ins:
                    for cid, df, failures, projects in read_chunks(inp, chunk_rows, set(writer.done), report):
                        if df is None:
                            on_skip(cid)
                            continue
                        out, stats = normalize_chunk(df, normalizer, store, key_columns)
                        on_commit(cid, out, failures, stats, projects)
            else:
                with one_thread(normalizer):
                    _run_processes(ins, writer, started, normalizer, key_columns, store, chunk_rows,
                                   on_commit, on_skip, report)

    writer.finish()
    report.names_embedded = vectors.count() - stored_before if vectors is not None else 0
    report.rows_out = writer.rows_written
    if xlsx is not None:
        _parts_to_xlsx(writer, xlsx)
        report.output = str(xlsx)
    report.seconds = time.perf_counter() - t0
    report.rows_per_s = report.rows_processed / report.seconds if report.seconds else 0.0
    return report
