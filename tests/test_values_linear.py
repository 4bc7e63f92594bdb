"""The value grammar runs in linear time on any string (issue 16), and says when it cut a cell.

Nothing here depends on the machine's speed: a quadratic grammar takes minutes on these inputs
(issue 16 measured 9.7 s for 64 000 '。'), a linear one milliseconds, so the bound is loose.
"""
import time

import pytest

from zhibiao.values import MAX_CHARS, parse_value, parse_value_uncached

PATHOLOGICAL = ["。" * 200_000 + "x", "1 " * 100_000, "一" * 200_000, "1-" * 100_000, "一万" * 100_000,
                "十" * 200_000, "≥" * 200_000 + "1", "每" * 200_000 + "1元", "月一" * 100_000, "(" * 200_000]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:4]))
def test_long_pathological_cell_is_cheap_and_flagged(text):
    t = time.perf_counter()
    v = parse_value_uncached(text)
    assert time.perf_counter() - t < 5.0   # quadratic would be minutes
    assert v.text == text                  # the cell is kept as written
    assert any(w.startswith("cut:") for w in v.warnings), v.warnings


def test_doubling_the_length_does_not_quadruple_the_time():
    def cost(n):
        s = "。" * n + "x"
        t = time.perf_counter()
        for _ in range(3):
            parse_value_uncached(s)
        return time.perf_counter() - t
    small, big = cost(100_000), cost(400_000)
    assert big < 16 * small + 1.0   # 4x the input: quadratic would be 16x, plus slack for a loaded machine


def test_short_cell_has_no_cut_warning():
    v = parse_value("。" * (MAX_CHARS - 5) + "95%")
    assert not any(w.startswith("cut:") for w in v.warnings)


def test_excel_serial_date_only_in_a_date_column():
    v = parse_value("44561", context="项目完成时间")
    assert (v.kind, v.date, v.month) == ("deadline", "2021-12-31", 12)
    assert [w.split(":")[0] for w in v.warnings] == ["excel-date"]
    assert parse_value("44,561", context="完成日期").date == "2021-12-31"
    # a count column keeps the number
    assert (parse_value("44561", context="受益人数").kind, parse_value("44561").number) == ("numeric", 44561.0)


def test_warnings_reach_to_dict():
    d = parse_value("500多亿").to_dict()
    assert isinstance(d["warnings"], list) and d["warnings"][0].startswith("approximate:")
    assert parse_value("≥95%").to_dict()["warnings"] == []
