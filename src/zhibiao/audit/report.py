"""The audit report as a clerk reads it: an .xlsx (问题明细, 项目, 部门, 说明) and a short .html."""
from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import pandas as pd

from ..copies import as_text
from ..tables import as_text_cell
from .codes import CODE_ORDER, code_info, legend
from .core import AuditReport
from .scoring import NO_DEPARTMENT, scoring_text

_FINDING_HEADERS = {
    "severity": "严重程度", "label": "问题类型", "department": "部门", "project_name": "项目名称",
    "level3": "三级指标", "value": "指标值", "message": "问题说明", "suggestion": "修改建议",
    "source": "来源文件", "location": "位置", "project_id": "项目标识", "code": "问题代码",
}
_PROJECT_HEADERS = {
    "source": "来源文件", "department": "部门", "project_name": "项目名称", "budget_wan": "预算（万元）",
    "n_indicators": "指标数", "categories_present": "已设指标类别", "categories_missing": "缺少的指标类别",
    "n_findings": "问题数", "n_高": "高", "n_中": "中", "n_低": "低", "score": "得分", "grade": "等级",
    "project_id": "项目标识",
}
_DEPARTMENT_HEADERS = {
    "source": "来源文件", "department": "部门", "n_projects": "项目数", "n_indicators": "指标数",
    "n_findings": "问题数", "n_高": "高", "n_中": "中", "n_低": "低", "projects_with_high": "有高级问题的项目数",
    "mean_score": "平均得分", "min_score": "最低得分", "top_problem": "最多的问题", "worst_projects": "得分最低的项目",
}
_SEV_FILL = {"高": "F8CBAD", "中": "FFE699", "低": "DDEBF7"}
_SEV_SVG = {"高": "#c0504d", "中": "#e6a23c", "低": "#5b9bd5"}


def _code_headers() -> dict[str, str]:
    return {c: code_info(c).label for c in CODE_ORDER}


def _sheet_frames(report: AuditReport) -> dict[str, pd.DataFrame]:
    f = report.findings
    f_cols = ["severity", "label", "department", "project_name", "level3", "value", "message",
              "suggestion", "source", "location", "project_id", "code"]
    findings = f[f_cols].assign(department=f["department"].replace("", NO_DEPARTMENT)).rename(columns=_FINDING_HEADERS)
    p_cols = (["source", "department", "project_name", "budget_wan", "score", "grade", "n_indicators",
               "categories_present", "categories_missing", "n_findings", "n_高", "n_中", "n_低"]
              + CODE_ORDER + ["project_id"])
    projects = report.projects[p_cols].sort_values(["source", "score"], kind="stable")
    projects = projects.assign(department=projects["department"].replace("", NO_DEPARTMENT))
    projects = projects.rename(columns={**_PROJECT_HEADERS, **_code_headers()})
    d_cols = (["source", "department", "n_projects", "n_indicators", "mean_score", "min_score",
               "projects_with_high", "n_findings", "n_高", "n_中", "n_低"] + CODE_ORDER
              + ["top_problem", "worst_projects"])
    departments = report.departments[d_cols].rename(columns={**_DEPARTMENT_HEADERS, **_code_headers()})
    # a code's label is shared by its variants; keep the columns unique
    projects = projects.loc[:, ~projects.columns.duplicated()]
    departments = departments.loc[:, ~departments.columns.duplicated()]
    notes = pd.DataFrame(legend())
    frames = {"问题明细": findings, "项目": projects, "部门": departments}
    frames.update(selfeval_frames(report.rows))
    frames["说明"] = notes
    return frames


