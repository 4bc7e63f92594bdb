"""CPU time of the template-copy check (`zhibiao.copies`), as the pipeline runs it after normalizing a
document (``evidence=False``: only rows that can be copies are examined) and as ``zhibiao audit``
reports it (``evidence=True``: every row's topic and relatedness), best of ``--repeat`` runs with the
word caches emptied before each.

    .venv/bin/python benchmarks/copies.py                  # 20,000 rows of each corpus

Corpora: `benchmarks/batch.py`'s ``seed`` (the seed rows resampled: blocks recur across projects, so
there are copies to find) and ``distinct`` (every name new, each row with its seed row's description).
To compare two versions, run it alternately with PYTHONPATH=<the other checkout>/src.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch import generate_corpus, generate_varied  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from zhibiao import copies

    with tempfile.TemporaryDirectory() as tmp:
        corpora = {"seed": Path(tmp, "seed.csv"), "distinct": Path(tmp, "distinct.csv")}
        generate_corpus(corpora["seed"], args.rows)
        generate_varied(corpora["distinct"], args.rows, None)
        for name, path in corpora.items():
            rows = copies.prepare_rows(pd.read_csv(path, dtype=str, keep_default_na=False))
            flagged = set()
            for evidence in (False, True):
                best = float("inf")
                for _ in range(args.repeat):
                    copies._topic_terms.cache_clear()
                    copies._families_in.cache_clear()
                    t0 = time.process_time()
                    out = copies.detect_template_copy(rows, evidence=evidence)
                    best = min(best, time.process_time() - t0)
                flagged.add(int(out["template_copy"].sum()))
                print(f"{name:9s} {len(rows):,} rows  evidence={evidence!s:5s}  {best:6.2f} s CPU  "
                      f"{int(out['template_copy'].sum()):,} copies")
            if len(flagged) != 1:
                raise SystemExit(f"{name}: the two modes flag different rows: {sorted(flagged)}")


if __name__ == "__main__":
    main()
