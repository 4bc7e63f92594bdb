"""The audit's checks: one finding per problem, from normalized rows and the projects table."""
from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd

from ..classify import GROWTH, RATE_NAME, RATE_UNITS
from ..copies import _clean_name, as_text, title_closeness
from ..taxonomy import state_judged
from ..taxonomy.groups import GROUP_EXAMPLES, GROUP_OF, MEASURABLE_GROUPS, REQUIRED_GROUPS
from ..text import normalize_chars
from . import plausible
from .codes import _render, code_info
from .kinds import missing_core, project_kind

# A rate > 100% written as “292%” is usually a lost ≥ (≥92%).
_LOST_GE = re.compile(r"^2(\d{1,3}(?:\.\d+)?)(%|百分比)$")


def _finding(code: str, base: dict, ctx: dict, variant: str | None = None) -> dict:
    info = code_info(code, variant)
    full = {**base, **ctx}
    return {
        "department": base.get("department", ""), "project_id": base.get("project_id", ""),
        "project_name": base.get("project_name", ""), "source": base.get("source", ""),
        "location": base.get("location", ""), "level3": base.get("level3", ""),
        "value": base.get("value", ""), "code": code, "label": info.label, "severity": info.severity,
        "message": _render(info.message, full), "suggestion": _render(info.suggestion, full),
    }


def _short(text: str, n: int = 30) -> str:
    text = normalize_chars(as_text(text)).strip().rstrip("。.")
    return text if len(text) <= n else text[:n] + "…"


def _row_base(r) -> dict:
    return {"department": r.department, "project_id": r.project_id, "project_name": r.project_name,
            "source": r.source, "location": r.location, "level3": normalize_chars(r.level3),
            "value": normalize_chars(r.value), "description": _short(r.description),
            "table_title": r.table_title}


def _number(x) -> float | None:
    try:
        if x is None or pd.isna(x):
            return None
        return float(x)
    except (TypeError, ValueError):
        return None


def _expected_unit(indicator_id: str, library) -> str:
    if library is None or not indicator_id or indicator_id not in library.index:
        return ""
    return as_text(library.loc[indicator_id].get("unit"))


def _row_findings(rows: pd.DataFrame, library) -> list[dict]:
    out = []
    for r in rows.itertuples(index=False):
        flags = set(f for f in as_text(r.flags).split(";") if f)
        base = _row_base(r)
        cat, declared = as_text(r.category), as_text(r.declared_category)
        kind = as_text(r.value_kind)
        unit = as_text(r.unit)
        number = _number(r.number)
        name = _clean_name(r.level3)
        value_text = normalize_chars(r.value).replace(" ", "")

        # gated: only for a pair the classifier separates reliably, above its cut (audit/mismatch.py)
        if "category_mismatch" in flags and declared and cat:
            out.append(_finding("category_mismatch", base, {"category": cat, "declared": declared}))

        # not measurable: a qualitative target where the category needs a quantity or a deadline
        group = GROUP_OF.get(declared) if GROUP_OF.get(declared) in MEASURABLE_GROUPS else GROUP_OF.get(cat)
        measurable_cat = declared if GROUP_OF.get(declared) in MEASURABLE_GROUPS else cat
        if kind == "qualitative" and ("not_measurable" in flags or group in MEASURABLE_GROUPS) \
                and not state_judged(as_text(r.level3)):
            out.append(_finding("not_measurable", base, {"category": measurable_cat or "该类指标"}))

        if kind == "empty" or "missing_value" in flags:
            out.append(_finding("missing_value", base, {}, "unit_only" if value_text else None))

        # units
        expected = ""
        if "unit_mismatch" in flags:
            expected = _expected_unit(as_text(r.indicator_id), library) or "其他单位"
        elif unit and RATE_NAME.search(name) and unit not in RATE_UNITS:
            expected = "%"
        if expected:
            kind_of = f"“{as_text(r.indicator_name)}”" if as_text(r.indicator_name) else "该类指标"
            out.append(_finding("unit_mismatch", base, {"unit": unit, "expected": expected, "name": kind_of}))

        # implausible values
        if number is not None:
            rate_like = unit == "%" or (not unit and RATE_NAME.search(name) and kind == "numeric")
            if rate_like and number > 100 and not GROWTH.search(name):
                m = _LOST_GE.match(value_text)
                if m and 0 < float(m.group(1)) <= 100:
                    out.append(_finding("implausible_value", base,
                                        {"suggested_value": f"≥{m.group(1)}%"}, "lost_ge"))
                else:
                    out.append(_finding("implausible_value", base, {}))
            elif number == 0 and as_text(r.op) == ">=":
                out.append(_finding("implausible_value", base, {}, "zero"))
            elif (rng := plausible.out_of_range(r.level3, unit, number, as_text(r.op))) is not None:
                out.append(_finding("out_of_range", base, {"usual": rng.usual}, "reverse" if rng.reverse else None))

        if kind != "empty" and plausible.lacks_unit(r.level3, kind, unit):
            out.append(_finding("missing_unit", base, {}))

        if "unmatched_indicator" in flags:
            out.append(_finding("unmatched_indicator", base, {}))
    return out


