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


def _raw_level3(report: AuditReport) -> dict[tuple[str, str], str]:
    """(project_id, location) → the 三级指标 exactly as the document wrote it (findings carry a
    normalized copy, （%） → (%), which a reviewer could not search the source for)."""
    rows = report.rows
    if rows is None or not len(rows) or not {"project_id", "location", "level3"} <= set(rows.columns):
        return {}
    return {(as_text(p), as_text(loc)): as_text(l3)
            for p, loc, l3 in zip(rows["project_id"], rows["location"], rows["level3"])}


def _document_names(report: AuditReport) -> dict[str, str]:
    """source → how the report names the document: its file name and its first table's title."""
    out: dict[str, str] = {}
    p = report.projects
    for src, title, name in zip(p["source"], p.get("table_title", p["project_name"]), p["project_name"]):
        src = as_text(src)
        if src and src not in out:
            first = as_text(title) or as_text(name)
            out[src] = f"{Path(src).name}（首个表格：{first}）" if first else Path(src).name
    return out


def report_html(report: AuditReport, *, generated: str | None = None) -> str:
    """The HTML report: scope and date, how 得分/等级 are computed, a chart of problem counts, the
    departments, then one section per project with every finding and its fix."""
    import datetime as _dt
    esc = html.escape
    f = report.findings
    sev = Counter(f["severity"]) if len(f) else Counter()
    counts = report.counts()
    chart = svg_bar_chart([(code_info(c).label, n, _SEV_SVG[code_info(c).severity]) for c, n in counts.items()])
    n_rows = 0 if report.rows is None else len(report.rows)
    docs = _document_names(report)
    n_files = len(docs)
    when = generated or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    raw = _raw_level3(report)

    def dept(d, src):
        d = as_text(d)
        return d if d and d != NO_DEPARTMENT else "文件中未注明部门"

    dep_rows = "".join(
        f"<tr><td>{esc(docs.get(as_text(d.source), as_text(d.source)))}</td><td>{esc(dept(d.department, d.source))}</td>"
        f"<td>{d.n_projects}</td><td>{d.n_indicators}</td><td>{d.mean_score:g}</td><td>{d.n_findings}</td>"
        f"<td>{d.n_高}</td><td>{esc(as_text(d.top_problem))}</td></tr>" for d in report.departments.itertuples(index=False))
    by_project = {pid: g for pid, g in f.groupby("project_id", sort=False)} if len(f) else {}
    sections = []
    for i, p in enumerate(report.projects.itertuples(index=False), 1):
        items = by_project.get(p.project_id)
        lis = []
        if items is not None:
            for x in items.itertuples(index=False):
                l3 = raw.get((as_text(x.project_id), as_text(x.location)), as_text(x.level3))
                where = f"<span class=l3>“{esc(l3)}”</span> " if l3 else "<span class=l3>整个项目</span> "
                lis.append(f"<li class=sev-{esc(x.severity)} data-code={esc(x.code)}><b>【{esc(x.severity)}】{esc(x.label)}</b> "
                           f"{where}{esc(as_text(x.message))}<div class=fix>修改建议：{esc(as_text(x.suggestion))}</div></li>")
        body = "<ol class=findings>" + "".join(lis) + "</ol>" if lis else "<p class=ok>未发现问题。</p>"
        sections.append(
            f"<section class=project data-project-id=\"{esc(as_text(p.project_id))}\"><h3>{i}. {esc(as_text(p.project_name))}</h3>"
            f"<p class=meta>文件：{esc(docs.get(as_text(p.source), as_text(p.source)))} · 部门：{esc(dept(p.department, p.source))}"
            f" · 指标 {p.n_indicators} 条 · 问题 {p.n_findings} 个（高 {p.n_高}，中 {p.n_中}，低 {p.n_低}）"
            f" · 得分 <b>{p.score:g}</b> · 等级 <b>{esc(as_text(p.grade))}</b>"
            + (f" · 缺少：{esc(as_text(p.categories_missing))}" if as_text(p.categories_missing) else "")
            + f"</p>{body}</section>")
    failures = ""
    if len(report.failures):
        failures = "<h2>未能读取的文件</h2><ul>" + "".join(
            f"<li>{esc(s)}：{esc(e)}</li>" for s, e in zip(report.failures["source"], report.failures["error"])) + "</ul>"
    notes = "".join(f"<p class=note>注：{esc(n)}</p>" for n in report.notes)
    doc_list = "".join(f"<li>{esc(v)}</li>" for v in docs.values())
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>绩效目标审核报告</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
th{{background:#eee;white-space:nowrap}}.note,.meta{{color:#555;font-size:13px}}.kpi span{{display:inline-block;margin-right:2em}}
section.project{{border-top:2px solid #1f5fa8;margin-top:1.5em}}section.project h3{{color:#1f5fa8;margin:.5em 0 .2em}}
ol.findings li{{margin:.4em 0}}.fix{{color:#2e7d32;font-size:13px}}.l3{{font-weight:bold}}
.sev-高 b{{color:#c0392b}}.sev-中 b{{color:#9a6700}}.sev-低 b{{color:#1f5fa8}}.ok{{color:#2e7d32}}
svg{{max-width:100%;height:auto}}table{{display:block;overflow-x:auto}}
.method{{background:#f6f8fb;border:1px solid #d5dbe3;padding:.6em 1em}}
</style></head><body>
<h1>绩效目标审核报告</h1>
<p class=meta>生成时间：{esc(when)} · 审核范围：{n_files} 个文件、{len(report.projects)} 个项目、{n_rows} 条绩效指标（全部指标逐条审核）</p>
<ul class=meta>{doc_list}</ul>
<p class=kpi><span>问题 <b>{len(f)}</b>（高 {sev['高']}，中 {sev['中']}，低 {sev['低']}）</span></p>
<div class=method><b>得分和等级怎么算：</b>{esc(scoring_text().rstrip("。"))}。
“高”表示表格不能按原样批复，“中”表示该条指标须修改后再批复，“低”表示措辞问题或须人工核实。</div>
{notes}
<h2>各类问题数量</h2>
{chart}
<h2>部门汇总</h2>
<table><tr><th>文件</th><th>部门</th><th>项目数</th><th>指标数</th><th>平均得分</th><th>问题数</th><th>高</th><th>最多的问题</th></tr>
{dep_rows}</table>
<h2>逐个项目的问题和修改建议</h2>
{"".join(sections)}
{failures}
<p class=note>同样的内容也在同名 Excel 文件中（“问题明细”“项目”“部门”“说明”工作表）。</p>
</body></html>
"""
