"""The corpus store, against SQLite always and PostgreSQL when ZHIBIAO_TEST_PG_URL is set.

Under CI (env CI set) the PostgreSQL case must run: `scripts/ci_postgres.sh start` prints
the URL to export. The pipeline here is a cheap stand-in (the real extract, the declared
level2 as category): these tests are about storage, not about the models.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from zhibiao.errors import InputError, StoreError
from zhibiao.store import CorpusStore, dice, name_key
from zhibiao.store import _schema as S

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "training_data" / "raw"
SEED_001 = next(SEEDS.glob("001_*.txt"))
SEED_004 = next(SEEDS.glob("004_*.txt"))
SEED_002 = next(SEEDS.glob("002_*.txt"))
# Row counts per seed, from the hand-checked training_data/rows.csv (not from the store).
EXPECTED_ROWS = pd.read_csv(ROOT / "training_data" / "rows.csv", usecols=["source"])["source"].value_counts()
PG_URL = os.environ.get("ZHIBIAO_TEST_PG_URL")


def cheap_process(path):
    """Stand-in pipeline: real extraction, no model."""
    from zhibiao.ingest.api import extract_all
    found = extract_all([path], errors="raise")
    rows = found.rows.copy()
    rows["category"] = rows["level2"]
    rows["indicator_id"] = "name:" + rows["level3"].astype(str)
    return rows, found.projects


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'corpus.sqlite'}"
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL store tests: eval \"$(scripts/ci_postgres.sh start)\"")
        pytest.skip("set ZHIBIAO_TEST_PG_URL (scripts/ci_postgres.sh start) to test PostgreSQL")
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # each test starts from an empty store
        S.metadata.drop_all(conn)
    engine.dispose()
    return PG_URL


def copy(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    dst = dst_dir / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def row_count(store) -> int:
    return store.stats()["rows"]


def test_add_unchanged_and_replace(url, tmp_path):
    a, b = copy(SEED_001, tmp_path), copy(SEED_004, tmp_path)
    store = CorpusStore(url)
    report = store.add_documents([a, b], cheap_process)
    assert sorted(report.added) == sorted([str(a.resolve()), str(b.resolve())])
    assert row_count(store) == EXPECTED_ROWS[SEED_001.name] + EXPECTED_ROWS[SEED_004.name]
    ids_before = store.list()["id"].tolist()

    again = store.add_documents([a, b], cheap_process)
    assert not again.changed and len(again.unchanged) == 2 and again.rows == 0
    assert store.list()["id"].tolist() == ids_before

    # A clerk corrects one target in 004: the document is replaced, nothing doubles.
    text = b.read_text(encoding="utf-8")
    assert "≥90百分比" in text
    b.write_text(text.replace("≥90百分比", "≥80百分比", 1), encoding="utf-8")
    changed = store.add_documents([a, b], cheap_process)
    assert changed.replaced == [str(b.resolve())] and changed.unchanged == [str(a.resolve())]
    assert row_count(store) == EXPECTED_ROWS[SEED_001.name] + EXPECTED_ROWS[SEED_004.name]
    values = store.rows(source=b.name)["value"].tolist()
    assert "≥80百分比" in values
    assert values.count("≥90百分比") == pd.Series(cheap_process(SEED_004)[0]["value"]).eq("≥90百分比").sum() - 1
    assert store.list()["id"].tolist()[0] == ids_before[0] and store.list()["id"].tolist()[1] > ids_before[1]


def test_same_bytes_under_another_name_are_not_stored_twice(url, tmp_path):
    store = CorpusStore(url)
    store.add_documents([copy(SEED_004, tmp_path)], cheap_process)
    twin = copy(SEED_004, tmp_path, "renamed_copy.txt")
    report = store.add_documents([twin], cheap_process)
    assert report.unchanged == [str(twin.resolve())]
    assert store.stats()["documents"] == 1


def test_provenance_is_kept(url, tmp_path):
    store = CorpusStore(url)
    store.add_documents([copy(SEED_001, tmp_path)], cheap_process)
    rows = store.rows()
    # the seed's first indicator (see the ingest doctest): line 127, 村干部和聘用人员工资发放次数, 12
    first = rows.iloc[0]
    assert (first["source"], first["location"], first["row_number"], first["level3"], first["value"]) == \
        (SEED_001.name, "L127", 127, "村干部和聘用人员工资发放次数", "12")
    assert first["source_path"] == str((tmp_path / SEED_001.name).resolve())
    assert set(rows["year"].dropna().astype(int)) == {2021}


def test_bad_files_are_reported_and_skipped(url, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    good = copy(SEED_004, tmp_path)
    store = CorpusStore(url)
    report = store.add_documents([empty, tmp_path / "missing.docx", good], cheap_process)
    assert report.added == [str(good.resolve())]
    assert len(report.failed) == 2 and all(isinstance(f, InputError) for f in report.failed)
    assert store.stats()["documents"] == 1


def _snapshot(store):
    docs = store.list()[["source", "content_hash", "n_rows"]]
    rows = store.rows()[["source", "location", "level3", "value"]]
    return docs.to_dict("records"), rows.to_dict("records")


def test_error_mid_import_leaves_store_unchanged(url, tmp_path):
    store = CorpusStore(url)
    a = copy(SEED_001, tmp_path)
    store.add_documents([a], cheap_process)
    before = _snapshot(store)

    # a new file written, then a failure on the next one: neither stays
    b, c = copy(SEED_004, tmp_path), copy(SEED_002, tmp_path)
    written = []

    def boom(source):
        written.append(source)
        if len(written) == 2:
            raise RuntimeError("disk on fire")
    store._after_document = boom
    # and a changed file whose replacement would be undone
    a.write_text(a.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        store.add_documents([a, b, c], cheap_process)
    assert len(written) == 2
    store._after_document = None
    assert _snapshot(store) == before


_KILL_CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
from test_store import cheap_process
from zhibiao.store import CorpusStore
store = CorpusStore({url!r})
store._after_document = lambda source: os._exit(3)   # the process dies inside the transaction
store.add_documents([{path!r}], cheap_process)
"""


