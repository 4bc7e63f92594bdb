"""Write the simulated earlier-year twin of a seed document (see zhibiao.store._twin).

    .venv/bin/python scripts/make_twin.py training_data/raw/002_247e9d6eca422fe5.txt -o twin.txt [--seed 0]

Deterministic for a seed: every year one earlier, most targets re-valued, about a quarter of
the indicator names re-worded as a clerk would (src/zhibiao/data/twin_rewordings.tsv).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from zhibiao.store._twin import make_twin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("seed_document", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shift", type=int, default=-1, help="years to add (default -1: last year's table)")
    args = ap.parse_args()
    if args.output.exists() and args.output.resolve() == args.seed_document.resolve():
        sys.exit("error: the twin must not overwrite its seed")
    print(json.dumps(make_twin(args.seed_document, args.output, seed=args.seed, shift=args.shift), ensure_ascii=False))


if __name__ == "__main__":
    main()
