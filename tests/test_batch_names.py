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
            fh.write("".join(t + "\n" for t in texts))
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


def _embedded(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


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
