"""Table-driven test of the value grammar on real 指标值 (tests/fixtures/values_*cases.csv).

Every field of every ParsedValue is checked. The expected values were written by
hand from reading each value, not produced by the parser.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from zhibiao.values import NumberPart, ParsedValue, parse_split, parse_value, recombine_split

FIXTURES = Path(__file__).parent / "fixtures"


def _rows(name):
    with open(FIXTURES / name, encoding="utf-8", newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        yield from csv.DictReader(lines)


def _opt(cell, conv=str):
    return None if cell == "" else conv(cell)


def _numbers(cell):
    parts = []
    for chunk in filter(None, cell.split(";")):
        number, unit, label = chunk.split("|")
        parts.append(NumberPart(float(number), _opt(unit), _opt(label)))
    return tuple(parts)


def _expected(row) -> ParsedValue:
    return ParsedValue(
        text=row["text"], kind=row["kind"], op=_opt(row["op"]),
        number=_opt(row["number"], float), unit=_opt(row["unit"]),
        base_value=_opt(row["base_value"], float), base_unit=_opt(row["base_unit"]),
        numbers=_numbers(row["numbers"]), date=_opt(row["date"]), start_date=_opt(row["start_date"]),
        month=_opt(row["month"], int), quarter=_opt(row["quarter"], int),
        boolean=_opt(row["boolean"], lambda s: s == "true"), recurring=row["recurring"] == "true")


CASES = [(row, _opt(row["year"], int))
         for name in ("values_cases.csv", "values_issue_cases.csv", "values_qa_cases.csv", "values_grammar_cases.csv")
         for row in _rows(name)]
SEED_CASES = list(_rows("values_cases.csv"))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_table_is_big_enough():
    assert len({(r["text"], r["year"]) for r in SEED_CASES}) >= 150


@pytest.mark.parametrize("row,year", CASES, ids=[f"{r['text']!r}@{y}" for r, y in CASES])
def test_value(row, year):
    got = parse_value(row["text"], year=year)
    want = _expected(row)
    for field in ParsedValue.__dataclass_fields__:
        g, w = getattr(got, field), getattr(want, field)
        if field == "warnings":
            # fixtures with a warnings column state the warning codes exactly; older ones predate the field
            if "warnings" in row:
                assert [x.split(":", 1)[0] for x in g] == [c for c in row["warnings"].split(";") if c], g
            continue
        if field == "numbers":
            assert len(g) == len(w), (field, g, w)
            for gp, wp in zip(g, w):
                assert _same(gp.number, wp.number) and gp.unit == wp.unit and gp.label == wp.label, (gp, wp)
        else:
            assert _same(g, w), f"{field}: got {g!r}, want {w!r}"


# The 符号 / 值 / 单位 table of seed 002, and the 指标性质 forms of other tables.
SPLIT = [
    ("≥", "40.00", "件", "≥40件"),
    ("=", "100.00", "%", "=100%"),
    ("文字描述", "", "按工作计划及时完成", "按工作计划及时完成"),
    ("文字描述", "", "按照规定标准控制", "按照规定标准控制"),
    ("文字描述", "", "健全", "健全"),
    ("≥", "98.00", "%", "≥98%"),
    ("大于等于", "95", "%", "≥95%"),
    ("定性", "提升", "", "提升"),
    ("=", "1", "个", "=1个"),
    ("小于等于", 700, "万元", "≤700万元"),
    ("≥", 0.95, "%", "≥0.95%"),
    ("", "12", "次", "12次"),
    (None, None, "个", "个"),
]


@pytest.mark.parametrize("op,number,unit,joined", SPLIT)
def test_recombine_split(op, number, unit, joined):
    assert recombine_split(op, number, unit) == joined
    split = parse_split(op, number, unit).to_dict()
    whole = parse_value(joined).to_dict()
    assert split == whole
