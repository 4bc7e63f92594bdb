"""目标值偏低: this year's target against last year's target and last year's actual result.

Projects are matched by department and name (char-bigram Dice ≥ :data:`PROJECT_DICE`, the best
match wins, each of last year's projects used once); indicators within a matched project by
indicator type (``indicator_id``, else the structural ``indicator_key``) or by name (Dice ≥
:data:`INDICATOR_DICE`, or ≥ :data:`SAME_MEASURE_DICE` when both names end in the same measure). Targets are compared in base units and only when both are numbers in the
same base unit; the direction comes from the library type (正向/反向), else from the reverse words
of ``data/selfeval_rules.tsv`` (事故, 投诉, 成本 …).

    >>> dice("农村环卫保洁项目", "农村环卫保洁经费")
    0.714
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..classify import clean_name
from ..copies import as_text
from ..taxonomy import parse_name
from ..text import normalize_chars
from ..values import parse_value

PROJECT_DICE = 0.6
INDICATOR_DICE = 0.75
SAME_MEASURE_DICE = 0.55


def _bigrams(text: str) -> list[str]:
    t = "".join(normalize_chars(as_text(text)).split())
    return [t[i:i + 2] for i in range(len(t) - 1)] if len(t) > 1 else [t] if t else []


def dice(a: str, b: str) -> float:
    """Char-bigram Dice coefficient of two names (multiset)."""
    x, y = _bigrams(a), _bigrams(b)
    if not x or not y:
        return 0.0
    pool = list(y)
    common = 0
    for g in x:
        if g in pool:
            pool.remove(g)
            common += 1
    return round(2 * common / (len(x) + len(y)), 3)


def _project_name(name: str) -> str:
    """The name without its year (2024年) and the words every project name carries."""
    import re
    t = re.sub(r"(19|20)\d\d\s*年(度)?", "", normalize_chars(as_text(name)))
    return t


def match_projects(current: pd.DataFrame, previous: pd.DataFrame) -> dict[str, str]:
    """project_id → last year's project_id: same department (when both name one), best name Dice."""
    pairs = []
    for c in current.itertuples(index=False):
        for p in previous.itertuples(index=False):
            dc, dp = as_text(c.department), as_text(p.department)
            if dc and dp and dc != dp:
                continue
            s = dice(_project_name(c.project_name), _project_name(p.project_name))
            if s >= PROJECT_DICE:
                pairs.append((s, c.project_id, p.project_id))
    out, used = {}, set()
    for s, c, p in sorted(pairs, key=lambda t: -t[0]):
        if c not in out and p not in used:
            out[c] = p
            used.add(p)
    return out


@lru_cache(maxsize=1)
def _reverse_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from ..selfeval import load_rules
    w = load_rules().words
    return tuple(w.get("reverse_name", ())), tuple(w.get("reverse_exempt", ()))


def is_reverse(level3: str, category: str, direction: str = "") -> bool:
    """Less is better: the library type says 反向, or the name has a reverse word (事故, 投诉, 成本 …)
    and no exempting one (处理率, 满意度 …), or the row is a cost."""
    if direction in ("正向", "反向"):
        return direction == "反向"
    name = clean_name(normalize_chars(as_text(level3)))
    rev, exempt = _reverse_words()
    if any(w in name for w in exempt):
        return False
    return any(w in name for w in rev) or "成本" in as_text(category)


def _quantity(text: str, year=None):
    pv = parse_value(as_text(text))
    if pv.kind != "numeric" or pv.base_value is None or pv.base_value != pv.base_value:
        return None
    return float(pv.base_value), as_text(pv.base_unit), pv.op


def same_indicator(c, p) -> float:
    """How surely row ``c`` is row ``p``'s indicator (0 when it is not): the same type, else the
    name's char-bigram Dice (a reworded name of the same measure counts from a lower Dice)."""
    for col in ("indicator_id", "indicator_key"):
        a, b = as_text(getattr(c, col, "")), as_text(getattr(p, col, ""))
        if a and b and a == b and not (col == "indicator_key" and a.startswith("~") and
                                       dice(clean_name(c.level3), clean_name(p.level3)) < 0.5):
            return 1.0
    a, b = clean_name(c.level3), clean_name(p.level3)
    s = dice(a, b)
    if s >= INDICATOR_DICE:
        return s
    # a reworded name of the same measure (培训合格率 → 培训考核合格率), close enough in its words
    same_measure = parse_name(a).measure and parse_name(a).measure == parse_name(b).measure
    return s if same_measure and s >= SAME_MEASURE_DICE else 0.0


def _where(p) -> str:
    """"，见 file cell" of last year's row, for the message; empty when it has no source."""
    where = " ".join(x for x in (as_text(getattr(p, "source", "")), as_text(getattr(p, "location", ""))) if x)
    return f"，见{where}" if where else ""


def compare(rows: pd.DataFrame, projects: pd.DataFrame, prev_rows: pd.DataFrame, prev_projects: pd.DataFrame,
            library: pd.DataFrame | None = None, matched: dict | None = None) -> list[dict]:
    """Rows whose target is below last year's target or actual (by direction), with the evidence:
    ``{"index", "last_target", "last_actual", "basis", "last_project", "last_level3", "last_where"}``.
    ``matched``: project_id → last year's project_id when the pairs are already known (found in
    the corpus store); otherwise :func:`match_projects` pairs them."""
    matched = match_projects(projects, prev_projects) if matched is None else matched
    direction = {}
    if library is not None and "direction" in library.columns:
        direction = dict(zip(library["indicator_id"], library["direction"]))
    prev_by_project = {pid: g for pid, g in prev_rows.groupby("project_id")}
    name_of = dict(zip(prev_projects["project_id"], prev_projects["project_name"]))
    out = []
    for pid, g in rows.groupby("project_id", sort=False):
        last = prev_by_project.get(matched.get(pid))
        if last is None:
            continue
        for idx, c in zip(g.index, g.itertuples(index=False)):
            now = _quantity(c.value)
            # a cost follows the budget, not last year's ambition
            if now is None or now[1] == "元" or "成本" in as_text(getattr(c, "category", "")):
                continue
            best = max(((s, p) for p in last.itertuples(index=False) if (s := same_indicator(c, p)) > 0),
                       key=lambda t: t[0], default=None)
            if best is None:
                continue
            p = best[1]
            reverse = is_reverse(c.level3, as_text(getattr(c, "category", "")),
                                 direction.get(as_text(getattr(c, "indicator_id", "")), ""))
            worse = []
            for basis, text in (("target", p.value), ("actual", getattr(p, "actual_value", ""))):
                then = _quantity(text)
                if then is None or then[1] != now[1]:
                    continue
                if (now[0] > then[0]) if reverse else (now[0] < then[0]):
                    worse.append((basis, as_text(text)))
            if worse:
                ev = dict(worse)
                out.append({"index": idx, "last_target": ev.get("target", ""), "last_actual": ev.get("actual", ""),
                            "basis": "、".join({"target": "上年目标值", "actual": "上年实际完成值"}[b] for b, _ in worse),
                            "last_project": as_text(name_of.get(matched[pid], "")), "last_level3": as_text(p.level3),
                            "last_where": _where(p)})
    return out
