"""The official indicator framework: canonical 一级/二级 categories and declared-label cleanup.

The data live in ``zhibiao/data/categories.tsv`` (one reviewable file: canonical names, their
一级, exact aliases and ordered keyword rules).  This module only interprets that file.

Decision on 成本指标 (documented in the data file too):

* ``成本指标`` is the undivided 成本 二级 of the older tables (and of all four seeds), filed under
  产出指标.  Its canonical 一级 is therefore ``产出指标``.
* 财预〔2021〕101号 makes 成本 a 一级 with three 二级: 经济成本指标, 社会成本指标, 生态环境成本指标,
  whose canonical 一级 is ``成本指标``.
* A table that declares 一级 成本指标 over a plain 二级 成本指标 keeps ``成本指标`` as the 二级; ask
  ``level1_of("成本指标", declared_level1="成本指标")`` and you get ``成本指标``.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..resources import data_file

__all__ = [
    "CATEGORIES",
    "LEVEL1",
    "level1_of",
    "canonical_category",
    "canonical_level1",
    "normalize_label",
    "categories_of_level1",
    "reconcile",
]

_DATA = "categories.tsv"


@lru_cache(maxsize=1)
def _load() -> dict:
    cats: dict[str, str] = {}
    cat_alias: dict[str, str] = {}
    l1_alias: dict[str, str] = {}
    rules2: list[tuple[str, str | None, tuple[str, ...]]] = []
    rules1: list[tuple[str, tuple[str, ...]]] = []
    level1_order: list[str] = []
    same: set[tuple[str, str]] = set()
    within: set[tuple[str, str]] = set()
    with open(data_file(_DATA), encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4:
                raise ValueError(f"{_DATA}: expected 4 tab-separated fields: {line!r}")
            kind, canon, extra, aliases = parts
            alias_list = tuple(a for a in aliases.split("|") if a)
            if kind == "category":
                cats[canon] = extra
                for a in (canon, *alias_list):
                    cat_alias.setdefault(normalize_label(a), canon)
            elif kind == "level1":
                level1_order.append(canon)
                for a in (canon, *alias_list):
                    l1_alias.setdefault(normalize_label(a), canon)
            elif kind == "rule2":
                rules2.append((canon, None if extra in ("", "-") else extra, alias_list))
            elif kind == "rule1":
                rules1.append((canon, alias_list))
            elif kind == "same":
                same.add((canon, extra))
            elif kind == "within":
                within.add((canon, extra))
            else:
                raise ValueError(f"{_DATA}: unknown record kind {kind!r}")
    for canon, cond, _ in rules2:
        if canon not in cats:
            raise ValueError(f"{_DATA}: rule for unknown category {canon!r}")
    for a, b in same | within:
        if a not in cats or b not in cats:
            raise ValueError(f"{_DATA}: relation between unknown categories {a!r}, {b!r}")
    return {
        "cats": cats,
        "cat_alias": cat_alias,
        "l1_alias": l1_alias,
        "rules2": rules2,
        "rules1": rules1,
        "level1_order": tuple(level1_order),
        "same": frozenset(same),
        "within": frozenset(within),
    }


_NUMBERING = re.compile(
    r"^(?:[(\[][一二三四五六七八九十\d]{1,3}[)\]]|[一二三四五六七八九十]{1,3}[、.]|\d{1,2}(?:[、.](?!\d)|\)|、)|[①-⑳])"
)
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕|<[^<>]*>|《[^《》]*》")
_TRAILING = ("指标", "指", "类")


def normalize_label(text: str | None) -> str:
    """Canonical spelling of a declared label, for matching: ``" 产 出 指 标 (50分)"`` → ``"产出"``."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    s = re.sub(r"\s+", "", s)
    s = s.replace("（", "(").replace("）", ")")
    s = _NUMBERING.sub("", s)
    prev = None
    while prev != s:  # nested or repeated asides
        prev = s
        s = _BRACKETS.sub("", s)
    s = s.strip("()[]:：;；,，.。、*-—_ ")
    for _ in range(2):
        for suffix in _TRAILING:
            if s.endswith(suffix) and len(s) > len(suffix):
                s = s[: -len(suffix)]
    return s


def _cats() -> dict[str, str]:
    return _load()["cats"]


