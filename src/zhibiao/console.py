"""Terminal rendering shared by the CLI and the demo (rich tables)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_suggestions(result: dict, out: Console) -> None:
    """The DESIGN §5 suggestions as a table, the similar projects, and the draft's flagged rows."""
    table = Table(title=f"建议指标：{result['query'][:40]}")
    for col in ("一级", "二级", "三级指标", "指标值", "依据", "得分", "支撑"):
        table.add_column(col, overflow="fold")
    for s in result["suggestions"]:
        table.add_row(s["level1"], s["category"], s["suggested_level3"], s["suggested_value"], s["basis"],
                      f"{s['score']:.2f}", str(s["support"]))
    out.print(table)
    out.print("相似项目：" + "；".join(f"{n['project_name']} ({n['score']:.2f})" for n in result["neighbours"][:5]))
    for row in result.get("draft", []):
        if row["flags"]:
            out.print(f"草稿 {row['level3']}: {', '.join(row['flags'])}")
