"""Fit to the project: an indicator that belongs to another kind of project (unusual_for_project).

The copy detector (:mod:`zhibiao.copies`) needs several projects to see a row repeated; this check
works on one draft. It reads the sector (行业, ``data/sectors.tsv``) of the project from its name and
purpose, and the sectors the row speaks of: the sector keywords in the row's own words, else the
sectors of the library type it was matched to when that type is specific (个性). A row whose sectors
are all foreign to the project's is flagged (计划生育奖励扶助人数 in 高标准农田建设).

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"project_id": ["p"], "project_name": ["高标准农田建设"], "location": ["r1"],
    ...                      "level3": ["保洁质量达标率"], "value": ["≥95%"], "indicator_id": [""]})
    >>> [f["code"] for f in fit_findings(rows)]
    ['unusual_for_project']

A project whose text names no sector, and rows that name none, are left alone: no evidence, no finding.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..copies import as_text
from ..taxonomy.library import load_library, sector_table
from .checks import _finding, _row_base

CODE = "unusual_for_project"
_KEEP = 0.5  # a sector counts when its keyword weight is at least half the best sector's


@lru_cache(maxsize=1)
def _keywords() -> list[tuple[str, str]]:
    """(keyword, sector), longest first."""
    pairs = [(k, s) for s, kws in zip(sector_table()["sector"], sector_table()["keywords"])
             if s != "通用" for k in kws]
    return sorted(pairs, key=lambda p: -len(p[0]))


def text_sectors(text: str) -> set[str]:
    """The sectors a text speaks of: keyword lengths summed per sector, the strong ones kept.

    >>> sorted(text_sectors("农村部分计划生育家庭奖励扶助金发放标准"))
    ['卫生健康', '社会保障和就业']
    >>> text_sectors("群众满意度")
    set()
    """
    text = as_text(text)
    weight: dict[str, int] = {}
    for kw, sector in _keywords():
        if kw in text:
            weight[sector] = weight.get(sector, 0) + len(kw)
    if not weight:
        return set()
    top = max(weight.values())
    return {s for s, w in weight.items() if w >= top * _KEEP}


@lru_cache(maxsize=1)
def _specific_type_sectors() -> dict[str, set[str]]:
    lib = load_library()
    out = {}
    for iid, sectors, scope in zip(lib["indicator_id"], lib["sectors"], lib["scope"]):
        if scope == "个性" and sectors and "通用" not in sectors:
            out[iid] = set(sectors)
    return out


def row_sectors(level3: str, description: str = "", indicator_id: str = "") -> set[str]:
    own = text_sectors(f"{as_text(level3)} {as_text(description)}")
    return own or set(_specific_type_sectors().get(as_text(indicator_id), ()))


def fit_findings(rows: pd.DataFrame, projects: pd.DataFrame | None = None) -> list[dict]:
    """unusual_for_project findings for ``rows`` (normalized or not), project by project; the project's
    text is its name (and ``purpose`` from ``projects`` when given)."""
    if rows is None or not len(rows):
        return []
    purpose = {}
    if projects is not None and len(projects) and "project_id" in projects.columns:
        for p in projects.to_dict(orient="records"):
            purpose[as_text(p.get("project_id"))] = " ".join(
                as_text(p.get(c)) for c in ("project_name", "purpose", "goals") if p.get(c) is not None)
    df = rows.copy()
    for c in ("project_id", "project_name", "department", "source", "location", "level3", "value",
              "description", "indicator_id", "table_title"):
        if c not in df.columns:
            df[c] = ""
    df = df.fillna("")
    out = []
    for pid, part in df.groupby(df["project_id"].map(as_text), sort=False):
        names = " ".join(dict.fromkeys(part["project_name"].map(as_text)))
        project = text_sectors(f"{names} {purpose.get(pid, '')}")
        if not project:
            continue
        for r in part.itertuples(index=False):
            own = row_sectors(r.level3, r.description, r.indicator_id)
            if own and not own & project:
                out.append(_finding(CODE, _row_base(r), {
                    "sectors": "、".join(sorted(own)), "project_sectors": "、".join(sorted(project))}))
    return out
