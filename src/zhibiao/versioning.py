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

:func:`load_saved` loads a saved model through a plain copy in the user cache, with the C unpickler.
"""
from __future__ import annotations

import hashlib
import pickle
import sys
import warnings
from pathlib import Path

from . import __version__
from .errors import InconsistentVersionWarning
from .resources import atomic_path, user_cache_dir

STAMP = "_zhibiao_version"


class VersionStamped:
    """Mixin: ``__getstate__`` stamps the version, ``__setstate__`` checks it."""

    def __getstate__(self):
        state = self.__dict__.copy()
        # a model loaded and saved again was still built by the version that built it
        state[STAMP] = state.pop("built_with", None) or __version__
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


# Loading a saved model ----------------------------------------------------------------------------

_COPIES_KEPT = 3          # plain copies kept per model file name in the user cache (the newest)
_DIGEST = 32              # bytes of the blake2b digest that opens a copy


def load_saved(path: str | Path):
    """``joblib.load(path)``, through a plain pickle of the model kept in the user cache.

    joblib unpickles in pure Python (1.1–1.3 s for the shipped normalizer, a million calls in the
    interpreter; ``benchmarks/startup.py``), in every process that loads it: each CLI call, each spawned
    batch or service worker. The C unpickler reads the copy, its digest checked, in 0.3 s. The copy is named by the
    saved file's content and by the versions of Python and of the libraries whose classes it holds, and
    opens with a digest of itself: a retrained model, another environment or a damaged copy is never
    read; joblib reads the file and writes the copy again. A ``.pickle`` file (the batch engine's
    hand-over to its workers) is a plain pickle already. Any failure of the cache leaves joblib to load
    the file.
    """
    import joblib

    path = Path(path)
    if path.suffix == ".pickle":
        with open(path, "rb") as fh:
            return pickle.load(fh)
    try:
        copy = _plain_copy_path(path)
    except Exception:  # noqa: BLE001 - no cache: the saved file decides
        copy = None
    if copy is not None:
        try:
            model = _read_copy(copy)
        except Exception:  # noqa: BLE001 - a copy this environment cannot read: written again
            model = None
        if model is not None:
            return model
    model = joblib.load(path)
    if copy is not None:
        try:
            _write_copy(copy, model)
        except Exception:  # noqa: BLE001 - an optimisation only (a read-only cache)
            pass
    return model


def _plain_copy_path(path: Path) -> Path:
    from importlib.metadata import version

    digest = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    libraries = "|".join(f"{name} {version(name)}" for name in ("numpy", "scipy", "scikit-learn", "pandas"))
    digest.update(f"{sys.version_info[:3]}|{__version__}|{libraries}".encode())
    return user_cache_dir() / f"model-{path.stem[:40]}-{digest.hexdigest()}.pickle"


def _read_copy(copy: Path):
    try:
        fh = open(copy, "rb")
    except FileNotFoundError:
        return None
    with fh:
        expected, digest = fh.read(_DIGEST), hashlib.blake2b(digest_size=_DIGEST)
        while block := fh.read(1 << 20):
            digest.update(block)
        if digest.digest() != expected:
            return None
        fh.seek(_DIGEST)
        return pickle.load(fh)


def _write_copy(copy: Path, model) -> None:
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    with atomic_path(copy) as part, open(part, "wb") as fh:   # a concurrent reader sees the whole copy or none
        fh.write(hashlib.blake2b(payload, digest_size=_DIGEST).digest())
        fh.write(payload)
    family = f"{copy.stem.rsplit('-', 1)[0]}-{'?' * 24}.pickle"   # the copies of files of this name
    for stale in sorted(copy.parent.glob(family), key=lambda p: p.stat().st_mtime)[:-_COPIES_KEPT]:
        stale.unlink(missing_ok=True)
