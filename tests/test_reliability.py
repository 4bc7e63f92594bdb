"""Issue 16: what an attacker or a careless user did to zhibiao, one test per numbered problem.
Each was written against the old code and failed there."""
from __future__ import annotations

import builtins
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from zhibiao.cli import app

runner = CliRunner()
SEEDS = Path(__file__).resolve().parents[1] / "training_data"


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


# -- 1. data loss: an output that is an input, and half-written outputs -------------------------

ROWS = pd.DataFrame({"level3": ["群众满意度", "新建道路长度"], "value": ["≥90%", "=1203米"]})


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_normalize_refuses_to_write_over_its_input(tmp_path, suffix):
    src = tmp_path / f"x{suffix}"
    (ROWS.to_csv(src, index=False) if suffix == ".csv" else
     ROWS.to_json(src, orient="records", lines=True, force_ascii=False))
    before = src.read_bytes()
    result = run("normalize", src, "-o", src, "--no-progress")
    assert result.exit_code != 0
    assert "input" in result.output
    assert src.read_bytes() == before      # the old code left a 456-byte header


def test_normalize_refuses_an_input_reached_by_another_path(tmp_path):
    src = tmp_path / "x.csv"
    ROWS.to_csv(src, index=False)
    before = src.read_bytes()
    (tmp_path / "sub").mkdir()
    result = run("normalize", src, "-o", tmp_path / "sub" / ".." / "x.csv", "--no-progress")
    assert result.exit_code != 0 and src.read_bytes() == before


def test_a_parquet_output_never_deletes_a_directory_of_the_users_files(tmp_path):
    """A parquet output is a directory of part files, replaced whole: `-o mydata.parquet` on a directory
    of the user's files deleted them, and an input inside it was deleted before it was read."""
    src = tmp_path / "x.csv"
    ROWS.to_csv(src, index=False)
    mine = tmp_path / "mydata.parquet"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious", encoding="utf-8")
    result = run("normalize", src, "-o", mine, "--no-progress")
    assert result.exit_code == 1 and "did not write" in result.output
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "precious"

    dataset = tmp_path / "dataset.parquet"
    dataset.mkdir()
    ROWS.to_parquet(dataset / "part.parquet")
    before = (dataset / "part.parquet").read_bytes()
    result = run("normalize", dataset / "part.parquet", "-o", dataset, "--no-progress")
    assert result.exit_code == 1 and "input" in result.output
    assert (dataset / "part.parquet").read_bytes() == before

    ours = tmp_path / "ours.parquet"           # a store of our own parts is replaced, as before
    assert run("normalize", src, "-o", ours, "--no-progress").exit_code == 0
    assert run("normalize", src, "-o", ours, "--no-progress").exit_code == 0
    assert len(pd.read_parquet(ours)) == len(ROWS)


@pytest.mark.parametrize("command", ["extract", "selfeval", "normalize", "audit"])
def test_an_output_path_that_is_a_directory_is_one_line_before_the_work(tmp_path, command):
    """It ended, after the work, as "unexpected IsADirectoryError" (exit 70)."""
    doc = _a_document(tmp_path)
    folder = tmp_path / ("out.xlsx" if command == "audit" else "out.csv")
    folder.mkdir()
    result = run(command, doc, "-o", folder)
    assert result.exit_code == 1 and "is a directory" in result.output and "unexpected" not in result.output
    assert list(folder.iterdir()) == []


def _a_document(tmp_path) -> Path:
    doc = tmp_path / "doc.csv"
    doc.write_text("项目名称,道路建设项目\n一级指标,二级指标,三级指标,指标值\n产出指标,数量指标,新建道路长度,=1203米\n"
                   "效益指标,满意度指标,群众满意度,≥90%\n", encoding="utf-8")
    return doc


def test_extract_refuses_to_write_over_its_input(tmp_path):
    doc = _a_document(tmp_path)
    before = doc.read_bytes()
    result = run("extract", doc, "-o", doc)
    assert result.exit_code != 0 and "input" in result.output
    assert doc.read_bytes() == before


