"""Batch normalization: streaming, dedupe, cache, resume, processes, dask, errors."""
from __future__ import annotations

import json
import re
import types
import zlib

import numpy as np
import pandas as pd
import pytest

from zhibiao import batch
from zhibiao.batch import RESULT_COLUMNS, normalize_chunk, run_batch

CATEGORIES = ["数量指标", "质量指标", "时效指标", "成本指标", "社会效益指标", "服务对象满意度指标"]


class FakeNormalizer:
    """Deterministic function of the row text; counts what it is asked to do."""

    def __init__(self, fingerprint="fake-v1", fail_marker=None, crash_marker=None):
        self.fingerprint = fingerprint
        self.fail_marker = fail_marker      # rows whose level3 holds it raise ValueError
        self.crash_marker = crash_marker    # a batch holding it raises KeyboardInterrupt (a crash)
        self.calls = 0
        self.rows = 0
        self.seen: list[tuple] = []

    def normalize(self, df: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        self.rows += len(df)
        cols = [c for c in ("level3", "description", "value", "level1", "level2") if c in df.columns]
        self.seen.extend(map(tuple, df[cols].astype(str).to_numpy().tolist()))
        l3 = df["level3"].astype(str)
        if self.crash_marker and l3.str.contains(self.crash_marker, regex=False).any():
            raise KeyboardInterrupt("simulated crash")
        if self.fail_marker and l3.str.contains(self.fail_marker, regex=False).any():
            raise ValueError("boom")
        value = df["value"].astype(str) if "value" in df.columns else pd.Series("", index=df.index)
        desc = df["description"].astype(str) if "description" in df.columns else pd.Series("", index=df.index)
        out = df.copy()
        h = [zlib.crc32(f"{a}|{b}".encode()) for a, b in zip(l3, desc)]
        out["category"] = [CATEGORIES[x % len(CATEGORIES)] for x in h]
        out["category_confidence"] = [(x % 100) / 100 for x in h]
        out["level1_canonical"] = ["产出指标" if x % 6 < 4 else "效益指标" for x in h]
        out["declared_category"] = df["level2"].astype(str) if "level2" in df.columns else ""
        out["indicator_id"] = [f"I{x % 50:03d}" if x % 7 else "" for x in h]
        out["indicator_name"] = l3
        out["indicator_confidence"] = [(x % 1000) / 1000 for x in h]
        nums = [re.search(r"\d+(?:\.\d+)?", v) for v in value]
        out["value_kind"] = ["numeric" if m else "qualitative" for m in nums]
        out["op"] = [">=" if "≥" in v else None for v in value]
        out["number"] = [float(m.group()) if m else np.nan for m in nums]
        out["unit"] = ["%" if "%" in v else None for v in value]
        out["base_value"] = out["number"]
        out["base_unit"] = out["unit"]
        out["date"] = None
        out["flags"] = ["missing_value" if not v else "" for v in value]
        return out


def make_rows(n=1000, seed=0, names=40, unique_desc=False):
    rng = np.random.default_rng(seed)
    l3 = [f"指标{i}" for i in rng.integers(0, names, n)]
    vals = rng.choice(["≥95%", "=100%", "12月底前", "是", "", "≥20个", "700万元"], n)
    desc = [f"第{i}行说明" for i in range(n)] if unique_desc else rng.choice(["说明甲", "说明乙", ""], n)
    return pd.DataFrame({
        "source": "seed.txt", "location": [str(i) for i in range(n)],
        "project_name": rng.choice(["项目A", "项目B"], n),
        "level1": rng.choice(["产出指标", "效益指标"], n), "level2": rng.choice(["数量指标", "质量指标"], n),
        "level3": l3, "description": desc, "value": vals, "basis": "合同约定"})


def write_csv(df, path):
    df.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def read_out(path):
    if str(path).endswith(".parquet"):
        return pd.read_parquet(path)
    if str(path).endswith(".jsonl"):
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def key_count(df):
    return len(df[["level3", "description", "value", "level1", "level2"]].drop_duplicates())


@pytest.fixture
def rows_csv(tmp_path):
    df = make_rows(1000)
    return df, write_csv(df, tmp_path / "rows.csv")


class PoolRecorder(FakeNormalizer):
    """Writes, as each row's flags, the pyarrow memory pool its process allocates from."""

    def normalize(self, df: pd.DataFrame) -> pd.DataFrame:
        import pyarrow as pa
        out = super().normalize(df)
        out["flags"] = pa.default_memory_pool().backend_name
        return out


@pytest.mark.parametrize("engine,jobs", [("local", 1), ("local", 2), ("dask", 2)])
def test_every_process_of_a_run_allocates_from_a_pool_that_gives_memory_back(tmp_path, engine, jobs):
    """pandas 3 keeps text in Arrow buffers; pyarrow's default pool, mimalloc, keeps what a chunk freed, so a
    long run's processes grow. A run allocates from jemalloc (or the system allocator) in this process and
    its workers, and gives this process its own pool back after."""
    pa = pytest.importorskip("pyarrow")
    if engine == "dask":
        pytest.importorskip("distributed")
    before = pa.default_memory_pool().backend_name
    src = write_csv(make_rows(2000, seed=5, names=400), tmp_path / "rows.csv")
    run_batch([src], tmp_path / "out.csv", normalizer=PoolRecorder(), engine=engine, jobs=jobs, chunk_rows=500,
              cache=False, progress=False)
    pools = set(read_out(tmp_path / "out.csv")["flags"])
    assert pools and pools <= {"jemalloc", "system"}, pools
    assert pa.default_memory_pool().backend_name == before


def test_a_spawned_worker_allocates_from_a_pool_that_gives_memory_back():
    """A spawned worker (or a Dask worker elsewhere) does not inherit this process's pool: preparing it sets its own."""
    pytest.importorskip("pyarrow")
    import subprocess
    import sys

    code = ("from zhibiao.batch.names import prepare_worker\n"
            "class Normalizer: pass\n"
            "prepare_worker(Normalizer(), None)\n"
            "import pyarrow as pa\n"
            "print(pa.default_memory_pool().backend_name)")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.strip() in {"jemalloc", "system"}, got.stdout


def test_freed_heap_pages_go_back_to_the_system():
    """What a chunk's frames freed in the C heap, scattered between blocks still in use, stays in the
    process until it is given back."""
    import sys
    psutil = pytest.importorskip("psutil")
    from zhibiao.batch.chunks import _malloc_trim, give_back_free_memory
    if not sys.platform.startswith("linux") or _malloc_trim() is None:
        pytest.skip("glibc's malloc_trim only")
    me = psutil.Process()
    blocks = [bytearray(20_000) for _ in range(4000)]   # 80 MB from the C heap (under its mmap threshold)
    keep = blocks[::16]                                   # one block in 16 stays: the rest is freed in holes
    del blocks
    held = me.memory_info().rss
    give_back_free_memory()
    assert held - me.memory_info().rss > 40 * 2**20
    assert len(keep) == 250


class ShareLogger(FakeNormalizer):
    """Logs the pid of the process that normalizes each share of a chunk, one line per share."""

    def __init__(self, log):
        super().__init__()
        self.log = str(log)

    def normalize(self, df: pd.DataFrame) -> pd.DataFrame:
        import os
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return super().normalize(df)


@pytest.mark.parametrize("engine,jobs", [("local", 1), ("local", 2), ("dask", 2)])
def test_every_process_of_a_run_gives_freed_memory_back_after_each_chunk(tmp_path, monkeypatch, engine, jobs):
    import os
    from collections import Counter

    from zhibiao.batch import engines, run
    if engine == "dask":
        pytest.importorskip("distributed")
    log = tmp_path / "given_back.txt"

    def record():
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
    monkeypatch.setattr(run, "give_back_free_memory", record)
    monkeypatch.setattr(engines, "give_back_free_memory", record)   # a forked worker has it too
    src = write_csv(make_rows(2000, seed=6, names=400), tmp_path / "rows.csv")
    shares = tmp_path / "shares.txt"
    rep = run_batch([src], tmp_path / "out.csv", normalizer=ShareLogger(shares), engine=engine, jobs=jobs,
                    chunk_rows=200, cache=False, progress=False)
    given_back, computed = Counter(log.read_text().split()), Counter(shares.read_text().split())
    me = str(os.getpid())
    assert given_back.pop(me) == rep.chunks == 10                    # this process, after writing each chunk
    if jobs > 1 and engines.start_method() == "fork":
        assert computed.pop(me) > 0                                   # this process computes too, on either engine
        assert len(computed) == jobs - 1                              # and every worker took shares
        assert given_back == computed                                 # each worker, after each share
    else:
        assert not given_back


def test_rows_preserved_in_order_with_correct_results(tmp_path, rows_csv):
    df, src = rows_csv
    fake = FakeNormalizer()
    rep = run_batch([src], tmp_path / "out.csv", normalizer=fake, chunk_rows=128, progress=False)
    out = read_out(tmp_path / "out.csv")
    assert rep.rows_in == rep.rows_out == len(out) == len(df)
    assert rep.chunks == 8
    assert out["location"].tolist() == df["location"].tolist()
    assert list(out.columns[:len(df.columns)]) == list(df.columns)
    assert all(c in out.columns for c in RESULT_COLUMNS)
    # broadcast results equal normalizing every row directly
    direct = FakeNormalizer().normalize(df)
    assert out["category"].tolist() == direct["category"].tolist()
    assert out["indicator_id"].tolist() == direct["indicator_id"].fillna("").tolist()
    assert np.allclose(pd.to_numeric(out["number"]), direct["number"], equal_nan=True)


def test_dedupe_one_call_per_distinct_tuple(tmp_path, rows_csv):
    df, src = rows_csv
    fake = FakeNormalizer()
    rep = run_batch([src], tmp_path / "out.csv", normalizer=fake, chunk_rows=10_000, cache=False,
                    progress=False)
    assert fake.calls == 1
    assert fake.rows == key_count(df) == rep.distinct < len(df)
    assert len(set(fake.seen)) == len(fake.seen)
    # across chunks, the on-disk cache dedupes too
    fake2 = FakeNormalizer()
    rep2 = run_batch([src], tmp_path / "out2.csv", normalizer=fake2, chunk_rows=100,
                     cache_dir=tmp_path / "c", progress=False)
    assert fake2.rows == key_count(df)
    assert rep2.cache_hits == rep2.distinct - key_count(df) > 0
    assert read_out(tmp_path / "out.csv").equals(read_out(tmp_path / "out2.csv"))


def test_cache_reused_across_runs_and_keyed_by_fingerprint(tmp_path, rows_csv):
    df, src = rows_csv
    cdir = tmp_path / "cache"
    run_batch([src], tmp_path / "a.csv", normalizer=FakeNormalizer(), chunk_rows=300, cache_dir=cdir,
              progress=False)
    again = FakeNormalizer()
    rep = run_batch([src], tmp_path / "b.csv", normalizer=again, chunk_rows=300, cache_dir=cdir,
                    progress=False)
    assert again.calls == 0
    assert rep.cache_hits == rep.distinct and rep.cache_hit_rate == 1.0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    other = FakeNormalizer(fingerprint="fake-v2")
    run_batch([src], tmp_path / "c.csv", normalizer=other, chunk_rows=300, cache_dir=cdir, progress=False)
    assert other.rows == key_count(df)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_resume_after_crash_no_loss_no_duplicates(tmp_path, suffix):
    df = make_rows(1000, unique_desc=True)
    df.loc[350, "level3"] = "CRASH-HERE"          # in chunk 3 (rows 300-399)
    src = write_csv(df, tmp_path / "rows.csv")
    ref = tmp_path / f"ref{suffix}"
    run_batch([src], ref, normalizer=FakeNormalizer(), chunk_rows=100, cache=False, progress=False)

    out = tmp_path / f"out{suffix}"
    with pytest.raises(KeyboardInterrupt):
        run_batch([src], out, normalizer=FakeNormalizer(crash_marker="CRASH"), chunk_rows=100,
                  cache=False, progress=False)
    manifest = json.loads((tmp_path / f"out{suffix}.manifest.json").read_text())
    assert [c["id"] for c in manifest["chunks"]] == ["0:0", "0:1", "0:2"]
    assert not manifest["complete"]
    # a half-written next chunk on disk, as a crash during the write would leave it
    if suffix == ".parquet":
        (out / "part-000003.parquet").write_bytes(b"PAR1 garbage")
        (out / ".part-000004.parquet.tmp").write_bytes(b"junk")
    else:
        with open(out, "ab") as fh:
            fh.write("半行,垃圾\n".encode())

    fake = FakeNormalizer()
    rep = run_batch([src], out, normalizer=fake, chunk_rows=100, cache=False, resume=True, progress=False)
    assert rep.skipped_chunks == 3 and rep.chunks == 10
    assert rep.rows_in == rep.rows_out == 1000 and rep.rows_processed == 700
    done_descs = set(df["description"].iloc[:300])
    assert not any(t[1] in done_descs for t in fake.seen)       # finished chunks not redone
    got, want = read_out(out), read_out(ref)
    assert len(got) == 1000 and got["location"].is_unique
    pd.testing.assert_frame_equal(got, want)
    if suffix != ".parquet":
        assert out.read_bytes() == ref.read_bytes()
    # resuming a finished run is a no-op
    rep2 = run_batch([src], out, normalizer=FakeNormalizer(), chunk_rows=100, cache=False, resume=True,
                     progress=False)
    assert rep2.skipped_chunks == 10 and rep2.rows_processed == 0 and rep2.rows_out == 1000
    # resuming with other settings is refused
    with pytest.raises(batch.ZhibiaoError):
        run_batch([src], out, normalizer=FakeNormalizer(), chunk_rows=50, resume=True, progress=False)


def test_error_rows_kept_and_flagged(tmp_path):
    df = make_rows(500)
    df.loc[[3, 250, 251], "level3"] = ["BAD一", "BAD二", "BAD一"]
    src = write_csv(df, tmp_path / "rows.csv")
    fake = FakeNormalizer(fail_marker="BAD")
    rep = run_batch([src], tmp_path / "out.csv", normalizer=fake, chunk_rows=200,
                    cache_dir=tmp_path / "c", progress=False)
    out = read_out(tmp_path / "out.csv")
    assert len(out) == len(df) == rep.rows_out
    bad = out["level3"].str.startswith("BAD")
    assert out.loc[bad, "flags"].eq("normalize_error").all()
    assert out.loc[bad, "error"].str.contains("ValueError: boom").all()
    assert out.loc[~bad, "error"].eq("").all() and out.loc[~bad, "category"].ne("").all()
    assert rep.error_rows == 3
    # errors are not cached: a second run retries only the bad tuples
    again = FakeNormalizer(fail_marker="BAD")
    run_batch([src], tmp_path / "out2.csv", normalizer=again, chunk_rows=200, cache_dir=tmp_path / "c",
              progress=False)
    assert {t[0] for t in again.seen} == {"BAD一", "BAD二"}


def test_jobs2_same_output_as_jobs1(tmp_path, rows_csv):
    df, src = rows_csv
    big = pd.concat([df, make_rows(1500, seed=1)], ignore_index=True)
    src = write_csv(big, tmp_path / "big.csv")
    run_batch([src], tmp_path / "one.csv", normalizer=FakeNormalizer(), chunk_rows=200, cache=False,
              progress=False)
    rep = run_batch([src], tmp_path / "two.csv", normalizer=FakeNormalizer(), chunk_rows=200, jobs=2,
                    cache_dir=tmp_path / "c", progress=False)
    assert rep.rows_out == len(big) and rep.chunks == 13
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    yield cluster
    cluster.close()


def test_dask_same_output_as_local(tmp_path, dask_cluster):
    df = make_rows(3000, seed=2)
    src = write_csv(df, tmp_path / "rows.csv")
    run_batch([src], tmp_path / "local.csv", normalizer=FakeNormalizer(), chunk_rows=500, cache=False,
              progress=False)
    rep = run_batch([src], tmp_path / "dask.csv", normalizer=FakeNormalizer(), chunk_rows=500,
                    engine="dask", scheduler=dask_cluster.scheduler_address,
                    cache_dir=tmp_path / "c", progress=False)
    assert rep.rows_in == rep.rows_out == 3000 and rep.chunks > 1
    assert rep.distinct > 0 and rep.normalized > 0      # stats come back from the workers
    pd.testing.assert_frame_equal(read_out(tmp_path / "dask.csv"), read_out(tmp_path / "local.csv"))


def test_a_dask_run_beside_another_cluster_does_not_warn_about_its_port(tmp_path):
    """A run starts its own LocalCluster; with port 8787 (the scheduler's default for its HTTP routes) taken,
    as by a second run or a user's cluster, it must not tell the user about a dashboard it never shows."""
    pytest.importorskip("distributed")
    import socket
    import warnings

    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 8787))
        held.listen()
    except OSError:
        pass   # something holds it already: the same case
    src = write_csv(make_rows(200, seed=4), tmp_path / "rows.csv")
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            rep = run_batch([src], tmp_path / "out.csv", normalizer=FakeNormalizer(), engine="dask", jobs=1,
                            cache=False, progress=False)
    finally:
        held.close()
    assert rep.rows_out == 200
    assert not [w for w in seen if "8787" in str(w.message)], [str(w.message) for w in seen]


