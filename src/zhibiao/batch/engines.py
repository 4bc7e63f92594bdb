"""Where chunks are normalized: local worker processes, or a Dask cluster (the local engine
runs in :func:`zhibiao.batch.run.run_batch` itself)."""
from __future__ import annotations

import gc
import os
import sys
import time
import zlib
from collections import deque
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import pandas as pd

from ..embed import fork_safe
from ..errors import ZhibiaoError
from .cache import _worker_cache
from .chunks import _finish, _NormalizerRef, _prepare, compute_cached, give_back_free_memory, merge_results
from .names import load_for_forks, prepare_worker
from .readers import read_chunks


# starting workers -----------------------------------------------------------------

def start_method() -> str:
    """How this machine's worker processes start. Forked from this process where that is safe: they share
    its imported libraries and its loaded model, page by page until one writes, and start at once, where a
    spawned worker imports and loads them again (the README's batch table: 118–175 MB less with
    ``--jobs 2``, 230–277 MB less on Dask, and both faster). Spawned elsewhere than on Linux, once a
    runtime that does not survive a fork has run in this process (:func:`zhibiao.embed.fork_safe`), or with
    ``ZHIBIAO_WORKER_START=spawn``."""
    if os.environ.get("ZHIBIAO_WORKER_START", "").strip().lower() == "spawn":
        return "spawn"
    return "fork" if sys.platform.startswith("linux") and fork_safe() else "spawn"


@contextmanager
def _shared_with_forks(method: str):
    """While forked workers run, this process's objects are kept out of its garbage collector, whose passes
    write to every object they visit and so would copy the pages the workers share."""
    if method != "fork":
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def local_workers(ref: _NormalizerRef, jobs: int, vectors=None):
    """``jobs - 1`` worker processes, a pool each, started now: before this process starts a thread of its
    own (a fork copies only the calling thread, and a lock another thread holds stays held in the child).
    Yields the pools and, per pool, a future done once its worker has loaded the model."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = start_method()
    with _shared_with_forks(method), ref.for_local_workers() as ref:
        pools = [ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context(method), initializer=_init_worker,
                                     initargs=(ref, vectors)) for _ in range(jobs - 1)]
        try:
            yield pools, [pool.submit(_worker_ready) for pool in pools]   # each pool starts its process here
        finally:
            for pool in pools:
                pool.shutdown(cancel_futures=True)


@contextmanager
def dask_cluster(ref: _NormalizerRef, jobs: int, scheduler: str | None = None):
    """A client of the Dask cluster at ``scheduler``, or of a LocalCluster of ``jobs - 1`` worker processes
    (one if ``jobs`` is 1) started now, as :func:`local_workers` starts them: on this machine this process
    computes a share too, as with ``--jobs`` (:func:`_run_dask`). Yields the client, the model reference
    sent once to every worker, the number of workers, and whether this process takes a share."""
    try:
        import dask.config
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ZhibiaoError("engine dask needs: pip install 'zhibiao[dask]'") from exc
    method = "spawn" if scheduler else start_method()
    if method == "fork":
        load_for_forks(ref.resolve())
    # workers on this machine load the model from a file (or find it in memory), not from a graph argument
    with _shared_with_forks(method), nullcontext(ref) if scheduler else ref.for_local_workers() as ref:
        cluster = None
        if scheduler:
            client = Client(scheduler, set_as_default=False)
        else:
            # only the first start: a worker the nanny restarts later, with this process's threads running,
            # is spawned
            with dask.config.set({"distributed.worker.multiprocessing-method": method}):
                # the scheduler serves its HTTP routes even without a dashboard: on any free port, so that
                # a second run (or a user's own cluster) does not contend for 8787 and warn
                cluster = LocalCluster(n_workers=max(1, jobs - 1), threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"})
            client = Client(cluster, set_as_default=False)
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
            yield client, client.scatter(ref, broadcast=True, hash=False), n_workers, cluster is not None and jobs > 1
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


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
    give_back_free_memory()
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
    codes, names = pd.factorize(frame["level3"].astype(str), use_na_sentinel=False)   # rows share names
    bucket = np.array([zlib.crc32(clean_name(n).encode("utf-8", "surrogatepass")) % NAME_BUCKETS
                       for n in names], dtype=np.int64)
    owner = np.searchsorted(bounds, bucket, side="right")[codes]
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


def _compute_own_share(normalizer, prep, rows: np.ndarray, store, balance: ShareBalance
                       ) -> tuple[tuple[pd.DataFrame, int], float]:
    """This process's share of a chunk, computed here: its results and cache hits, and the seconds it took,
    which ``balance`` observes as this process's speed."""
    t0 = time.perf_counter()
    computed = compute_cached(normalizer, *prep.share(rows), store)
    seconds = time.perf_counter() - t0
    balance.observe(0, len(rows), seconds)
    return computed, seconds