def _duplicate_findings(rows: pd.DataFrame) -> list[dict]:
    names = rows["level3"].map(lambda s: re.sub(r"\s+", "", _clean_name(s)))
    key = rows["project_id"].astype(str) + "\x00" + names
    n_of = key.value_counts()
    second = key.duplicated(keep="first") & (names != "")
    second &= ~key.where(second).duplicated(keep="first") | ~second
    out = []
    for r, k in zip(rows[second].itertuples(index=False), key[second]):
        out.append(_finding("duplicate_indicator", _row_base(r), {"n": int(n_of[k])}))
    return out


_TITLE_SAYS = re.compile(r"title_mismatch:\s*title says\s*([^;]*)")


def _title_findings(rows: pd.DataFrame, projects: pd.DataFrame) -> list[dict]:
    out = []
    warn_by_project = rows.groupby("project_id")["warnings"].apply(lambda s: ";".join(set(s)))
    for p in projects.itertuples(index=False):
        warnings = as_text(warn_by_project.get(p.project_id, "")) + ";" + as_text(getattr(p, "warnings", ""))
        if "title_mismatch" not in warnings:
            continue
        m = _TITLE_SAYS.search(warnings)
        name_in_title = m.group(1).strip() if m else as_text(p.table_title)
        minor = title_closeness(name_in_title, p.project_name) >= 0.6
        base = {"department": p.department, "project_id": p.project_id, "project_name": p.project_name,
                "source": p.source, "location": "", "level3": "", "value": "",
                "table_title": p.table_title or name_in_title}
        out.append(_finding("title_mismatch", base, {"name_in_title": name_in_title},
                            "minor" if minor else None))
    return out


def _project_groups(rows: pd.DataFrame) -> dict[str, set]:
    covered: dict[str, set] = defaultdict(set)
    for pid, cat, declared in zip(rows["project_id"], rows["category"].map(as_text), rows["declared_category"].map(as_text)):
        for c in (cat, declared):
            if GROUP_OF.get(c):
                covered[pid].add(GROUP_OF[c])
    return covered


def _missing_category_findings(rows: pd.DataFrame, projects: pd.DataFrame, covered: dict) -> list[dict]:
    out = []
    for p in projects.itertuples(index=False):
        if not p.n_indicators:
            out.append(_finding("no_indicators", _project_base(p), {}))
            continue
        for group in REQUIRED_GROUPS:
            if group not in covered.get(p.project_id, set()):
                out.append(_finding("missing_category", _project_base(p),
                                    {"group": group, "examples": GROUP_EXAMPLES[group]}, group))
    return out


def _project_base(p) -> dict:
    return {"department": p.department, "project_id": p.project_id, "project_name": p.project_name,
            "source": p.source, "location": "", "level3": "", "value": "", "table_title": p.table_title}


