"""Audit report for 绩效目标审核: the problems a finance-bureau reviewer looks for.

``audit(rows, projects)`` takes indicator rows as extracted (DESIGN §4), normalizes
them if they are not already, and lists one finding per problem, a per-project
table with counts and a score, and a per-department summary. ``write_report``
writes them as an .xlsx a clerk can read (one sheet per level) plus a short .html
with a bar chart of the problem counts. ``audit_files`` runs extraction first;
a file that cannot be read is recorded in the report, never fatal.

The problem codes, their severities (高/中/低) and their Chinese messages live in
``zhibiao/data/audit_codes.tsv``, the required groups in ``required_groups.tsv``, the score
weights and grade cut-offs in ``audit_scoring.toml``. The copy-paste detector is
:mod:`zhibiao.copies` (its generic vocabulary: ``audit_generic_terms.txt``).

Severities follow measured precision (:mod:`.evaluate`): 中/高 only where a type was right on
≥ 80 % of held-out findings. Modules: :mod:`.codes` (codes and messages), :mod:`.rules` (normalized rows, with or without a
model), :mod:`.checks` (findings), :mod:`.scoring` (scores, grades, departments), :mod:`.core`
(``audit``, ``audit_files``), :mod:`.report` (xlsx and html).

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"project_id": ["p1"], "project_name": ["农村环卫保洁"],
    ...                      "level2": ["数量指标"], "level3": ["保洁村数"], "value": ["提高"]})
    >>> report = audit(rows, normalizer=RuleNormalizer())
    >>> sorted(set(report.findings["code"]))
    ['missing_category', 'not_measurable']

Codes (see the data file for the messages):

==================== ====== =====================================================
code                 级别   what
==================== ====== =====================================================
missing_category     高/中  a required group absent (per project)
template_copy        高     indicator copied from an unrelated project
title_mismatch       高/低  table title names another project (低: wording only)
category_mismatch    中     declared 二级 ≠ the category the row's content shows, for a pair the
                            classifier separates reliably, above its cut (:mod:`.mismatch`)
unit_mismatch        低     unit of the wrong kind for the indicator
not_measurable       中     qualitative target (提高) where a number is expected
missing_value        中     no target, or only a unit (“个”)
implausible_value    中     a rate > 100% (“292%” → a lost ≥), or a vacuous ≥0
missing_core         低     a core indicator of the project's kind absent (:mod:`.kinds`)
out_of_range         低     a % target outside what similar projects set (满意度 ≥5%)
cost_over_budget     低     a total cost above the project's budget
deadline_after_year  低     a deadline after the budget year
target_below_last_year 低   below last year's target or actual (``previous=``, :mod:`.history`)
missing_unit         低     a 定量 target with no unit in the value or the name
weights_sum          低     the weights of a project do not sum to 100
duplicate_indicator  低     the same 三级指标 twice in one project
no_indicators        高     a project with no indicator rows
unmatched_indicator  低     no canonical indicator type found
==================== ====== =====================================================
"""
from __future__ import annotations

from ..copies import (detect_template_copy, flag_template_copies, generic_terms, is_generic,  # noqa: F401
                      name_similarity, related_families, topic_terms)
from .codes import CODE_ORDER, CODES, FINDING_COLUMNS, SEVERITIES, Code, code_info  # noqa: F401
from .core import HISTORY_NOTE, AuditReport, audit, audit_files  # noqa: F401
from .report import report_html, svg_bar_chart, write_report  # noqa: F401
from .rules import RuleNormalizer
from .scoring import grade, scoring, scoring_text  # noqa: F401

__all__ = ["AuditReport", "audit", "audit_files", "write_report", "detect_template_copy",
           "RuleNormalizer", "CODES", "FINDING_COLUMNS", "SEVERITIES"]
