"""The standard 项目支出绩效目标表 layout, written as an .xlsx workbook.

Finance bureaus exchange indicator sets in this layout, so it is what the CLI
(``zhibiao suggest --xlsx``) and the service (``/normalize?format=xlsx``) hand back::

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"project_name": ["道路维修"], "level1": ["产出指标"], "level2": ["数量指标"],
    ...                      "level3": ["维修道路长度"], "value": ["≥1200米"]})
    >>> target_table_xlsx(rows)[:2]     # an xlsx file is a zip archive
    b'PK'
"""
from __future__ import annotations

import io
from typing import Any

import pandas as pd

from .tables import as_text_cell, cell_value, excel_value

__all__ = ["STANDARD_HEADERS", "NOTES_HEADER", "NORMALIZED_HEADERS", "target_table_xlsx", "suggestion_rows"]

STANDARD_HEADERS = ["一级指标", "二级指标", "三级指标", "绩效指标描述", "指标值", "指标值确定依据"]
NOTES_HEADER = "审核意见"
NORMALIZED_HEADERS = {  # the second sheet (标准化信息): what zhibiao read from each row, for a reviewer
    "level1_canonical": "规范一级指标", "category": "规范二级指标", "category_confidence": "类别置信度",
    "indicator_id": "标准指标编号", "indicator_name": "标准指标名称", "flags": "审核标记",
    "weight": "分值",
}
_WIDTHS = [12, 16, 24, 30, 14, 16, 48]
# 项目名称 / 预算数 / 资金用途 … rows above each project's indicators: (label, key in the project info)
_PROJECT_ROWS = (("项目名称", "project_name"), ("预算数", "budget_wan"), ("项目资金主要用途", "purpose"),
                 ("项目编码", "project_code"), ("部门名称", "department"))


def _put(ws, row: int, col: int, v: Any):
    """Write a value as data: never a formula (指标值 like "=100%" are text), no control characters."""
    v = excel_value(v)
    cell = ws.cell(row, col, "" if v is None else v)
    as_text_cell(cell)
    return cell


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None:
        return []
    return [{k: cell_value(v) for k, v in r.items()} for r in df.astype(object).to_dict(orient="records")]


def _text(v) -> str:
    return "" if v is None else str(v)


def _finding_note(f: dict) -> str:
    """One finding as a clerk reads it: 【label】message 修改建议：fix."""
    text = f"【{_text(f.get('label'))}】{_text(f.get('message'))}"
    return text + (f"\n修改建议：{_text(f.get('suggestion'))}" if f.get("suggestion") else "")


def _level_order(rec: dict) -> tuple[int, int]:
    """Sort key: the framework's order of 一级 then 二级, read from the clerk's spelling (效果指标 is
    效益指标), else from the category zhibiao read."""
    from .taxonomy import CATEGORIES, canonical_category, canonical_level1, level1_of
    level1s = ["产出指标", "成本指标", "效益指标", "满意度指标"]
    l2 = _text(rec.get("level2")).strip()
    cat = canonical_category(l2) if l2 else ""
    cat = cat if cat in CATEGORIES else _text(rec.get("category"))
    l1 = _text(rec.get("level1")).strip()
    l1 = (canonical_level1(l1) if l1 else None) or (level1_of(cat) if cat in CATEGORIES else "")
    i1 = level1s.index(l1) if l1 in level1s else len(level1s)
    i2 = CATEGORIES.index(cat) if cat in CATEGORIES else len(CATEGORIES)
    return i1, i2


