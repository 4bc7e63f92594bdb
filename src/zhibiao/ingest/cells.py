"""Cell values from spreadsheets → the text a person sees.

    >>> display_value(0.95, "0%")
    '95%'
    >>> display_value(40.0, "General")
    '40'
    >>> display_value(10891.615675, "#,##0.00")
    '10891.615675'
"""
from __future__ import annotations

import datetime as _dt


def _number(x: float) -> str:
    if float(x).is_integer():
        return str(int(x))
    return repr(round(float(x), 10))


def display_value(value, number_format: str = "General") -> str:
    """Numbers as written; a % number format shows 0.95 as "95%"; dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        if "%" in (number_format or ""):
            return _number(round(float(value) * 100, 8)) + "%"
        return _number(value)
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat(sep=" ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)
