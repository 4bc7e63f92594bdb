"""Throughput of the value grammar on realistic data.

    .venv/bin/python benchmarks/values.py            # 1M values
    .venv/bin/python benchmarks/values.py -n 200000

Values come from training_data/rows.csv (column ``value``); without it, they are
scraped from the 指标值 cells of training_data/raw/*.txt. They are replicated to
N strings by sampling with their observed frequencies, so the duplication is the
one real tables have (a few hundred distinct values, ≥90% and 是 most common).
Prints values/s single-threaded with the LRU cache (parse_value) and cold
(parse_value_uncached, by the wall clock and per CPU second), and the peak RSS of the process.
"""
from __future__ import annotations

import argparse
import collections
import csv
import random
import resource
import sys
import time
from pathlib import Path

from zhibiao.resources import training_data_dir
from zhibiao.values import _parse_cached, parse_value, parse_value_uncached


def _scrape_raw(raw: Path) -> collections.Counter:
    """The 指标值 column of the tab-indented table dumps: the cell before the last of each row."""
    counts: collections.Counter = collections.Counter()
    for path in sorted(raw.glob("*.txt")):
        row: list[str] = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines() + [""]:
            if line.strip() == "" and not line.startswith("\t"):
                if 5 <= len(row) <= 7:
                    counts[row[-2].strip()] += 1
                row = []
            else:
                row.append(line[1:] if line.startswith("\t") else line)
    return counts


def load_values() -> tuple[collections.Counter, str]:
    rows = training_data_dir() / "rows.csv"
    if rows.exists():
        with open(rows, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames and "value" in reader.fieldnames:
                counts = collections.Counter((r["value"] or "") for r in reader)
                if counts:
                    return counts, str(rows)
    raw = training_data_dir() / "raw"
    return _scrape_raw(raw), f"{raw}/*.txt (rows.csv not found)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="number of strings (default 1M)")
    ap.add_argument("--year", type=int, default=2021)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    counts, source = load_values()
    distinct = list(counts)
    weights = [counts[v] for v in distinct]
    values = random.Random(args.seed).choices(distinct, weights=weights, k=args.n)
    print(f"source: {source}")
    print(f"{sum(counts.values())} values, {len(distinct)} distinct → {len(values):,} strings")

    parse_value_uncached("≥90%")  # load the data files outside the timings

    _parse_cached.cache_clear()
    t = time.perf_counter()
    for v in values:
        parse_value(v, args.year)
    cached = len(values) / (time.perf_counter() - t)
    info = _parse_cached.cache_info()

    t, c = time.perf_counter(), time.process_time()
    for v in values:
        parse_value_uncached(v, args.year)
    cold = len(values) / (time.perf_counter() - t)
    cold_cpu = len(values) / (time.process_time() - c)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"cached (LRU, {info.hits:,} hits / {info.misses:,} misses): {cached:,.0f} values/s")
    print(f"cold (parse_value_uncached):                  {cold:,.0f} values/s")
    # CPU time is steadier than the wall clock on a machine shared with other jobs
    print(f"cold, per CPU second:                         {cold_cpu:,.0f} values/s")
    print(f"peak RSS: {peak_mb:.0f} MB")
    ok = cached >= 100_000 and cold >= 20_000
    print("targets (≥100k/s cached, ≥20k/s cold):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
