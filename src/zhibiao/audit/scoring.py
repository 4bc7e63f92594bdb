"""Project scores, grades and the per-department summary; the numbers are in ``data/audit_scoring.toml``."""
from __future__ import annotations

import tomllib
from functools import lru_cache

import pandas as pd

from ..resources import data_file
from ..taxonomy.groups import REQUIRED_GROUPS
from .codes import CODE_ORDER, SEVERITIES, code_info

SCORING_FILE = "audit_scoring.toml"
NO_DEPARTMENT = "（未注明部门）"


@lru_cache(maxsize=1)
def scoring() -> dict:
    """The scoring rules: {"score": {groups, rows, project_penalty}, "weights": {高, 中, 低}, "grades": {…}}."""
    with open(data_file(SCORING_FILE), "rb") as fh:
        rules = tomllib.load(fh)
    if set(rules.get("weights", {})) != set(SEVERITIES) or not rules.get("grades"):
        raise ValueError(f"{SCORING_FILE}: [weights] needs 高, 中 and 低, and [grades] at least one grade")
    return rules


def scoring_text() -> str:
    """The formula in words, for the report's 说明 sheet.

    >>> scoring_text().startswith("40×已设必设类别数/6 + 60×")
    True
    """
    r = scoring()
    s, w = r["score"], r["weights"]
    grades = list(r["grades"].items())
    cuts = "，".join(f"{g}≥{v:g}" for g, v in grades[:-1]) + f"，{grades[-1][0]}<{grades[-2][1]:g}" \
        if len(grades) > 1 else grades[0][0]
    return (f"{s['groups']:g}×已设必设类别数/{len(REQUIRED_GROUPS)} + {s['rows']:g}×(1−问题指标加权数/指标数)；"
            + "、".join(f"{k}={v:g}" for k, v in w.items())
            + f"；标题与项目不符或无指标另扣{s['project_penalty']:g}分。等级：{cuts}。")


def grade(score: float) -> str:
    """The grade of a score.

    >>> grade(90), grade(89.9), grade(10)
    ('优', '良', '差')
    """
    grades = list(scoring()["grades"].items())
    return next((g for g, cut in grades if score >= cut), grades[-1][0])


def _worst_weight(findings: pd.DataFrame) -> pd.Series:
    """Per (project_id, location) of row-level findings: weight of the worst severity."""
    rowf = findings[findings["location"] != ""]
    if not len(rowf):
        return pd.Series(dtype=float)
    w = rowf.assign(_w=rowf["severity"].map(scoring()["weights"]))
    return w.groupby(["project_id", "location"])["_w"].max().groupby(level=0).sum()


def project_report(rows: pd.DataFrame, projects: pd.DataFrame, findings: pd.DataFrame,
                    covered: dict) -> pd.DataFrame:
    """Per project: counts per code and severity, groups present/missing, a 0–100 score.

    The formula and its numbers are those of ``data/audit_scoring.toml`` (:func:`scoring_text`).
    """
    bad = _worst_weight(findings)
    points = scoring()["score"]
    ids = list(projects["project_id"])
    if len(findings):
        per_code = findings.groupby(["project_id", "code"]).size().unstack(fill_value=0)
        per_sev = findings.groupby(["project_id", "severity"]).size().unstack(fill_value=0)
    else:
        per_code = per_sev = pd.DataFrame(index=pd.Index([], name="project_id"))
    per_code = per_code.reindex(index=ids, columns=CODE_ORDER, fill_value=0)
    per_sev = per_sev.reindex(index=ids, columns=list(SEVERITIES), fill_value=0)
    proj_high = set(findings.loc[(findings["location"] == "") & (findings["severity"] == "高")
                                 & (findings["code"] != "missing_category"), "project_id"]) if len(findings) else set()
    bad_of = bad.to_dict()
    recs = []
    for i, p in enumerate(projects.itertuples(index=False)):
        groups = covered.get(p.project_id, set())
        n = int(p.n_indicators or 0)
        row_quality = 1 - min(1.0, float(bad_of.get(p.project_id, 0.0)) / n) if n else 0.0
        score = (points["groups"] * len(groups) / len(REQUIRED_GROUPS) + points["rows"] * row_quality
                 - (points["project_penalty"] if p.project_id in proj_high else 0))
        score = max(0.0, round(score, 1))
        sev = per_sev.iloc[i]
        rec = {"source": p.source, "department": p.department, "project_id": p.project_id,
               "project_name": p.project_name, "budget_wan": p.budget_wan, "n_indicators": n,
               "categories_present": "、".join(g for g in REQUIRED_GROUPS if g in groups),
               "categories_missing": "、".join(g for g in REQUIRED_GROUPS if g not in groups),
               "n_findings": int(sev.sum())}
        for s_ in SEVERITIES:
            rec[f"n_{s_}"] = int(sev[s_])
        rec.update({c: int(v) for c, v in per_code.iloc[i].items()})
        rec["score"] = score
        rec["grade"] = grade(score)
        recs.append(rec)
    cols = (["source", "department", "project_id", "project_name", "budget_wan", "n_indicators",
             "categories_present", "categories_missing", "n_findings"] + [f"n_{s}" for s in SEVERITIES]
            + CODE_ORDER + ["score", "grade"])
    return pd.DataFrame(recs, columns=cols)


def department_report(projects: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    cols = (["source", "department", "n_projects", "n_indicators", "n_findings"]
            + [f"n_{s}" for s in SEVERITIES] + CODE_ORDER
            + ["projects_with_high", "mean_score", "min_score", "top_problem", "worst_projects"])
    if not len(projects):
        return pd.DataFrame(columns=cols)
    p = projects.assign(department=projects["department"].replace("", NO_DEPARTMENT))
    recs = []
    for (source, dep), g in p.groupby(["source", "department"], sort=False):
        rec = {"source": source, "department": dep, "n_projects": len(g),
               "n_indicators": int(g["n_indicators"].sum()), "n_findings": int(g["n_findings"].sum())}
        for s in SEVERITIES:
            rec[f"n_{s}"] = int(g[f"n_{s}"].sum())
        for c in CODE_ORDER:
            rec[c] = int(g[c].sum())
        rec["projects_with_high"] = int((g["n_高"] > 0).sum())
        rec["mean_score"] = round(float(g["score"].mean()), 1)
        rec["min_score"] = float(g["score"].min())
        top = max(CODE_ORDER, key=lambda c: rec[c])
        rec["top_problem"] = f"{code_info(top).label}（{rec[top]}）" if rec[top] else ""
        worst = g.sort_values("score").head(3)
        rec["worst_projects"] = "；".join(f"{n}（{s:g}分）" for n, s in zip(worst["project_name"], worst["score"]))
        recs.append(rec)
    return pd.DataFrame(recs, columns=cols)