def test_extract_refuses_projects_over_an_input(tmp_path):
    doc = _a_document(tmp_path)
    before = doc.read_bytes()
    result = run("extract", doc, "-o", tmp_path / "rows.csv", "--projects", doc)
    assert result.exit_code != 0 and doc.read_bytes() == before
    assert not (tmp_path / "rows.csv").exists()   # refused before any work


def test_audit_refuses_to_write_over_its_input(tmp_path):
    from openpyxl import Workbook
    form = tmp_path / "form.xlsx"
    wb = Workbook()
    ws = wb.active
    for row in (["项目名称", "道路建设项目"], ["一级指标", "二级指标", "三级指标", "指标值"],
                ["产出指标", "数量指标", "新建道路长度", "=1203米"]):
        ws.append(row)
    wb.save(form)
    before = form.read_bytes()
    result = run("audit", form, "-o", form)
    assert result.exit_code != 0 and "input" in result.output
    assert form.read_bytes() == before


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """A write that dies half-way (disk full, Ctrl-C) must not leave a truncated output."""
    from zhibiao.tables import write_table
    out = tmp_path / "out.csv"
    write_table(ROWS, out)
    before = out.read_bytes()

    def broken(self, path, *a, **k):
        Path(path).write_text("level3,val", encoding="utf-8")   # half a header, then the disk is full
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError):
        write_table(ROWS.assign(value="changed"), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]   # no temporary file left behind


def test_suggest_xlsx_is_not_written_over_the_draft(tmp_path):
    draft = tmp_path / "draft.xlsx"
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["level3", "value"])
    wb.active.append(["群众满意度", "≥90%"])
    wb.save(draft)
    before = draft.read_bytes()
    result = run("suggest", "道路建设项目", "--draft", draft, "--xlsx", draft)
    assert result.exit_code != 0 and draft.read_bytes() == before


# -- 7. `zhibiao serve` without the service extra -------------------------------------------------

def test_serve_without_the_service_extra_names_it(monkeypatch):
    real_import = builtins.__import__
    import importlib.util
    real_find = importlib.util.find_spec

    def no_anyio(name, *a, **k):
        if name.split(".")[0] in ("anyio", "fastapi", "uvicorn"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *a, **k)

    def find(name, *a, **k):
        return None if name.split(".")[0] in ("anyio", "fastapi", "uvicorn") else real_find(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_anyio)
    monkeypatch.setattr(importlib.util, "find_spec", find)
    for mod in [m for m in list(__import__("sys").modules) if m.startswith("zhibiao.service")]:
        monkeypatch.delitem(__import__("sys").modules, mod)
    result = run("serve")
    assert result.exit_code != 0
    assert "pip install 'zhibiao[service]'" in result.output
    assert "unexpected" not in result.output


# -- 2 and 3. cells that are too long, decompression bombs --------------------------------------

XLSX_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.'
    'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/></Relationships>',
}
SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
              'spreadsheetml/2006/main"><sheetData>')


