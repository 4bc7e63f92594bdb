"""Wall time and peak memory of the CLI refusing hostile or oversized inputs (issue 16), one process each.

    .venv/bin/python benchmarks/bad_inputs.py [--workdir DIR]

Each input is generated, then given to the command a user would run; the figure is that process's
wall time (start-up included, about 2 s here) and its peak RSS (os.wait4). Every case must end in one
line and exit 1. To compare with another version, run it with PYTHONPATH=<the other checkout>/src
(the old code may take minutes on some cases: --timeout bounds each).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

def rows_workbook_bomb(path: Path) -> Path:
    """A rows .xlsx (level3 header) whose one cell is 400 MB, in about 0.4 MB: openpyxl's workbook with
    its placeholder cell written again, 400 MB long."""
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["level3", "value"])
    wb.active.append(["PLACEHOLDER"])
    plain = path.with_name("plain.xlsx")
    wb.save(plain)
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"PLACEHOLDER", b"A" * (400 << 20))
            zout.writestr(item.filename, data)
    plain.unlink()
    return path


def pdf_stream_bomb(path: Path) -> Path:
    """A one-page PDF whose content stream inflates to 300 MB, in about 0.3 MB."""
    data = zlib.compress(b"0" * (300 << 20), 9)
    path.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
                     b"endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
                     b"4 0 obj<</Length " + str(len(data)).encode() + b"/Filter/FlateDecode>>stream\n" + data
                     + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF")
    return path


def text(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


CASES = [  # name, file maker, command
    ("rows .xlsx, one 400 MB cell", lambda d: rows_workbook_bomb(d / "rows.xlsx"), "normalize"),
    ("PDF, a page inflating to 300 MB", lambda d: pdf_stream_bomb(d / "bomb.pdf"), "extract"),
    ("CSV document, 5 million rows (20 MB)", lambda d: text(d / "big.csv", "项目名称,测试\n" + "a,b\n" * 5_000_000),
     "extract"),
    ("text dump, a cell over 300,000 lines (8 MB)",
     lambda d: text(d / "cell.txt", "\t项\n" + "项目名称很长的内容\n" * 300_000), "extract"),
    ("text dump, 3 million rows", lambda d: text(d / "rows.txt", "\t项\n\n" * 3_000_000), "extract"),
]


def run(command: str, path: Path, out: Path, timeout: float) -> tuple[float, int, int, str]:
    """(seconds, peak RSS in MB, exit code, last stderr line) of one zhibiao process."""
    cli = [sys.executable, "-m", "zhibiao.cli", command, str(path), "-o", str(out)]
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=err)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        err.seek(0)
        last = (err.read().decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    code = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss // 1024, code, last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="keep the generated files here (default: a temp dir)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a case is killed")
    ap.add_argument("--_make", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._make is not None:   # a child makes the file, so that this process stays small: a child's peak
        print(CASES[args._make][1](args.workdir))   # RSS counts what it inherited before exec
        return 0
    with tempfile.TemporaryDirectory(prefix="zhibiao-bad-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"{'input':<46}{'command':<11}{'seconds':>8}{'peak MB':>9}{'exit':>6}  message")
        for k, (name, _make, command) in enumerate(CASES):
            made = subprocess.run([sys.executable, __file__, "--_make", str(k), "--workdir", str(work)],
                                  capture_output=True, text=True, check=True)
            path = Path(made.stdout.strip())
            seconds, peak, code, last = run(command, path, work / "out.csv", args.timeout)
            verdict = "killed at the timeout" if code < 0 else last[:110]
            print(f"{name:<46}{command:<11}{seconds:>8.1f}{peak:>9,}{code:>6}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