def _run_processes(ins, writer, workers, normalizer, key_columns, store, chunk_rows, on_commit, on_skip,
                   report):
    """This process and the workers of :func:`local_workers` (a pool each), and each chunk's rows split
    between them by name (:func:`name_shares`), in the shares :class:`ShareBalance` measures. A name stays
    with one process while the shares hold, so it is embedded and scored once per run (that process's
    caches; a name that moves finds its vector in the run's vector store), with no pass over the names
    before the chunks. This process reads, splits, computes its share while the workers compute theirs,
    joins and writes: one process fewer than ``jobs`` workers would hold the models (measured: 1.35 GB
    with two workers), and this one starts at once. Until a worker has loaded the model (seconds), this
    process computes that worker's share too, rather than wait: a small run never waits. The workers read
    and write the result cache themselves."""
    from concurrent.futures import Future

    pools, ready = workers
    window = 2
    pending: deque = deque()
    cache_path = str(store.path) if store is not None else None
    fingerprint = store.fingerprint if store is not None else None
    balance = ShareBalance(workers=len(pools))
    clock = {"mark": time.perf_counter(), "busy": 0.0}   # busy: computing or waiting for a worker

    def drain_one():
        cid, prep, parts, failures, projects = pending.popleft()
        results, hits = [], 0
        for rows, fut in parts:
            t0 = time.perf_counter()
            got, found = fut.result()[:2]   # a worker's also says how long it took
            clock["busy"] += time.perf_counter() - t0
            results.append((rows, got))
            hits += found
        out, stats = _finish(prep, merge_results(results), hits)
        on_commit(cid, out, failures, stats, projects)
        now = time.perf_counter()
        balance.overhead(now - clock["mark"] - clock["busy"])   # reading, splitting, joining, writing
        clock.update(mark=now, busy=0.0)

    def submit(process, pool, prep, rows):
        fut = pool.submit(_worker_compute, *prep.share(rows), cache_path, fingerprint)
        # measured as soon as it is done, not when its chunk is written (two chunks later)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception() is not None
                              or balance.observe(process, len(rows), f.result()[2]))
        return rows, fut

    for inp in ins:
        for cid, df, failures, projects in read_chunks(inp, chunk_rows, set(writer.done), report):
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
            computed, seconds = _compute_own_share(normalizer, prep, own, store, balance)
            mine: Future = Future()
            mine.set_result(computed)
            clock["busy"] += seconds
            pending.append((cid, prep, [(own, mine), *parts], failures, projects))
            while len(pending) > window:
                drain_one()
    while pending:
        drain_one()


# dask -----------------------------------------------------------------------------

