"""Fit to the project: an indicator that belongs to another kind of project (unusual_for_project).

The copy detector (:mod:`zhibiao.copies`) needs several projects to see a row repeated; this check
works on one draft. It reads the sector (行业, ``data/sectors.tsv``) of the project from its name and
purpose, and the sectors an output row (产出: 数量, 质量, 时效, 成本) speaks of from the sector keywords
in its own words. An output whose sectors are all foreign to the project's is flagged (计划生育奖励扶助人数
in 高标准农田建设). Benefits and satisfaction are left alone: a road legitimately brings jobs or
cleaner air. The library type's own sectors are not used as evidence: measured on the four seeds,
generic types filed under one sector (补助标准, 受益人口数) flagged rows of every kind of project.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"project_id": ["p"], "project_name": ["高标准农田建设"], "location": ["r1"],
    ...                      "level3": ["保洁质量达标率"], "value": ["≥95%"], "level2": ["质量指标"]})
    >>> [f["code"] for f in fit_findings(rows)]
    ['unusual_for_project']

A project whose text names no sector, and rows that name none, are left alone: no evidence, no finding.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..copies import as_text
from ..taxonomy.library import sector_table
from .checks import _finding, _row_base

CODE = "unusual_for_project"
_KEEP = 0.5  # a sector counts when its keyword weight is at least half the best sector's


@lru_cache(maxsize=1)
def _keywords() -> list[tuple[str, str]]:
    """(keyword, sector), longest first."""
    pairs = [(k, s) for s, kws in zip(sector_table()["sector"], sector_table()["keywords"])
             if s != "通用" for k in kws]
    return sorted(pairs, key=lambda p: -len(p[0]))


def text_sectors(text: str, keep: float = _KEEP) -> set[str]:
    """The sectors a text speaks of: keyword lengths summed per sector, those with at least ``keep``
    of the best sector's weight kept (0: every sector named at all).

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
    return {s for s, w in weight.items() if w >= top * keep}


_OUTPUT_GROUPS = {"数量", "质量", "时效", "成本"}


def _is_output(r) -> bool:
    from ..taxonomy.groups import GROUP_OF
    cat = as_text(getattr(r, "category", "")) or as_text(getattr(r, "level2", ""))
    return GROUP_OF.get(cat) in _OUTPUT_GROUPS or not cat


def row_sectors(level3: str, description: str = "") -> set[str]:
    return text_sectors(f"{as_text(level3)} {as_text(description)}")


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
              "description", "category", "level2", "table_title"):
        if c not in df.columns:
            df[c] = ""
    df = df.astype(object).fillna("")   # object first: pandas refuses "" in a float column
    out = []
    for pid, part in df.groupby(df["project_id"].map(as_text), sort=False):
        names = " ".join(dict.fromkeys(part["project_name"].map(as_text)))
        # generous on the project's side (every sector its text names), strict on the row's
        project = text_sectors(f"{names} {purpose.get(pid, '')}", keep=0)
        if not project:
            continue
        for r in part.itertuples(index=False):
            if not _is_output(r):
                continue
            own = row_sectors(r.level3, r.description)
            if own and not own & project:
                out.append(_finding(CODE, _row_base(r), {
                    "sectors": "、".join(sorted(own)), "project_sectors": "、".join(sorted(project))}))
    return out


def with_fit(report, projects) -> pd.DataFrame:
    """The audit's findings plus fit to the project, which the copy detector cannot judge on a single
    draft. A row already flagged as a copy is not flagged twice."""
    from .codes import FINDING_COLUMNS
    found = report.findings
    if report.rows is None or not len(report.rows):
        return found
    rows = report.rows
    if "template_copy" in rows.columns:
        rows = rows[~rows["template_copy"].fillna(False).astype(bool)]
    fit = pd.DataFrame(fit_findings(rows, projects), columns=FINDING_COLUMNS)
    if not len(fit):
        return found
    have = set(zip(found["project_id"], found["location"], found["code"])) if len(found) else set()
    fit = fit[[(p, loc, CODE) not in have for p, loc in zip(fit["project_id"], fit["location"])]]
    return pd.concat([found, fit], ignore_index=True)
