"""zhibiao: clean, comparable data from Chinese budget performance indicators.

The public API is these names and :class:`zhibiao.pipeline.Pipeline`, which loads the
models once and runs every stage; the CLI, the HTTP service and the batch engine are thin
layers over it::

    >>> import zhibiao
    >>> zhibiao.parse_value("85%以上").op
    '>='
"""
from __future__ import annotations

from .errors import ZhibiaoError

__version__ = "0.1.0"
__all__ = ["parse_value", "extract", "Normalizer", "suggest", "selfeval", "Pipeline", "ZhibiaoError", "__version__"]


def __getattr__(name):  # lazy, so `import zhibiao` stays cheap for the CLI
    if name == "parse_value":
        from .values import parse_value
        return parse_value
    if name == "extract":
        from .ingest import extract
        return extract
    if name == "Normalizer":
        from .pipeline import Normalizer
        return Normalizer
    if name == "suggest":
        from .pipeline import suggest
        return suggest
    if name == "Pipeline":
        from .pipeline import Pipeline
        return Pipeline
    if name == "selfeval":
        from .selfeval import selfeval
        return selfeval
    raise AttributeError(f"module 'zhibiao' has no attribute {name!r}")