CATEGORIES: tuple[str, ...] = tuple(_load()["cats"])
LEVEL1: tuple[str, ...] = _load()["level1_order"]


def categories_of_level1(level1: str) -> tuple[str, ...]:
    """The canonical 二级 filed under a canonical 一级 (成本指标 gives the 2021 splits)."""
    return tuple(c for c, l1 in _cats().items() if l1 == level1)


def level1_of(category: str, declared_level1: str | None = None) -> str:
    """Canonical 一级 of a canonical 二级 category.

    ``成本指标`` → ``产出指标`` (older tables), unless the table itself declared 一级 成本指标.
    Raises ``KeyError`` for a name that is not one of ``CATEGORIES``.
    """
    l1 = _cats()[category]
    if category == "成本指标" and declared_level1 is not None:
        if canonical_level1(declared_level1) == "成本指标":
            return "成本指标"
    return l1


def canonical_level1(declared_level1: str | None) -> str | None:
    """Canonical 一级 for a declared 一级 label, or None when it cannot tell.

    ``"产 出 指 标 (50分)"`` → 产出指标, ``"效果指标"`` → 效益指标, ``"项目完成"`` → 产出指标.
    A 二级 written in the 一级 column (``"数量指标"``) gives that 二级's 一级.
    """
    d = _load()
    n = normalize_label(declared_level1)
    if not n:
        return None
    if n in d["l1_alias"]:
        return d["l1_alias"][n]
    for canon, keywords in d["rules1"]:
        if any(k in n for k in keywords):
            return canon
    cat = _category_from_level2(n, None)
    if cat is not None:
        return _cats()[cat]
    return None


_BARE_COST_SPLITS = {"经济": "经济成本指标", "社会": "社会成本指标", "生态": "生态环境成本指标",
                     "环境": "生态环境成本指标", "生态环境": "生态环境成本指标"}


def _category_from_level2(n2: str, l1: str | None) -> str | None:
    d = _load()
    if l1 == "成本指标" and n2 in _BARE_COST_SPLITS:
        return _BARE_COST_SPLITS[n2]
    if n2 in d["cat_alias"]:
        return d["cat_alias"][n2]
    for canon, cond, keywords in d["rules2"]:
        if cond is not None and cond != l1:
            continue
        if any(k in n2 for k in keywords):
            return canon
    return None


def canonical_category(declared_level2: str | None, declared_level1: str | None = None) -> str | None:
    """Canonical 二级 category for a declared 二级 (and optionally 一级) label, or None.

    Robust to spaces, full-width brackets, scores and notes in brackets, numbering and truncation:
    ``"数量指标 (必填硬性指标)"`` → 数量指标; ``"服务对象"`` / ``"服务对象满意度指"`` /
    ``"社会公众或服务对象满意度指标"`` → 服务对象满意度指标; ``"可持续性影响"`` → 可持续影响指标.
    A 一级 label alone (``"效果指标"``, ``"产出指标"``) does not determine a 二级 and gives None,
    except 满意度指标, which has a single 二级.
    """
    l1 = canonical_level1(declared_level1) if declared_level1 is not None else None
    n2 = normalize_label(declared_level2)
    if n2:
        cat = _category_from_level2(n2, l1)
        if cat is not None:
            return cat
    if l1 == "满意度指标":
        return "服务对象满意度指标"
    return None


def reconcile(predicted: str, declared: str | None) -> tuple[str, bool]:
    """The category to report for a row, and whether its table's declaration agrees.

    Equal names agree. So do two names of one category (``same`` in the data file), and the
    table's name is kept; and a finer category under the undivided one it is part of
    (``within``), keeping the finer name. Anything else disagrees, and the prediction stands.

    >>> reconcile("成本指标", "经济成本指标")
    ('经济成本指标', True)
    >>> reconcile("社会成本指标", "成本指标")
    ('社会成本指标', True)
    >>> reconcile("成本指标", "生态环境成本指标")
    ('成本指标', False)
    """
    if not declared or declared == predicted:
        return predicted, True
    d = _load()
    if (predicted, declared) in d["same"] or (declared, predicted) in d["same"]:
        return declared, True
    return predicted, (predicted, declared) in d["within"]
