"""Where chunks are normalized: local worker processes, or a Dask cluster (the local engine
runs in :func:`zhibiao.batch.run.run_batch` itself)."""
from __future__ import annotations

import time
import zlib
from collections import deque
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ZhibiaoError
from .cache import _worker_cache
from .chunks import _finish, _NormalizerRef, _prepare, compute_cached, merge_results, normalize_chunk
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


def _worker_compute(frame: pd.DataFrame, hashes: list[bytes], cache_path, fingerprint
                    ) -> tuple[pd.DataFrame, int, float]:
    """A worker's share of a chunk: its results, cache hits, and the seconds it took."""
    t0 = time.perf_counter()
    results, hits = compute_cached(_WORKER["normalizer"], frame, hashes, _worker_cache(cache_path, fingerprint))
    return results, hits, time.perf_counter() - t0


def _worker_ready() -> bool:
    """The first task of a worker: done once its initializer has loaded the model."""
    return "normalizer" in _WORKER


NAME_BUCKETS = 120


def name_shares(frame: pd.DataFrame, fractions) -> list[np.ndarray]:
    """The rows of ``frame`` in ``len(fractions)`` shares by name, share k taking about ``fractions[k]`` of
    the names: every row of a name in the same share. A name's place is a stable hash, the same in every
    chunk and every run, and shares are runs of adjacent buckets, so a small change of the fractions
    moves few names.

    >>> shares = name_shares(pd.DataFrame({"level3": ["a", "b", "a", "c"]}), [0.5, 0.5])
    >>> sorted(int(i) for share in shares for i in share)    # every row once
    [0, 1, 2, 3]
    >>> any({0, 2} <= set(share) for share in shares)        # both rows of "a" together
    True
    """
    from ..classify import clean_name
    bounds = np.round(np.cumsum(fractions)[:-1] / np.sum(fractions) * NAME_BUCKETS)
    bucket = np.array([zlib.crc32(clean_name(str(n)).encode("utf-8", "surrogatepass")) % NAME_BUCKETS
                       for n in frame["level3"]], dtype=np.int64)
    owner = np.searchsorted(bounds, bucket, side="right")
    return [np.flatnonzero(owner == k) for k in range(len(fractions))]


class ShareBalance:
    """How much of each chunk this process (0) and each worker (1…) take, from their measured seconds per
    distinct row: the shares are set so that all finish a chunk together, this process's reading,
    joining and writing counted in its time. The cost per row changes with the data (a process meeting
    names it has not scored is slower; a file of all-new names is 100 times dearer than one of cache
    hits), so no fixed split suits every file: a 2:3 split measured best on a file of repeated names
    left this process idle a fifth of the time on one of distinct names.

    >>> b = ShareBalance(workers=1)
    >>> b.fractions(1000).round(2).tolist()                     # nothing measured yet: 2:3
    [0.4, 0.6]
    >>> b.observe(0, rows=400, seconds=2.0); b.observe(1, rows=600, seconds=1.0)
    >>> b.fractions(1000).round(2).tolist()                     # the worker is 3 times faster
    [0.25, 0.75]
    >>> b.overhead(1.0); b.fractions(1000).round(2).tolist()    # and this process also writes
    [0.1, 0.9]
    """

    start = (2, 3)   # this process : a worker, before anything is measured
    smoothing = 0.5
    floor = 0.05     # every process keeps a share, to keep measuring it

    def __init__(self, workers: int):
        self.cost = np.full(workers + 1, np.nan)   # seconds per distinct row, smoothed
        self.own_overhead = np.nan                 # seconds per chunk this process spends on all rows

    def _smooth(self, old: float, new: float) -> float:
        return new if np.isnan(old) else self.smoothing * old + (1 - self.smoothing) * new

    def observe(self, process: int, rows: int, seconds: float) -> None:
        if rows > 0:
            self.cost[process] = self._smooth(self.cost[process], max(seconds, 1e-4) / rows)

    def overhead(self, seconds: float) -> None:
        self.own_overhead = self._smooth(self.own_overhead, max(seconds, 0.0))

    def fractions(self, rows: int, live=None) -> np.ndarray:
        """Each process's share of a chunk of ``rows`` distinct rows; ``live``: which workers are ready (the
        others get none)."""
        live = np.ones(len(self.cost) - 1, bool) if live is None else np.asarray(live, bool)
        up = np.r_[True, live]
        if np.isnan(self.cost[up]).any():
            f = np.r_[self.start[0], np.full(len(live), self.start[1])].astype(float)
        else:
            rate = np.where(up, 1 / np.where(np.isnan(self.cost), 1.0, self.cost), 0.0)
            # all finish at T: this process computes rate[0] * (T - overhead) rows, a worker rate[k] * T
            overhead = 0.0 if np.isnan(self.own_overhead) else self.own_overhead
            T = (rows + rate[0] * overhead) / rate.sum()
            f = rate * T
            f[0] -= rate[0] * overhead
        f = np.where(up, np.maximum(f, 0), 0.0)
        f = np.where(up, np.maximum(f / f.sum(), self.floor), 0.0)
        return f / f.sum()


