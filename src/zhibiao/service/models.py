"""The loaded models, shared by every request: one :class:`zhibiao.pipeline.Pipeline`."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from fastapi import HTTPException

log = logging.getLogger("zhibiao.service")


@dataclass
class Models:
    """The loaded artifacts, shared by every request, behind one pipeline."""
    normalizer: Any = None
    recommender: Any = None
    error: str = ""
    load_seconds: Optional[float] = None
    _pipeline: Any = field(default=None, repr=False)

    @property
    def loaded(self) -> bool:
        return self.normalizer is not None and self.recommender is not None

    @property
    def pipeline(self):
        """The :class:`zhibiao.pipeline.Pipeline` over these models (every route calls it)."""
        if self._pipeline is None:
            from ..pipeline import Pipeline
            self._pipeline = Pipeline(self.normalizer, self.recommender)
        return self._pipeline

    @classmethod
    def load(cls, path: str | Path | None = None, store=None) -> "Models":
        """Load the normalizer and the recommender (and open the corpus ``store``, a URL, when
        given), and warm them up. Raises ModelNotFound (StoreError)."""
        from ..pipeline import Pipeline
        t0 = time.perf_counter()
        nlp = Pipeline.load(path, store=store)
        models = cls(normalizer=nlp.normalizer, recommender=nlp.recommender, _pipeline=nlp)
        models.warm_up()
        models.load_seconds = round(time.perf_counter() - t0, 3)
        return models

    def warm_up(self) -> None:
        """One small call each, so that lazily built parts (embedding engines) exist before requests."""
        import pandas as pd
        try:
            self.pipeline.normalize(pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]}))
            self.pipeline.suggest("道路建设项目", k=3)
            self.pipeline.audit(pd.DataFrame({"project_id": ["warm-up"], "project_name": ["道路建设项目"],
                                              "level3": ["道路长度"], "value": ["≥2公里"]}))
        except Exception:  # noqa: BLE001 - a warm-up failure must not stop the service; requests will report
            log.exception("model warm-up failed")

    def require(self) -> "Models":
        if not self.loaded:
            raise HTTPException(503, f"models not loaded: {self.error or 'run `zhibiao train` first'}")
        return self
