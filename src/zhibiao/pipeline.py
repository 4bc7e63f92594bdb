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
    """

    def __init__(self, normalizer=None, recommender=None, *, models_path: str | Path | None = None):
        self.models_path = models_path
        self._normalizer = Normalizer.wrap(normalizer) if isinstance(normalizer, classify.Normalizer) \
            else normalizer
        self._recommender = recommender
        self._lock = threading.Lock()

    @classmethod
    def load(cls, models_path: str | Path | None = None, *, recommender: bool = True) -> "Pipeline":
        """Load the models now (raises ModelNotFound), rather than on first use."""
        nlp = cls(models_path=models_path)
        nlp.normalizer  # noqa: B018 - load now
        if recommender:
            nlp.recommender  # noqa: B018
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

    # -- stages ------------------------------------------------------------------------------
    @staticmethod
    def extract(paths, errors: str = "collect"):
        """Rows and projects of documents (:func:`zhibiao.ingest.extract_all`)."""
        from .ingest import extract_all
        return extract_all(paths, errors=errors)

    def normalize(self, rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                  context: bool = True) -> pd.DataFrame:
        """Tag rows (DESIGN §4), then flag template copies of rows that carry their project."""
        normalizer = self.normalizer
        if isinstance(normalizer, Normalizer):
            return normalizer.normalize(rows, projects, context=context)
        out = normalizer.normalize(rows)  # a duck-typed normalizer: the copy check is still ours
        return check_copies(out, projects) if context else out

    def __call__(self, paths, errors: str = "collect") -> Document:
        """Extract documents and normalize their rows against their projects."""
        result = self.extract(paths, errors=errors)
        normalized = self.normalize(result.rows, result.projects)
        return Document(result.rows, result.projects, normalized, list(result.failures), list(result.notes))

    def audit(self, rows: pd.DataFrame, projects: pd.DataFrame | None = None, *, embedder=None, previous=None):
        """绩效目标审核 of rows (:func:`zhibiao.audit.audit`) with this pipeline's normalizer;
        ``previous``: last year's ``(rows, projects)`` for the year-over-year check."""
        from .audit import audit
        return audit(rows, projects, normalizer=self._audit_normalizer(), embedder=embedder, previous=previous)

    def audit_files(self, paths, *, embedder=None, previous=None):
        """Extract and audit documents; unreadable files are listed in the report. ``previous``:
        last year's documents, matched project to project and indicator to indicator."""
        from .audit import audit_files
        return audit_files(paths, normalizer=self._audit_normalizer(), embedder=embedder, previous=previous)

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
                                        weights=weights)

    def selfeval(self, rows: pd.DataFrame, **kwargs) -> Any:
        """绩效自评 scoring (DESIGN §7), by :mod:`zhibiao.selfeval` when it is installed."""
        try:
            from . import selfeval as module
        except ImportError as exc:  # pragma: no cover - until selfeval.py lands
            from .errors import ZhibiaoError
            raise ZhibiaoError("selfeval is not available in this build") from exc
        return module.selfeval(rows, **kwargs)

    def pipe(self, inputs, output, *, engine: str = "local", jobs: int = 1, **kwargs):
        """Normalize many rows files or documents into one output table, streaming and
        resumable (:func:`zhibiao.batch.run_batch`). ``engine``: local (one process),
        processes (``jobs`` local worker processes) or dask (``scheduler=`` address, or a
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