def test_killed_process_mid_import_leaves_store_unchanged(url, tmp_path):
    store = CorpusStore(url)
    store.add_documents([copy(SEED_001, tmp_path)], cheap_process)
    before = _snapshot(store)
    b = copy(SEED_004, tmp_path)
    code = _KILL_CHILD.format(tests=str(Path(__file__).parent), url=url, path=str(b))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 3, proc.stderr.decode()[-500:]
    reopened = CorpusStore(url)
    assert _snapshot(reopened) == before
    if url.startswith("sqlite"):
        with reopened.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def _writer(url, paths, barrier):
    barrier.wait()
    CorpusStore(url).add_documents(paths, cheap_process, chunk=1)   # many short transactions


def test_two_writers_and_a_reader_at_once(url, tmp_path):
    CorpusStore(url)   # migrate once, before the race
    # six distinct documents (one appended newline each makes the bytes differ)
    files = []
    for i, seed in enumerate([SEED_001, SEED_004, SEED_001, SEED_004, SEED_001, SEED_004]):
        path = tmp_path / f"doc{i}.txt"
        path.write_text(seed.read_text(encoding="utf-8") + "\n" * (i + 1), encoding="utf-8")
        files.append(path)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(url, files[i::2], barrier)) for i in range(2)]
    stop, seen, errors = threading.Event(), [], []

    def read():
        reader = CorpusStore(url)
        while not stop.is_set():
            try:
                s = reader.stats()
                seen.append((s["documents"], s["rows"]))
            except Exception as exc:  # noqa: BLE001 - a failed read is what we look for
                errors.append(exc)
    t = threading.Thread(target=read)
    t.start()
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    stop.set()
    t.join()
    assert [p.exitcode for p in procs] == [0, 0]
    assert errors == []
    store = CorpusStore(url)
    expected = 3 * EXPECTED_ROWS[SEED_001.name] + 3 * EXPECTED_ROWS[SEED_004.name]
    assert store.stats()["documents"] == 6 and row_count(store) == expected
    docs = store.list()
    per_doc = store.rows().groupby("source").size()
    assert all(per_doc[d.name] == d.n_rows for d in docs.itertuples())
    # a reader never saw a half-written document: every snapshot is a sum of whole ones
    whole = {0}
    for n1 in range(4):
        for n4 in range(4):
            whole.add(n1 * EXPECTED_ROWS[SEED_001.name] + n4 * EXPECTED_ROWS[SEED_004.name])
    assert all(rows in whole for _, rows in seen)


def test_remove_and_change_feed(url, tmp_path):
    store = CorpusStore(url)
    a, b = copy(SEED_001, tmp_path), copy(SEED_004, tmp_path)
    store.add_documents([a, b], cheap_process)
    rows, removed, token = store.changes()
    assert len(rows) == EXPECTED_ROWS[SEED_001.name] + EXPECTED_ROWS[SEED_004.name] and removed == []
    doc_b = int(store.list().set_index("name").at[b.name, "id"])
    assert store.remove(b.name) == [str(b.resolve())]
    assert row_count(store) == EXPECTED_ROWS[SEED_001.name]
    rows, removed, token2 = store.changes(token)
    assert len(rows) == 0 and removed == [doc_b]
    assert store.changes(token2)[1] == []
    with pytest.raises(StoreError):
        store.remove(b.name)


