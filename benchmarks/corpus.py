"""Corpus store: rows/s for `corpus add`, store size per 10k rows, suggest latency at 100k rows
(the store's own retrieval, and the recommender merging it: what `zhibiao suggest --db` runs).

    .venv/bin/python benchmarks/corpus.py [--rows 100000] [--db URL] [--queries 1000] [--threads 1]

The store is measured on its own: documents are synthesized by resampling the labelled
rows of training_data/ (rows.csv + labels.csv: category and indicator_id stand in for
the normalizer's output) into projects of 4–12 indicators, with perturbed project names,
years 2018–2024 and a pool of departments. The "normalize" step is therefore a cheap
stand-in (a dict lookup), so rows/s is the store's write rate through the real
`add_documents` path (hash, change check, one transaction). With the real pipeline the
model dominates; `--pipeline` also times `corpus add` of the four seeds end to end.
Default store: a fresh SQLite file in a temporary directory; --db for PostgreSQL.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhibiao.store import CorpusStore

PREFIXES = ("", "", "", "2023年", "新建", "某区", "县级")
SUFFIXES = ("", "", "项目", "工程", "专项资金", "经费")
DEPARTMENTS = [f"{c}县{d}" for c in "东西南北中" for d in ("交通运输局", "教育局", "卫生健康局", "农业农村局",
                                                         "财政局", "水利局", "民政局", "文化旅游局")]


def labelled_rows() -> pd.DataFrame:
    rows = pd.read_csv(ROOT / "training_data" / "rows.csv", dtype=str, keep_default_na=False)
    labels = pd.read_csv(ROOT / "training_data" / "labels.csv", dtype=str, keep_default_na=False,
                         encoding="utf-8-sig")[["source", "location", "category", "indicator_id"]]
    return rows.merge(labels, on=["source", "location"], how="left")


def synth_documents(n_rows: int, seed: int = 0, rows_per_doc: int = 60):
    """[(doc name, rows, projects)] with about n_rows rows in all."""
    rng = random.Random(seed)
    base = labelled_rows()
    by_project = [g for _, g in base.groupby("project_id")]
    docs, total, d = [], 0, 0
    while total < n_rows:
        year, dept = rng.randint(2018, 2024), rng.choice(DEPARTMENTS)
        rows, projects, n = [], [], 0
        while n < rows_per_doc and total + n < n_rows:
            src = rng.choice(by_project)
            take = src.sample(n=min(len(src), rng.randint(4, 12)), random_state=rng.randint(0, 2**31))
            pid = f"doc{d}#{len(projects) + 1}"
            name = rng.choice(PREFIXES) + src["project_name"].iloc[0] + rng.choice(SUFFIXES)
            take = take.assign(project_id=pid, project_name=name, department=dept, year=str(year),
                               location=[f"Sheet1!C{i + 5}" for i in range(n, n + len(take))])
            rows.append(take)
            projects.append({"project_id": pid, "project_name": name, "department": dept, "year": str(year)})
            n += len(take)
        docs.append((f"doc{d:05d}.xlsx", pd.concat(rows, ignore_index=True), pd.DataFrame(projects)))
        total += n
        d += 1
    return docs


def perturbed_queries(n: int, seed: int = 1) -> list[str]:
    names = pd.read_csv(ROOT / "training_data" / "projects.csv", dtype=str, keep_default_na=False)["project_name"]
    names = [x for x in names if x]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name = rng.choice(names)
        if len(name) > 6 and rng.random() < 0.3:
            name = name[: rng.randint(4, len(name) - 1)]
        out.append(rng.choice(PREFIXES) + name + rng.choice(SUFFIXES))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--pipeline", action="store_true", help="also time `corpus add` of the seeds, real pipeline")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads of the recommender's embedder (the service's workers use 1)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zb_bench_"))
    url = args.db or f"sqlite:///{tmp / 'corpus.sqlite'}"
    store = CorpusStore(url)
    docs = synth_documents(args.rows)
    frames = {}
    paths = []
    for name, rows, projects in docs:   # placeholder files: the store hashes real bytes
        path = tmp / name
        path.write_text(name, encoding="utf-8")
        frames[path.name] = (rows, projects)
        paths.append(path)

    t0 = time.perf_counter()
    report = store.add_documents(paths, lambda p: frames[p.name], chunk=200)
    dt = time.perf_counter() - t0
    print(f"corpus add (store only): {report.rows:,} rows in {len(paths):,} documents, {dt:.1f} s "
          f"= {report.rows / dt:,.0f} rows/s")
    t0 = time.perf_counter()
    again = store.add_documents(paths, lambda p: frames[p.name])
    print(f"re-add unchanged: {len(again.unchanged):,} documents no-op in {time.perf_counter() - t0:.2f} s")

    stats = store.stats()
    if "size_bytes" in stats:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = Path(store.url.database).stat().st_size
        print(f"store size: {size / 2**20:.1f} MiB for {stats['rows']:,} rows = "
              f"{size / stats['rows'] * 10_000 / 2**20:.2f} MiB per 10k rows (SQLite)")

    t0 = time.perf_counter()
    index = store.neighbours_corpus()
    print(f"index build (cold, {len(index):,} projects): {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    store.neighbours_corpus(snapshot=True)
    snap = store.index_snapshot_path()
    print(f"index build and snapshot saved: {time.perf_counter() - t0:.2f} s ({snap.stat().st_size / 2**20:.1f} MiB)")
    t0 = time.perf_counter()
    assert len(store.neighbours_corpus(snapshot=True)) == len(index)
    print(f"index from the snapshot (what a later `zhibiao suggest --db` pays): {time.perf_counter() - t0:.2f} s")
    qs = perturbed_queries(args.queries)
    for q in qs[:20]:
        index.suggest(q)
    lat = []
    for q in qs:
        t = time.perf_counter()
        out = index.suggest(q, k=10)
        lat.append((time.perf_counter() - t) * 1000)
        assert all(s["sources"] for s in out["suggestions"])
    lat.sort()
    p95 = lat[int(0.95 * len(lat)) - 1]
    print(f"suggest from store, warm, {stats['rows']:,} rows: median {statistics.median(lat):.1f} ms, "
          f"p95 {p95:.1f} ms (target ≤ 50 ms) over {len(lat)} queries")

    # what `zhibiao suggest --db` answers: the recommender merging the store's neighbours, paired
    # query by query with the same recommender without the store (same moment, same load), the
    # embedding cache cleared before each call as in benchmarks/suggest.py
    from zhibiao.pipeline import Pipeline
    nlp = Pipeline(store=store)
    if args.threads:   # before the first query builds the embedding engine, as the service does
        nlp.recommender.embedder.threads = args.threads
    plain = Pipeline(nlp.normalizer, nlp.recommender)
    nlp.suggest("预热", k=10)
    def timed(pipe, q):
        nlp.recommender.embedder.clear_cache()
        t = time.perf_counter()
        out = pipe.suggest(q, k=10)
        return out, (time.perf_counter() - t) * 1000

    plain_ms, store_ms, from_store = [], [], 0
    for q in qs:
        plain_ms.append(timed(plain, q)[1])
        out, ms = timed(nlp, q)
        store_ms.append(ms)
        from_store += any(n.get("origin") == "store" for n in out["neighbours"])
    pct = lambda v, x: sorted(v)[min(len(v) - 1, int(x * len(v)))]  # noqa: E731
    extra = [b - a for a, b in zip(plain_ms, store_ms)]
    print(f"recommender suggest without the store (zhibiao suggest), warm: median {pct(plain_ms, .5):.1f} ms, "
          f"p95 {pct(plain_ms, .95):.1f} ms")
    print(f"recommender suggest with the store (zhibiao suggest --db), warm, {stats['rows']:,} rows: median "
          f"{pct(store_ms, .5):.1f} ms, p95 {pct(store_ms, .95):.1f} ms (target ≤ 50 ms); added per query "
          f"(paired) median "
          f"{pct(extra, .5):.1f} ms, p95 {pct(extra, .95):.1f} ms; {from_store} of {len(qs)} answers drew on "
          f"stored projects")

    lat = []
    rng = random.Random(2)
    for name, _, projects in rng.sample(docs, min(200, len(docs))):
        p = projects.iloc[0]
        t = time.perf_counter()
        store.previous_year(p["project_name"], p["department"], int(p["year"]))
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    print(f"previous_year lookup: median {statistics.median(lat):.1f} ms, p95 {lat[int(0.95 * len(lat)) - 1]:.1f} ms")

    if args.pipeline:
        seeds = sorted((ROOT / "training_data" / "raw").glob("*.txt"))
        seed_store = CorpusStore(f"sqlite:///{tmp / 'seeds.sqlite'}")
        t0 = time.perf_counter()
        try:
            rep = seed_store.add_documents(seeds)
            dt = time.perf_counter() - t0
            print(f"corpus add (real pipeline, 4 seeds, incl. model load): {rep.rows} rows, {dt:.1f} s "
                  f"= {rep.rows / dt:.0f} rows/s")
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"corpus add (real pipeline): unavailable: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
