"""Understand a project before suggesting anything (DESIGN §5): its 行业, its 资金用途 and the
quantities its description states.

Sectors and archetypes are read from keywords (``data/sectors.tsv``, ``data/archetypes.tsv`` and the
library's own type keywords). Matches are taken longest first and a shorter keyword inside a longer
one's span does not count, so 老旧小区改造 reads as 城乡社区 (老旧小区), never as 老年.

    >>> p = understand_project("城市老旧小区改造项目", "改造老旧小区12个，新建道路1.2公里")
    >>> p["sector"], "工程建设" in p["archetypes"]
    ('城乡社区', True)
    >>> [(q["number"], q["unit"], q["object"]) for q in p["quantities"]]
    [(12.0, '个', '老旧小区'), (1.2, '公里', '道路')]
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from typing import Callable

from ..text import normalize_chars
from ..values import parse_value, unit_dimension
from .library import archetype_table, load_library, sector_table
from .names import lexicon

__all__ = ["understand_project", "keyword_hits", "find_quantities"]

NAME_WEIGHT = 2.0  # the project name says more about the project than its description does


_FIRST_CHAR: dict[int, tuple[dict, int, dict[str, list[tuple[int, str]]]]] = {}


def _by_first_char(keywords: dict[str, set[str]]) -> dict[str, list[tuple[int, str]]]:
    """``keywords`` grouped by first character, each with its position in the dict (ties keep the dict's
    order), built once per dict: a project name has a few dozen characters, the dicts thousands of keywords."""
    entry = _FIRST_CHAR.get(id(keywords))
    if entry is None or entry[0] is not keywords or entry[1] != len(keywords):
        if len(_FIRST_CHAR) > 32:
            _FIRST_CHAR.clear()
        index: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for pos, k in enumerate(keywords):
            if k:
                index[k[0]].append((pos, k))
        entry = _FIRST_CHAR[id(keywords)] = (keywords, len(keywords), dict(index))
    return entry[2]


def keyword_hits(text: str, keywords: dict[str, set[str]], nested: bool = False) -> list[tuple[str, int, set[str]]]:
    """(keyword, start, owners) for every keyword found in ``text``, longest first; a keyword whose
    span lies inside an accepted longer keyword's span is skipped unless ``nested``."""
    taken = [False] * len(text)
    out = []
    index = _by_first_char(keywords)
    for _len, _pos, kw in sorted((-len(k), pos, k) for c in set(text) for pos, k in index.get(c, ()) if k in text):
        if nested:
            out.append((kw, text.find(kw), keywords[kw]))
            continue
        start = text.find(kw)
        while start >= 0:
            span = range(start, start + len(kw))
            if not all(taken[i] for i in span):
                out.append((kw, start, keywords[kw]))
                for i in span:
                    taken[i] = True
            start = text.find(kw, start + 1)
    return out


@lru_cache(maxsize=1)
def _sector_keywords() -> dict[str, set[str]]:
    kws: dict[str, set[str]] = defaultdict(set)
    for sector, words in zip(sector_table()["sector"], sector_table()["keywords"]):
        for w in words:
            if len(w) >= 2:
                kws[normalize_chars(w)].add(sector)
    return dict(kws)


@lru_cache(maxsize=1)
def _type_keywords() -> dict[str, set[str]]:
    """The library's own type keywords, each voting for its type's own sector (not 通用)."""
    lib = load_library()
    kws: dict[str, set[str]] = defaultdict(set)
    for sector, words in zip(lib["sector"], lib["keywords"]):
        if sector == "通用":
            continue
        for w in words:
            if len(w) >= 2:
                kws[normalize_chars(w)].add(sector)
    return dict(kws)


@lru_cache(maxsize=1)
def _archetype_keywords() -> dict[str, set[str]]:
    kws: dict[str, set[str]] = defaultdict(set)
    for arch, words in zip(archetype_table()["archetype"], archetype_table()["keywords"]):
        for w in words:
            if len(w) >= 2:
                kws[normalize_chars(w)].add(arch)
    return dict(kws)