def _run_processes(ins, writer, ref, normalizer, key_columns, store, chunk_rows, jobs, on_commit, on_skip,
                   report, vectors=None):
    """``jobs`` processes: this one and ``jobs - 1`` workers (a pool each), and each chunk's rows split
    between them by name (:func:`name_shares`), in the shares :class:`ShareBalance` measures. A name stays
    with one process while the shares hold, so it is embedded and scored once per run (that process's
    caches; a name that moves finds its vector in the run's vector store), with no pass over the names
    before the chunks. This process reads, splits, computes its share while the workers compute theirs,
    joins and writes: one process fewer than ``jobs`` workers would hold the models (measured: 1.35 GB
    with two workers), and this one starts at once. Until a worker has loaded the model (seconds), this
    process computes that worker's share too, rather than wait: a small run never waits. The workers read
    and write the result cache themselves."""
    import multiprocessing as mp
    from concurrent.futures import Future, ProcessPoolExecutor

    window = 2
    pending: deque = deque()
    cache_path = str(store.path) if store is not None else None
    fingerprint = store.fingerprint if store is not None else None
    balance = ShareBalance(workers=jobs - 1)
    clock = {"mark": time.perf_counter(), "busy": 0.0}   # busy: computing or waiting for a worker

    def drain_one():
        cid, prep, parts, failures, projects = pending.popleft()
        results, hits = [], 0
        for rows, fut in parts:
            t0 = time.perf_counter()
            got, found, _seconds = fut.result()
            clock["busy"] += time.perf_counter() - t0
            results.append((rows, got))
            hits += found
        out, stats = _finish(prep, merge_results(results), hits)
        on_commit(cid, out, failures, stats, projects)
        now = time.perf_counter()
        balance.overhead(now - clock["mark"] - clock["busy"])   # reading, splitting, joining, writing
        clock.update(mark=now, busy=0.0)

    def share_of(prep, rows):
        return prep.uniq.iloc[rows].reset_index(drop=True), [prep.hashes[i] for i in rows]

    def submit(process, pool, prep, rows):
        fut = pool.submit(_worker_compute, *share_of(prep, rows), cache_path, fingerprint)
        # measured as soon as it is done, not when its chunk is written (two chunks later)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception() is not None
                              or balance.observe(process, len(rows), f.result()[2]))
        return rows, fut

    with ref.for_local_workers() as ref:
        context = mp.get_context("spawn")
        pools = [ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                     initargs=(ref, vectors)) for _ in range(jobs - 1)]
        ready = [pool.submit(_worker_ready) for pool in pools]
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
                        live = [r.done() for r in ready]
                        own, *others = name_shares(prep.uniq, balance.fractions(len(prep.uniq), live))
                        parts = [submit(k, pool, prep, rows)
                                 for k, (pool, rows) in enumerate(zip(pools, others), 1) if len(rows)]
                        t0 = time.perf_counter()
                        mine: Future = Future()
                        mine.set_result((*compute_cached(normalizer, *share_of(prep, own), store), 0.0))
                        seconds = time.perf_counter() - t0
                        balance.observe(0, len(own), seconds)
                        clock["busy"] += seconds
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
