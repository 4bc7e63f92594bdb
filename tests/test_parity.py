"""One document, three doors: the CLI, the Python API and the HTTP service (upload) give the same
rows, categories, indicator ids and flags, and the same audit findings (DESIGN §2).

The seed is 定州 (004): a department filled several projects from one unrelated template, so
the template-copy check, the flag that used to differ between the doors (41, 42, 42), is
exercised on many rows.
"""
import pandas as pd
import pytest
from typer.testing import CliRunner

from zhibiao.cli import app as cli_app
from zhibiao.resources import training_data_dir

pytest.importorskip("fastapi", reason="service extra not installed")
from fastapi.testclient import TestClient  # noqa: E402

from zhibiao.service import app as service  # noqa: E402

ROW_KEY = ["source", "location"]
COMPARED = ["project_name", "level3", "category", "declared_category", "indicator_id", "flags"]
FINDING = ["project_name", "location", "level3", "code", "severity", "message"]


@pytest.fixture(scope="module")
def seed():
    doc = next((training_data_dir() / "raw").glob("004_*.txt"), None)
    assert doc is not None, "the 定州 seed (training_data/raw/004_*.txt) is missing"
    return doc


@pytest.fixture(scope="module")
def client():
    with TestClient(service.create_app()) as c:
        yield c


def table(df: pd.DataFrame, columns) -> pd.DataFrame:
    out = df[columns].astype(object).where(df[columns].notna(), "").astype(str)
    return out.sort_values(list(columns)).reset_index(drop=True)


def flags_of(df: pd.DataFrame) -> pd.Series:
    return df["flags"].fillna("").astype(str)


@pytest.fixture(scope="module")
def normalized(seed, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("parity") / "out.csv"
    result = CliRunner().invoke(cli_app, ["normalize", str(seed), "-o", str(out), "--no-cache", "--no-progress"])
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(out, dtype=str, keep_default_na=False)

    from zhibiao.pipeline import Pipeline
    api = Pipeline.load(recommender=False)([seed]).normalized

    r = client.post("/normalize", files={"file": (seed.name, seed.read_bytes(), "text/plain")})
    assert r.status_code == 200, r.text
    http = pd.DataFrame(r.json()["rows"])
    return {"cli": cli, "api": api, "http": http}


def test_the_seed_has_copies_and_own_rows(normalized):
    # 定州: the 计划生育 template fills several unrelated projects, the 环保专项资金 project has its own
    api = normalized["api"]
    copied = api[flags_of(api).str.contains("template_copy")]
    assert 20 <= len(copied) < len(api)
    assert copied["level3"].str.contains("计划生育").sum() >= 5
    assert not copied["project_name"].str.contains("环保专项资金").any()


@pytest.mark.parametrize("door", ["cli", "http"])
def test_rows_categories_ids_and_flags_agree(normalized, door):
    api, other = normalized["api"], normalized[door]
    assert len(other) == len(api)
    assert table(other, ROW_KEY + COMPARED).equals(table(api, ROW_KEY + COMPARED))


def test_the_public_normalizer_agrees_when_given_the_projects(seed, normalized):
    import zhibiao
    from zhibiao.ingest import extract_all
    result = extract_all([seed])
    out = zhibiao.Normalizer.load().normalize(result.rows, result.projects)
    assert table(out, ROW_KEY + COMPARED).equals(table(normalized["api"], ROW_KEY + COMPARED))


def test_audit_findings_agree(seed, client, tmp_path):
    report_path = tmp_path / "audit.xlsx"
    result = CliRunner().invoke(cli_app, ["audit", str(seed), "-o", str(report_path)])
    assert result.exit_code == 0, result.output
    headers = {"项目名称": "project_name", "位置": "location", "三级指标": "level3", "问题代码": "code",
               "严重程度": "severity", "问题说明": "message"}
    cli = pd.read_excel(report_path, sheet_name="问题明细", dtype=str).fillna("").rename(columns=headers)

    from zhibiao.pipeline import Pipeline
    api = Pipeline.load(recommender=False).audit_files([seed]).findings

    r = client.post("/audit", files={"file": (seed.name, seed.read_bytes(), "text/plain")})
    assert r.status_code == 200, r.text
    http = pd.DataFrame(r.json()["findings"])

    assert (api["code"] == "template_copy").sum() >= 20
    assert table(cli, FINDING).equals(table(api, FINDING))
    assert table(http, FINDING).equals(table(api, FINDING))


def test_a_rows_file_reads_alike_through_every_door(client, tmp_path):
    """A rows CSV saved by Excel on a Chinese Windows (GB18030): `zhibiao normalize` read it, while the
    service answered 422 "no indicator table found" and the Python pipeline gave no rows."""
    rows = tmp_path / "rows.csv"
    rows.write_text("level2,level3,value\n满意度指标,群众满意度,≥90%\n数量指标,新建道路长度,=1203米\n"
                    "时效指标,项目完成时间,12月底前\n", encoding="gb18030")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli_app, ["normalize", str(rows), "-o", str(out), "--no-cache", "--no-progress"])
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(out, dtype=str, keep_default_na=False)

    from zhibiao.pipeline import Pipeline
    api = Pipeline.load(recommender=False)([rows]).normalized

    r = client.post("/normalize", files={"file": ("rows.csv", rows.read_bytes(), "text/csv")})
    assert r.status_code == 200, r.text
    http = pd.DataFrame(r.json()["rows"])

    compared = ["level3", "category", "indicator_id", "value_kind", "flags"]
    assert list(api["category"]) == ["服务对象满意度指标", "数量指标", "时效指标"]
    assert table(cli, compared).equals(table(api, compared))
    assert table(http, compared).equals(table(api, compared))
