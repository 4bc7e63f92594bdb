"""The CLI is a thin layer: JSON contracts, row preservation, one-line errors."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from zhibiao.cli import app

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_parse_value_prints_the_parsed_value():
    result = run("parse-value", "85%以上")
    assert result.exit_code == 0
    got = json.loads(result.output)
    assert (got["kind"], got["op"], got["number"], got["unit"]) == ("numeric", ">=", 85.0, "%")


def test_parse_value_resolves_deadlines_against_year():
    got = json.loads(run("parse-value", "12月底前", "--year", "2021").output)
    assert got["kind"] == "deadline" and got["date"] == "2021-12-31" and got["month"] == 12


def test_suggest_json_contract():
    result = run("suggest", "农村环卫保洁项目", "-k", "6", "--json")
    assert result.exit_code == 0
    got = json.loads(result.output)
    assert got["query"].startswith("农村环卫保洁项目")
    assert len(got["suggestions"]) == 6 and got["neighbours"]
    assert all({"indicator_id", "suggested_value", "score", "examples"} <= set(s) for s in got["suggestions"])


def test_suggest_table_output_is_chinese_and_grounded():
    result = run("suggest", "新建市政道路工程", "-k", "5")
    assert result.exit_code == 0
    assert "相似项目" in result.output and "指标值" in result.output


def test_normalize_keeps_every_row(tmp_path):
    rows = pd.DataFrame({"level3": ["群众满意度", "新建道路长度", "", "锟斤拷", "群众满意度"],
                         "value": ["≥90%", "=1203米", "", "??", "≥90%"],
                         "level2": ["满意度指标", "数量指标", "", "质量指标", "数量指标"]})
    src, dst = tmp_path / "rows.csv", tmp_path / "out.csv"
    rows.to_csv(src, index=False)
    result = run("normalize", src, "-o", dst, "--no-progress")
    assert result.exit_code == 0, result.output
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert len(out) == len(rows)
    assert list(out["level3"]) == list(rows["level3"].fillna(""))
    assert out.loc[4, "flags"].split(";")[0] == "category_mismatch"
    assert "unmatched_indicator" in out.loc[3, "flags"]


def test_normalize_reads_documents_directly(tmp_path, seed_dir):
    dst = tmp_path / "out.jsonl"
    result = run("normalize", seed_dir / "004_61a35c4abf65a0b4.txt", "-o", dst, "--no-progress")
    assert result.exit_code == 0, result.output
    out = pd.read_json(dst, lines=True)
    assert len(out) == 75 and out["category"].notna().all()


@pytest.mark.parametrize("args", [
    ("extract", "no/such/file.docx", "-o", "x.csv"),
    ("normalize", "no/such/rows.csv", "-o", "x.csv"),
    ("suggest", "   "),
    ("audit", "no/such/file.xlsx"),
    ("audit", "no/such/file.xlsx", "-o", "report.csv"),
])
def test_bad_input_is_one_line_and_nonzero(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) >= 1 and all(len(e) < 400 for e in errors)


def test_audit_reports_bad_files_at_the_end_and_still_writes(tmp_path, seed_dir):
    report = tmp_path / "audit.xlsx"
    result = run("audit", seed_dir / "004_61a35c4abf65a0b4.txt", tmp_path / "missing.docx", "-o", report)
    assert result.exit_code == 1
    assert report.exists() and report.with_suffix(".html").exists()
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing.docx" in errors[0]


def test_normalize_resolves_each_rows_deadline_against_its_own_year(tmp_path):
    src, dst = tmp_path / "rows.csv", tmp_path / "out.csv"
    pd.DataFrame({"level3": ["项目完成时间"] * 2, "value": ["12月底前"] * 2, "year": ["2021", "2023"]}).to_csv(src, index=False)
    assert run("normalize", src, "-o", dst, "--no-progress").exit_code == 0
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert list(out["date"]) == ["2021-12-31", "2023-12-31"]


def test_extract_to_xlsx_keeps_values_that_look_like_formulas(tmp_path, seed_dir):
    """Seeds write targets as "=1203米"; an xlsx must keep them as text, not formulas."""
    from zhibiao.tables import read_rows
    seed = sorted(seed_dir.glob("000_*.txt"))[0]
    assert run("extract", seed, "-o", tmp_path / "rows.csv").exit_code == 0
    assert run("extract", seed, "-o", tmp_path / "rows.xlsx").exit_code == 0
    csv, xlsx = read_rows(tmp_path / "rows.csv"), read_rows(tmp_path / "rows.xlsx")
    assert csv["value"].str.startswith("=").sum() > 20
    assert list(xlsx["value"]) == list(csv["value"]) and list(xlsx["level3"]) == list(csv["level3"])


@pytest.mark.parametrize("args", [
    ("suggest", "道路", "--budget", "abc"),
    ("suggest", "道路", "-k", "99"),
    ("no-such-command",),
    ("extract",),
])
def test_usage_errors_from_the_console_entry_point_are_one_line(args):
    """What the installed `zhibiao` runs (cli.main), not only the typer app the other tests drive."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "zhibiao.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr


def test_suggest_refuses_what_no_suggestion_can_answer():
    for args in (("suggest", "！！！？？。。"), ("suggest", "12345"), ("suggest", "道路", "--budget", "-50"),
                 ("suggest", "道路", "--budget", "0")):
        result = run(*args)
        assert result.exit_code == 1 and result.output.startswith("error: "), (args, result.output)


def test_an_unknown_engine_is_a_usage_error_not_an_unexpected_one(tmp_path):
    """It was reported as "unexpected BadParameter" with exit 70, the code of a bug."""
    rows = tmp_path / "rows.csv"
    rows.write_text("level3,value\n群众满意度,≥90%\n", encoding="utf-8")
    result = run("normalize", rows, "-o", tmp_path / "out.csv", "--engine", "spark")
    assert result.exit_code == 2
    assert "engine must be one of" in result.output and "unexpected" not in result.output
    assert not (tmp_path / "out.csv").exists()
