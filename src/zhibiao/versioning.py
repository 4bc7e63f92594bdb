"""The zhibiao version stamped into saved models, scikit-learn style.

A model pickled by this code carries ``_zhibiao_version``; unpickling one built by another
version warns with :class:`zhibiao.errors.InconsistentVersionWarning` (its tags may differ from
a model retrained on this version) but still loads. Models saved before the stamp existed
carry none and load silently.

    >>> import warnings
    >>> state = VersionStamped().__getstate__()
    >>> state[STAMP] == __version__
    True
    >>> state[STAMP] = "0.0.1"
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     VersionStamped().__setstate__(state)
    >>> caught[0].category.__name__
    'InconsistentVersionWarning'
"""
from __future__ import annotations

import warnings

from . import __version__
from .errors import InconsistentVersionWarning

STAMP = "_zhibiao_version"


class VersionStamped:
    """Mixin: ``__getstate__`` stamps the version, ``__setstate__`` checks it."""

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("built_with", None)
        state[STAMP] = __version__
        return state

    def __setstate__(self, state):
        built = state.pop(STAMP, None)
        if built is not None and built != __version__:
            warnings.warn(f"{type(self).__name__} was saved by zhibiao {built} and is loaded by {__version__}; "
                          "its results may differ: retrain with `zhibiao train`",
                          InconsistentVersionWarning, stacklevel=2)
        self.__dict__.update(state)
        self.__dict__["built_with"] = built

    built_with: str | None = None
