"""The one pipeline: extract → normalize → template copies → audit / suggest / selfeval.

A :class:`Pipeline` loads the models once and runs every stage for one table or, through
:meth:`Pipeline.pipe`, for a province's worth of files (engines: local, processes, Dask), as
spaCy's ``Language`` does with ``__call__`` and ``pipe``. The CLI, the HTTP service and the demo
only parse their input, call it and render what it returns, so the three give the same answer
for the same document (``tests/test_parity.py``).

    >>> import pandas as pd
    >>> nlp = Pipeline.load()
    >>> out = nlp.normalize(pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]}))
    >>> out.loc[0, "category"]
    '服务对象满意度指标'

The public ``zhibiao.Normalizer`` is :class:`Normalizer` here: the trained model's row tags
plus the check that needs a row's project (template copies), so
``zhibiao.Normalizer.load().normalize(rows, projects)`` is what the pipeline does.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from . import classify
from .copies import check_copies

__all__ = ["Pipeline", "Normalizer", "Document", "default_pipeline", "suggest", "ENGINES"]

ENGINES = ("local", "processes", "dask")


class Normalizer(classify.Normalizer):
    """``zhibiao.Normalizer``: the model's tags (:class:`zhibiao.classify.Normalizer`), then the
    template-copy check on rows that carry their project (``project_id``, as extracted), more
    precise with the projects table (purpose, goals). ``context=False`` skips the check (the
    audit runs it itself, with its evidence)."""

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Normalizer":
        return cls.wrap(classify.Normalizer.load(path))

    @classmethod
    def wrap(cls, model: classify.Normalizer) -> "Normalizer":
        """The public normalizer over a loaded model (no copy of the model's arrays)."""
        if isinstance(model, cls):
            return model
        obj = cls.__new__(cls)
        obj.__dict__.update(model.__dict__)
        return obj

    def normalize(self, df: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                  context: bool = True) -> pd.DataFrame:
        out = super().normalize(df)
        return check_copies(out, projects) if context else out

    def save(self, path: str | Path) -> Path:
        """Saved as the model class, so the artifact's import path stays ``zhibiao.classify``."""
        model = classify.Normalizer.__new__(classify.Normalizer)
        model.__dict__.update(self.__dict__)
        return model.save(path)


@dataclass
class Document:
    """What the pipeline made of some documents: rows and projects as extracted, the rows
    normalized (with the copy check), and what could not be read."""
    rows: pd.DataFrame
    projects: pd.DataFrame
    normalized: pd.DataFrame
    failures: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Pipeline:
    """Models loaded once; every stage of zhibiao behind one object.

    ``normalizer`` and ``recommender`` may be given (already loaded, or any object with the
    same methods); otherwise they are loaded from ``models_path`` (default: the shipped
    ``models/``) when first needed, once.

    ``store``: the user's own archive (:class:`zhibiao.store.CorpusStore`, or its URL / SQLite
    path). With it, suggest also retrieves the stored projects (read incrementally: a table added
    to the store counts at the next call, nothing is refitted), the audit finds last year's table
    of each project in it, and selfeval the targets that were set. Without it every answer is
    what it is without a store.
    """

    def __init__(self, normalizer=None, recommender=None, *, models_path: str | Path | None = None,
                 store=None):
        self.models_path = models_path
        self._normalizer = Normalizer.wrap(normalizer) if isinstance(normalizer, classify.Normalizer) \
            else normalizer
        self._recommender = recommender
        self._store = store
        self._store_index = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, models_path: str | Path | None = None, *, recommender: bool = True, store=None) -> "Pipeline":
        """Load the models (raises ModelNotFound) and open the store (StoreError) now, rather
        than on first use."""
        nlp = cls(models_path=models_path, store=store)
        nlp.normalizer  # noqa: B018 - load now
        if recommender:
            nlp.recommender  # noqa: B018
        nlp.store  # noqa: B018
        return nlp

    def _once(self, attr: str, load):
        """The model in ``attr``, loaded by ``load(models_path)`` the first time (thread-safe)."""
        if getattr(self, attr) is None:
            with self._lock:
                if getattr(self, attr) is None:
                    setattr(self, attr, load(self.models_path))
        return getattr(self, attr)

    @property
    def normalizer(self) -> Normalizer:
        return self._once("_normalizer", Normalizer.load)

    @property
    def recommender(self):
        from .recommend import Recommender
        return self._once("_recommender", Recommender.load)

    @property
    def store(self):
        """The :class:`zhibiao.store.CorpusStore`, opened on first use; None without one."""
        if self._store is None or not isinstance(self._store, (str, Path)):
            return self._store
        from .store import CorpusStore
        with self._lock:
            if isinstance(self._store, (str, Path)):
                self._store = CorpusStore(self._store)
        return self._store

    @property
    def store_index(self):
        """Retrieval over the store (:class:`zhibiao.store.CorpusIndex`), once per process: from the
        snapshot an earlier process saved (:meth:`CorpusStore.index_snapshot_path`) plus the changes
        since; each query first reads what the store gained or lost since (a few id reads when nothing
        changed)."""
        store = self.store
        if store is None:
            return None
        if self._store_index is None:
            with self._lock:
                if self._store_index is None:
                    self._store_index = store.neighbours_corpus(refresh_every=0.0, snapshot=True)
        return self._store_index

    # -- stages ------------------------------------------------------------------------------
    @staticmethod
    def extract(paths, errors: str = "collect"):
        """Rows and projects of documents (:func:`zhibiao.ingest.extract_all`), and the rows of rows files
        as they are (:func:`zhibiao.tables.read_inputs`)."""
        from .tables import read_inputs
        return read_inputs(paths, errors=errors)

    def normalize(self, rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                  context: bool = True) -> pd.DataFrame:
        """Tag rows (DESIGN §4), then flag template copies of rows that carry their project."""
        normalizer = self.normalizer
        if isinstance(normalizer, Normalizer):
            return normalizer.normalize(rows, projects, context=context)
        out = normalizer.normalize(rows)  # a duck-typed normalizer: the copy check is still ours
        return check_copies(out, projects) if context else out

    def __call__(self, paths, errors: str = "collect") -> Document:
        """Read documents and rows files and normalize their rows (a document's against its projects)."""
        result = self.extract(paths, errors=errors)
        normalized = self.normalize(result.rows, result.projects)
        return Document(result.rows, result.projects, normalized, list(result.failures), list(result.notes))

    def audit(self, rows: pd.DataFrame, projects: pd.DataFrame | None = None, *, embedder=None, previous=None):
        """绩效目标审核 of rows (:func:`zhibiao.audit.audit`) with this pipeline's normalizer;
        ``previous``: last year's ``(rows, projects)`` for the year-over-year check; without it,
        last year's tables are looked up in the store (when there is one)."""
        from .audit import audit
        return audit(rows, projects, normalizer=self._audit_normalizer(), embedder=embedder, previous=previous,
                     history=self._history())

    def audit_files(self, paths, *, embedder=None, previous=None):
        """Extract and audit documents; unreadable files are listed in the report. ``previous``:
        last year's documents, matched project to project and indicator to indicator; without
        it, each project's last-year table is looked up in the store (when there is one)."""
        from .audit import audit_files
        paths = list(paths)
        return audit_files(paths, normalizer=self._audit_normalizer(), embedder=embedder, previous=previous,
                           history=self._history(exclude=paths))

    def _history(self, exclude=()):
        """The audit's look-up of last year's tables in the store (None without a store)."""
        if self.store is None:
            return None
        return lambda rows, projects: self.last_year(rows, projects, exclude=exclude)

    def last_year(self, rows: pd.DataFrame, projects: pd.DataFrame, *, exclude=(), same_year: bool = False):
        """Each project's table of an earlier year in the store: ``(rows, projects, matched)``
        (``matched``: project_id → the stored project's id, as text), or None when none is found.

        The same project: the department agrees and the names are close once the year and
        generic words are dropped (:meth:`zhibiao.store.CorpusStore.match_previous`); a project's
        year is its year column, else the year its name or title states. ``exclude``: files
        under review, never their own last year even when they are stored. ``same_year``: the
        table of the project's own year, else of the year before (the 目标表 a 自评 answers to).
        """
        store = self.store
        if store is None or projects is None or not len(projects):
            return None
        from .store import project_year
        first_year = rows.groupby("project_id", sort=False)["year"].first() if "year" in rows else {}
        query = projects.reindex(columns=["project_id", "project_name", "department", "table_title"]).copy()
        own = [project_year(first_year.get(pid), n, t)
               for pid, n, t in zip(query["project_id"], query["project_name"], query["table_title"])]
        # match_previous looks strictly before the year given
        query["year"] = [None if y is None else y + int(same_year) for y in own]
        # by path, not name: this year's 预算表.xlsx is often last year's 预算表.xlsx in another folder
        found = store.match_previous(query, exclude_source={str(Path(p).resolve()) for p in exclude})
        found = found[found["prev_project_id"].notna()]
        if same_year:   # this year's 目标表 or last year's, not one of years ago
            own_of = dict(zip(query["project_id"], own))
            found = found[[own_of[p] is None or y >= own_of[p] - 1 for p, y in zip(found["project_id"], found["prev_year"])]]
        if found.empty:
            return None
        ids = sorted({int(i) for i in found["prev_project_id"]})
        prev_rows = store.rows(project_ids=ids)
        prev_rows["project_id"] = prev_rows["project_id"].astype(int).astype(str)
        prev_projects = (store.projects(project_ids=ids)
                         [["project_id", "project_name", "department", "source", "year", "table_title"]]
                         .assign(project_id=lambda d: d["project_id"].astype(str),
                                 year=lambda d: d["year"].astype("Int64")))
        matched = {c: str(int(p)) for c, p in zip(found["project_id"], found["prev_project_id"])}
        return prev_rows, prev_projects, matched

    def _audit_normalizer(self):
        from .errors import ModelNotFound
        try:
            return self.normalizer
        except ModelNotFound:
            return None  # the audit says so in its notes and judges by the declared labels

    def suggest(self, text: str, description: str = "", budget: float | None = None, k: int = 10,
                draft=None, weights: str = "default") -> dict:
        """DESIGN §5 suggestions; ``draft`` (a rows frame or a document path) is normalized first;
        ``weights`` names the 分值 rule of data/weights.tsv."""
        if draft is not None:
            if not isinstance(draft, pd.DataFrame):
                from .ingest import extract
                draft = extract(draft)
            draft = self.normalize(draft)
        return self.recommender.suggest(text, description=description, budget=budget, k=k, draft=draft,
                                        weights=weights, store=self.store_index)

    def selfeval(self, rows: pd.DataFrame, *, exclude=(), **kwargs) -> Any:
        """绩效自评 scoring (DESIGN §7), by :mod:`zhibiao.selfeval`. With a store, each row is
        also set against the target its project's 绩效目标表 set (:meth:`set_targets`)."""
        from . import selfeval as module
        if self.store is not None and isinstance(rows, pd.DataFrame):
            rows = self.set_targets(rows, exclude=exclude)
        return module.selfeval(rows, **kwargs)

    def set_targets(self, rows: pd.DataFrame, *, exclude=()) -> pd.DataFrame:
        """自评 rows with ``set_target`` and ``set_target_source``: the target the project's
        绩效目标表 in the store set for the same indicator (that year's table, else the year
        before; the project matched as :meth:`last_year` does, the indicator by type or name).
        Rows stay as they are when nothing is found; ``exclude``: the files under review."""
        from .audit.history import same_indicator
        from .copies import prepare_rows
        keyed = prepare_rows(rows)   # a project_id for every row (source#name when it has none)
        projects = keyed.groupby("project_id", sort=False).agg(
            project_name=("project_name", "first"), department=("department", "first"),
            table_title=("table_title", "first")).reset_index()
        found = self.last_year(keyed, projects, exclude=exclude, same_year=True)
        if found is None:
            return rows
        prev_rows, prev_projects, matched = found
        year_of = dict(zip(prev_projects["project_id"], prev_projects["year"]))
        by_project = {pid: [r for r in g.itertuples(index=False) if r.level3]
                      for pid, g in prev_rows.groupby("project_id")}
        set_target, where = [""] * len(keyed), [""] * len(keyed)
        for pid, g in keyed.groupby("project_id", sort=False):
            stored = by_project.get(matched.get(pid), [])
            pairs = sorted(((s, i, k) for i, c in zip(g.index, g.itertuples(index=False))
                            for k, p in enumerate(stored) if (s := same_indicator(c, p)) > 0), key=lambda t: -t[0])
            used_rows, used_stored = set(), set()
            for _s, i, k in pairs:   # best pairs first, each row and each stored row once
                if i in used_rows or k in used_stored:
                    continue
                used_rows.add(i)
                used_stored.add(k)
                p = stored[k]
                set_target[i] = str(p.value or "")
                where[i] = f"{p.source} {p.location or ''}（{year_of.get(p.project_id)}年 {p.project_name}）"
        return rows.assign(set_target=set_target, set_target_source=where)

    def pipe(self, inputs, output, *, engine: str = "local", jobs: int = 1, **kwargs):
        """Normalize many rows files or documents into one output table, streaming and
        resumable (:func:`zhibiao.batch.run_batch`). ``engine``: local (one process),
        processes (``jobs`` processes: this one and ``jobs - 1`` workers) or dask (``scheduler=`` address, or a
        LocalCluster). Documents get the copy check against their own projects."""
        from .batch import run_batch
        from .errors import ZhibiaoError
        if engine not in ENGINES:
            raise ZhibiaoError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
        if engine == "processes":
            engine, jobs = "local", max(2, jobs)
        normalizer = kwargs.pop("normalizer", None)
        if normalizer is None:  # not loaded yet: each worker loads the model itself, once
            normalizer = self._normalizer if self._normalizer is not None else self.models_path
        return run_batch(inputs, output, normalizer=normalizer, engine=engine, jobs=jobs, **kwargs)


@lru_cache(maxsize=1)
def default_pipeline() -> Pipeline:
    """The pipeline over the shipped models, loaded on first use and kept (``zhibiao.suggest``)."""
    return Pipeline()


def suggest(text: str, description: str = "", budget: float | None = None, k: int = 10,
            draft=None, weights: str = "default") -> dict:
    """``zhibiao.suggest``: DESIGN §5 suggestions from the default pipeline (models loaded once).

    ``draft``: optional partial table (a path or a DataFrame of rows with level3/value); only
    what it lacks is suggested, and its unusual rows are flagged under "draft". ``weights``: the
    分值 rule of data/weights.tsv (``default``, ``cost_in_output`` …).
    """
    return default_pipeline().suggest(text, description=description, budget=budget, k=k, draft=draft,
                                      weights=weights)