def _score(parts: list[tuple[str, float]], keywords: dict[str, set[str]]) -> dict[str, float]:
    scores: dict[str, float] = defaultdict(float)
    for text, weight in parts:
        for kw, _start, owners in keyword_hits(text, keywords):
            for owner in sorted(owners):   # not set order, which changes with the process's hash seed
                # a longer keyword is more specific; one shared by several owners says less of each
                scores[owner] += weight * len(kw) ** 1.5 / len(owners)
    return dict(scores)


# 新建道路1.2公里, 改造老旧小区12个, 资助学生500人, 共3000亩: words, then a number and its unit.
_QUANTITY = re.compile(r"([\u4e00-\u9fff]{1,12}?)[约共计达]{0,2}(\d+(?:\.\d+)?)\s*(万?[\u4e00-\u9fff%㎡]{1,4}|%)")
_LEADING = re.compile(r"^(?:计划|预计|全年|年度|本年|共|累计|完成|实施|用于|对|为|向|给|支持|其中|包括|主要|约|共计)+")


@lru_cache(maxsize=1)
def _action_spellings() -> list[str]:
    spellings = [s for s, _canon in lexicon().actions.items() if len(s) >= 2]
    return sorted(spellings, key=len, reverse=True)


def find_quantities(text: str) -> list[dict]:
    """Quantities a description states: ``[{"text", "number", "unit", "object", "action"}]``.

    >>> [(q["number"], q["unit"], q["object"]) for q in find_quantities("资助学生500人，培训2期")]
    [(500.0, '人', '学生'), (2.0, '期', '')]
    """
    text = normalize_chars(text)
    out = []
    for m in _QUANTITY.finditer(text):
        words, number, unit_text = m.group(1), m.group(2), m.group(3)
        pv = None
        # the longest unit the value grammar knows (万平方米 before 万, 公里 before 公)
        for end in range(len(unit_text), 0, -1):
            cand = parse_value(number + unit_text[:end])
            if cand.kind == "numeric" and cand.unit and unit_dimension(cand.unit):
                pv = cand
                break
        if pv is None or pv.number is None:
            continue
        words = re.split(r"[，,。；;、：:（）()\s]", words)[-1]
        words = _LEADING.sub("", words)
        action = ""
        for sp in _action_spellings():
            if words.startswith(sp):
                action, words = sp, words[len(sp):]
                break
        out.append({"text": m.group(0), "number": float(pv.number), "unit": pv.unit,
                    "object": words, "action": action})
    return out


def understand_project(name: str, description: str = "", budget: float | None = None,
                       fallback: Callable[[str], dict[str, float]] | None = None) -> dict:
    """``{"sector", "sectors" (scored, best first), "archetypes", "quantities", "budget"}``.

    ``fallback(text) -> {sector: score}`` is asked only when no keyword names a sector (a model layer
    passes embedding similarity to the sector descriptions; this layer holds no model).
    """
    name_n, desc_n = normalize_chars(name or ""), normalize_chars(description or "")
    parts = [(name_n, NAME_WEIGHT), (desc_n, 1.0)]
    scores = _score(parts, _sector_keywords())
    for sector, s in _score(parts, _type_keywords()).items():
        scores[sector] = scores.get(sector, 0.0) + 0.5 * s
    scores.pop("通用", None)
    source = "keywords"
    if not scores and fallback is not None:
        scores, source = dict(fallback(f"{name_n}。{desc_n}")), "similarity"
    total = sum(scores.values()) or 1.0
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    sectors = [{"sector": s, "score": round(v / total, 3)} for s, v in ranked if v / total >= 0.05][:4]
    arch = _score(parts, _archetype_keywords())
    arch_total = sum(arch.values()) or 1.0
    archetypes = [a for a, v in sorted(arch.items(), key=lambda kv: -kv[1]) if v / arch_total >= 0.15][:3]
    return {
        "sector": sectors[0]["sector"] if sectors else "通用",
        "sectors": sectors,
        "sector_source": source if sectors else "none",
        "archetypes": archetypes,
        "quantities": find_quantities(f"{name_n}。{desc_n}") if desc_n else find_quantities(name_n),
        "budget": budget,
    }
