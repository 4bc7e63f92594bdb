"""Where chunks are normalized: local worker processes, or a Dask cluster (the local engine
runs in :func:`zhibiao.batch.run.run_batch` itself)."""
from __future__ import annotations

import zlib
from collections import deque
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ZhibiaoError
from .cache import _worker_cache
from .chunks import _finish, _NormalizerRef, _prepare, compute_cached, normalize_chunk
from .names import prepare_worker, split, worker_embed
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


def _worker_compute(frame: pd.DataFrame, hashes: list[bytes], cache_path, fingerprint) -> tuple[list[dict], int]:
    return compute_cached(_WORKER["normalizer"], frame, hashes, _worker_cache(cache_path, fingerprint))


def name_shares(frame: pd.DataFrame, weights: list[int]) -> list[np.ndarray]:
    """The rows of ``frame`` in ``len(weights)`` shares by name, share k taking about ``weights[k]`` parts of
    the names: every row of a name in the same share (a stable hash, the same in every chunk and every run).

    >>> shares = name_shares(pd.DataFrame({"level3": ["a", "b", "a", "c"]}), [1, 1])
    >>> sorted(int(i) for share in shares for i in share)    # every row once
    [0, 1, 2, 3]
    >>> any({0, 2} <= set(share) for share in shares)        # both rows of "a" together
    True
    """
    from ..classify import clean_name
    share_of_bucket = np.repeat(np.arange(len(weights)), weights)
    bucket = np.array([zlib.crc32(clean_name(str(n)).encode("utf-8", "surrogatepass")) % len(share_of_bucket)
                       for n in frame["level3"]], dtype=np.int64)
    owner = share_of_bucket[bucket]
    return [np.flatnonzero(owner == k) for k in range(len(weights))]


# This process's share is two thirds of a worker's: it also reads, joins and writes every chunk. Measured
# on the seed corpus with --jobs 2, two runs each: 2:3 gave 5,484 and 5,496 rows/s, 1:1 5,133 and 5,255,
# 1:2 4,913 (this process also unpickles the worker's results).
OWN_WEIGHT, WORKER_WEIGHT = 2, 3


def _run_processes(ins, writer, ref, normalizer, key_columns, store, chunk_rows, jobs, on_commit, on_skip,
                   report, vectors=None):
    """``jobs`` processes: this one and ``jobs - 1`` workers (a pool each), and each chunk's rows split
    between them by name. A name always goes to the same process, so it is embedded and scored once per run
    (that process's caches), with no pass over the names before the chunks; every process works on every
    chunk. This process reads, splits, computes its share while the workers compute theirs, joins and
    writes: one process fewer than ``jobs`` workers would hold the models (measured: 1.35 GB with two
    workers), and this one starts at once. The workers read and write the result cache themselves."""
    import multiprocessing as mp
    from concurrent.futures import Future, ProcessPoolExecutor

    window = 2
    pending: deque = deque()
    cache_path = str(store.path) if store is not None else None
    fingerprint = store.fingerprint if store is not None else None

    def drain_one():
        cid, prep, parts, failures, projects = pending.popleft()
        records: list = [None] * len(prep.hashes)
        hits = 0
        for rows, fut in parts:
            got, found = fut.result()
            hits += found
            for i, rec in zip(rows, got):
                records[i] = rec
        out, stats = _finish(prep, records, hits)
        on_commit(cid, out, failures, stats, projects)

    def share_of(prep, rows):
        return prep.uniq.iloc[rows].reset_index(drop=True), [prep.hashes[i] for i in rows]

    with ref.for_local_workers() as ref:
        context = mp.get_context("spawn")
        pools = [ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                     initargs=(ref, vectors)) for _ in range(jobs - 1)]
        try:
            for inp in ins:
                try:
                    chunks = _iter_chunks(inp, chunk_rows, set(writer.done), report.warnings)
                    for cid, df, failures, projects in chunks:
                        if df is None:
                            while pending:
                                drain_one()
                            on_skip(cid)
                            continue
                        prep = _prepare(df, key_columns)
                        own, *others = name_shares(prep.uniq, [OWN_WEIGHT] + [WORKER_WEIGHT] * (jobs - 1))
                        parts = [(rows, pool.submit(_worker_compute, *share_of(prep, rows), cache_path, fingerprint))
                                 for pool, rows in zip(pools, others) if len(rows)]
                        mine: Future = Future()
                        mine.set_result(compute_cached(normalizer, *share_of(prep, own), store))
                        pending.append((cid, prep, [(own, mine), *parts], failures, projects))
                        while len(pending) > window:
                            drain_one()
                except _READ_ERRORS as exc:
                    report.failures.append(_read_failure(inp.path, exc))
            while pending:
                drain_one()
        finally:
            for pool in pools:
                pool.shutdown(cancel_futures=True)


# dask -----------------------------------------------------------------------------

def _run_dask(ins, writer, ref, normalizer, key_columns, store, chunk_rows, jobs, scheduler,
              on_commit, on_skip, report, names=list, vectors=None):
    try:
        import dask.dataframe  # noqa: F401
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ZhibiaoError("engine dask needs: pip install 'zhibiao[dask]'") from exc
    # workers on this machine load the model from a file, not from a graph argument
    with nullcontext(ref) if scheduler else ref.for_local_workers() as ref:
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
            shares = split(names(), n_workers)
            if shares:   # map over distinct names on the cluster; the shared vector store is the reduce
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