def target_table_xlsx(rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                      project: dict | None = None, findings: pd.DataFrame | None = None) -> bytes:
    """Indicator rows as a 项目支出绩效目标表 workbook: per project a title row, 项目名称 / 预算数 /
    资金用途 rows, the standard header and its indicator rows, grouped by 一级 then 二级 (merged
    cells), in the clerk's own words.

    Rows are grouped by ``project_name``; each group's details come from ``projects`` (as
    ``zhibiao extract`` writes it), or from ``project`` (``project_name``, ``budget_wan``,
    ``purpose`` …) for a single project. ``findings`` (an audit's, matched by project_id and
    location) become the 审核意见 column in Chinese, and project-level findings (a missing
    group) the sheet 项目审核意见. What zhibiao read from each row (规范二级指标, 标准指标编号 …) goes to a second
    sheet, 标准化信息, never into the form itself.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "绩效目标表"
    notes_by_row: dict[tuple[str, str], list[str]] = {}
    notes_by_project: dict[str, list[str]] = {}
    for f in _records(findings):
        key = (_text(f.get("project_id")), _text(f.get("location")))
        if key[1]:
            notes_by_row.setdefault(key, []).append(_finding_note(f))
        else:
            notes_by_project.setdefault(key[0], []).append(_finding_note(f))
    with_notes = findings is not None
    headers = STANDARD_HEADERS + ([NOTES_HEADER] if with_notes else [])
    width = len(headers)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(vertical="center", wrap_text=True)
    meta: dict[str, dict] = {}
    if projects is not None and len(projects) and "project_name" in projects.columns:
        for rec in _records(projects):
            meta.setdefault(rec.get("project_name") or "", rec)
    names = rows["project_name"].fillna("").astype(str) if "project_name" in rows.columns else None
    groups = list(dict.fromkeys(names)) if names is not None else [""]
    r = 1
    project_notes: list[tuple[str, str]] = []
    for name in groups:
        part = rows[names == name] if names is not None else rows
        info = {**meta.get(name, {}), **{k: v for k, v in (project or {}).items() if v not in (None, "")}}
        name = info.get("project_name") or name
        title = f"{name or '未命名'}项目绩效目标表" if not str(name).endswith("项目") else f"{name}绩效目标表"
        _put(ws, r, 1, title).font = Font(bold=True, size=14)
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
        ws.cell(r, 1).alignment = Alignment(horizontal="center")
        r += 1
        for label, key in _PROJECT_ROWS:
            value = name if key == "project_name" else info.get(key)
            if value in (None, "") and key != "project_name":
                continue
            if key == "budget_wan":
                value = f"{value:g}万元" if isinstance(value, (int, float)) else f"{value}万元"
            _put(ws, r, 1, label).font = bold
            _put(ws, r, 2, value)
            ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=width)
            r += 1
        for j, h in enumerate(headers, 1):
            c = _put(ws, r, j, h)
            c.font, c.fill, c.border = bold, head_fill, border
            c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        r += 1
        recs = sorted(_records(part), key=_level_order)   # stable: the clerk's order within a group
        first = r
        pid = ""
        for rec in recs:
            pid = _text(rec.get("project_id")) or pid
            vals = [rec.get("level1"), rec.get("level2"), rec.get("level3"), rec.get("description"),
                    rec.get("value"), rec.get("basis")]
            if with_notes:
                vals.append("\n".join(notes_by_row.get((_text(rec.get("project_id")), _text(rec.get("location"))), [])))
            for j, v in enumerate(vals, 1):
                c = _put(ws, r, j, v)
                c.border = border
                c.alignment = wrap
            r += 1
        _merge_runs(ws, first, r - 1, 1, ())
        _merge_runs(ws, first, r - 1, 2, (1,))
        project_notes.extend((name, note) for note in notes_by_project.get(pid, []))
        r += 1  # a blank row between projects
    for j, w in enumerate(_WIDTHS[:width], 1):
        ws.column_dimensions[get_column_letter(j)].width = w
    if project_notes:
        # below the table a reader would take them for indicator rows: on a sheet of their own
        wn = wb.create_sheet("项目审核意见")
        for j, h in enumerate(("项目名称", "审核意见"), 1):
            c = _put(wn, 1, j, h)
            c.font, c.fill = bold, head_fill
        for i, (pname, note) in enumerate(project_notes, 2):
            _put(wn, i, 1, pname)
            _put(wn, i, 2, note).alignment = wrap
        wn.column_dimensions["A"].width, wn.column_dimensions["B"].width = 24, 90
    extra = [c for c in NORMALIZED_HEADERS if c in rows.columns]
    if extra:
        sheet = wb.create_sheet("标准化信息")
        _normalized_sheet(sheet, rows, extra, bold, head_fill)
        sheet.sheet_state = "hidden"   # internal; readers (zhibiao's too) skip hidden sheets
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _merge_runs(ws, first: int, last: int, col: int, within: tuple[int, ...]) -> None:
    """Merge runs of equal non-empty cells in ``col`` (only inside runs of the ``within`` columns)."""
    start = first
    for r in range(first + 1, last + 2):
        same = r <= last and ws.cell(r, col).value not in (None, "") and all(
            ws.cell(r, c).value == ws.cell(start, c).value for c in (col, *within))
        if same:
            continue
        if r - 1 > start:
            ws.merge_cells(start_row=start, start_column=col, end_row=r - 1, end_column=col)
        start = r


def _normalized_sheet(ws, rows: pd.DataFrame, extra: list[str], bold, fill) -> None:
    headers = ["项目名称", "三级指标", "指标值"] + [NORMALIZED_HEADERS[c] for c in extra]
    for j, h in enumerate(headers, 1):
        c = _put(ws, 1, j, h)
        c.font, c.fill = bold, fill
    for i, rec in enumerate(_records(rows), 2):
        vals = [rec.get("project_name"), rec.get("level3"), rec.get("value")] + [rec.get(c) for c in extra]
        for j, v in enumerate(vals, 1):
            _put(ws, i, j, v)


def suggestion_rows(result: dict, project_name: str | None = None) -> pd.DataFrame:
    """The indicator set of a :func:`zhibiao.suggest` result, as rows to write out: the draft's own
    rows (when it was given one) and the suggested 三级指标, target values and bases, in the
    framework's category order."""
    from .taxonomy import CATEGORIES, level1_of
    name = result.get("query", "") if project_name is None else project_name
    rows = [{"level1": level1_of(d["category"]) if d.get("category") in CATEGORIES else "",
             "level2": d.get("category", ""), "level3": d["level3"], "value": d.get("value", ""), "basis": "",
             "weight": ""}
            for d in result.get("draft", [])]
    rows += [{"level1": s["level1"], "level2": s["category"], "level3": s["suggested_level3"],
              "value": s["suggested_value"], "basis": s["basis"], "weight": s.get("weight", "")}
             for s in result["suggestions"]]
    order = {c: i for i, c in enumerate(CATEGORIES)}  # the table's own order: 产出 (数量 质量 时效 成本), 效益, 满意度
    rows.sort(key=lambda r: order.get(r["level2"], len(order)))
    columns = ["project_name", "level1", "level2", "level3", "description", "value", "basis", "weight"]
    return pd.DataFrame([{"project_name": name, "description": "", **r} for r in rows], columns=columns)