def test_export_never_writes_over_a_document_the_store_holds(url, tmp_path):
    """Its help said "never over an input"; it wrote wherever it was told, and not atomically."""
    store = CorpusStore(url)
    doc = tmp_path / "table.csv"          # a CSV document: the one kind export could write over
    doc.write_text("项目名称,道路建设项目\n一级指标,二级指标,三级指标,指标值\n产出指标,数量指标,新建道路长度,=1203米\n",
                   encoding="utf-8")
    store.add_documents([doc], cheap_process)
    before = doc.read_bytes()
    with pytest.raises(InputError, match="input"):
        store.export(doc)
    assert doc.read_bytes() == before


def test_export_parquet(url, tmp_path):
    store = CorpusStore(url)
    store.add_documents([copy(SEED_004, tmp_path)], cheap_process)
    out = tmp_path / "rows.parquet"
    assert store.export(out) == EXPECTED_ROWS[SEED_004.name]
    back = pd.read_parquet(out)
    assert len(back) == EXPECTED_ROWS[SEED_004.name]
    assert {"source", "source_path", "sheet", "row_number", "location", "level3", "value", "year"} <= set(back)
    assert (back["row_number"] == back["location"].str[1:].astype(int)).all()
    assert set(back["department"]) == {"917003西城区政府办公室"}


def _project(name, department, year, level3="道路建设里程"):
    rows = pd.DataFrame([{"project_id": "p1", "project_name": name, "department": department, "year": str(year),
                          "level1": "产出指标", "level2": "数量指标", "level3": level3, "value": "≥10公里",
                          "location": "L1"}])
    projects = pd.DataFrame([{"project_id": "p1", "project_name": name, "department": department,
                              "year": str(year)}])
    return rows, projects


def test_previous_year_tolerates_small_wording_changes(url):
    store = CorpusStore(url)
    store.add_frame("road2021.xlsx", *_project("农村公路建设项目", "A县交通运输局", 2021, "公路里程"))
    store.add_frame("road2022.xlsx", *_project("2022年农村公路建设项目资金", "A县交通运输局", 2022))
    store.add_frame("water2022.xlsx", *_project("农村饮水安全工程", "A县水利局", 2022))
    store.add_frame("road_b2022.xlsx", *_project("农村公路建设项目", "B县交通运输局", 2022))

    # one word changed (公路 → 道路), the year in the name: last year's table is road2022
    hit = store.previous_year("2023年农村道路建设项目", "A县交通运输局", 2023)
    assert hit is not None and (hit.source, hit.year) == ("road2022.xlsx", 2022)
    assert hit.score == pytest.approx(0.6)
    assert hit.rows["level3"].tolist() == ["道路建设里程"]
    # the 2022 table looks back to 2021, never to itself
    assert store.previous_year("农村公路建设项目", "A县交通运输局", 2022).source == "road2021.xlsx"
    # a department code and spacing do not matter; another county's department does
    assert store.previous_year("农村公路建设", "520100 A县 交通运输局", 2023).source == "road2022.xlsx"
    assert store.previous_year("农村公路建设项目", "C县交通运输局", 2023) is None
    # another project with the same frame is not last year's table
    assert store.previous_year("农村污水处理工程", "A县水利局", 2023) is None
    # nothing earlier than the earliest year
    assert store.previous_year("农村公路建设项目", "A县交通运输局", 2021) is None


def test_name_similarity_is_documented():
    assert name_key("（三）2021年度农村公路建设项目资金") == "农村公路建设"
    assert dice("农村公路建设", "农村饮水建设") < 0.6 <= dice("农村公路建设", "农村道路建设")


def test_migration_version_is_recorded(url):
    store = CorpusStore(url)
    with store.engine.connect() as conn:
        versions = conn.execute(sa.select(S.schema_version.c.version)).scalars().all()
    assert versions == [v for v, _, _ in S.MIGRATIONS] and versions[-1] == S.LATEST
    CorpusStore(url)   # reopening applies nothing twice
    with store.engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.schema_version)).scalar() == len(S.MIGRATIONS)
        conn.execute(S.schema_version.insert().values(version=S.LATEST + 1, description="from the future",
                                                      applied_at=pd.Timestamp.now(tz="UTC").to_pydatetime()))
    with pytest.raises(StoreError, match="newer"):
        CorpusStore(url)


def test_sqlite_store_is_in_wal_mode(tmp_path):
    store = CorpusStore(tmp_path / "c.sqlite")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000