def test_dask_quoted_newlines_and_parquet(tmp_path, dask_cluster):
    df = make_rows(1200, seed=3)
    df.loc[::97, "description"] = "第一行\n第二行, 含逗号"
    df.loc[5, "level1"] = "产出\n\n指标"
    src = write_csv(df, tmp_path / "rows.csv")
    run_batch([src], tmp_path / "local.parquet", normalizer=FakeNormalizer(), chunk_rows=250, cache=False,
              progress=False)
    rep = run_batch([src], tmp_path / "dask.parquet", normalizer=FakeNormalizer(), chunk_rows=250,
                    engine="dask", scheduler=dask_cluster.scheduler_address, cache=False, progress=False)
    got = read_out(tmp_path / "dask.parquet")
    assert rep.rows_out == len(got) == 1200
    pd.testing.assert_frame_equal(got, read_out(tmp_path / "local.parquet"))
    assert got["description"].str.contains("\n").sum() == len(df.loc[::97])


def _fail_writing(monkeypatch, after: int, error: BaseException) -> None:
    """The batch writer raises ``error`` when it is given a chunk after ``after`` chunks are written."""
    from zhibiao.batch import writers
    commit = writers._Writer.commit

    def failing(self, cid, *args, **kwargs):
        if len(self.done) == after:
            raise error
        return commit(self, cid, *args, **kwargs)

    monkeypatch.setattr(writers._Writer, "commit", failing)


