from zhibiao.text import normalize_chars, tokenize


def test_normalize_full_width_and_comparators():
    assert normalize_chars("≥１００％") == "≥100%"
    assert normalize_chars("≧95％") == "≥95%"
    assert normalize_chars("≦5") == "≤5"
    assert normalize_chars("＞２，０００元") == ">2,000元"
    assert normalize_chars("＜3") == "<3"
    assert normalize_chars("＝１个") == "=1个"
    assert normalize_chars("（ＡＢｃ）") == "(ABc)"
    assert normalize_chars("‹=475元/亩") == "<=475元/亩"


def test_normalize_spaces_and_strip():
    assert normalize_chars("\u3000１７\u3000个\u00a0") == "17 个"
    assert normalize_chars("a\u200bb") == "ab"
    assert normalize_chars("") == ""


def test_normalize_keeps_chinese_punctuation():
    assert normalize_chars("1600人、200人。") == "1600人、200人。"


def test_tokenize_domain_words():
    for word in ("满意度", "验收合格率", "预算执行率", "发放准确率", "及时率", "参保率"):
        assert word in tokenize(f"本单位{word}达到95%"), word


def test_tokenize_normalises_and_drops_spaces():
    toks = tokenize("群众满意度　≥９０％")
    assert toks == ["群众满意度", "≥", "90%"]
