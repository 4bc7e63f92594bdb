"""Domain words the extractor needs, loaded from reviewable data files.

``data/ingest_headers.tsv`` maps canonical columns to header spellings and
``data/ingest_markers.tsv`` lists metadata labels and marker words. Both are
matched on :func:`norm_label` keys.

    >>> norm_label(" 指标\\n性质 ")
    '指标性质'
    >>> norm_label("资金支出计划（%）")
    '资金支出计划'
    >>> markers()["project_name"][0]
    '项目名称'
"""
from __future__ import annotations

import functools
import re

from ..resources import data_file

_WS = re.compile(r"\s+")
_TRAILING_NOTE = re.compile(r"[（(][^（）()]*[)）]$")
_BRACKETS = str.maketrans({"(": "（", ")": "）", ":": "：", "\u3000": " "})


def clean(text) -> str:
    """Trim a cell: strip ends, turn line breaks inside a cell into nothing.

    Chinese text has no spaces between words, so a Word line break inside a cell
    ("产出\\n指标") is glued back together; runs of inner spaces become one.

        >>> clean("  给水等于4032.37米；\\n污水等于4119.901米 ")
        '给水等于4032.37米；污水等于4119.901米'
        >>> clean("≥90%\\n≥95%"), clean("产出\\n指标")
        ('≥90% ≥95%', '产出指标')
    """
    if text is None:
        return ""
    text = str(text)
    if "\n" not in text and not _RUN_OF_SPACES.search(text):   # most cells: one line, nothing to join
        return text.strip(" \t\u3000\r").strip()
    lines = [ln for ln in (ln.strip(" \t\u3000\r") for ln in text.split("\n")) if ln]
    joined = ""
    for ln in lines:
        if joined and _RE_NUMBER_END.search(joined) and _RE_NUMBER_START.match(ln):
            joined += " "   # 120⏎80 or ≥90%⏎≥95% are two numbers, not 12080
        joined += ln
    return _RUN_OF_SPACES.sub(" ", joined).strip()


_RUN_OF_SPACES = re.compile(r"[ \t\u3000]{2,}")
_RE_NUMBER_END = re.compile(r"[\d%‰\u4e00-\u9fff]$")
_RE_NUMBER_START = re.compile(r"[≥≤<>=＞＜≧≦]?\s*\d")


def norm_header(text: str) -> str:
    """Key for header matching: no whitespace, full-width brackets and colons, no trailing colon."""
    return _WS.sub("", str(text or "")).translate(_BRACKETS).rstrip("：")


def norm_label(text: str) -> str:
    """Key for label matching: like :func:`norm_header`, minus a trailing bracketed note."""
    key = norm_header(text)
    stripped = _TRAILING_NOTE.sub("", key)
    return stripped or key


def _read_tsv(name: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in data_file(name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, _, words = line.partition("\t")
        out.append((kind.strip(), [w.strip() for w in words.split("|") if w.strip()]))
    return out


@functools.lru_cache(maxsize=None)
def header_spellings() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(canonical column, normalised spellings) in assignment order."""
    return tuple((kind, tuple(norm_header(w) for w in words)) for kind, words in _read_tsv("ingest_headers.tsv"))


@functools.lru_cache(maxsize=None)
def markers() -> dict[str, list[str]]:
    """kind → words (as written in the data file)."""
    out: dict[str, list[str]] = {}
    for kind, words in _read_tsv("ingest_markers.tsv"):
        out.setdefault(kind, []).extend(words)
    return out


@functools.lru_cache(maxsize=None)
def label_kinds() -> dict[str, str]:
    """Normalised metadata label → kind (project_name, budget, skip, ...)."""
    out = {}
    for kind in ("project_name", "project_code", "budget", "purpose", "goals", "department", "unit", "skip"):
        for w in markers().get(kind, []):
            out.setdefault(norm_label(w), kind)
    return out


@functools.lru_cache(maxsize=None)
def marker_set(kind: str) -> frozenset[str]:
    return frozenset(norm_label(w) for w in markers().get(kind, []))


@functools.lru_cache(maxsize=None)
def marker_headers(kind: str) -> tuple[str, ...]:
    """The words of a marker kind as header keys (:func:`norm_header`)."""
    return tuple(norm_header(w) for w in markers().get(kind, []))


@functools.lru_cache(maxsize=None)
def column_spellings(canonical: str) -> frozenset[str]:
    """Every normalised spelling of one canonical column."""
    return frozenset(sp for kind, spellings in header_spellings() if kind == canonical for sp in spellings)
