"""The audit itself: normalized rows → findings, per-project scores, per-department summary."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..copies import BASE_ROW_COLUMNS, as_text, detect_template_copy, prepare_rows, project_table
from .checks import (_copy_findings, _duplicate_findings, _history_findings, _missing_category_findings,
                     _project_groups, _project_rule_findings, _row_findings, _title_findings, _value_findings)
from .codes import _SEV_RANK, CODE_ORDER, FINDING_COLUMNS, code_info
from .mismatch import gated_flags
from .rules import normalized
from .scoring import department_report, project_report


@dataclass
class AuditReport:
    """What :func:`audit` returns. All tables are pandas DataFrames.

    findings     one row per problem (FINDING_COLUMNS)
    projects     one row per project: counts per code, groups present/missing, score, grade
    departments  one row per (source, department)
    failures     files that could not be read (source, error)
    rows         the normalized indicator rows, with the copy-paste detector's evidence
    notes        remarks on how the audit was run (Chinese)
    """
    findings: pd.DataFrame
    projects: pd.DataFrame
    departments: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "error"]))
    rows: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per code, in report order (codes with no finding are left out)."""
        c = Counter(self.findings["code"]) if len(self.findings) else Counter()
        return {k: c[k] for k in CODE_ORDER if c[k]} | {k: v for k, v in c.items() if k not in CODE_ORDER}

    def summary(self) -> str:
        """A few lines of Chinese for the terminal."""
        sev = Counter(self.findings["severity"]) if len(self.findings) else Counter()
        lines = [f"文件 {self.projects['source'].nunique() if len(self.projects) else 0} 个，"
                 f"项目 {len(self.projects)} 个，指标 {0 if self.rows is None else len(self.rows)} 条；"
                 f"问题 {len(self.findings)} 个（高 {sev['高']}，中 {sev['中']}，低 {sev['低']}）"]
        for code, n in self.counts().items():
            lines.append(f"  {code_info(code).label}（{code}）：{n}")
        if len(self.failures):
            lines.append(f"未能读取的文件：{len(self.failures)} 个")
        return "\n".join(lines)


def audit(rows: pd.DataFrame, projects: pd.DataFrame | None = None, normalizer=None, *,
          embedder=None, previous=None, history=None) -> AuditReport:
    """Audit extracted indicator rows (DESIGN §4 columns; only level3 is required).

    ``rows`` are normalized with ``normalizer`` (default ``Normalizer.load()``, or the
    declared-label :class:`RuleNormalizer` when no model is installed) unless they
    already carry the normalize columns. ``projects`` (as from extraction) adds the
    purpose and goals the copy-paste detector compares with, and projects without rows.
    ``embedder`` is passed to :func:`detect_template_copy` (None: lexical test only).
    ``previous``: last year's tables, as ``(rows, projects)`` or rows alone (extracted, normalized
    or not): a target below last year's target or actual is reported (target_below_last_year).
    ``history``: where to look last year's tables up when ``previous`` is not given (the corpus
    store): called with the normalized rows and the projects table, it returns None or
    ``(rows, projects, matched)``, ``matched`` mapping each project_id to last year's.
    """
    notes: list[str] = []
    rows = prepare_rows(rows)
    norm = normalized(rows, normalizer, notes)
    for c in ("category", "declared_category", "indicator_id", "value_kind", "op", "unit", "flags"):
        if c not in norm.columns:
            norm[c] = ""
    if "number" not in norm.columns:
        norm["number"] = None
    if "category_confidence" not in norm.columns:
        norm["category_confidence"] = 0.0
    norm = norm.assign(flags=gated_flags(norm))
    projects_t = project_table(norm, projects)

    library = None
    if normalizer is not None and hasattr(normalizer, "library"):
        try:
            library = normalizer.library
        except Exception:  # noqa: BLE001
            library = None
    if library is None and (norm["flags"].map(as_text).str.contains("unit_mismatch")).any():
        try:
            from ..taxonomy import load_library
            library = load_library().set_index("indicator_id", drop=False)
        except Exception:  # noqa: BLE001
            library = None

    copies = detect_template_copy(norm, projects_t, embedder=embedder)
    norm = norm.join(copies)
    covered = _project_groups(norm)

    # A copied row is to be deleted, not corrected: its other row problems are not listed.
    own = ~copies["template_copy"].to_numpy(dtype=bool)
    found = (_missing_category_findings(norm, projects_t, covered) + _copy_findings(norm, copies)
             + _title_findings(norm, projects_t) + _project_rule_findings(norm, projects_t)
             + _row_findings(norm[own], library) + _value_findings(norm[own], projects_t)
             + _duplicate_findings(norm))
    matched = None
    if previous is None and history is not None and (found_last := history(norm, projects_t)) is not None:
        *previous, matched = found_last
        previous = tuple(previous)
        notes.append(history_note(projects_t, previous[1], matched))
    if previous is not None:
        prev_rows, prev_projects = previous if isinstance(previous, tuple) else (previous, None)
        prev_rows = prepare_rows(prev_rows)
        prev_norm = normalized(prev_rows, normalizer, [])
        if library is None:  # the types' directions (正向/反向)
            from ..taxonomy import load_library
            library = load_library().set_index("indicator_id", drop=False)
        found += _history_findings(norm[own], projects_t, prev_norm, project_table(prev_norm, prev_projects), library,
                                   matched)
    findings = pd.DataFrame(found, columns=FINDING_COLUMNS)
    if len(findings):
        order = {k: i for i, k in enumerate(CODE_ORDER)}
        findings = (findings.assign(_s=findings["severity"].map(_SEV_RANK), _c=findings["code"].map(order),
                                    _p=findings["project_id"].map({p: i for i, p in enumerate(projects_t["project_id"])}))
                    .sort_values(["_p", "_s", "_c"], kind="stable")
                    .drop(columns=["_s", "_c", "_p"]).reset_index(drop=True))

    per_project = project_report(norm, projects_t, findings, covered)
    departments = department_report(per_project, findings)
    return AuditReport(findings=findings, projects=per_project, departments=departments,
                       rows=norm, notes=notes)


