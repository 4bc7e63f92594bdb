"""Where the shipped data files, model artifacts and training data live.

A source checkout (editable install) uses the repository's top-level
``models/`` and ``training_data/``; a wheel carries copies inside the package.
``ZHIBIAO_MODELS`` overrides the model directory.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
_REPO_ROOT = PACKAGE_DIR.parent.parent
LIBRARY_FILE = "indicator_library.csv"   # the canonical indicator library, in training_data/


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
    # resources is the base layer: it names the library file rather than asking taxonomy
    for path in sorted(DATA_DIR.rglob("*")) + [training_data_dir() / LIBRARY_FILE]:
        if path.is_file():
            h.update(path.relative_to(path.parent.parent).as_posix().encode() + path.read_bytes())
    return h.hexdigest()[:12]
