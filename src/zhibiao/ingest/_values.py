"""The ingest side of the value grammar: budgets in 万元 and split-column targets.

The grammar itself lives in :mod:`zhibiao.values` (one grammar for the whole
project); this module only decides what to ask it.
"""
from __future__ import annotations


def _grammar():
    from .. import values
    return values


def recombine(op: str, number: str, unit: str) -> str:
    """符号/值/单位 (or 指标性质/指标值/计量单位) → one target string, e.g. "≥95%"."""
    if not (op or number or unit):
        return ""
    return _grammar().recombine_split(op, number, unit)


def budget_wan(text: str, unit_hint: str = "") -> float | None:
    """A budget cell in 万元, or None when the amount or its unit is unknown.

    ``unit_hint`` is the table's declared unit ("单位：万元") for bare numbers.

        >>> budget_wan("120万"), budget_wan("1,500,000元"), budget_wan("700", "万元"), budget_wan("700")
        (120.0, 150.0, 700.0, None)
    """
    if not text:
        return None
    pv = _grammar().parse_value(text)
    if pv.number is None:
        return None
    if pv.unit in ("万元", "万"):   # a budget of "120万" is in 万元
        return float(pv.number)
    if pv.unit == "亿":
        return float(pv.number) * 10000
    if pv.base_unit == "元" and pv.base_value is not None:
        return float(pv.base_value) / 10000
    if pv.unit is None and unit_hint:
        return budget_wan(f"{text}{unit_hint}")
    return None
