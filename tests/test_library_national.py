"""The national library (DESIGN §8): size, coverage of sectors and archetypes, soundness.

Expectations come from the 支出功能分类 and the 资金用途 list of the issue, not from the files.
"""
import collections

import pytest

from zhibiao.taxonomy import ARCHETYPES, SECTORS, load_library, validate_library
from zhibiao.taxonomy.library import value_form_kind


@pytest.fixture(scope="module")
def lib():
    return load_library()


def test_validator_finds_nothing_to_fix(lib):
    assert validate_library(lib) == []


def test_validator_catches_what_a_reviewer_must_fix(lib):
    bad = lib.head(3).copy()
    bad.loc[bad.index[1], "indicator_id"] = bad.loc[bad.index[0], "indicator_id"]   # duplicate id
    bad.loc[bad.index[2], "category"] = "效益类"                                    # no such category
    bad.loc[bad.index[0], "unit"] = "亩" if bad.loc[bad.index[0], "measure"] == "人数" else "人"
    bad.loc[bad.index[0], "aliases"] = [bad.loc[bad.index[2], "name"]]               # a wording claimed twice
    problems = "\n".join(validate_library(bad))
    assert "used 2 times" in problems
    assert "unknown category '效益类'" in problems
    assert "does not fit measure" in problems
    assert "is claimed by" in problems


def test_at_least_a_thousand_types(lib):
    assert len(lib) >= 1000


# The 类 of the 2021 支出功能分类 that project spending uses (预备费, 债务 and 转移性支出 carry no projects).
FUNCTIONAL_CLASSES = ("一般公共服务", "外交", "国防", "公共安全", "教育", "科学技术", "文化旅游体育与传媒",
                      "社会保障和就业", "卫生健康", "节能环保", "城乡社区", "农林水", "交通运输", "资源勘探工业信息",
                      "商业服务业", "金融", "援助其他地区", "自然资源海洋气象", "住房保障", "粮油物资储备",
                      "灾害防治及应急管理")


def test_every_functional_class_has_its_own_types(lib):
    assert set(FUNCTIONAL_CLASSES) <= set(SECTORS)
    own = collections.Counter(lib["sector"])
    thin = {s: own[s] for s in FUNCTIONAL_CLASSES if own[s] < 10}
    assert not thin, thin
    big = ("教育", "社会保障和就业", "卫生健康", "农林水", "城乡社区", "一般公共服务")
    assert all(own[s] >= 50 for s in big), {s: own[s] for s in big}


def test_every_archetype_is_populated(lib):
    used = collections.Counter(a for al in lib["archetypes"] for a in al)
    for archetype in ("工程建设", "设备购置", "补助补贴", "购买服务", "运转保障", "会议培训", "信息化", "宣传",
                      "维修维护", "课题规划", "活动赛事", "奖励"):
        assert archetype in ARCHETYPES
        assert used[archetype] >= 5, (archetype, used[archetype])


def test_the_framework_categories_are_all_used(lib):
    assert {"数量指标", "质量指标", "时效指标", "成本指标", "经济效益指标", "社会效益指标", "生态效益指标",
            "可持续影响指标", "服务对象满意度指标"} <= set(lib["category"])


def test_types_carry_several_wordings(lib):
    assert lib["aliases"].map(len).median() >= 4


@pytest.mark.parametrize("name, sector", [
    ("高标准农田建设面积", "农林水"), ("受助学生人数", "教育"), ("路灯亮灯率", "城乡社区"),
    ("适龄儿童免疫规划疫苗接种率", "卫生健康"), ("城镇新增就业人数", "社会保障和就业"),
])
def test_well_known_indicators_are_in_their_sector(lib, name, sector):
    wordings = lib.assign(w=[[n, *a] for n, a in zip(lib["name"], lib["aliases"])]).explode("w")
    hit = wordings[wordings["w"] == name]
    assert len(hit) == 1, name
    assert sector in hit.iloc[0]["sectors"]


def test_value_forms_read_as_their_kind():
    assert value_form_kind("≥___亩") == ("numeric", ">=")
    assert value_form_kind("=100%") == ("numeric", "=")
    assert value_form_kind("12月底前") == ("deadline", "<=")
    assert value_form_kind("是") == ("boolean", "")
    assert value_form_kind("明显改善") == ("qualitative", "")
