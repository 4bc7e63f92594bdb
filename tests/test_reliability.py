"""Issue 16: what an attacker or a careless user did to zhibiao, one test per numbered problem.
Each was written against the old code and failed there."""
from __future__ import annotations

import builtins
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from zhibiao.cli import app

runner = CliRunner()
SEEDS = Path(__file__).resolve().parents[1] / "training_data"


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


# -- 1. data loss: an output that is an input, and half-written outputs -------------------------

ROWS = pd.DataFrame({"level3": ["群众满意度", "新建道路长度"], "value": ["≥90%", "=1203米"]})


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_normalize_refuses_to_write_over_its_input(tmp_path, suffix):
    src = tmp_path / f"x{suffix}"
    (ROWS.to_csv(src, index=False) if suffix == ".csv" else
     ROWS.to_json(src, orient="records", lines=True, force_ascii=False))
    before = src.read_bytes()
    result = run("normalize", src, "-o", src, "--no-progress")
    assert result.exit_code != 0
    assert "input" in result.output
    assert src.read_bytes() == before      # the old code left a 456-byte header


def test_normalize_refuses_an_input_reached_by_another_path(tmp_path):
    src = tmp_path / "x.csv"
    ROWS.to_csv(src, index=False)
    before = src.read_bytes()
    (tmp_path / "sub").mkdir()
    result = run("normalize", src, "-o", tmp_path / "sub" / ".." / "x.csv", "--no-progress")
    assert result.exit_code != 0 and src.read_bytes() == before


def _a_document(tmp_path) -> Path:
    doc = tmp_path / "doc.csv"
    doc.write_text("项目名称,道路建设项目\n一级指标,二级指标,三级指标,指标值\n产出指标,数量指标,新建道路长度,=1203米\n"
                   "效益指标,满意度指标,群众满意度,≥90%\n", encoding="utf-8")
    return doc


def test_extract_refuses_to_write_over_its_input(tmp_path):
    doc = _a_document(tmp_path)
    before = doc.read_bytes()
    result = run("extract", doc, "-o", doc)
    assert result.exit_code != 0 and "input" in result.output
    assert doc.read_bytes() == before


def test_extract_refuses_projects_over_an_input(tmp_path):
    doc = _a_document(tmp_path)
    before = doc.read_bytes()
    result = run("extract", doc, "-o", tmp_path / "rows.csv", "--projects", doc)
    assert result.exit_code != 0 and doc.read_bytes() == before
    assert not (tmp_path / "rows.csv").exists()   # refused before any work


def test_audit_refuses_to_write_over_its_input(tmp_path):
    from openpyxl import Workbook
    form = tmp_path / "form.xlsx"
    wb = Workbook()
    ws = wb.active
    for row in (["项目名称", "道路建设项目"], ["一级指标", "二级指标", "三级指标", "指标值"],
                ["产出指标", "数量指标", "新建道路长度", "=1203米"]):
        ws.append(row)
    wb.save(form)
    before = form.read_bytes()
    result = run("audit", form, "-o", form)
    assert result.exit_code != 0 and "input" in result.output
    assert form.read_bytes() == before


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """A write that dies half-way (disk full, Ctrl-C) must not leave a truncated output."""
    from zhibiao.tables import write_table
    out = tmp_path / "out.csv"
    write_table(ROWS, out)
    before = out.read_bytes()

    def broken(self, path, *a, **k):
        Path(path).write_text("level3,val", encoding="utf-8")   # half a header, then the disk is full
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError):
        write_table(ROWS.assign(value="changed"), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]   # no temporary file left behind


def test_suggest_xlsx_is_not_written_over_the_draft(tmp_path):
    draft = tmp_path / "draft.xlsx"
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["level3", "value"])
    wb.active.append(["群众满意度", "≥90%"])
    wb.save(draft)
    before = draft.read_bytes()
    result = run("suggest", "道路建设项目", "--draft", draft, "--xlsx", draft)
    assert result.exit_code != 0 and draft.read_bytes() == before


# -- 7. `zhibiao serve` without the service extra -------------------------------------------------

def test_serve_without_the_service_extra_names_it(monkeypatch):
    real_import = builtins.__import__
    import importlib.util
    real_find = importlib.util.find_spec

    def no_anyio(name, *a, **k):
        if name.split(".")[0] in ("anyio", "fastapi", "uvicorn"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *a, **k)

    def find(name, *a, **k):
        return None if name.split(".")[0] in ("anyio", "fastapi", "uvicorn") else real_find(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_anyio)
    monkeypatch.setattr(importlib.util, "find_spec", find)
    for mod in [m for m in list(__import__("sys").modules) if m.startswith("zhibiao.service")]:
        monkeypatch.delitem(__import__("sys").modules, mod)
    result = run("serve")
    assert result.exit_code != 0
    assert "pip install 'zhibiao[service]'" in result.output
    assert "unexpected" not in result.output
