"""The canonical indicator library: ``training_data/indicator_library.csv``.

One row per canonical indicator type.  ``aliases`` is ``|``-separated in the file and a list in the
DataFrame.  The file is the reviewable source of truth; edit it in Excel (UTF-8 CSV) and keep the
ids stable: labels and models refer to them.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..resources import training_data_dir

__all__ = ["LIBRARY_COLUMNS", "VALUE_KINDS", "SECTORS", "library_path", "load_library",
           "get_indicator", "alias_index", "library_without_document"]

LIBRARY_COLUMNS = ("indicator_id", "name", "level1", "category", "sector", "value_kind", "unit",
                   "op", "definition", "aliases", "basis")
VALUE_KINDS = ("numeric", "deadline", "boolean", "qualitative")
SECTORS = ("通用", "交通市政", "环卫绿化", "教育", "卫生健康", "社保就业", "农业农村", "党建",
           "生态环境", "文化体育", "政法", "科技招商", "应急安全")
LIBRARY_FILE = "indicator_library.csv"


def library_path() -> Path:
    return training_data_dir() / LIBRARY_FILE


@lru_cache(maxsize=4)
def _load(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in LIBRARY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    df = df[list(LIBRARY_COLUMNS)].copy()
    for c in LIBRARY_COLUMNS:
        df[c] = df[c].str.strip()
    df["aliases"] = df["aliases"].map(lambda s: [a.strip() for a in s.split("|") if a.strip()])
    return df


def load_library(path: str | Path | None = None) -> pd.DataFrame:
    """The library as a DataFrame (a copy; aliases as lists).  Cached per path."""
    p = str(Path(path) if path is not None else library_path())
    return _load(p).copy()


def get_indicator(indicator_id: str, path: str | Path | None = None) -> dict:
    """One library entry as a dict; ``KeyError`` for an unknown id."""
    df = _load(str(Path(path) if path is not None else library_path()))
    hit = df[df["indicator_id"] == indicator_id]
    if hit.empty:
        raise KeyError(indicator_id)
    row = hit.iloc[0].to_dict()
    row["aliases"] = list(row["aliases"])
    return row


def alias_index(path: str | Path | None = None) -> dict[str, str]:
    """Every name and alias (exact text) → indicator_id."""
    df = _load(str(Path(path) if path is not None else library_path()))
    out: dict[str, str] = {}
    for iid, name, aliases in zip(df["indicator_id"], df["name"], df["aliases"]):
        for a in (name, *aliases):
            out.setdefault(a, iid)
    return out


def _norm_text(s: str) -> str:
    import re
    import unicodedata
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(s)))


def library_without_document(held_out_source: str, rows: pd.DataFrame,
                             path: str | Path | None = None) -> pd.DataFrame:
    """The library minus the aliases that only the held-out document could have taught it.

    The aliases include the seeds' own spellings (so that the library covers real tables).  For an
    honest leave-one-document-out evaluation, drop every alias whose normalised text equals a
    ``level3`` that occurs in ``held_out_source`` and in no other document of ``rows``.  Standard
    names are kept.  ``held_out_source`` matches ``rows['source']`` exactly or as a prefix.
    """
    df = load_library(path)
    src = rows["source"].astype(str)
    held = src.str.startswith(held_out_source)
    inside = {_norm_text(t) for t in rows.loc[held, "level3"]}
    outside = {_norm_text(t) for t in rows.loc[~held, "level3"]}
    only_held = inside - outside
    df["aliases"] = df["aliases"].map(lambda al: [a for a in al if _norm_text(a) not in only_held])
    return df
