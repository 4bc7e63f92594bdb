"""Where chunks are normalized: local worker processes, or a Dask cluster (the local engine
runs in :func:`zhibiao.batch.run.run_batch` itself)."""
from __future__ import annotations

from collections import deque
from typing import Any

import pandas as pd

from ..errors import ZhibiaoError
from .cache import _worker_cache
from .chunks import _compute, _finish, _NormalizerRef, _prepare, normalize_chunk
from .names import embed_names, prepare_worker, split, worker_embed
from .readers import _READ_ERRORS, _dask_frames, _iter_chunks, _read_failure

def _dask_partition(df: pd.DataFrame, ref: _NormalizerRef, key_columns, cache_path, fingerprint,
                    vectors=None) -> pd.DataFrame:
    normalizer = ref.resolve()
    prepare_worker(normalizer, vectors)
    out, stats = normalize_chunk(df, normalizer, _worker_cache(cache_path, fingerprint), key_columns)
    out.attrs["zhibiao_stats"] = stats
    return out


# local processes ------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(ref: _NormalizerRef, vectors=None) -> None:
    import os
    os.environ["OMP_NUM_THREADS"] = "1"   # one thread per worker: the workers are the parallelism
    _WORKER["normalizer"] = ref.resolve()
    prepare_worker(_WORKER["normalizer"], vectors)


def _worker_embed(names: list[str]) -> int:
    return embed_names(_WORKER["normalizer"], names)


def _worker_compute(frame: pd.DataFrame) -> list[dict]:
    return _compute(_WORKER["normalizer"], frame)


def _run_processes(ins, writer, ref, key_columns, store, chunk_rows, jobs, on_commit, on_skip, report,
                   names=(), vectors=None):
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
                             initializer=_init_worker, initargs=(ref, vectors)) as pool:
        # map: each worker embeds its share of the distinct names; the vector store is the reduce
        list(pool.map(_worker_embed, split(list(names), jobs)))
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

def _run_dask(ins, writer, ref, normalizer, key_columns, store, chunk_rows, jobs, scheduler,
              on_commit, on_skip, report, names=(), vectors=None):
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
        if names:   # map over distinct names on the cluster; the shared vector store is the reduce
            shares = split(list(names), n_workers)
            client.gather(client.map(worker_embed, [ref] * len(shares), [vectors] * len(shares), shares,
                                     pure=False))
        for inp in ins:
            doc_cid = f"{inp.index}:0"
            if inp.kind == "document" and doc_cid in writer.done:
                on_skip(doc_cid)
                continue
            try:
                _dask_input(inp, client, writer, ref, normalizer, key_columns, cache_path, fingerprint,
                            chunk_rows, n_workers, on_commit, on_skip, report, vectors)
            except _READ_ERRORS as exc:
                report.failures.append(_read_failure(inp.path, exc))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_input(inp, client, writer, ref, normalizer, key_columns, cache_path, fingerprint, chunk_rows,
                n_workers, on_commit, on_skip, report, vectors=None):
    """Normalize one input on the cluster, committing its partitions in order."""
    ddf, failures, projects = _dask_frames(inp, chunk_rows, report)
    # meta from a small sample, run through the same function
    sample = ddf.partitions[0].head(2, compute=False).compute(scheduler="sync")
    meta = normalize_chunk(sample, normalizer, None, key_columns)[0].iloc[:0]
    out = ddf.map_partitions(_dask_partition, ref, key_columns, cache_path, fingerprint, vectors,
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