def test_default_url_follows_env(monkeypatch, tmp_path):
    from zhibiao.store import default_url
    monkeypatch.setenv("ZHIBIAO_DB", "sqlite:////somewhere/else.sqlite")
    assert default_url() == "sqlite:////somewhere/else.sqlite"
    monkeypatch.delenv("ZHIBIAO_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_url() == f"sqlite:///{tmp_path}/zhibiao/corpus.sqlite"


def test_index_is_incremental_and_names_sources(url, tmp_path):
    store = CorpusStore(url)
    store.add_documents([copy(SEED_001, tmp_path)], cheap_process)
    index = store.neighbours_corpus()
    n1 = len(index)
    store.add_documents([copy(SEED_004, tmp_path)], cheap_process)
    assert index.refresh(force=True) and len(index) > n1
    name = max(store.projects().query("source == @SEED_004.name")["project_name"], key=len)  # a distinctive one
    top = index.neighbours(name, k=3)[0]
    assert (top["project_name"], top["source"]) == (name, SEED_004.name)
    out = index.suggest(name, k=5)
    assert out["suggestions"] and all(s["sources"] for s in out["suggestions"])
    store.remove(SEED_004.name)
    index.refresh(force=True)
    assert len(index) == n1 and all(n["source"] != SEED_004.name for n in index.neighbours(name, k=10))


def test_cli_corpus(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import zhibiao.store
    from zhibiao.cli_corpus import app
    monkeypatch.setattr(zhibiao.store, "ExtractNormalize", lambda *a: cheap_process)
    db = str(tmp_path / "c.sqlite")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    runner = CliRunner()
    res = runner.invoke(app, ["add", str(copy(SEED_004, tmp_path)), str(bad), "--db", db, "--no-progress"])
    assert res.exit_code == 1 and "added 1" in res.output and "failed 1" in res.output
    assert runner.invoke(app, ["stats", "--db", db, "--json"]).output.count('"documents": 1') == 1
    res = runner.invoke(app, ["export", "-o", str(tmp_path / "x.parquet"), "--db", db])
    assert res.exit_code == 0 and len(pd.read_parquet(tmp_path / "x.parquet")) == EXPECTED_ROWS[SEED_004.name]
    res = runner.invoke(app, ["remove", "nope.txt", "--db", db])
    assert res.exit_code == 1 and "not in the corpus store" in res.output


def test_if_exists_does_not_create_a_store(tmp_path):
    assert CorpusStore.if_exists(tmp_path / "none.sqlite") is None and not (tmp_path / "none.sqlite").exists()
    CorpusStore(tmp_path / "some.sqlite")
    assert CorpusStore.if_exists(tmp_path / "some.sqlite").stats()["documents"] == 0


def test_index_snapshot_starts_where_the_last_process_stopped(tmp_path):
    """A one-shot `zhibiao suggest --db` should not read every stored row again: the index saves a
    snapshot beside a SQLite store, the next index starts from it and reads only what changed since.
    Its answers are the freshly built index's, a store made again at the same path is another store,
    and a damaged snapshot only costs a rebuild."""
    db = tmp_path / "c.sqlite"
    store = CorpusStore(f"sqlite:///{db}")
    store.add_documents([copy(SEED_001, tmp_path)], cheap_process)
    first = store.neighbours_corpus(snapshot=True)
    snap = store.index_snapshot_path()
    assert not first.from_snapshot and snap.exists() and snap.parent == tmp_path
    assert store.stats()["size_bytes"] == sum(p.stat().st_size for p in tmp_path.glob("c.sqlite*"))

    store.add_documents([copy(SEED_004, tmp_path)], cheap_process)   # after the snapshot
    name = max(store.projects().query("source == @SEED_004.name")["project_name"], key=len)
    again = store.neighbours_corpus(snapshot=True)
    fresh = store.neighbours_corpus()
    assert again.from_snapshot and len(again) == len(fresh) > len(first)
    assert again.neighbours(name, k=5) == fresh.neighbours(name, k=5)
    assert again.neighbours(name, k=1)[0]["source"] == SEED_004.name
    import pickle
    assert pickle.loads(snap.read_bytes())["token"] == store.change_token()   # caught up, so saved again

    for f in tmp_path.glob("c.sqlite*"):   # the same path, another store: the snapshot is not its
        f.unlink()
    other = CorpusStore(f"sqlite:///{db}")
    other.add_documents([copy(SEED_002, tmp_path)], cheap_process)
    index = other.neighbours_corpus(snapshot=True)
    assert not index.from_snapshot and {n["source"] for n in index.neighbours(name, k=10)} <= {SEED_002.name}

    snap.write_bytes(b"not a snapshot")
    damaged = other.neighbours_corpus(snapshot=True)
    assert not damaged.from_snapshot and len(damaged) == len(index)


def test_a_file_that_is_not_a_database_is_one_clear_error_and_stays_untouched(tmp_path):
    """`--db` pointed at a document: it ended as an "unexpected DatabaseError"."""
    not_db = tmp_path / "table.xlsx"
    not_db.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 20)
    before = not_db.read_bytes()
    with pytest.raises(StoreError, match="not a database"):
        CorpusStore(str(not_db))
    assert not_db.read_bytes() == before
