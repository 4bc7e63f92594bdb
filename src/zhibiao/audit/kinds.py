"""核心指标缺失: what kind of project this is (行业, 资金用途), and the core indicators that kind must carry.

The rules are ``data/core_indicators.tsv`` (a reviewer edits them there). A project's kind comes from
:func:`project_kind`, the one function to swap for a better project reader
(``zhibiao.taxonomy.projects.understand_project``, when it lands): here a keyword reader over the
project NAME with the keywords of ``data/archetypes.tsv`` and ``data/sectors.tsv``, longest keyword
first, so a rule only fires on a project whose name says what it is.

    >>> project_kind("新建市政道路三水一路及路灯工程")["archetypes"]
    ['工程建设']
    >>> project_kind("城乡居民基础养老金补助资金")["archetypes"]
    ['补助补贴']
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from ..copies import as_text
from ..taxonomy import archetype_table, parse_name, sector_table
from ..text import normalize_chars
from .datafiles import read_tsv, split_list

CORE_FILE = "core_indicators.tsv"


@dataclass(frozen=True)
class CoreRule:
    kind: str          # archetype | sector
    applies_to: str
    need: str
    category: str
    measures: tuple[str, ...]
    words: tuple[str, ...]
    value_kinds: tuple[str, ...]
    name_words: tuple[str, ...]
    value_words: tuple[str, ...]
    unless: tuple[str, ...]
    reason: str
    fix: str


@lru_cache(maxsize=1)
def core_rules() -> tuple[CoreRule, ...]:
    out = []
    for r in read_tsv(CORE_FILE):
        kind, _, name = r["scope"].partition(":")
        if kind not in ("archetype", "sector") or not name:
            raise ValueError(f"{CORE_FILE}: scope must be archetype:<name> or sector:<name>: {r['scope']!r}")
        out.append(CoreRule(kind, name, r["need"], r["category"], split_list(r["measures"]), split_list(r["words"]),
                            split_list(r["value_kinds"]), split_list(r["name_words"]), split_list(r["value_words"]),
                            split_list(r["unless"]), r["reason"], r["fix"]))
    return tuple(out)


def _keywords(table: pd.DataFrame, key: str) -> list[tuple[str, str]]:
    pairs = [(normalize_chars(w), owner) for owner, words in zip(table[key], table["keywords"])
             for w in words if len(w) >= 2]
    return sorted(pairs, key=lambda p: -len(p[0]))


@lru_cache(maxsize=1)
def _archetype_keywords() -> list[tuple[str, str]]:
    return _keywords(archetype_table(), "archetype")


@lru_cache(maxsize=1)
def _sector_keywords() -> list[tuple[str, str]]:
    return _keywords(sector_table(), "sector")


def _hits(text: str, keywords: list[tuple[str, str]]) -> list[str]:
    """Owners of the keywords found in ``text``, longest first; a keyword inside a longer one's span
    does not count (老旧小区改造 is not 老年)."""
    taken = [False] * len(text)
    owners = []
    for kw, owner in keywords:
        start = text.find(kw)
        while start >= 0:
            span = range(start, start + len(kw))
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                if owner not in owners:
                    owners.append(owner)
            start = text.find(kw, start + 1)
    return owners


def project_kind(name: str, description: str = "", budget: float | None = None) -> dict:
    """``{"sector": str, "archetypes": [..]}`` of a project, read from its name (the description
    and budget are accepted for the interface of ``understand_project`` and not used: a purpose
    mentions many things a project does not fund)."""
    text = normalize_chars(as_text(name))
    sectors = [s for s in _hits(text, _sector_keywords()) if s != "通用"]
    return {"sector": sectors[0] if sectors else "通用", "archetypes": _hits(text, _archetype_keywords())}


def answers(rule: CoreRule, level3: str, value_kind: str, value: str = "") -> bool:
    """Whether one row answers the rule: its measure, a word of its name, its kind of value or a
    word of its value."""
    name = normalize_chars(as_text(level3))
    if value_kind and value_kind in rule.value_kinds:
        return True
    if any(w in normalize_chars(as_text(value)) for w in rule.value_words):
        return True
    if any(w in name for w in rule.words):
        return True
    return bool(rule.measures) and parse_name(name).measure in rule.measures


def missing_core(project_name: str, rows: pd.DataFrame, kind: dict | None = None) -> list[CoreRule]:
    """The core rules a project's rows leave unanswered (rows: level3 and value_kind)."""
    kind = kind or project_kind(project_name)
    name = normalize_chars(as_text(project_name))
    names = [as_text(x) for x in rows["level3"]] if len(rows) else []
    kinds = [as_text(x) for x in rows["value_kind"]] if len(rows) and "value_kind" in rows else [""] * len(names)
    values = [as_text(x) for x in rows["value"]] if len(rows) and "value" in rows else [""] * len(names)
    out = []
    for rule in core_rules():
        fits = (rule.applies_to in kind["archetypes"]) if rule.kind == "archetype" else rule.applies_to == kind["sector"]
        if not fits or any(w in name for w in rule.unless):
            continue
        if rule.name_words and not any(w in name for w in rule.name_words):
            continue
        if not any(answers(rule, n, k, v) for n, k, v in zip(names, kinds, values)):
            out.append(rule)
    return out
