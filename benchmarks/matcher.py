"""CPU time of the first-stage matcher on names it has never seen (issue 16: the cost of a new name
apart from the embedders): char n-grams and the name grammar against the library's 9,290 exemplars,
best of ``--repeat`` runs, its name cache emptied before each.

    .venv/bin/python benchmarks/matcher.py                  # 5,000 new names
    .venv/bin/python benchmarks/matcher.py --names 20000

The names are `benchmarks/batch.py --variety distinct`'s (seed names with an object and a numbered
section in front). CPU time (time.process_time), not the wall clock: the matcher is single-threaded
numpy, and CPU time moves less with a shared machine's load. To compare two versions, run it
alternately with PYTHONPATH=<the other checkout>/src.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch import load_seed, varied_names  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from zhibiao.classify import Normalizer, clean_name

    matcher = Normalizer.load().cascade.matcher
    seeds = load_seed()["level3"].astype(str).to_numpy(dtype=object)
    names = [clean_name(n) for n in varied_names(args.names, seeds)]
    seconds = []
    for _ in range(args.repeat):
        matcher.__dict__.pop("_name_cache", None)
        t0 = time.process_time()
        matcher._candidates(names)
        seconds.append(time.process_time() - t0)
    best = min(seconds)
    print(f"first-stage matcher, {len(names):,} new names: best {best:.3f} s CPU of {args.repeat} "
          f"({len(names) / best:,.0f} names/s)")


if __name__ == "__main__":
    main()
