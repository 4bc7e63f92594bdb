"""The canonical indicator library (DESIGN §8): ``zhibiao/data/library/*.tsv``, one file per sector.

Each file has a syntax header (comment lines) naming its columns; the loader joins them into one
DataFrame with the lists split (``aliases``, ``sectors``, ``archetypes``, ``keywords``) and two
derived columns the models use: ``value_kind`` and ``op`` of the typical value form, and ``sector``
(the first sector, the file's own).

    >>> lib = load_library()
    >>> lib.set_index("indicator_id").loc["quality.acceptance_rate", "measure"]
    '合格率'

``validate_library`` lists what a reviewer must fix (duplicate ids, unknown categories, a unit whose
dimension does not fit the measure, a wording claimed by two types …); a test keeps it empty.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..resources import DATA_DIR
from .categories import CATEGORIES, LEVEL1

__all__ = ["LIBRARY_COLUMNS", "LIST_COLUMNS", "VALUE_KINDS", "BASIS_KINDS", "SECTORS", "ARCHETYPES",
           "library_dir", "library_path", "load_library", "get_indicator", "alias_index",
           "library_without_document", "library_without_sector", "sector_table", "archetype_table",
           "validate_library", "value_form_kind"]

LIBRARY_COLUMNS = ("indicator_id", "name", "level1", "category", "measure", "object", "action", "unit",
                   "direction", "value_form", "basis", "sectors", "archetypes", "scope", "parent", "keywords",
                   "definition", "aliases")
LIST_COLUMNS = ("aliases", "sectors", "archetypes", "keywords", "action")
VALUE_KINDS = ("numeric", "deadline", "boolean", "qualitative")
BASIS_KINDS = ("计划标准", "历史标准", "行业标准", "预算支出标准", "政策标准", "合同约定", "其他")
DIRECTIONS = ("正向", "反向")
SCOPES = ("共性", "个性")
LIBRARY_DIR = DATA_DIR / "library"
_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def library_dir() -> Path:
    return LIBRARY_DIR


def library_path() -> Path:
    """The library folder (kept under this name for callers that hash or show it)."""
    return LIBRARY_DIR


def _table(path: Path) -> pd.DataFrame:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    header = lines[0].split("\t")
    records = [dict(zip(header, (c.strip() for c in ln.split("\t")))) for ln in lines[1:]]
    return pd.DataFrame.from_records(records, columns=header).fillna("")


@lru_cache(maxsize=1)
def sector_table() -> pd.DataFrame:
    """``data/sectors.tsv``: sector, code, legacy names and keywords (lists)."""
    df = _table(DATA_DIR / "sectors.tsv")
    for c in ("legacy", "keywords"):
        df[c] = df[c].map(_split)
    return df


@lru_cache(maxsize=1)
def archetype_table() -> pd.DataFrame:
    """``data/archetypes.tsv``: archetype and keywords (a list)."""
    df = _table(DATA_DIR / "archetypes.tsv")
    df["keywords"] = df["keywords"].map(_split)
    return df


def _split(cell: str) -> list[str]:
    return [s.strip() for s in str(cell).split("|") if s.strip() and s.strip() != "-"]


_FORM_OP = (("≥", ">="), ("≤", "<="), (">", ">"), ("<", "<"), ("=", "="), ("约", "~"))
_DEADLINE = re.compile(r"(月底|月末|年底|年末|季度|日前|月前|号前|底前|之前|前完成|以前)")


def value_form_kind(form: str) -> tuple[str, str]:
    """(value_kind, op) of a typical value form.

    >>> value_form_kind("≥___亩"), value_form_kind("___月底前"), value_form_kind("是"), value_form_kind("明显改善")
    (('numeric', '>='), ('deadline', '<='), ('boolean', ''), ('qualitative', ''))
    """
    form = str(form or "").strip()
    if _DEADLINE.search(form):
        return "deadline", "<="
    if form in ("是", "否"):
        return "boolean", ""
    if "___" in form or re.search(r"\d", form):
        op = next((o for sym, o in _FORM_OP if form.startswith(sym)), "")
        return "numeric", op
    return "qualitative", ""


@lru_cache(maxsize=4)
def _load(directory: str) -> pd.DataFrame:
    frames = []
    for path in sorted(Path(directory).glob("*.tsv")):
        df = _table(path)
        missing = [c for c in LIBRARY_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path.name}: missing columns {missing}")
        df = df[list(LIBRARY_COLUMNS)].copy()
        df["file"] = path.name
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    for c in LIBRARY_COLUMNS:
        df[c] = df[c].astype(str).str.strip().replace("-", "")
    for c in LIST_COLUMNS:
        df[c] = df[c].map(_split)
    df["sector"] = df["sectors"].map(lambda s: s[0] if s else "通用")
    kinds = df["value_form"].map(value_form_kind)
    df["value_kind"] = kinds.map(lambda k: k[0])
    df["op"] = kinds.map(lambda k: k[1])
    return df


def load_library(path: str | Path | None = None) -> pd.DataFrame:
    """The library as a DataFrame (a copy; list columns as lists).  Cached per folder."""
    return _load(str(Path(path) if path is not None else LIBRARY_DIR)).copy()


def _library(path) -> pd.DataFrame:
    return _load(str(Path(path) if path is not None else LIBRARY_DIR))


def get_indicator(indicator_id: str, path: str | Path | None = None) -> dict:
    """One library entry as a dict; ``KeyError`` for an unknown id."""
    df = _library(path)
    hit = df[df["indicator_id"] == indicator_id]
    if hit.empty:
        raise KeyError(indicator_id)
    row = hit.iloc[0].to_dict()
    for c in LIST_COLUMNS:
        row[c] = list(row[c])
    return row


def alias_index(path: str | Path | None = None) -> dict[str, str]:
    """Every name and alias (exact text) → indicator_id."""
    df = _library(path)
    out: dict[str, str] = {}
    for iid, name, aliases in zip(df["indicator_id"], df["name"], df["aliases"]):
        for a in (name, *aliases):
            out.setdefault(a, iid)
    return out


SECTORS = tuple(sector_table()["sector"])
ARCHETYPES = tuple(archetype_table()["archetype"])


def _norm_text(s: str) -> str:
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


def library_without_sector(sector: str, path: str | Path | None = None) -> pd.DataFrame:
    """The library minus every type whose own sector (its first) is ``sector``: leave-one-sector-out."""
    df = load_library(path)
    return df[df["sector"] != sector].reset_index(drop=True)


def validate_library(df: pd.DataFrame | None = None) -> list[str]:
    """What a reviewer must fix, one line each; empty when the library is sound."""
    from ..values import parse_value, unit_dimension
    from .names import lexicon
    df = load_library() if df is None else df
    lex = lexicon()
    problems: list[str] = []
    where = (df["file"] + ":" + df["indicator_id"]) if "file" in df else df["indicator_id"]
    for iid, n in df["indicator_id"].value_counts().items():
        if n > 1:
            problems.append(f"{iid}: id used {n} times")
    owner: dict[str, str] = {}
    for w, r in zip(where, df.itertuples(index=False)):
        if not _ID.match(r.indicator_id):
            problems.append(f"{w}: id must be lower-case ascii words joined by dots")
        if r.category not in CATEGORIES:
            problems.append(f"{w}: unknown category {r.category!r}")
        elif r.level1 not in LEVEL1:
            problems.append(f"{w}: unknown level1 {r.level1!r}")
        if r.measure not in lex.measure_dimensions and not r.measure.endswith("率"):
            problems.append(f"{w}: measure {r.measure!r} is not in lexicon/measures.tsv")
        unknown_actions = [a for a in r.action if a not in lex.actions.values()]
        if unknown_actions:
            problems.append(f"{w}: unknown actions {unknown_actions}")
        if r.direction not in DIRECTIONS:
            problems.append(f"{w}: direction must be 正向 or 反向, not {r.direction!r}")
        if r.basis not in BASIS_KINDS:
            problems.append(f"{w}: basis {r.basis!r} is not one of {'/'.join(BASIS_KINDS)}")
        if r.scope not in SCOPES:
            problems.append(f"{w}: scope must be 共性 or 个性")
        bad_sectors = [s for s in r.sectors if s not in SECTORS]
        if bad_sectors or not r.sectors:
            problems.append(f"{w}: unknown or missing sectors {bad_sectors}")
        bad_arch = [a for a in r.archetypes if a not in ARCHETYPES]
        if bad_arch:
            problems.append(f"{w}: unknown archetypes {bad_arch}")
        if not r.value_form:
            problems.append(f"{w}: value_form is empty")
        if r.unit:
            canon = parse_value("1" + r.unit).unit
            dim = unit_dimension(canon) if canon else None
            allowed = lex.measure_dimensions.get(r.measure, ())
            if dim is None:
                problems.append(f"{w}: unit {r.unit!r} is not in units.txt")
            elif allowed and "-" not in allowed and dim.split("/")[0] not in allowed:
                problems.append(f"{w}: unit {r.unit!r} ({dim}) does not fit measure {r.measure} ({'/'.join(allowed)})")
        for wording in {_norm_text(a) for a in (r.name, *r.aliases)}:
            if owner.setdefault(wording, r.indicator_id) != r.indicator_id:
                problems.append(f"{w}: wording {wording!r} is claimed by {owner[wording]} too")
    ids = set(df["indicator_id"])
    for w, parent in zip(where, df["parent"]):
        if parent and parent not in ids:
            problems.append(f"{w}: parent {parent!r} is no library type")
    return problems
