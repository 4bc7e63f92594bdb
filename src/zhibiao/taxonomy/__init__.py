"""Taxonomy: the official category framework and the canonical indicator library.

Categories (``zhibiao/data/categories.tsv``)::

    >>> from zhibiao.taxonomy import canonical_category, canonical_level1, level1_of
    >>> canonical_category("数量指标 (必填硬性指标)")
    '数量指标'
    >>> canonical_level1("效果指标")
    '效益指标'
    >>> level1_of("服务对象满意度指标")
    '满意度指标'

Library (``zhibiao/data/library/*.tsv``, one file per sector) and name grammar (``zhibiao/data/lexicon``)::

    >>> from zhibiao.taxonomy import load_library, get_indicator
    >>> get_indicator("quality.acceptance_rate")["name"]
    '验收合格率'
"""
from __future__ import annotations

from .categories import (
    CATEGORIES,
    LEVEL1,
    canonical_category,
    canonical_level1,
    categories_of_level1,
    level1_of,
    normalize_label,
    reconcile,
)
from .library import (
    ARCHETYPES,
    LIBRARY_COLUMNS,
    SECTORS,
    VALUE_KINDS,
    alias_index,
    archetype_table,
    get_indicator,
    library_path,
    library_without_document,
    library_without_sector,
    load_library,
    sector_table,
    validate_library,
)
from .names import NameParts, parse_name, same_indicator, state_judged

__all__ = [
    "CATEGORIES",
    "LEVEL1",
    "canonical_category",
    "canonical_level1",
    "categories_of_level1",
    "level1_of",
    "normalize_label",
    "reconcile",
    "ARCHETYPES",
    "LIBRARY_COLUMNS",
    "NameParts",
    "state_judged",
    "archetype_table",
    "library_without_sector",
    "parse_name",
    "same_indicator",
    "sector_table",
    "validate_library",
    "SECTORS",
    "VALUE_KINDS",
    "alias_index",
    "get_indicator",
    "library_path",
    "library_without_document",
    "load_library",
]
