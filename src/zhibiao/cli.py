"""The `zhibiao` command line: a thin typer layer over the public API."""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .errors import ZhibiaoError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Clean, comparable data from Chinese budget performance indicators.")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def one_line_errors(fn):
    """Turn every failure into one line on stderr and a non-zero exit, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ZhibiaoError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(1)
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback
            if os.environ.get("ZHIBIAO_DEBUG"):
                raise
            err.print(f"error: unexpected {type(exc).__name__}: {exc} (set ZHIBIAO_DEBUG=1 for details)",
                      markup=False)
            raise typer.Exit(70)
    return wrapper


@app.command("parse-value")
@one_line_errors
def parse_value_cmd(text: str, year: Optional[int] = typer.Option(None, help="Year for deadlines without one.")):
    """Parse one 指标值 and print the ParsedValue as JSON."""
    from .values import parse_value
    out.print_json(json.dumps(parse_value(text, year=year).to_dict(), ensure_ascii=False))


@app.command()
@one_line_errors
def extract(files: List[Path] = typer.Argument(..., help="Documents: .txt dumps, .docx, .xlsx, .xls, .csv"),
            output: Path = typer.Option(..., "-o", "--output", help="rows file: .csv .xlsx .jsonl .parquet"),
            projects: Optional[Path] = typer.Option(None, "--projects", help="also write the projects table")):
    """Extract indicator rows (and projects) from documents."""
    from .ingest import extract_all
    from .tables import write_table
    result = extract_all(files, errors="collect")
    write_table(result.rows, output)
    if projects is not None:
        write_table(result.projects, projects)
    out.print(f"{len(result.rows)} indicator rows from {len(result.projects)} projects "
              f"in {len(files) - len(result.failures)} of {len(files)} files → {output}")
    for failure in result.failures:
        err.print(f"error: {failure}", markup=False)
    if result.failures:
        raise typer.Exit(1)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