def _dask_compute(ref: _NormalizerRef, vectors, cache_path, fingerprint, frame: pd.DataFrame,
                  hashes: np.ndarray) -> tuple[pd.DataFrame, int, float]:
    """On a Dask worker: one share of a chunk's distinct rows (the model loaded once per worker): its results,
    cache hits, and the seconds it took. The cache keys come as an array: Dask walks every item of a list
    argument looking for futures (0.7 s of this process's time per million rows, under the profiler)."""
    t0 = time.perf_counter()
    normalizer = ref.resolve()
    prepare_worker(normalizer, vectors)
    results, hits = compute_cached(normalizer, frame, hashes.tolist(), _worker_cache(cache_path, fingerprint))
    give_back_free_memory()
    return results, hits, time.perf_counter() - t0


def _run_dask(ins, writer, dask, normalizer, key_columns, store, chunk_rows, on_commit, on_skip, report,
              vectors=None):
    """A map-reduce over distinct rows, keyed by name, on the cluster of :func:`dask_cluster`: this
    process reads each chunk, keeps its distinct rows, and maps them in shares by name
    (:func:`name_shares`); the workers tag their shares, reading and writing the result cache and the
    vector store, and send back result frames, which this process joins to the chunk's rows and writes, in
    order (it writes every row anyway).

    On a LocalCluster this process also computes a share, as with ``--jobs``, in the proportions
    :class:`ShareBalance` measures: the workers run on this machine's cores, which it would leave idle
    between reading and writing, and one worker fewer holds the model (``benchmarks/batch.py``, three
    corpora alternating with the code before: 60-90 MB less, as fast or faster). On a cluster of its own
    (``scheduler``) the workers share each chunk equally.

    A chunk's shares are sent once the previous chunk's are back, so no two workers ever embed one name
    at once: a name of an earlier chunk is in the vector store. Meanwhile this process computes its share,
    writes the last chunk and reads the next. Documents go the same way, one chunk each."""
    client, model, n_workers, local_share = dask
    cache_path = str(store.path) if store is not None else None
    fingerprint = store.fingerprint if store is not None else None
    balance = ShareBalance(workers=n_workers)
    in_flight = None

    def submit(frame, hashes):
        return client.submit(_dask_compute, model, vectors, cache_path, fingerprint, frame,
                             np.array(hashes, dtype=object), pure=False)

    def collect():
        cid, prep, parts, failures, projects, mine = in_flight
        results, hits = ([mine[:2]], mine[2]) if mine is not None else ([], 0)
        for k, rows, fut in parts:
            frame, found, seconds = fut.result()
            fut.release()
            balance.observe(k, len(rows), seconds)
            results.append((rows, frame))
            hits += found
        return cid, prep, results, hits, failures, projects

    def commit(done):
        cid, prep, results, hits, failures, projects = done
        out, stats = _finish(prep, merge_results(results), hits)
        on_commit(cid, out, failures, stats, projects)

    mark = time.perf_counter()
    for inp in ins:
        for cid, df, failures, projects in read_chunks(inp, chunk_rows, set(writer.done), report):
            prep = _prepare(df, key_columns) if df is not None else None   # as the last chunk computes
            t0 = time.perf_counter()
            done = collect() if in_flight is not None else None
            waited = time.perf_counter() - t0
            in_flight, own_seconds = None, 0.0
            if prep is not None:
                if local_share:
                    own, *shares = name_shares(prep.uniq, balance.fractions(len(prep.uniq)))
                else:
                    own, shares = None, name_shares(prep.uniq, [1] * n_workers)
                parts = [(k, rows, submit(*prep.share(rows))) for k, rows in enumerate(shares, 1) if len(rows)]
                mine = None
                if own is not None and len(own):
                    computed, own_seconds = _compute_own_share(normalizer, prep, own, store, balance)
                    mine = (own, *computed)
                in_flight = (cid, prep, parts, failures, projects, mine)
            if done is not None:
                commit(done)   # while the workers compute this chunk
            if prep is None:
                on_skip(cid)
            now = time.perf_counter()
            balance.overhead(now - mark - waited - own_seconds)   # reading, splitting, joining, writing
            mark = now
    if in_flight is not None:
        commit(collect())