def _xlsx(path: Path, shared: list[str], rows: str) -> Path:
    """A hand-built workbook: ``shared`` strings, ``rows`` the sheetData XML."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, xml in XLSX_PARTS.items():
            z.writestr(name, xml)
        sst = "".join(f"<si><t>{s}</t></si>" for s in shared)
        z.writestr("xl/sharedStrings.xml", '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                   f'openxmlformats.org/spreadsheetml/2006/main" count="{len(shared)}" uniqueCount="{len(shared)}">'
                   f"{sst}</sst>")
        z.writestr("xl/worksheets/sheet1.xml", SHEET_HEAD + rows + "</sheetData></worksheet>")
    return path


def _table_rows(first_cell_string: int = 0) -> str:
    return (f'<row r="1"><c r="A1" t="s"><v>{first_cell_string}</v></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>三级指标</t></is></c><c r="B2" t="inlineStr"><is><t>指标值</t>'
            '</is></c></row><row r="3"><c r="A3" t="inlineStr"><is><t>群众满意度</t></is></c><c r="B3" '
            't="inlineStr"><is><t>≥90%</t></is></c></row>')


def _extract_failure(path: Path) -> str:
    from zhibiao.ingest import extract_all
    result = extract_all([path], errors="collect")
    assert len(result.failures) == 1, result.failures
    line = str(result.failures[0])
    assert "\n" not in line
    return line


def test_a_shared_string_bomb_is_refused_before_it_is_inflated(tmp_path):
    # 24 MB of one shared string in a ~25 KB file (the was 1 GB in 1.05 MB)
    bomb = _xlsx(tmp_path / "bomb.xlsx", ["项" * (8 << 20)], _table_rows())
    assert bomb.stat().st_size < 200_000
    assert "bomb" in _extract_failure(bomb) or "limit" in _extract_failure(bomb)


def test_a_sheet_of_millions_of_empty_rows_is_refused(tmp_path, monkeypatch):
    """Every row distinct (r=…), so the sheet compresses only ~20x and gets past the package check;
    the reader counts rows, empty ones too, while streaming. Excel's 1,048,576 rows take 20 s to
    stream here, so a limit of 20,000 stands in for it."""
    from zhibiao.ingest import xlsx_reader
    monkeypatch.setattr(xlsx_reader, "EXCEL_MAX_ROWS", 20_000, raising=False)
    rows = "".join(f'<row r="{i}"/>' for i in range(4, 30_000))
    sheet = _xlsx(tmp_path / "rows.xlsx", ["项目名称"], _table_rows() + rows)
    line = _extract_failure(sheet)
    assert "more than 20,000 rows" in line


def test_a_docx_of_empty_paragraphs_is_refused(tmp_path):
    import docx
    src = tmp_path / "small.docx"
    d = docx.Document()
    d.add_paragraph("项目名称：道路建设项目")
    d.save(src)
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"</w:body>", b"<w:p/>" * 3_000_000 + b"</w:body>")
            zout.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 400_000
    assert "limit" in _extract_failure(bomb)


def test_paragraphs_are_counted_while_reading(tmp_path, monkeypatch):
    """Below the package limits, the paragraph count is the guard (a low limit stands in for 200,000)."""
    import docx
    from zhibiao.ingest import limits
    monkeypatch.setattr(limits, "MAX_PARAGRAPHS", 1000, raising=False)
    path = tmp_path / "many.docx"
    d = docx.Document()
    for _ in range(1500):
        d.add_paragraph("")
    d.save(path)
    assert "more than 1,000 paragraphs" in _extract_failure(path)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_100000_character_cell_is_one_line_refusal(tmp_path, suffix):
    long = "1" * 100_000
    if suffix == ".csv":
        path = tmp_path / "long.csv"
        path.write_text(f"项目名称,道路建设项目\n三级指标,指标值\n群众满意度,{long}\n", encoding="utf-8")
    else:
        path = _xlsx(tmp_path / "long.xlsx", [long], _table_rows())
    line = _extract_failure(path)
    assert "32,767" in line and "100,000" in line


def test_a_csv_document_stops_at_a_sheets_rows(tmp_path, monkeypatch):
    """A 20 MB CSV of 5 million short rows (no level3 column, so a document) ran past 300 s at 2.75 GB;
    a CSV document now holds what a sheet holds (a low limit stands in for Excel's 1,048,576)."""
    from zhibiao.ingest import limits
    monkeypatch.setattr(limits, "EXCEL_MAX_ROWS", 1_000)
    path = tmp_path / "big.csv"
    path.write_text("项目名称,道路建设项目\n" + "a,b\n" * 1_500, encoding="utf-8")
    line = _extract_failure(path)
    assert "more than 1,000 rows" in line and "level3" in line


def test_a_text_dump_is_held_to_the_limits_while_it_is_read(tmp_path, monkeypatch):
    """A cell continued over 300,000 lines (8 MB) took 99 s to grow a line at a time; 5 million rows or
    paragraphs took 1-2 GB. Low limits stand in for a sheet's rows and 200,000 paragraphs."""
    from zhibiao.ingest import limits
    long_cell = tmp_path / "cell.txt"
    long_cell.write_text("\t项\n" + "项目名称很长的内容\n" * 300_000, encoding="utf-8")
    assert "cell L1 holds 32,771 characters" in _extract_failure(long_cell)   # refused as it passes the limit
    monkeypatch.setattr(limits, "EXCEL_MAX_ROWS", 1_000)
    monkeypatch.setattr(limits, "MAX_PARAGRAPHS", 1_000)
    rows, prose = tmp_path / "rows.txt", tmp_path / "prose.txt"
    rows.write_text("\t项\n\n" * 1_500, encoding="utf-8")
    prose.write_text("项目\n" * 1_500, encoding="utf-8")
    assert "more than 1,000 table rows" in _extract_failure(rows)
    assert "more than 1,000 paragraphs" in _extract_failure(prose)


def _pdf(path: Path, *streams: tuple[bytes, bytes]) -> Path:
    """A PDF of (dictionary entries, stream data) objects: enough for the stream check, which reads bytes."""
    body = b"".join(b"%d 0 obj<<%s/Filter/FlateDecode>>stream\n%s\nendstream\nendobj\n" % (i, d, data)
                    for i, (d, data) in enumerate(streams, 3))
    path.write_bytes(b"%PDF-1.4\n" + body + b"trailer<</Root 1 0 R>>\n%%EOF")
    return path


def test_a_pdf_stream_bomb_is_refused_before_it_is_inflated(tmp_path):
    """pdfminer inflates a stream whole: a 0.3 MB PDF whose page inflates to 300 MB ran past 120 s at
    840 MB. Here 16 MB of one content stream in 16 KB, after an ordinary stream (ending "endstream\n",
    which must not hide the next one)."""
    import zlib
    bomb = _pdf(tmp_path / "bomb.pdf", (b"/Length 5", b"hello"), (b"", zlib.compress(b"0" * (16 << 20), 9)))
    assert bomb.stat().st_size < 40_000
    line = _extract_failure(bomb)
    assert "bomb" in line and "stream 2" in line


def test_a_flat_image_in_a_pdf_is_no_bomb(tmp_path):
    """A white page image compresses 1,000x, as a bomb does; pdfminer does not inflate images to read
    text, so only the total limit holds for them."""
    import zlib
    from zhibiao.ingest.limits import check_pdf_streams
    check_pdf_streams(_pdf(tmp_path / "letterhead.pdf", (b"/Subtype/Image/Width 2480/Height 3508",
                                                          zlib.compress(b"\xff" * (26 << 20)))))


def _rows_file_bomb(tmp_path) -> Path:
    """A rows workbook (a level3 header, as `zhibiao normalize` writes them) whose one value is 24 MB
    of a shared string in a ~25 KB file: a rows file is read by pandas, not by the document reader."""
    rows = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>')
    return _xlsx(tmp_path / "rows.xlsx", ["level3", "value", "群众满意度", "项" * (8 << 20)], rows)


def test_a_bomb_in_a_rows_workbook_is_refused_by_normalize_and_selfeval(tmp_path):
    """It was read whole: a 400 MB cell took `zhibiao normalize` 38 s and 3.4 GB, and selfeval 4.6 GB."""
    from zhibiao.batch import run_batch
    from zhibiao.tables import is_rows_file, read_rows
    bomb = _rows_file_bomb(tmp_path)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(Exception, match="limit|bomb"):
        read_rows(bomb)
    assert not is_rows_file(bomb)   # then it goes to the document reader, which refuses it in one line
    report = run_batch([bomb], tmp_path / "out.csv", normalizer=_EchoNormalizer(), progress=False, cache=False)
    assert report.rows_out == 0 and len(report.failures) == 1 and "rows.xlsx" in report.failures[0]
    result = run("selfeval", bomb, "-o", tmp_path / "scored.csv")
    assert result.exit_code == 1 and ("limit" in result.output or "bomb" in result.output)


class _EchoNormalizer:
    key_columns = ("level3", "value")

    def normalize(self, df):
        return df.assign(category="")


def test_a_bomb_is_one_line_and_the_other_files_go_on(tmp_path):
    from zhibiao.ingest import extract_all
    bomb = _xlsx(tmp_path / "bomb.xlsx", ["项" * (8 << 20)], _table_rows())
    good = _a_document(tmp_path)
    result = extract_all([bomb, good], errors="collect")
    assert len(result.failures) == 1 and "bomb.xlsx" in str(result.failures[0])
    assert set(result.rows["level3"]) == {"新建道路长度", "群众满意度"}


# -- 2, 4, 5, 6. the service: worker processes, time budget, hang-ups, upload copies, names ------

class _SlowPipeline:
    """Stands in for the models: ``level3`` says what to do. "hold N" holds the GIL for about N
    seconds inside the regex engine (as parse_value's quadratic case did); "copy" also leaves an
    upload copy, as an extraction in progress does."""

    def normalize(self, rows, projects=None):
        import os
        import re
        import tempfile
        import time
        order = str(rows["level3"].iloc[0])
        t0 = time.time()
        if order.startswith("copy"):
            tempfile.mkdtemp(prefix=f"zhibiao-upload-{os.getpid()}-")
        if "hold" in order:
            seconds = float(order.split()[-1])
            while time.time() - t0 < seconds:
                re.match(r"(a+)+$", "a" * 22 + "b")   # catastrophic backtracking: C code, GIL held
        return rows.assign(category=f"{os.getpid()} {t0} {time.time()}")

    def suggest(self, text, **kw):
        return {"query": text, "suggestions": [], "neighbours": []}


class _SlowModels:
    loaded, error, load_seconds = True, "", 0.0
    pipeline = _SlowPipeline()


def slow_models(models_path=None):
    """The worker loader of these tests (``test_reliability:slow_models``)."""
    return _SlowModels()


@pytest.fixture
def server():
    """A real uvicorn server (hang-ups need a socket) over an app; yields (base url, pool)."""
    import socket
    import sys
    import threading
    import time

    import uvicorn

    from zhibiao.service.app import create_app
    from zhibiao.service.pool import WorkerPool
    started = []

    def start(size=1, request_seconds=60.0):
        sys.path.insert(0, str(Path(__file__).parent))   # the spawned workers import this module
        pool = WorkerPool(size=size, loader="test_reliability:slow_models").start()
        app = create_app(pool=pool, request_seconds=request_seconds)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        t0 = time.time()
        while not srv.started and time.time() - t0 < 120:
            time.sleep(0.05)
        started.append((srv, thread, pool))
        return f"http://127.0.0.1:{port}", pool

    yield start
    for srv, thread, pool in started:
        srv.should_exit = True
        thread.join(10)
        pool.close()


def _rows(order: str) -> dict:
    return {"rows": [{"level3": order, "value": "1"}]}


def test_health_answers_while_a_request_holds_the_gil(server):
    """The issue: /health waited 24 s behind one upload. The work now runs in a worker process."""
    import threading
    import time

    import httpx
    url, _ = server(size=1)
    slow = threading.Thread(target=lambda: httpx.post(f"{url}/normalize", json=_rows("hold 3"), timeout=30))
    slow.start()
    time.sleep(0.5)
    worst = 0.0
    with httpx.Client(timeout=10) as client:   # one client: a new one costs ~0.1 s of TLS set-up
        for _ in range(10):
            t0 = time.perf_counter()
            assert client.get(f"{url}/health").status_code == 200
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(0.1)
    slow.join()
    assert worst < 0.25, f"/health took {worst:.2f} s behind a slow request"


def test_the_worker_renders_the_answer_not_the_server(server, monkeypatch):
    """Rendering 2,000 audited rows held the server's GIL, and /health, for up to 460 ms: the
    answer's rows must be made JSON-safe and rendered in the worker, never in the server's process."""
    import httpx

    from zhibiao.service import responses

    def forbidden(*a, **k):
        raise AssertionError("the server's process rendered a response's rows")
    # jsonable is what records, json_body and SafeJSON all make rows JSON-safe with
    monkeypatch.setattr(responses, "jsonable", forbidden)
    monkeypatch.setattr(responses, "json_body", forbidden, raising=False)
    url, pool = server(size=1)
    r = httpx.post(f"{url}/normalize", json=_rows("quick"), timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0]["category"].split()[0] == str(pool.workers[0].process.pid)


def test_two_requests_run_on_two_cores_at_once(server):
    import threading

    import httpx
    url, _ = server(size=2)
    answers = []

    def go():
        answers.append(httpx.post(f"{url}/normalize", json=_rows("hold 1.5"), timeout=60).json())
    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = [tuple(map(float, a["rows"][0]["category"].split())) for a in answers]
    assert len({s[0] for s in spans}) == 2                       # two processes
    (_, a0, a1), (_, b0, b1) = spans
    assert min(a1, b1) > max(a0, b0)                             # at the same time


def test_a_request_over_its_time_budget_is_stopped(server):
    import time

    import httpx
    url, pool = server(size=1, request_seconds=1.5)
    worker = pool.workers[0].process
    pid = worker.pid
    t0 = time.perf_counter()
    r = httpx.post(f"{url}/normalize", json=_rows("copy hold 60"), timeout=60)
    assert r.status_code == 503 and "budget" in r.json()["detail"]
    assert time.perf_counter() - t0 < 5
    assert not worker.is_alive()
    import tempfile
    assert not list(Path(tempfile.gettempdir()).glob(f"zhibiao-upload-{pid}-*"))   # its copies went with it
    # the slot has a fresh worker, and it serves requests once it has loaded (a few seconds,
    # longer than this test's budget of 1.5 s, hence the retries)
    deadline = time.time() + 90
    while (status := httpx.post(f"{url}/normalize", json=_rows("quick"), timeout=30).status_code) != 200 \
            and time.time() < deadline:
        assert status == 503, httpx.post(f"{url}/normalize", json=_rows("quick"), timeout=30).text
    assert status == 200


def test_work_stops_when_the_client_hangs_up(server):
    import time

    import httpx
    url, pool = server(size=1)
    worker = pool.workers[0].process
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/normalize", json=_rows("hold 60"), timeout=1.0)
    t0 = time.time()
    while time.time() - t0 < 5 and worker.is_alive():
        time.sleep(0.1)
    assert not worker.is_alive(), "the worker still runs the abandoned request"


def _client_over(models):
    from fastapi.testclient import TestClient

    from zhibiao.service.app import create_app
    return TestClient(create_app(models), raise_server_exceptions=False)


@pytest.mark.parametrize("name", ["项" * 100 + ".csv", "a" * 300 + ".xlsx", "bad\x01name.csv"])
def test_long_or_odd_upload_names_get_a_4xx(name):
    with _client_over(_SlowModels()) as client:
        r = client.post("/normalize", files={"file": (name, b"\xe9\xa1\xb9\xe7\x9b\xae,x\n", "text/csv")})
    assert 400 <= r.status_code < 500, r.text
    assert "name" in r.json()["detail"]


def test_upload_copies_left_by_a_killed_server_are_removed_at_start_up():
    import tempfile
    stale = Path(tempfile.mkdtemp(prefix="zhibiao-upload-4194303-"))   # above any pid_max: a dead process
    (stale / "upload.xlsx").write_bytes(b"PK")
    mine = Path(tempfile.mkdtemp(prefix=f"zhibiao-upload-{__import__('os').getpid()}-"))
    try:
        with _client_over(_SlowModels()) as client:
            assert client.get("/health").status_code == 200
        assert not stale.exists()
        assert mine.exists()      # a live process's copy is left alone
    finally:
        import shutil
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)
