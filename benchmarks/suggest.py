"""Warm suggest latency over 1,000 queries, and the cold CLI time to a first result.

    .venv/bin/python benchmarks/suggest.py [--queries 1000] [--k 10] [--threads 1]

Queries are the seed project names, perturbed (prefixes, suffixes, truncation) so
that most are not exact repeats; the recommender's embedding cache is cleared per
query, so every query pays for its own embedding.
"""
from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = ("", "", "2025年", "新建", "某区", "县级")
SUFFIXES = ("", "", "项目", "工程", "专项资金", "经费")


def queries(n: int, seed: int = 0) -> list[str]:
    names = pd.read_csv(ROOT / "training_data" / "projects.csv", dtype=str, keep_default_na=False)["project_name"]
    names = [x for x in names if x]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name = rng.choice(names)
        if len(name) > 6 and rng.random() < 0.3:
            name = name[: rng.randint(4, len(name))]
        out.append(rng.choice(PREFIXES) + name + rng.choice(SUFFIXES))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads of the embedder (the service's workers use 1; default: up to 4)")
    args = ap.parse_args()

    from zhibiao.recommend import default_recommender

    t0 = time.perf_counter()
    rec = default_recommender()
    if args.threads:   # before the first query builds the embedding engine, as the service does
        rec.embedder.threads = args.threads
    rec.suggest("预热", k=args.k)
    load = time.perf_counter() - t0
    lat = []
    for q in queries(args.queries):
        rec.embedder.clear_cache()
        t = time.perf_counter()
        rec.suggest(q, k=args.k)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))]  # noqa: E731
    print(f"model load + first query: {load:.2f} s")
    print(f"warm suggest over {len(lat)} queries (k={args.k}): p50 {p(.50):.1f} ms, p95 {p(.95):.1f} ms, "
          f"p99 {p(.99):.1f} ms, mean {statistics.mean(lat):.1f} ms")

    cli = Path(sys.executable).with_name("zhibiao")
    t = time.perf_counter()
    proc = subprocess.run([str(cli), "suggest", "农村环卫保洁项目", "--json"], capture_output=True, text=True)
    cold = time.perf_counter() - t
    print(f"cold CLI `zhibiao suggest ... --json`: {cold:.2f} s (exit {proc.returncode})")


if __name__ == "__main__":
    main()
