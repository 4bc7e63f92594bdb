"""The README's first command: extract, normalize, suggest and audit on the bundled seed documents,
all through one :class:`zhibiao.pipeline.Pipeline`."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .resources import training_data_dir

DEMO_QUERIES = ("新建市政道路三水一路及路灯工程", "农村环卫保洁项目")
# a real 绩效自评表 (重庆渝中 就业补助资金), scored by the rules of 财预〔2020〕10号
SELFEVAL_FORM = Path("tests") / "fixtures" / "realworld" / "SSTQA-zh_table_72.xlsx"


def run_demo(out_dir: Path, console: Console) -> None:
    from .audit import write_report
    from .console import print_suggestions
    from .pipeline import Pipeline
    from .tables import write_table

    nlp = Pipeline.load()
    docs = sorted((training_data_dir() / "raw").glob("*.txt"))
    result = nlp(docs)
    write_table(result.rows, out_dir / "rows.csv")
    write_table(result.projects, out_dir / "projects.csv")

    table = Table(title="1. 抽取 extract: bundled documents")
    for col in ("document", "projects", "indicator rows", "rows with warnings"):
        table.add_column(col)
    for source, g in result.rows.groupby("source"):
        table.add_row(source, str(g["project_id"].nunique()), str(len(g)), str(int((g["warnings"] != "").sum())))
    console.print(table)

    normalized = result.normalized
    write_table(normalized, out_dir / "normalized.csv")
    flags = Counter(f for fs in normalized["flags"] for f in fs.split(";") if f)
    table = Table(title=f"2. 标准化 normalize: {len(normalized)} rows → {out_dir / 'normalized.csv'}")
    for col in ("category", "rows", "mean confidence", "changed from declared"):
        table.add_column(col)
    for cat, g in normalized.groupby("category"):
        changed = int(((g["declared_category"] != "") & (g["declared_category"] != cat)).sum())
        table.add_row(cat, str(len(g)), f"{g['category_confidence'].mean():.2f}", str(changed))
    console.print(table)
    matched = (normalized["indicator_id"] != "").mean()
    console.print(f"canonical type assigned to {matched:.0%} of rows; flags: "
                  + ", ".join(f"{k} {v}" for k, v in flags.most_common()))

    for query in DEMO_QUERIES:
        console.print(f"\n3. 建议 suggest: {query}")
        print_suggestions(nlp.suggest(query, k=10), console)

    report = nlp.audit(normalized, result.projects)
    path = write_report(report, out_dir / "audit.xlsx")
    console.print(f"\n4. 审核 audit → {path} and {path.with_suffix('.html')}")
    console.print(report.summary(), markup=False)
    wrote = "rows.csv, projects.csv, normalized.csv, audit.xlsx, audit.html"
    form = training_data_dir().parent / SELFEVAL_FORM
    if form.exists():
        from .selfeval import selfeval_projects, summary
        scored = nlp.selfeval(nlp.extract([form]).rows)
        totals = selfeval_projects(scored)
        write_table(scored, out_dir / "selfeval.csv")
        console.print(f"\n5. 自评 selfeval: {form.name} → {out_dir / 'selfeval.csv'}")
        for line in summary(scored, totals):
            console.print(line, markup=False)
        wrote += ", selfeval.csv"
    failures = f", {len(result.failures)} files failed" if result.failures else ""
    console.print(f"\nWrote {out_dir}/{wrote}{failures}")
