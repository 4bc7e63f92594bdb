"""Terminal rendering shared by the CLIs and the demo: the consoles, one-line errors, rich tables."""
from __future__ import annotations

import functools
import os

import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import TyperException

from .errors import ZhibiaoError

err = Console(stderr=True, highlight=False, soft_wrap=True)  # one error, one line
out = Console(highlight=False)


def one_line_errors(fn):
    """Turn every failure into one line on stderr and a non-zero exit, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, TyperException):
            raise   # a usage error (typer.BadParameter in a command) is main's one line and exit 2
        except ZhibiaoError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(1)
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback
            if os.environ.get("ZHIBIAO_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            err.print(f"error: unexpected {type(exc).__name__}: {first} (set ZHIBIAO_DEBUG=1 for details)",
                      markup=False)
            raise typer.Exit(70)
    return wrapper


def _table_of(item: dict) -> str:
    """〔file sheet!row, year〕 of a stored neighbour or evidence row."""
    if not item.get("source"):
        return ""
    where = " ".join(str(x) for x in (item["source"], item.get("location") or "") if x)
    return f"〔{where}{'，' + str(item['year']) + '年' if item.get('year') else ''}〕"


def print_suggestions(result: dict, out: Console) -> None:
    """The DESIGN §5 suggestions as a table, the similar projects, and the draft's flagged rows."""
    table = Table(title=f"建议指标：{result['query'][:40]}")
    for col in ("一级", "二级", "三级指标", "指标值", "依据", "得分", "支撑"):
        table.add_column(col, overflow="fold")
    for s in result["suggestions"]:
        table.add_row(s["level1"], s["category"], s["suggested_level3"], s["suggested_value"], s["basis"],
                      f"{s['score']:.2f}", str(s["support"]))
    out.print(table)
    out.print("相似项目：" + "；".join(f"{n['project_name']} ({n['score']:.2f})"
                                   + (_table_of(n) if n.get("origin") == "store" else "")
                                   for n in result["neighbours"][:5]), markup=False)
    for s in result["suggestions"]:   # what came from the user's own tables says which
        if s.get("sources"):
            out.print(f"  {s['suggested_level3']} ← " + "；".join(_table_of(x).strip("〔〕") for x in s["sources"]),
                      markup=False)
    for row in result.get("draft", []):
        if row["flags"]:
            out.print(f"草稿 {row['level3']}: {', '.join(row['flags'])}")
