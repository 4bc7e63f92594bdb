"""Name keys and char-bigram Dice for matching a project across years.

    >>> name_key("2021年度农村公路建设项目资金")
    '农村公路建设'
    >>> round(dice("农村公路建设", "农村道路建设"), 2)
    0.6
    >>> department_key("917003西城区政府办公室") == department_key("西城区 政府办公室")
    True
    >>> project_year("", "2023年农民工职业技能培训项目"), project_year("2022", "2023年…"), project_year(None, "铺设2000米管网")
    (2023, 2022, None)
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..resources import data_file

_YEAR = re.compile(r"20\d\d\s*年度?")
_STATED_YEAR = re.compile(r"((?:19|20)\d\d)\s*年")   # a year as a name states it: 2023年, not 2000米
_NUMBERING = re.compile(r"^\s*(?:\d+\s*[.、．]|[一二三四五六七八九十]+\s*、|[（(][一二三四五六七八九十\d]+[)）])\s*")
_NOT_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")

# Name similarity at or above this (char-bigram Dice, after name_key) is "the same project
# a year on". 0.6 accepts one changed word in a 6-character name (农村公路建设 / 农村道路建设)
# and rejects a different object with the same frame (农村公路建设 / 农村饮水建设: 0.4).
NAME_THRESHOLD = 0.6


@lru_cache(maxsize=1)
def _noise() -> tuple[str, ...]:
    words = []
    for line in data_file("project_name_noise.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line)
    return tuple(sorted(set(words), key=len, reverse=True))


def _clean(text) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).strip()


def name_key(name) -> str:
    key = _NUMBERING.sub("", _YEAR.sub("", _clean(name)))
    key = _NOT_WORD.sub("", key)
    changed = True
    while changed and key:
        changed = False
        for word in _noise():
            if key.endswith(word) and len(key) > len(word):
                key, changed = key[: -len(word)], True
                break
    return key


def project_year(year, *texts) -> int | None:
    """The year a table gives a project: its year field, else a year its name or title states
    (a table without a year column still says 2023年农村公路建设项目)."""
    m = re.search(r"(?:19|20)\d\d", _clean(year))
    if m:
        return int(m.group(0))
    for text in texts:
        if m := _STATED_YEAR.search(_clean(text)):
            return int(m.group(1))
    return None


def department_key(name) -> str:
    return _NOT_WORD.sub("", _DIGITS.sub("", _clean(name)))


def departments_agree(a: str, b: str) -> bool | None:
    """True/False when both keys are known; None when either is unknown."""
    if not a or not b:
        return None
    return a == b or a in b or b in a


def bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text} - {""}


def dice(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))