def _copy_findings(rows: pd.DataFrame, copies: pd.DataFrame) -> list[dict]:
    out = []
    hit = copies["template_copy"].to_numpy(dtype=bool)
    sub = copies[hit]
    for r, others, n, rule in zip(rows[hit].itertuples(index=False), sub["copy_others"],
                                  sub["copy_recurs"], sub["copy_rule"]):
        others = others.split("、")
        shown = "、".join(others[:3]) + ("等" if n > 3 else "")
        out.append(_finding("template_copy", _row_base(r), {"n": int(n), "others": shown},
                            "single" if rule == "single" else None))
    return out


_YEAR_IN_VALUE = re.compile(r"((?:19|20)\d\d)\s*年")


def _budget_year(text) -> int | None:
    m = re.match(r"\s*((?:19|20)\d\d)", as_text(text))
    return int(m.group(1)) if m else None


def _value_findings(rows: pd.DataFrame, projects: pd.DataFrame) -> list[dict]:
    """指标值合理性 against the project: a total cost over the budget, a deadline after the budget year."""
    budget_of = {p: _number(b) for p, b in zip(projects["project_id"], projects["budget_wan"])}
    year_of = {}
    if "year" in projects.columns:
        year_of = {p: _budget_year(y) for p, y in zip(projects["project_id"], projects["year"])}
    out = []
    for r in rows.itertuples(index=False):
        base = _row_base(r)
        cats = as_text(r.category) + as_text(r.declared_category)
        budget = budget_of.get(r.project_id)
        if "成本" in cats and budget and as_text(r.op) not in (">=", ">"):
            total = plausible.money_total(r.number, as_text(r.unit), getattr(r, "base_value", None),
                                          as_text(getattr(r, "base_unit", "")))
            if total is not None and total > budget * 10000 * 1.0001:
                out.append(_finding("cost_over_budget", base, {"total": f"{total / 10000:g}", "budget": f"{budget:g}"}))
        year = _budget_year(getattr(r, "year", "")) or year_of.get(r.project_id)
        if year and as_text(r.value_kind) in ("deadline", "period"):
            stated = [int(y) for y in _YEAR_IN_VALUE.findall(normalize_chars(r.value))]
            if stated and max(stated) > year:
                out.append(_finding("deadline_after_year", base, {"year": year}))
    return out


def _project_rule_findings(rows: pd.DataFrame, projects: pd.DataFrame, kind_of=project_kind) -> list[dict]:
    """核心指标缺失 (data/core_indicators.tsv) and weights that do not sum to 100."""
    out = []
    by_project = {pid: g for pid, g in rows.groupby("project_id", sort=False)}
    for p in projects.itertuples(index=False):
        g = by_project.get(p.project_id)
        if g is None or not len(g):
            continue
        kind = kind_of(as_text(p.project_name), as_text(getattr(p, "purpose", "")), _number(p.budget_wan))
        for rule in missing_core(as_text(p.project_name), g, kind):
            out.append(_finding("missing_core", _project_base(p),
                                {"need": rule.need, "reason": rule.reason, "fix": rule.fix}))
        if "weight" in g.columns:
            total = plausible.weight_total(g["weight"])
            # a 自评表's indicators may weigh 90, the 预算执行率 taking the other 10 (财预〔2020〕10号)
            selfeval = "actual_value" in g.columns and g["actual_value"].map(as_text).any()
            allowed = (100.0, 90.0) if selfeval else (100.0,)
            if total is not None and all(abs(total - a) > 0.01 for a in allowed):
                out.append(_finding("weights_sum", _project_base(p), {"total": f"{total:g}"}))
    return out


def _history_findings(rows: pd.DataFrame, projects: pd.DataFrame, prev_rows: pd.DataFrame,
                      prev_projects: pd.DataFrame, library, matched: dict | None = None) -> list[dict]:
    from .history import compare
    out = []
    for ev in compare(rows, projects, prev_rows, prev_projects, library, matched):
        r = rows.loc[ev["index"]]
        last = "、".join(x for x in (f"目标“{ev['last_target']}”" if ev["last_target"] else "",
                                     f"实际“{ev['last_actual']}”" if ev["last_actual"] else "") if x)
        out.append(_finding("target_below_last_year", _row_base(r), {**ev, "last": last}))
    return out
