"""指标值合理性 and the pmkpi-style row rules that need more than one row or the project.

* out_of_range: a % target outside the range similar projects set (``data/audit_value_ranges.tsv``):
  满意度 ≥5%, 事故发生率 100%;
* cost_over_budget: a total cost (money, not a unit cost) above the project's budget;
* deadline_after_year: a deadline after the end of the budget year;
* missing_unit: a 定量 target (a bare number) with no unit in the value or the name;
* weights_sum: the weights (权重/分值) of a project, when given, do not sum to 100.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from ..classify import clean_name
from ..copies import as_text
from ..text import normalize_chars
from ..values import unit_dimension
from .datafiles import read_tsv, split_list

RANGES_FILE = "audit_value_ranges.tsv"


@dataclass(frozen=True)
class Range:
    ending: str
    reverse: bool
    low: float | None
    high: float | None
    usual: str


def _bound(cell: str) -> float | None:
    return None if cell in ("", "-") else float(cell)


@lru_cache(maxsize=1)
def value_ranges() -> tuple[Range, ...]:
    out = []
    for r in read_tsv(RANGES_FILE):
        if r["direction"] not in ("正向", "反向"):
            raise ValueError(f"{RANGES_FILE}: direction must be 正向 or 反向: {r['direction']!r}")
        for e in split_list(r["endings"]):
            out.append(Range(e, r["direction"] == "反向", _bound(r["low"]), _bound(r["high"]), r["usual"]))
    return tuple(sorted(out, key=lambda x: -len(x.ending)))


def range_of(level3: str) -> Range | None:
    """The range rule of a name, by its ending (longest first).

    >>> range_of("群众满意度（%）").low, range_of("安全事故发生率").reverse, range_of("不满意率").reverse
    (60.0, True, True)
    """
    name = clean_name(normalize_chars(as_text(level3)))
    return next((r for r in value_ranges() if name.endswith(r.ending)), None)


def out_of_range(level3: str, unit: str, number: float | None, op: str) -> Range | None:
    """The rule a % target breaks, or None."""
    if unit != "%" or number is None:
        return None
    r = range_of(level3)
    if r is None:
        return None
    if r.reverse and r.high is not None and number > r.high and op not in ("<=", "<"):
        return r
    if not r.reverse and r.low is not None and number < r.low and op not in ("<=", "<"):
        return r
    return None


def money_total(number, unit: str, base_value, base_unit: str) -> float | None:
    """The amount in 元 of a money value that is a total (not 元/人), else None."""
    if base_value is None or base_unit != "元" or "/" in as_text(unit):
        return None
    try:
        v = float(base_value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


# a bracketed unit in the name: 城镇新增就业人数（人）, 培训人次(人次)
_NAME_UNIT = re.compile(r"[（(]([^（）()]{1,6})[）)]\s*$")
# counters a name may end with, which say the unit: 个数, 人数, 次数 …
_COUNTED = re.compile(r"(数|数量|人次|户数|面积|长度|里程|天数|时间|期限|金额|资金|经费|投资|成本|费用|"
                      r"标准|率|度|比|比例|比重|占比|指数|系数|得分|分数|等级|级|年限|周期|时长|倍数)$")


def lacks_unit(level3: str, value_kind: str, unit: str) -> bool:
    """A bare number whose name does not say its unit either (“350” for 扶持创业企业（项目）个数 is
    fine; “5000” for 城市道路养护 is not).

    >>> lacks_unit("城镇新增就业人数（人）", "numeric", ""), lacks_unit("扶持创业企业（项目）个数", "numeric", "")
    (False, False)
    >>> lacks_unit("城市道路养护", "numeric", "")
    True
    """
    if value_kind != "numeric" or as_text(unit):
        return False
    name = normalize_chars(as_text(level3)).strip()
    m = _NAME_UNIT.search(name)
    if m and unit_dimension(m.group(1)):
        return False
    return not _COUNTED.search(clean_name(name))


def weight_total(weights: pd.Series) -> float | None:
    """The sum of a project's weights, or None when none is a number."""
    nums = pd.to_numeric(weights.map(lambda x: normalize_chars(as_text(x)).rstrip("分%").strip()), errors="coerce")
    return float(nums.sum()) if nums.notna().any() else None
