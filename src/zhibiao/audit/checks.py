"""The audit's checks: one finding per problem, from normalized rows and the projects table."""
from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd

from ..classify import GROWTH, RATE_NAME, RATE_UNITS
from ..copies import _clean_name, as_text, title_closeness
from ..taxonomy.groups import GROUP_EXAMPLES, GROUP_OF, MEASURABLE_GROUPS, REQUIRED_GROUPS
from ..text import normalize_chars
from .codes import _render, code_info

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

        if "category_mismatch" in flags and declared and cat and declared != cat:
            out.append(_finding("category_mismatch", base, {"category": cat, "declared": declared}))

        # not measurable: a qualitative target where the category needs a quantity or a deadline
        group = GROUP_OF.get(declared) if GROUP_OF.get(declared) in MEASURABLE_GROUPS else GROUP_OF.get(cat)
        measurable_cat = declared if GROUP_OF.get(declared) in MEASURABLE_GROUPS else cat
        if kind == "qualitative" and ("not_measurable" in flags or group in MEASURABLE_GROUPS):
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
