"""`zhibiao corpus …`: the user's own archive of past tables (see zhibiao.store).

Registered in cli.py with ``app.add_typer(cli_corpus.app, name="corpus")``.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .console import err, one_line_errors, out

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Your own archive of past tables: add, list, stats, remove, export.")

DB_HELP = "store URL or SQLite path (default: $ZHIBIAO_DB, else corpus.sqlite in the user data dir)"


def _open(db: str | None):
    from .store import CorpusStore
    return CorpusStore(db)


@app.command("add")
@one_line_errors
def add(files: list[Path] = typer.Argument(..., help="documents (.txt .docx .xlsx .xls .csv)"),
        db: str | None = typer.Option(None, "--db", help=DB_HELP),
        model: Path | None = typer.Option(None, help="model directory (default: the shipped models/)"),
        chunk: int | None = typer.Option(None, min=1, help="commit every N files (default: all in one transaction)"),
        progress: bool = typer.Option(True, "--progress/--no-progress")):
    """Normalize FILES and store them; unchanged files are skipped, changed ones replaced."""
    from .store import ExtractNormalize
    store = _open(db)
    process = ExtractNormalize()
    if model is not None:
        from .classify import Normalizer
        process = ExtractNormalize(Normalizer.load(model))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=not progress, transient=True) as bar:
        task = bar.add_task("corpus add", total=len(files))

        def tick(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, description=f"corpus add {Path(path).name}"[:60])
        report = store.add_documents(files, process, tick, chunk=chunk)
    out.print(f"added {len(report.added)}, replaced {len(report.replaced)}, unchanged {len(report.unchanged)}, "
              f"failed {len(report.failed)}; {report.rows} rows written to {store.display_url}", markup=False)
    for failure in report.failed:
        err.print(f"error: {failure}", markup=False)
    if report.failed:
        raise typer.Exit(1)


@app.command("list")
@one_line_errors
def list_(db: str | None = typer.Option(None, "--db", help=DB_HELP),
          as_json: bool = typer.Option(False, "--json")):
    """The stored documents."""
    docs = _open(db).list()
    if as_json:
        out.print_json(docs.assign(added_at=docs["added_at"].astype(str)).to_json(orient="records",
                                                                               force_ascii=False))
        return
    if docs.empty:
        out.print("the corpus store is empty; add tables with `zhibiao corpus add FILES…`")
        return
    for d in docs.itertuples():
        year = "" if d.year is None or d.year != d.year else int(d.year)
        out.print(f"{d.content_hash[:10]}  {year!s:>4}  {d.n_projects:>4} projects {d.n_rows:>6} rows  "
                  f"{d.department or '-'}  {d.source}", markup=False)


@app.command("stats")
@one_line_errors
def stats(db: str | None = typer.Option(None, "--db", help=DB_HELP),
          as_json: bool = typer.Option(False, "--json")):
    """Counts: documents, projects, rows, years, departments, size."""
    s = _open(db).stats()
    if as_json:
        out.print(json.dumps(s, ensure_ascii=False, default=str), markup=False)
        return
    for key, value in s.items():
        out.print(f"{key}: {value}", markup=False)


@app.command("remove")
@one_line_errors
def remove(source: str = typer.Argument(..., help="stored path, file name, or content-hash prefix"),
           db: str | None = typer.Option(None, "--db", help=DB_HELP)):
    """Remove one stored document and its rows."""
    for path in _open(db).remove(source):
        out.print(f"removed {path}", markup=False)


@app.command("export")
@one_line_errors
def export(output: Path = typer.Option(..., "-o", "--output", help="rows file: .parquet .csv .jsonl"),
           db: str | None = typer.Option(None, "--db", help=DB_HELP)):
    """Write every stored row, with its provenance, to one file (never over an input)."""
    n = _open(db).export(output)
    out.print(f"{n} rows written to {output}", markup=False)


if __name__ == "__main__":
    app()