def selfeval_frames(rows: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The 自评 and 自评汇总 sheets (zhibiao.selfeval) when the rows carry an 实际完成值."""
    if rows is None or "actual_value" not in rows.columns or not rows["actual_value"].map(as_text).str.strip().any():
        return {}
    from ..selfeval import report_sheets
    return report_sheets(rows[rows["actual_value"].map(as_text).str.strip() != ""].reset_index(drop=True))


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(text))


def write_report(report: AuditReport, path) -> Path:
    """Write ``report`` to ``path`` (.xlsx) and a short .html beside it (same stem).

    Sheets: 问题明细 (one row per problem), 项目, 部门, and 说明 (the codes, unreadable
    files, notes). Chinese headers, frozen header row, autofilter, fitted widths.
    Returns the xlsx path.
    """
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        path = path.with_suffix(".xlsx")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = _sheet_frames(report)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in frames.items():
            df.to_excel(xw, sheet_name=name, index=False)
            for row in xw.sheets[name].iter_rows(min_row=2):
                for cell in row:
                    as_text_cell(cell)
        ws_info = xw.sheets["说明"]
        r = len(frames["说明"]) + 3
        extra = []
        if len(report.failures):
            extra.append(["未能读取的文件", "原因"])
            extra += [[s, e] for s, e in zip(report.failures["source"], report.failures["error"])]
            extra.append([])
        for note in report.notes:
            extra.append(["注", note])
        extra.append(["得分", scoring_text()])
        for i, line in enumerate(extra):
            for j, v in enumerate(line):
                ws_info.cell(row=r + i, column=1 + j, value=v)

        wide = {"问题说明": 60, "修改建议": 40, "得分最低的项目": 50, "说明": 70}
        for name, df in frames.items():
            ws = xw.sheets[name]
            ws.freeze_panes = "A2"
            if len(df.columns):
                ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(1, len(df) + 1)}"
            for j, col in enumerate(df.columns, start=1):
                cells = [col] + [v for v in df[col].head(500).tolist()]
                width = max(_display_width(as_text(v)) for v in cells) + 2
                width = min(max(width, 6), wide.get(col, 30))
                ws.column_dimensions[get_column_letter(j)].width = width
                head = ws.cell(row=1, column=j)
                head.font = Font(bold=True)
                head.fill = PatternFill("solid", fgColor="D9D9D9")
                head.alignment = Alignment(wrap_text=True, vertical="center")
                if col in wide:
                    for row in ws.iter_rows(min_row=2, max_row=len(df) + 1, min_col=j, max_col=j):
                        for c in row:
                            c.alignment = Alignment(wrap_text=True, vertical="top")
            if "严重程度" in df.columns:
                j = list(df.columns).index("严重程度") + 1
                for row in ws.iter_rows(min_row=2, max_row=len(df) + 1, min_col=j, max_col=j):
                    for c in row:
                        if c.value in _SEV_FILL:
                            c.fill = PatternFill("solid", fgColor=_SEV_FILL[c.value])
    path.with_suffix(".html").write_text(report_html(report), encoding="utf-8")
    return path


def svg_bar_chart(counts: list[tuple[str, int, str]], *, width: int = 640, bar_height: int = 22) -> str:
    """A horizontal bar chart as inline SVG: ``counts`` = [(label, count, colour)].

    >>> svg_bar_chart([("缺少必设指标", 3, "#c0504d")]).startswith("<svg")
    True
    """
    label_w, pad, gap = 170, 10, 6
    top = max([c for _, c, _ in counts], default=0) or 1
    height = pad * 2 + max(1, len(counts)) * (bar_height + gap)
    bar_w = width - label_w - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="问题数量" '
             f'font-family="sans-serif" font-size="13">']
    for i, (label, n, colour) in enumerate(counts):
        y = pad + i * (bar_height + gap)
        w = max(1, round(bar_w * n / top)) if n else 0
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_height * 0.7:.0f}" text-anchor="end">'
                     f'{html.escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_height}" fill="{colour}">'
                     f'<title>{html.escape(label)}：{n}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + bar_height * 0.7:.0f}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_html(report: AuditReport) -> str:
    """The short HTML version: summary, a bar chart of problem counts, departments, worst projects."""
    esc = html.escape
    f = report.findings
    sev = Counter(f["severity"]) if len(f) else Counter()
    counts = report.counts()
    chart = svg_bar_chart([(code_info(c).label, n, _SEV_SVG[code_info(c).severity]) for c, n in counts.items()])
    n_rows = 0 if report.rows is None else len(report.rows)
    n_files = report.projects["source"].nunique() if len(report.projects) else 0
    dep_rows = "".join(
        f"<tr><td>{esc(as_text(d.source))}</td><td>{esc(as_text(d.department))}</td><td>{d.n_projects}</td>"
        f"<td>{d.n_indicators}</td><td>{d.mean_score:g}</td><td>{d.n_findings}</td><td>{d.n_高}</td>"
        f"<td>{esc(as_text(d.top_problem))}</td></tr>" for d in report.departments.itertuples(index=False))
    worst = report.projects.sort_values("score").head(10)
    worst_rows = "".join(
        f"<tr><td>{esc(as_text(p.project_name))}</td><td>{esc(as_text(p.source))}</td><td>{p.score:g}</td>"
        f"<td>{esc(as_text(p.grade))}</td><td>{esc(as_text(p.categories_missing))}</td><td>{p.n_findings}</td></tr>"
        for p in worst.itertuples(index=False))
    failures = ""
    if len(report.failures):
        failures = "<h2>未能读取的文件</h2><ul>" + "".join(
            f"<li>{esc(s)}：{esc(e)}</li>" for s, e in zip(report.failures["source"], report.failures["error"])) + "</ul>"
    notes = "".join(f"<p class=note>注：{esc(n)}</p>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>绩效目标审核报告</title>
<style>
body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
th{{background:#eee}}.note{{color:#666}}.kpi span{{display:inline-block;margin-right:2em}}
</style></head><body>
<h1>绩效目标审核报告</h1>
<p class=kpi><span>文件 <b>{n_files}</b></span><span>项目 <b>{len(report.projects)}</b></span>
<span>指标 <b>{n_rows}</b></span><span>问题 <b>{len(f)}</b>（高 {sev['高']}，中 {sev['中']}，低 {sev['低']}）</span></p>
{notes}
<h2>各类问题数量</h2>
{chart}
<h2>部门汇总</h2>
<table><tr><th>来源文件</th><th>部门</th><th>项目数</th><th>指标数</th><th>平均得分</th><th>问题数</th><th>高</th><th>最多的问题</th></tr>
{dep_rows}</table>
<h2>得分最低的项目</h2>
<table><tr><th>项目名称</th><th>来源文件</th><th>得分</th><th>等级</th><th>缺少的指标类别</th><th>问题数</th></tr>
{worst_rows}</table>
{failures}
<p class=note>问题明细见同名 Excel 文件的“问题明细”工作表。</p>
</body></html>
"""
