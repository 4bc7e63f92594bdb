"""Extraction speed per format: files/s for each, pages/s for PDF.

    PYTHONPATH=src python benchmarks/extract.py [--repeat 3]

Inputs are the committed fixtures: the seed dumps (.txt), their .docx/.pdf/.doc
twins and the other format twins in tests/fixtures/formats, the real-world
.xlsx forms. Each file is extracted ``--repeat`` times; the best pass counts.
.doc/.wps go through LibreOffice (skipped, and said so, when it is not installed):
their figure is dominated by LibreOffice's start-up.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhibiao.ingest import extract  # noqa: E402
from zhibiao.ingest.legacy import find_soffice  # noqa: E402


def inputs() -> list[Path]:
    fix = ROOT / "tests" / "fixtures"
    files = sorted((ROOT / "training_data" / "raw").glob("*.txt"))
    files += sorted((fix / "formats").glob("*.*")) + sorted((fix / "realworld").glob("*.xlsx"))
    return [f for f in files if f.suffix in (".txt", ".docx", ".xlsx", ".pdf", ".doc", ".wps", ".et")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    have_lo = find_soffice() is not None
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    rows: dict[str, int] = defaultdict(int)
    pages = 0
    for f in inputs():
        kind = f.suffix
        if kind in (".doc", ".wps") and not have_lo:
            continue
        best = float("inf")
        for _ in range(args.repeat if kind not in (".doc", ".wps") else 1):
            t0 = time.perf_counter()
            df = extract(f)
            best = min(best, time.perf_counter() - t0)
        seconds[kind] += best
        counts[kind] += 1
        rows[kind] += len(df)
        if kind == ".pdf":
            import pypdfium2
            pdf = pypdfium2.PdfDocument(str(f))
            pages += len(pdf)
            pdf.close()
    print(f"{'format':<7}{'files':>6}{'rows':>7}{'seconds':>9}{'files/s':>9}")
    for kind in sorted(seconds):
        print(f"{kind:<7}{counts[kind]:>6}{rows[kind]:>7}{seconds[kind]:>9.2f}{counts[kind] / seconds[kind]:>9.2f}")
    if pages:
        print(f"PDF: {pages} pages in {seconds['.pdf']:.2f} s = {pages / seconds['.pdf']:.1f} pages/s")
    if not have_lo:
        print(".doc/.wps: skipped (LibreOffice not installed)")


if __name__ == "__main__":
    main()
