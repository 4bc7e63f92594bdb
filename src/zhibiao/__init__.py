"""zhibiao: clean, comparable data from Chinese budget performance indicators.

The public API is four names; the CLI, the HTTP service and the batch engine
are thin layers over them::

    >>> import zhibiao
    >>> zhibiao.parse_value("85%以上").op
    '>='
"""
from __future__ import annotations

from .errors import ZhibiaoError

__version__ = "0.1.0"
__all__ = ["parse_value", "extract", "Normalizer", "suggest", "selfeval", "ZhibiaoError", "__version__"]


def __getattr__(name):  # lazy, so `import zhibiao` stays cheap for the CLI
    if name == "parse_value":
        from .values import parse_value
        return parse_value
    if name == "extract":
        from .ingest import extract
        return extract
    if name == "Normalizer":
        from .classify import Normalizer
        return Normalizer
    if name == "suggest":
        from .recommend import suggest
        return suggest
    if name == "selfeval":
        from .selfeval import selfeval
        return selfeval
    raise AttributeError(f"module 'zhibiao' has no attribute {name!r}")