HISTORY_NOTE = "上年对比："   # the note that says which of last year's tables each project was compared with


def history_note(projects: pd.DataFrame, prev_projects: pd.DataFrame, matched: dict) -> str:
    """上年表 found by name and department: which of last year's projects each project was compared with."""
    prev = prev_projects.set_index("project_id")
    name = dict(zip(projects["project_id"], projects["project_name"]))
    pairs = [f"“{name.get(c, c)}” ← “{prev.at[p, 'project_name']}”（{prev.at[p, 'source']}，{prev.at[p, 'year']}年）"
             for c, p in matched.items() if p in prev.index]
    return (f"{HISTORY_NOTE}{len(pairs)} / {len(projects)} 个项目按名称和部门找到上年表"
            + ("：" + "；".join(pairs) if pairs else ""))


def _failures_frame(failures) -> pd.DataFrame:
    if failures is None:
        return pd.DataFrame(columns=["source", "error"])
    if isinstance(failures, pd.DataFrame):
        df = failures.copy()
        if "source" not in df.columns:
            for alt in ("path", "file"):
                if alt in df.columns:
                    df["source"] = df[alt]
                    break
        if "error" not in df.columns:
            for alt in ("reason", "message", "exception"):
                if alt in df.columns:
                    df["error"] = df[alt]
                    break
        for c in ("source", "error"):
            if c not in df.columns:
                df[c] = ""
        return df[["source", "error"]].map(as_text).reset_index(drop=True)
    recs = []
    items = failures.items() if isinstance(failures, dict) else failures
    for f in items:
        if isinstance(f, tuple) and len(f) >= 2:
            recs.append({"source": as_text(f[0]), "error": as_text(f[1])})
        elif isinstance(f, dict):
            recs.append({"source": as_text(f.get("source") or f.get("path") or f.get("file")),
                         "error": as_text(f.get("error") or f.get("reason") or f.get("message"))})
        elif isinstance(f, BaseException):
            recs.append({"source": as_text(getattr(f, "path", "")), "error": as_text(getattr(f, "reason", None) or f)})
        else:
            recs.append({"source": as_text(getattr(f, "path", getattr(f, "source", ""))),
                         "error": as_text(getattr(f, "error", getattr(f, "reason", f)))})
    return pd.DataFrame(recs, columns=["source", "error"])


def audit_files(paths: Iterable, normalizer=None, *, embedder=None, previous: Iterable | None = None,
                history=None) -> AuditReport:
    """Read the documents (or rows files) at ``paths`` and audit them; unreadable files are listed in
    ``report.failures`` (and on the report's 说明 sheet), never raised. ``previous``: last year's
    documents, for the year-over-year check; else ``history`` looks them up (see :func:`audit`)."""
    from ..tables import read_inputs

    paths = [Path(p) for p in paths]
    result = read_inputs(paths, errors="collect")
    failures = _failures_frame(getattr(result, "failures", None))
    rows = getattr(result, "rows", None)
    projects = getattr(result, "projects", None)
    if rows is None or not len(rows):
        rows = pd.DataFrame(columns=BASE_ROW_COLUMNS)
    last = None
    if previous:
        prev = read_inputs([Path(p) for p in previous], errors="collect")
        failures = pd.concat([failures, _failures_frame(getattr(prev, "failures", None))], ignore_index=True)
        if prev.rows is not None and len(prev.rows):
            last = (prev.rows, prev.projects)
    report = audit(rows, projects, normalizer=normalizer, embedder=embedder, previous=last,
                   history=None if previous else history)
    report.failures = failures
    report.notes.extend(getattr(result, "notes", []))
    return report
