"""The curation loop of the library: names the matcher abstained on → candidate types → reviewed → library.

``propose_types`` groups normalized rows without a type by their structural key (DESIGN §8), so the same
unseen indicator written several ways becomes one candidate, with its proposed measure, object, category,
unit and value form, its wordings and how often each occurs. A reviewer marks the candidates to keep
(``keep`` = 是) and corrects any field; ``add_types`` appends the kept ones to the sector files after the
library validator accepted them; ``zhibiao train`` then learns them.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ..errors import ZhibiaoError
from .library import LIBRARY_COLUMNS, LIBRARY_DIR, _load, load_library, sector_table, validate_library
from .names import lexicon, parse_name

__all__ = ["CANDIDATE_COLUMNS", "propose_types", "add_types", "KEEP_WORDS"]

CANDIDATE_COLUMNS = ("keep", "count", "examples", *LIBRARY_COLUMNS)
KEEP_WORDS = frozenset({"是", "y", "yes", "1", "true", "✓", "√", "keep", "保留"})
_REVERSE = re.compile(r"事故|投诉|发生|违规|违法|案件|伤亡|死亡|差错|超标|返贫|损失|流失|辍学|下降|降低|减少")


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    return df[column].fillna("").astype(str) if column in df else pd.Series([""] * len(df), index=df.index)


def propose_types(rows: pd.DataFrame, min_count: int = 1) -> pd.DataFrame:
    """Candidate library types from normalized rows whose ``indicator_id`` is empty, most frequent first."""
    if "level3" not in rows:
        raise ZhibiaoError("propose needs normalized rows with a level3 column")
    ids = _text(rows, "indicator_id")
    open_rows = rows[ids == ""].copy()
    open_rows["_key"] = pd.Series([parse_name(n).key for n in _text(open_rows, "level3")], index=open_rows.index,
                                  dtype=object)   # object even when there are no rows, for .str
    open_rows = open_rows[open_rows["_key"].str.strip("|") != ""]
    records = []
    for key, g in open_rows.groupby("_key", sort=False):
        if len(g) < min_count:
            continue
        records.append(_candidate(key, g))
    out = pd.DataFrame.from_records(records, columns=list(CANDIDATE_COLUMNS))
    return out.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def _mode(values) -> str:
    values = [v for v in values if v]
    return Counter(values).most_common(1)[0][0] if values else ""


def _candidate(key: str, g: pd.DataFrame) -> dict:
    wordings = Counter(_text(g, "level3").str.strip())
    name = wordings.most_common(1)[0][0]
    parts = parse_name(name)
    category = _mode(_text(g, "category")) or lexicon().measure_category.get(parts.measure, "")
    unit = _mode(_text(g, "unit"))
    op = _mode(_text(g, "op"))
    symbol = {">=": "≥", "<=": "≤", "=": "=", ">": ">", "<": "<"}.get(op, "")
    kind = _mode(_text(g, "value_kind"))
    form = {"deadline": "___月底前", "boolean": "是", "qualitative": "明显提升"}.get(kind, f"{symbol}___{unit}")
    level1 = _mode(_text(g, "level1_canonical")) or ""
    return {
        "keep": "", "count": int(len(g)),
        "examples": "；".join(f"{w}（{n}）" for w, n in wordings.most_common(8)),
        "indicator_id": "new." + hashlib.sha1(key.encode()).hexdigest()[:10],
        "name": name, "level1": level1, "category": category,
        "measure": parts.measure, "object": parts.object, "action": "|".join(parts.actions), "unit": unit,
        "direction": "反向" if _REVERSE.search(name) else "正向", "value_form": form, "basis": "计划标准",
        "sectors": "通用", "archetypes": "", "scope": "个性", "parent": "", "keywords": "",
        "definition": "", "aliases": "|".join(w for w, _ in wordings.most_common() if w != name),
    }


def _list(cell) -> list[str]:
    if isinstance(cell, list):
        return cell
    return [s.strip() for s in str(cell or "").split("|") if s.strip() and s.strip() != "-"]


def add_types(candidates: pd.DataFrame, library_dir: str | Path | None = None) -> dict[str, int]:
    """Append the candidates marked ``keep`` to their sector's file; returns {file: types added}.

    Nothing is written unless the library with the new types passes ``validate_library``; the
    ``ZhibiaoError`` lists what the reviewer must fix.
    """
    library_dir = Path(library_dir) if library_dir else LIBRARY_DIR
    if "keep" not in candidates:
        raise ZhibiaoError("the candidates have no keep column: give the file `zhibiao library propose` wrote, "
                           "with keep = 是 on the types to add")
    keep = candidates[candidates["keep"].fillna("").astype(str).str.strip().str.lower().isin(KEEP_WORDS)]
    if keep.empty:
        return {}
    new = pd.DataFrame({c: keep[c].fillna("").astype(str) if c in keep else "" for c in LIBRARY_COLUMNS})
    for c in ("aliases", "sectors", "archetypes", "keywords", "action"):
        new[c] = new[c].map(_list)
    new["sector"] = new["sectors"].map(lambda s: s[0] if s else "通用")
    new["file"] = "(new)"
    current = load_library(library_dir)
    problems = validate_library(pd.concat([current, new], ignore_index=True))
    if problems:
        raise ZhibiaoError("the candidates need fixing before they join the library: " + "; ".join(problems[:10]))
    codes = dict(zip(sector_table()["sector"], sector_table()["code"]))
    written: dict[str, int] = {}
    for sector, g in new.groupby("sector"):
        path = library_dir / f"{codes[sector]}_{sector}.tsv"
        if not path.exists():
            header = (library_dir / "000_通用.tsv").read_text(encoding="utf-8").split("\nindicator_id\t")[0]
            path.write_text(header.replace("sector 通用", f"sector {sector}") + "\n" + "\t".join(LIBRARY_COLUMNS)
                            + "\n", encoding="utf-8")
        lines = ["\t".join(_cell(r[c]) for c in LIBRARY_COLUMNS) for _, r in g.iterrows()]
        text = path.read_text(encoding="utf-8")
        path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
        written[path.name] = len(lines)
    _load.cache_clear()
    return written


def _cell(value) -> str:
    text = "|".join(value) if isinstance(value, list) else str(value)
    return " ".join(text.split()) or "-"
