"""atheris fuzz target for the value grammar.

    python fuzz/fuzz_values.py -runs=20000          # brief CI run
    python fuzz/fuzz_values.py -max_total_time=600  # longer local run

A crash is any exception from parse_value / recombine_split, or a result that
breaks the DESIGN §3 contract (kind, op, finite numbers, JSON-serialisable).
"""
import json
import math
import sys

import atheris

with atheris.instrument_imports():
    from zhibiao.values import KINDS, OPS, parse_value_uncached, recombine_split


def _check(v):
    d = v.to_dict()
    json.dumps(d, ensure_ascii=False)
    assert d["kind"] in KINDS, d
    assert d["op"] is None or d["op"] in OPS, d
    for key in ("number", "base_value"):
        assert d[key] is None or math.isfinite(d[key]), d


def TestOneInput(data: bytes):
    fdp = atheris.FuzzedDataProvider(data)
    year = fdp.ConsumeIntInRange(1899, 2101) if fdp.ConsumeBool() else None
    text = fdp.ConsumeUnicodeNoSurrogates(64)
    _check(parse_value_uncached(text, year=year))
    a, b, c = (fdp.ConsumeUnicodeNoSurrogates(8) for _ in range(3))
    _check(parse_value_uncached(recombine_split(a, b, c)))


def main():
    # Seed the grammar once so one-time data-file loading is not counted as a slow unit.
    parse_value_uncached("≥90%")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
