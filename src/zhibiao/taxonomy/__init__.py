"""Taxonomy: the official category framework and the canonical indicator library.

Categories (``zhibiao/data/categories.tsv``)::

    >>> from zhibiao.taxonomy import canonical_category, canonical_level1, level1_of
    >>> canonical_category("数量指标 (必填硬性指标)")
    '数量指标'
    >>> canonical_level1("效果指标")
    '效益指标'
    >>> level1_of("服务对象满意度指标")
    '满意度指标'

Library (``training_data/indicator_library.csv``)::

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
    LIBRARY_COLUMNS,
    SECTORS,
    VALUE_KINDS,
    alias_index,
    get_indicator,
    library_path,
    library_without_document,
    load_library,
)

__all__ = [
    "CATEGORIES",
    "LEVEL1",
    "canonical_category",
    "canonical_level1",
    "categories_of_level1",
    "level1_of",
    "normalize_label",
    "reconcile",
    "LIBRARY_COLUMNS",
    "SECTORS",
    "VALUE_KINDS",
    "alias_index",
    "get_indicator",
    "library_path",
    "library_without_document",
    "load_library",
]
