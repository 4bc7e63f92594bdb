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

__all__ = ["STANDARD_HEADERS", "NORMALIZED_HEADERS", "target_table_xlsx", "suggestion_rows"]

STANDARD_HEADERS = ["一级指标", "二级指标", "三级指标", "绩效指标描述", "指标值", "指标值确定依据"]
NORMALIZED_HEADERS = {  # extra columns after the standard six, when the rows carry them
    "level1_canonical": "规范一级指标", "category": "规范二级指标", "category_confidence": "类别置信度",
    "indicator_id": "标准指标编号", "indicator_name": "标准指标名称", "flags": "审核标记",
    "weight": "分值",
}
_WIDTHS = [12, 16, 22, 30, 14, 16, 12, 18, 10, 14, 18, 24]
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


def target_table_xlsx(rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                      project: dict | None = None) -> bytes:
    """Indicator rows as a 项目支出绩效目标表 workbook: per project a title row, 项目名称 / 预算数 /
    资金用途 rows, the standard header and its indicator rows.

    Rows are grouped by ``project_name``; each group's details come from ``projects`` (as
    ``zhibiao extract`` writes it), or from ``project`` (``project_name``, ``budget_wan``,
    ``purpose`` …) for a single project. Normalized rows also get the NORMALIZED_HEADERS columns.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "绩效目标表"
    extra = [c for c in NORMALIZED_HEADERS if c in rows.columns]
    headers = STANDARD_HEADERS + [NORMALIZED_HEADERS[c] for c in extra]
    width = len(headers)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    meta: dict[str, dict] = {}
    if projects is not None and len(projects) and "project_name" in projects.columns:
        for rec in _records(projects):
            meta.setdefault(rec.get("project_name") or "", rec)
    names = rows["project_name"].fillna("").astype(str) if "project_name" in rows.columns else None
    groups = list(dict.fromkeys(names)) if names is not None else [""]
    r = 1
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
        for rec in _records(part):
            level2 = rec.get("level2") or rec.get("category") or ""
            level1 = rec.get("level1") or rec.get("level1_canonical") or ""
            vals = [level1, level2, rec.get("level3"), rec.get("description"), rec.get("value"), rec.get("basis")]
            vals += [rec.get(c) for c in extra]
            for j, v in enumerate(vals, 1):
                c = _put(ws, r, j, v)
                c.border = border
                c.alignment = Alignment(vertical="center", wrap_text=True)
            r += 1
        r += 1  # a blank row between projects
    for j, w in enumerate(_WIDTHS[:width], 1):
        ws.column_dimensions[get_column_letter(j)].width = w
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


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