def test_dask_run_interrupted_then_resumed_loses_and_repeats_nothing(tmp_path, dask_cluster, monkeypatch):
    """Dask's client reads and writes: stopped while writing its fourth chunk, the run resumes from the
    three it wrote and gives the clean run's file, byte for byte."""
    src = write_csv(make_rows(1000, unique_desc=True), tmp_path / "rows.csv")
    run_batch([src], tmp_path / "ref.csv", normalizer=FakeNormalizer(), chunk_rows=100, cache=False,
              progress=False)
    kw = dict(engine="dask", scheduler=dask_cluster.scheduler_address, chunk_rows=100, cache=False,
              progress=False)
    out = tmp_path / "out.csv"
    _fail_writing(monkeypatch, after=3, error=KeyboardInterrupt("simulated crash"))
    with pytest.raises(KeyboardInterrupt):
        run_batch([src], out, normalizer=FakeNormalizer(), **kw)
    monkeypatch.undo()
    rep = run_batch([src], out, normalizer=FakeNormalizer(), resume=True, **kw)
    assert rep.skipped_chunks == 3 and rep.rows_in == rep.rows_out == 1000
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_write_stops_the_run_and_is_not_taken_for_a_bad_input(tmp_path, monkeypatch, jobs):
    """Only reading an input can make it a bad input, reported while the run goes on: a disk that fails
    while a chunk is written stops the run (before, the rest of the input was skipped and the run ended
    well, with the rows missing)."""
    src = write_csv(make_rows(300), tmp_path / "rows.csv")
    _fail_writing(monkeypatch, after=1, error=OSError(28, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        run_batch([src], tmp_path / "out.csv", normalizer=FakeNormalizer(), chunk_rows=100, cache=False,
                  progress=False, jobs=jobs)


@pytest.mark.parametrize("suffix,arrow", [(".csv", True), (".csv", False), (".jsonl", True)])
def test_a_chunk_is_written_in_slices_and_reads_back_whole(tmp_path, monkeypatch, suffix, arrow):
    """A chunk's text goes to the file a slice of rows at a time (a 50,000-row chunk's CSV is 30 MB): read
    back, every row is there once, in order, under one header, with pandas' writer as with Arrow's."""
    import sys

    from zhibiao.batch import writers
    monkeypatch.setattr(writers, "WRITE_SLICE_ROWS", 7)
    if not arrow:
        monkeypatch.setitem(sys.modules, "pyarrow.csv", None)   # import fails: pandas' writer
    df = make_rows(100, seed=3)
    src = write_csv(df, tmp_path / "rows.csv")
    rep = run_batch([src], tmp_path / f"out{suffix}", normalizer=FakeNormalizer(), chunk_rows=40, cache=False,
                    progress=False)
    out = read_out(tmp_path / f"out{suffix}")
    assert rep.rows_out == len(out) == 100
    assert out["location"].astype(str).tolist() == df["location"].tolist()
    assert out["level3"].tolist() == df["level3"].tolist()
    if suffix == ".csv":
        text = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
        assert text.count("level3") == 1                         # the header, once
        assert not text.startswith("\ufeff")                     # one byte-order mark, not one per chunk


def test_jsonl_and_parquet_inputs_several_files(tmp_path):
    a, b = make_rows(300, seed=4), make_rows(200, seed=5)
    a.to_json(tmp_path / "a.jsonl", orient="records", lines=True, force_ascii=False)
    b.drop(columns=["description"]).to_parquet(tmp_path / "b.parquet")
    fake = FakeNormalizer()
    rep = run_batch([tmp_path / "a.jsonl", tmp_path / "b.parquet"], tmp_path / "out.jsonl",
                    normalizer=fake, chunk_rows=128, cache=False, progress=False)
    out = read_out(tmp_path / "out.jsonl")
    assert rep.rows_out == len(out) == 500 and rep.chunks == 3 + 2
    assert out["location"].astype(str).tolist() == a["location"].tolist() + b["location"].tolist()


def test_normalize_chunk_keeps_index_and_extra_columns():
    df = make_rows(50).set_index(pd.RangeIndex(100, 150))
    out, stats = normalize_chunk(df, FakeNormalizer())
    assert out.index.equals(df.index) and stats["rows"] == 50
    assert out["basis"].tolist() == df["basis"].tolist()


def _fake_extract_all(paths, errors="collect"):
    (path,) = paths
    if "bad" in path.name:
        return types.SimpleNamespace(rows=pd.DataFrame(), projects=pd.DataFrame(),
                                     failures=[f"{path}: corrupt document"], notes=[])
    rows = make_rows(40, seed=len(str(path)))
    rows["source"] = str(path)
    return types.SimpleNamespace(rows=rows, projects=pd.DataFrame(), failures=[], notes=[])


def test_document_inputs_bad_file_reported_not_fatal(tmp_path, monkeypatch):
    import zhibiao.ingest
    monkeypatch.setattr(zhibiao.ingest, "extract_all", _fake_extract_all, raising=False)
    docs = []
    for name in ("one.txt", "bad.docx", "two.xlsx"):
        (tmp_path / name).write_bytes(b"x")
        docs.append(tmp_path / name)
    rep = run_batch(docs, tmp_path / "out.csv", normalizer=FakeNormalizer(), progress=False, cache=False)
    out = read_out(tmp_path / "out.csv")
    assert rep.chunks == 3 and rep.rows_out == len(out) == 80
    assert len(rep.failures) == 1 and "bad.docx" in rep.failures[0]
    assert set(out["source"]) == {str(docs[0]), str(docs[2])}


def test_document_inputs_with_real_extractor(tmp_path):
    ingest = pytest.importorskip("zhibiao.ingest")
    if not hasattr(ingest, "extract_all"):
        pytest.skip("zhibiao.ingest.extract_all not there yet")
    from zhibiao.resources import training_data_dir
    seeds = sorted((training_data_dir() / "raw").glob("*.txt"))[:2]
    if not seeds:
        pytest.skip("no seed documents")
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"not a zip")
    rep = run_batch([*seeds, bad], tmp_path / "out.csv", normalizer=FakeNormalizer(), progress=False,
                    cache=False)
    out = read_out(tmp_path / "out.csv")
    assert rep.rows_out == len(out) > 0
    assert any("bad.docx" in f for f in rep.failures)


def _copied_document():
    """The 定州 seed: a department that filled several projects from one unrelated template."""
    from zhibiao.resources import training_data_dir
    doc = next((training_data_dir() / "raw").glob("004_*.txt"), None)
    if doc is None:
        pytest.skip("no 定州 seed")
    return doc


@pytest.mark.parametrize("engine,jobs", [("local", 1), ("local", 2), ("dask", 1)])
def test_documents_get_the_template_copy_check(tmp_path, engine, jobs):
    """A batch over documents flags template copies exactly as detect_template_copy does on the
    document's rows and projects, whatever the engine, and keeps the normalizer's own flags."""
    if engine == "dask":
        pytest.importorskip("distributed")
    from zhibiao.audit import detect_template_copy
    from zhibiao.ingest import extract_all

    doc = _copied_document()
    extracted = extract_all([doc])
    expected = detect_template_copy(extracted.rows, extracted.projects)["template_copy"].to_numpy()
    assert 10 <= expected.sum() < len(expected)      # the seed has copies, and other rows

    rep = run_batch([doc], tmp_path / "out.csv", normalizer=FakeNormalizer(), engine=engine, jobs=jobs,
                    cache=False, progress=False)
    out = read_out(tmp_path / "out.csv")
    assert rep.rows_out == len(out) == len(extracted.rows)
    flags = out["flags"].str.split(";")
    assert (flags.map(lambda f: "template_copy" in f).to_numpy() == expected).all()
    missing = (extracted.rows["value"].fillna("") == "").to_numpy()
    assert (flags.map(lambda f: "missing_value" in f).to_numpy() == missing).all()


def test_rows_files_are_not_checked_for_copies(tmp_path):
    """A rows file is cut into chunks that may split a project, so the check is left to audit."""
    from zhibiao.ingest import extract_all

    rows = extract_all([_copied_document()]).rows
    src = write_csv(rows, tmp_path / "rows.csv")
    run_batch([src], tmp_path / "out.csv", normalizer=FakeNormalizer(), cache=False, progress=False)
    assert not read_out(tmp_path / "out.csv")["flags"].str.contains("template_copy").any()


def test_xlsx_output_keeps_every_row_as_data_and_resumes(tmp_path):
    df = make_rows(600, unique_desc=True)
    df.loc[::50, "value"] = "=100%"                 # a 指标值 an xlsx writer would turn into a formula
    df.loc[350, "level3"] = "CRASH-HERE"
    src = write_csv(df, tmp_path / "rows.csv")
    out = tmp_path / "out.xlsx"
    with pytest.raises(KeyboardInterrupt):
        run_batch([src], out, normalizer=FakeNormalizer(crash_marker="CRASH"), chunk_rows=100,
                  cache=False, progress=False)
    assert not out.exists()                         # nothing half-written where the result goes
    rep = run_batch([src], out, normalizer=FakeNormalizer(), chunk_rows=100, cache=False, resume=True,
                    progress=False)
    assert rep.skipped_chunks == 3 and rep.rows_out == 600 and rep.output == str(out)
    got = pd.read_excel(out, dtype=str, keep_default_na=False)
    assert list(got["location"]) == list(df["location"])
    assert list(got["value"]) == list(df["value"])
    ref = tmp_path / "ref.csv"
    run_batch([src], ref, normalizer=FakeNormalizer(), chunk_rows=100, cache=False, progress=False)
    assert list(got["category"]) == list(read_out(ref)["category"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx", "ref.csv", "ref.csv.manifest.json",
                                                          "rows.csv"]


def test_write_xlsx_continues_past_the_sheet_limit(tmp_path, monkeypatch):
    from openpyxl import load_workbook

    from zhibiao import tables
    monkeypatch.setattr(tables, "EXCEL_MAX_ROWS", 4)   # 3 data rows per sheet
    frames = [pd.DataFrame({"level3": [f"指标{i}" for i in range(k, k + 4)], "value": "=1个"}) for k in (0, 4)]
    wb = load_workbook(tables.write_xlsx(frames, tmp_path / "t.xlsx"))
    assert wb.sheetnames == ["rows", "rows (2)", "rows (3)"]
    rows = [r for ws in wb for r in ws.iter_rows(min_row=2, values_only=True)]
    assert [r[0] for r in rows] == [f"指标{i}" for i in range(8)] and {r[1] for r in rows} == {"=1个"}
    assert all(next(ws.iter_rows(max_row=1, values_only=True)) == ("level3", "value") for ws in wb)


def test_rows_file_saved_as_gbk_is_read(tmp_path):
    """Excel on a Chinese Windows saves "CSV" in GBK: the rows are read, not rejected."""
    df = make_rows(300)
    src = tmp_path / "rows_gbk.csv"
    df.to_csv(src, index=False, encoding="gbk")
    rep = run_batch([src], tmp_path / "out.csv", normalizer=FakeNormalizer(), chunk_rows=100, cache=False,
                    progress=False)
    got = read_out(tmp_path / "out.csv")
    assert rep.rows_out == 300 and not rep.failures
    assert list(got["level3"]) == list(df["level3"]) and list(got["description"]) == list(df["description"])


def test_one_unreadable_file_is_reported_and_the_rest_processed(tmp_path):
    good = write_csv(make_rows(200), tmp_path / "good.csv")
    (tmp_path / "bad.jsonl").write_text('{"level3": "a"}\n{"level3": \n', encoding="utf-8")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    # nested past what json can decode: a RecursionError, which ended the run as "unexpected"
    (tmp_path / "deep.jsonl").write_text('{"level3": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    broken = tmp_path / "broken.csv"          # readable header and first chunk, then bytes of no encoding
    broken.write_bytes(make_rows(150).to_csv(index=False).encode("utf-8") + b"\xff\xfe\xfa,\x81\n" * 3)
    inputs = [tmp_path / "bad.jsonl", good, tmp_path / "missing.csv", broken, tmp_path / "bad.parquet",
              tmp_path / "deep.jsonl"]
    rep = run_batch(inputs, tmp_path / "out.csv", normalizer=FakeNormalizer(), chunk_rows=100, cache=False,
                    progress=False)
    named = sorted(f.split(":")[0].rsplit("/", 1)[-1] for f in rep.failures)
    assert named == ["bad.jsonl", "bad.parquet", "broken.csv", "deep.jsonl", "missing.csv"]
    got = read_out(tmp_path / "out.csv")
    assert list(got["location"][:200]) == [str(i) for i in range(200)]   # the good file, whole
    assert rep.rows_out == len(got) >= 200


def test_no_readable_input_is_one_clear_error(tmp_path):
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    with pytest.raises(batch.ZhibiaoError, match="bad.jsonl"):
        run_batch([tmp_path / "bad.jsonl"], tmp_path / "out.csv", normalizer=FakeNormalizer(), cache=False,
                  progress=False)


def test_results_of_several_processes_merge_in_row_order_whatever_their_columns():
    from zhibiao.batch.chunks import ERROR_COLUMN, _result_frame, merge_results
    a = _result_frame([{"category": "数量", "number": 1.0}, {"category": "质量", "number": 3.0}])
    b = _result_frame([{"category": "时效", "number": 2.0, "note": "x"}])    # an extra column
    merged = merge_results([(np.array([0, 2]), a), (np.array([1]), b)])
    assert merged["category"].tolist() == ["数量", "时效", "质量"]
    assert merged["number"].tolist() == [1.0, 2.0, 3.0]
    assert merged["note"].isna().tolist() == [True, False, True] and merged.columns[-1] == ERROR_COLUMN
    same = merge_results([(np.array([1, 2]), a), (np.array([0]), b.drop(columns="note"))])
    assert same["category"].tolist() == ["时效", "数量", "质量"]


def test_a_chunk_groups_rows_by_all_their_key_columns_and_keys_them_by_the_joined_text():
    import hashlib
    from zhibiao.batch import chunks
    df = pd.DataFrame({"level3": ["受益人数", "受益人数", "受益人数", "验收合格率", "受益人数"],
                       "description": [None, "", "", "", ""],
                       "value": ["≥100人", "≥100人", "≥200人", "100%", "≥200人"]})
    prep = chunks._prepare(df, chunks.KEY_COLUMNS)
    # a missing description is an empty one; another value is another tuple; numbered as first seen
    assert prep.codes.tolist() == [0, 0, 1, 2, 1]
    assert prep.uniq.to_dict("list") == {"level3": ["受益人数", "受益人数", "验收合格率"],
                                         "description": ["", "", ""], "value": ["≥100人", "≥200人", "100%"]}
    # the result cache's keys: the present key columns' names, then their values joined (a cache
    # written by an earlier version is still found)
    key = hashlib.blake2b("level3|description|value\x1e受益人数\x1f\x1f≥200人".encode(), digest_size=16).digest()
    assert prep.hashes[1] == key and len(set(prep.hashes)) == 3
