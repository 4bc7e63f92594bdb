"""parse_value gives an answer for every str: never raises, always JSON-serialisable."""
import json
import math

from hypothesis import example, given, settings, strategies as st

from zhibiao.values import KINDS, OPS, parse_value, parse_value_uncached, recombine_split

# Text built from the grammar's own alphabet finds more corners than random unicode alone.
PIECES = st.sampled_from(list("0123456789.,%％≥≤<>=＞＜≧≦-~/、；;（）() 年月日底前季度第万亿元米个人次")
                         + ["以上", "以下", "不低于", "百分之", "九十", "十二", "2021", "年底", "全年",
                            "平米", "元/方", "每人每月", "是", "否", "健全", "等于", "约", "控制在", "以内",
                            "一万三", "零", "两", "半", "多", "余", "成", "折", "分之", "负", "块", "毛", "角",
                            "号", "首季度", "之间", "与", "至", "肆佰", "萬", "圆整", "上百", "度", "周岁"])
GRAMMARISH = st.lists(PIECES, max_size=12).map("".join)


def _check(text, year=None):
    for fn in (parse_value, parse_value_uncached):
        v = fn(text, year=year)
        d = v.to_dict()
        json.dumps(d, ensure_ascii=False)
        assert d["text"] == text
        assert d["kind"] in KINDS
        assert d["op"] is None or d["op"] in OPS
        for key in ("number", "base_value"):
            assert d[key] is None or (isinstance(d[key], float) and math.isfinite(d[key]))
        for part in d["numbers"]:
            assert math.isfinite(part["number"])
        assert isinstance(d["recurring"], bool)
        # every warning is "code: why", so tables and the audit can group them by code
        assert all(isinstance(w, str) and ": " in w for w in d["warnings"]), d["warnings"]


@settings(max_examples=500, deadline=None)
@given(st.text())
@example("1" * 400)  # float() overflows to inf
@example("9" * 305 + "亿元")  # finite number, infinite base value
def test_any_text(text):
    _check(text)


@settings(max_examples=1500, deadline=None)
@given(GRAMMARISH, st.one_of(st.none(), st.integers(1900, 2100)))
def test_grammar_like_text(text, year):
    _check(text, year)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=5)), st.one_of(st.none(), st.text(max_size=8), st.floats()),
       st.one_of(st.none(), st.text(max_size=5)))
@example(None, 1.7976931348623157e308, "万元")  # found by CI: the largest float renders as 309 digits
def test_recombine_never_raises(op, number, unit):
    _check(recombine_split(op, number, unit))
