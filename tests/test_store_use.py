"""Issue 18: the corpus store used by suggest, audit, selfeval, library propose, evaluate and the
service (SQLite). Expectations come from what the stored tables say, written before running:
a stored project's own indicator types and its file name must come back; a 2024 target below the
2023 table's target or actual is reported; a 自评 row without a target is judged against the one set.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from test_store import url  # noqa: F401  (the SQLite / PostgreSQL store fixture)
from zhibiao.audit import RuleNormalizer
from zhibiao.store import CorpusStore

ROOT = Path(__file__).resolve().parents[1]

# A 畜牧 manure-treatment project: no seed project is like it, so what suggest takes from it can
# only come from the store. Declared categories as a clerk would write them.
MANURE = "畜禽粪污资源化利用整县推进项目"
MANURE_ROWS = [("产出指标", "数量指标", "粪污处理设施建设数量", "≥12个"),
               ("产出指标", "质量指标", "畜禽粪污综合利用率", "≥90%"),
               ("产出指标", "质量指标", "规模养殖场粪污处理设施装备配套率", "≥95%"),
               ("产出指标", "时效指标", "项目完成时限", "12月底前"),
               ("效益指标", "生态效益指标", "养殖污染排放减少", "明显减少"),
               ("满意度指标", "服务对象满意度指标", "养殖户满意度", "≥90%")]


def rows_frame(project: str, indicators, *, source: str, dept: str = "A县农业农村局", year: str = "2024",
               sheet: str = "目标表") -> tuple[pd.DataFrame, pd.DataFrame]:
    pid = f"{source}#1"
    rows = pd.DataFrame([{"source": source, "location": f"{sheet}!C{i + 6}", "project_id": pid, "project_name": project,
                          "department": dept, "year": year, "level1": l1, "level2": l2, "level3": l3, "value": v,
                          **({"actual_value": r[0]} if r else {})}
                         for i, (l1, l2, l3, v, *r) in enumerate(indicators)])
    projects = pd.DataFrame([{"project_id": pid, "source": source, "project_name": project, "department": dept,
                              "year": year, "purpose": ""}])
    return rows, projects


@pytest.fixture(scope="module")
def nlp():
    from zhibiao.pipeline import Pipeline
    try:
        return Pipeline.load()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"models missing: {exc}")


def stored(nlp, db: Path, *tables) -> CorpusStore:
    store = CorpusStore(db)
    for source, (rows, projects) in tables:
        store.add_frame(source, nlp.normalize(rows, projects), projects)
    return store


# --- suggest ---------------------------------------------------------------------------------------

def test_suggest_with_a_store_names_the_stored_table_and_differs(nlp, tmp_path):
    from zhibiao.pipeline import Pipeline
    store = stored(nlp, tmp_path / "c.sqlite", ("manure2024.xlsx", rows_frame(MANURE, MANURE_ROWS, source="manure2024.xlsx")))
    with_store = Pipeline(nlp.normalizer, nlp.recommender, store=store).suggest("2025年畜禽粪污资源化利用项目", k=10)
    without = Pipeline(nlp.normalizer, nlp.recommender).suggest("2025年畜禽粪污资源化利用项目", k=10)

    top = with_store["neighbours"][0]
    assert (top["origin"], top["source"], top["project_name"]) == ("store", "manure2024.xlsx", MANURE)
    assert top["sheet"] == "目标表" and top["row"] == 6 and top["year"] == 2024
    sourced = [s for s in with_store["suggestions"] if s.get("sources")]
    assert sourced, "no suggestion came from the stored project"
    for s in sourced:
        assert all(x["source"] == "manure2024.xlsx" and x["location"].startswith("目标表!C") for x in s["sources"])
        assert s["support"] >= 1 and any(MANURE in e for e in s["examples"])
    # the stored project's own wording of the utilisation rate is offered
    assert any("粪污" in s["suggested_level3"] for s in sourced)
    ids = lambda r: [s["indicator_id"] for s in r["suggestions"]]
    assert ids(with_store) != ids(without)
    assert all("origin" not in n and "sources" not in s for n in without["neighbours"] for s in without["suggestions"])


def test_an_empty_store_changes_no_suggestion(nlp, tmp_path):
    from zhibiao.pipeline import Pipeline
    empty = Pipeline(nlp.normalizer, nlp.recommender, store=CorpusStore(tmp_path / "e.sqlite"))
    plain = Pipeline(nlp.normalizer, nlp.recommender)
    a, b = empty.suggest("农村环卫保洁项目", k=10), plain.suggest("农村环卫保洁项目", k=10)
    assert a["suggestions"] == b["suggestions"]
    assert [{k: v for k, v in n.items() if k != "origin"} for n in a["neighbours"]] == b["neighbours"]


def test_a_table_added_to_the_store_counts_at_the_next_suggest(nlp, url):
    """SQLite, and PostgreSQL when ZHIBIAO_TEST_PG_URL is set (test_store's fixture)."""
    from zhibiao.pipeline import Pipeline
    store = CorpusStore(url)
    pipe = Pipeline(nlp.normalizer, nlp.recommender, store=store)
    coef = nlp.recommender.coef_.copy()
    before = pipe.suggest(MANURE, k=10)
    assert not [n for n in before["neighbours"] if n.get("origin") == "store"]
    rows, projects = rows_frame(MANURE, MANURE_ROWS, source="manure2024.xlsx")
    store.add_frame("manure2024.xlsx", nlp.normalize(rows, projects), projects)
    after = pipe.suggest(MANURE, k=10)
    assert [n["source"] for n in after["neighbours"] if n.get("origin") == "store"] == ["manure2024.xlsx"]
    assert after["suggestions"] != before["suggestions"]
    assert (nlp.recommender.coef_ == coef).all()   # nothing was refitted
    store.remove("manure2024.xlsx")
    assert not [n for n in pipe.suggest(MANURE, k=10)["neighbours"] if n.get("origin") == "store"]


# --- the CLI: configured store, bad URLs, no side effects ---------------------------------------

def cli(*args, env=None):
    from zhibiao.cli import app
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_cli_suggest_db_and_env(nlp, tmp_path):
    db = tmp_path / "c.sqlite"
    stored(nlp, db, ("manure2024.xlsx", rows_frame(MANURE, MANURE_ROWS, source="manure2024.xlsx"))).close()
    res = cli("suggest", "畜禽粪污资源化利用项目", "--json", "--db", db)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["neighbours"][0]["source"] == "manure2024.xlsx"
    res = cli("suggest", "畜禽粪污资源化利用项目", "--json", env={"ZHIBIAO_DB": str(db)})
    assert json.loads(res.stdout)["neighbours"][0]["source"] == "manure2024.xlsx"
    res = cli("suggest", "畜禽粪污资源化利用项目", "--db", db)   # the table names the stored file too
    assert res.exit_code == 0 and "〔manure2024.xlsx" in res.output


@pytest.mark.parametrize("db, message", [("foo://nowhere", "unknown kind of database"),
                                         ("{tmp}/none.sqlite", "no corpus store at"),
                                         ("postgresql://nobody@127.0.0.1:1/x", "cannot open the corpus store")])
@pytest.mark.parametrize("command", [["suggest", "道路建设"], ["selfeval", "{tmp}/x.csv", "-o", "{tmp}/o.csv"],
                                     ["audit", "{tmp}/x.csv", "-o", "{tmp}/o.xlsx"], ["serve"],
                                     ["library", "propose", "-o", "{tmp}/c.csv"]])
def test_a_bad_db_is_one_line_and_a_failure(tmp_path, db, message, command):
    (tmp_path / "x.csv").write_text("level3,value,actual_value\n培训人数,≥600人,650人\n", encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in command] + ["--db", db.replace("{tmp}", str(tmp_path))]
    res = cli(*args)
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.output
    assert not (tmp_path / "none.sqlite").exists() and not (tmp_path / "o.csv").exists()


def test_a_plain_suggest_creates_no_store(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    env.pop("ZHIBIAO_DB", None)
    res = subprocess.run([sys.executable, "-m", "zhibiao.cli", "suggest", "农村环卫保洁项目", "--json"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert not any(tmp_path.rglob("*.sqlite*")), list(tmp_path.rglob("*"))
    assert "origin" not in res.stdout


# --- last year, found automatically -------------------------------------------------------------

LAST_YEAR = [("产出指标", "数量指标", "培训人数", "≥600人", "650人"),
             ("产出指标", "质量指标", "培训合格率", "≥95%", "97%"),
             ("产出指标", "数量指标", "就业人数", "≥900人", "1200人"),
             ("满意度指标", "服务对象满意度指标", "学员满意度", "≥90%", "93%")]
THIS_YEAR = [("产出指标", "数量指标", "培训人数", "≥500人"),        # below last year's target and actual
             ("产出指标", "质量指标", "培训考核合格率", "≥90%"),     # renamed, below last year's
             ("产出指标", "数量指标", "就业人数", "≥1000人"),       # above the target, below the actual
             ("满意度指标", "服务对象满意度指标", "学员满意度", "≥95%"),  # higher: fine
             ("效益指标", "社会效益指标", "就业技能提升情况", "明显提升")]


def write_form(path: Path, project: str, dept: str, rows, actual: bool = False) -> Path:
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.title = "目标表"
    ws.append(["项目名称", project])
    ws.append(["主管部门", dept])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"] + (["实际完成值"] if actual else []))
    for r in rows:
        ws.append(list(r[:4]) + ([r[4]] if actual else []))
    wb.save(path)
    return path


def rule_process(path):
    from zhibiao.ingest.api import extract_all
    found = extract_all([path], errors="raise")
    return RuleNormalizer().normalize(found.rows), found.projects


FORM = "培训项目绩效目标表.xlsx"


@pytest.fixture
def last_year_store(tmp_path):
    (tmp_path / "archive").mkdir()
    # the same file name as this year's table, in another folder, as archives are kept
    form = write_form(tmp_path / "archive" / FORM, "2023年农民工职业技能培训项目", "610101人社局", LAST_YEAR,
                      actual=True)
    other = write_form(tmp_path / "archive" / "roads.xlsx", "2023年城区道路维修项目", "610101人社局",
                       [("产出指标", "数量指标", "培训人数", "≥900人", "950人")], actual=True)
    db = tmp_path / "c.sqlite"
    store = CorpusStore(db)
    report = store.add_documents([form, other], rule_process)
    assert len(report.added) == 2
    store.close()
    return db


def below(report_path: Path) -> dict[str, str]:
    import openpyxl
    rows = list(openpyxl.load_workbook(report_path, read_only=True)["问题明细"].iter_rows(values_only=True))
    head = rows[0]
    col = head.index("问题类型"), head.index("三级指标"), head.index("问题说明")
    return {r[col[1]]: r[col[2]] for r in rows[1:] if r[col[0]] == "目标值低于上年"}


def test_cli_audit_db_finds_last_year_under_a_changed_name(last_year_store, tmp_path, monkeypatch):
    from zhibiao.pipeline import Pipeline
    monkeypatch.setattr(Pipeline, "_audit_normalizer", lambda self: RuleNormalizer())
    # 职业 dropped from the name, 专项资金 added; the department without its code
    now = write_form(tmp_path / FORM, "2024年农民工技能培训专项资金", "人社局", THIS_YEAR)
    res = cli("audit", now, "--db", last_year_store, "-o", tmp_path / "r.xlsx")
    assert res.exit_code == 0, res.output
    found = below(tmp_path / "r.xlsx")
    assert set(found) == {"培训人数", "培训考核合格率", "就业人数"}
    assert f"{FORM} 目标表!C4" in found["培训人数"] and "≥600人" in found["培训人数"]
    assert "2023年农民工职业技能培训项目" in res.output and f"{FORM}，2023年" in res.output   # which table was used

    # without the store there is nothing to compare with
    res = cli("audit", now, "-o", tmp_path / "r2.xlsx")
    assert res.exit_code == 0 and below(tmp_path / "r2.xlsx") == {}
    # an explicit --previous wins over the store (here: a table of another project, so no finding)
    res = cli("audit", now, "--db", last_year_store, "--previous", tmp_path / "archive" / "roads.xlsx",
              "-o", tmp_path / "r3.xlsx")
    assert res.exit_code == 0 and below(tmp_path / "r3.xlsx") == {}


def test_audit_db_ignores_another_project_and_the_file_itself(last_year_store, tmp_path, monkeypatch):
    from zhibiao.pipeline import Pipeline
    monkeypatch.setattr(Pipeline, "_audit_normalizer", lambda self: RuleNormalizer())
    other = write_form(tmp_path / "2024.xlsx", "2024年农村饮水安全工程", "人社局", THIS_YEAR)
    assert cli("audit", other, "--db", last_year_store, "-o", tmp_path / "r.xlsx").exit_code == 0
    assert below(tmp_path / "r.xlsx") == {}
    # last year's own file, audited again, is not its own last year
    res = cli("audit", tmp_path / "archive" / FORM, "--db", last_year_store, "-o", tmp_path / "s.xlsx")
    assert res.exit_code == 0 and below(tmp_path / "s.xlsx") == {}


# --- 自评 against the target that was set ------------------------------------------------------

def test_cli_selfeval_db_judges_against_the_target_set(last_year_store, tmp_path):
    # the 2023 自评表 of the same project, reworded: one target left blank, one lowered
    rows = pd.DataFrame({"source": "自评2023.csv", "project_name": "2023年农民工技能培训项目", "department": "人社局",
                         "year": "2023", "level3": ["培训人数", "培训合格率", "就业人数"],
                         "value": ["", "≥90%", "≥900人"], "actual_value": ["650人", "92%", "1200人"]})
    rows.to_csv(tmp_path / "自评2023.csv", index=False)
    res = cli("selfeval", tmp_path / "自评2023.csv", "--db", last_year_store, "-o", tmp_path / "o.csv")
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False).set_index("level3")
    assert out.loc["培训人数", "achieved"] == "达成" and "target_as_set" in out.loc["培训人数", "selfeval_flags"]
    assert out.loc["培训人数", "set_target"] == "≥600人"
    assert out.loc["培训人数", "set_target_source"].startswith(f"{FORM} 目标表!C4")
    assert "target_changed" in out.loc["培训合格率", "selfeval_flags"] and out.loc["培训合格率", "set_target"] == "≥95%"
    assert "target_changed" not in out.loc["就业人数", "selfeval_flags"]
    assert "found for 3 of 3 rows" in res.output

    res = cli("selfeval", tmp_path / "自评2023.csv", "-o", tmp_path / "p.csv")
    plain = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False).set_index("level3")
    assert plain.loc["培训人数", "achieved"] == "无法判断" and "set_target" not in plain.columns


def test_selfeval_does_not_take_a_target_of_years_ago(last_year_store, tmp_path):
    from zhibiao.pipeline import Pipeline
    rows = pd.DataFrame({"project_name": "2026年农民工职业技能培训项目", "department": "人社局", "year": "2026",
                         "level3": ["培训人数"], "value": [""], "actual_value": ["650人"]})
    out = Pipeline(store=last_year_store).selfeval(rows)
    assert out.loc[0, "achieved"] == "无法判断" and "set_target" not in out.columns


# --- library propose over the store ------------------------------------------------------------

def test_library_propose_reads_the_store(tmp_path, monkeypatch):
    store = CorpusStore(tmp_path / "c.sqlite")
    untyped = pd.DataFrame({"project_id": "p", "level3": ["智慧灯杆安装数量", "安装智慧灯杆数量", "群众满意度"],
                            "value": ["≥20根", "≥30根", "≥90%"], "indicator_id": ["", "", "satisfaction.public"],
                            "category": ["数量指标", "数量指标", "服务对象满意度指标"], "unit": ["根", "根", "%"]})
    store.add_frame("lamps.xlsx", untyped)
    store.close()
    res = cli("library", "propose", "--db", tmp_path / "c.sqlite", "-o", tmp_path / "cands.csv")
    assert res.exit_code == 0, res.output
    cands = pd.read_csv(tmp_path / "cands.csv", dtype=str, keep_default_na=False)
    assert len(cands) == 1 and cands.loc[0, "count"] == "2" and "智慧灯杆" in cands.loc[0, "name"]
    assert "3 stored rows" in res.output
    # nothing to read: no files, and no store (isolated data dir, no $ZHIBIAO_DB)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("ZHIBIAO_DB", raising=False)
    res = cli("library", "propose", "-o", tmp_path / "x.csv")
    assert res.exit_code != 0 and "nothing to propose from" in res.output


# --- the service ---------------------------------------------------------------------------------

def test_service_suggest_uses_the_configured_store(nlp, tmp_path):
    from fastapi.testclient import TestClient

    from zhibiao.service.app import create_app
    db = tmp_path / "c.sqlite"
    stored(nlp, db, ("manure2024.xlsx", rows_frame(MANURE, MANURE_ROWS, source="manure2024.xlsx"))).close()
    with TestClient(create_app(store=str(db))) as client:
        body = client.post("/suggest", json={"text": "畜禽粪污资源化利用项目", "k": 8}).json()
    assert body["neighbours"][0]["source"] == "manure2024.xlsx"
    assert any(s.get("sources") for s in body["suggestions"])


def recording_loader(models_path=None, store=None):
    """Worker loader for the pool test: answers suggest with the store URL it was given."""
    class _Pipe:
        def suggest(self, *a, **k):
            return {"store": store}

    class _Models:
        loaded, error, load_seconds = True, "", 0.0
        pipeline = _Pipe()
    return _Models()


def test_the_pool_passes_the_store_url_to_its_workers(tmp_path):
    import asyncio

    from zhibiao.service.pool import WorkerPool
    sys.path.insert(0, str(Path(__file__).parent))   # the spawned worker imports this module
    pool = WorkerPool(size=1, loader="test_store_use:recording_loader", store="sqlite:///x.sqlite").start()
    try:
        pool.wait_ready(120)

        async def ask():
            loop = asyncio.get_running_loop()
            return await pool.run("suggest_json", "路", "", None, 3, None, deadline=loop.time() + 60, budget=60)
        assert json.loads(asyncio.run(ask())) == {"store": "sqlite:///x.sqlite"}
    finally:
        pool.close()
