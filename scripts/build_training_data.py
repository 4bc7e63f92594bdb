"""Regenerate training_data/rows.csv and training_data/projects.csv from training_data/raw/*.txt.

    python scripts/build_training_data.py          # write the CSVs
    python scripts/build_training_data.py --check  # exit 1 if they are out of date

Rows keep the extractor's order (file, then reading order); (source, location)
is the stable key that hand labels refer to.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "training_data" / "raw"
OUTPUTS = {"rows": ROOT / "training_data" / "rows.csv", "projects": ROOT / "training_data" / "projects.csv"}


def build() -> dict[str, str]:
    """CSV text of rows and projects, exactly as committed."""
    from zhibiao.ingest import extract_all
    result = extract_all(sorted(RAW.glob("*.txt")), errors="raise")
    out = {}
    for name, df in (("rows", result.rows), ("projects", result.projects)):
        buf = io.StringIO()
        df.to_csv(buf, index=False, lineterminator="\n")
        out[name] = buf.getvalue()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the CSVs are up to date")
    args = parser.parse_args(argv)
    built = build()
    stale = [n for n, text in built.items() if not OUTPUTS[n].exists()
             or OUTPUTS[n].read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"{OUTPUTS[name]} is out of date; run python scripts/build_training_data.py")
        return 1 if stale else 0
    for name, text in built.items():
        OUTPUTS[name].write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUTS[name].relative_to(ROOT)} ({text.count(chr(10)) - 1} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
