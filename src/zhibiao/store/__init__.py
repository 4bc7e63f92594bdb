"""The corpus store: a user's own archive of past tables (SQLite by default, PostgreSQL shared).

    >>> from zhibiao.store import CorpusStore
    >>> store = CorpusStore("sqlite://")          # in memory; default: the user data dir or $ZHIBIAO_DB
    >>> store.stats()["documents"], store.stats()["schema_version"]
    (0, 1)

See ``_store.py`` for the interface, ``_index.py`` for retrieval from it, ``_twin.py``
for the simulated earlier-year twin used by the evaluation.
"""
from __future__ import annotations

from ._names import NAME_THRESHOLD, dice, name_key, project_year
from ._store import ENV_VAR, AddReport, CorpusStore, ExtractNormalize, ProjectMatch, default_url

__all__ = [
    "ENV_VAR",
    "NAME_THRESHOLD",
    "AddReport",
    "CorpusIndex",
    "CorpusStore",
    "ExtractNormalize",
    "ProjectMatch",
    "default_url",
    "dice",
    "evaluate_twin",
    "format_twin",
    "make_twin",
    "name_key",
    "project_year",
]


def __getattr__(name):  # keep `import zhibiao.store` light
    if name == "CorpusIndex":
        from ._index import CorpusIndex
        return CorpusIndex
    if name == "make_twin":
        from ._twin import make_twin
        return make_twin
    if name in ("evaluate_twin", "format_twin"):
        from . import _twin
        return getattr(_twin, name)
    raise AttributeError(f"module 'zhibiao.store' has no attribute {name!r}")
