"""The simulated earlier-year twin: deterministic, a year earlier, re-valued, partly re-worded."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from zhibiao.ingest.api import extract_all
from zhibiao.store import CorpusStore
from zhibiao.store._twin import make_twin, revalue

ROOT = Path(__file__).resolve().parents[1]
SEED = next((ROOT / "training_data" / "raw").glob("002_*.txt"))
FIXTURE = ROOT / "tests" / "fixtures" / "twin" / "002_twin2020.txt"


def test_twin_is_deterministic_and_matches_the_committed_fixture(tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    make_twin(SEED, a, seed=0)
    make_twin(SEED, b, seed=0)
    make_twin(SEED, c, seed=1)
    assert a.read_bytes() == b.read_bytes() == FIXTURE.read_bytes()
    assert c.read_bytes() != a.read_bytes()


def test_twin_is_last_years_table_of_the_same_projects():
    seed, twin = extract_all([SEED]), extract_all([FIXTURE])
    assert len(twin.rows) == len(seed.rows)                       # no row lost or invented
    assert set(seed.projects["year"]) == {"2021"} and set(twin.projects["year"]) == {"2020"}
    # the same projects; a year inside a name moves with the table (提前下达2021年… → 2020年…)
    no_digits = lambda names: [re.sub(r"\d", "", n) for n in names]
    assert no_digits(twin.projects["project_name"]) == no_digits(seed.projects["project_name"])
    assert (twin.projects["project_name"] != seed.projects["project_name"]).sum() >= 1
    renamed = (twin.rows["level3"] != seed.rows["level3"]).mean()
    revalued = (twin.rows["value"] != seed.rows["value"]).mean()
    assert 0.05 <= renamed <= 0.4          # a few renamed indicators, not a new table
    assert revalued >= 0.2                 # most numeric targets move


@pytest.mark.parametrize("value, allowed", [("≥95%", {"≥90%", "≥98%"}), ("=100%", {"=98%"}),
                                            ("2021年12月底前", {"2020年12月底前"})])
def test_revalue_moves_like_a_clerk(value, allowed):
    import random
    assert {revalue(value, random.Random(s), -1) for s in range(20)} == allowed


def test_previous_year_finds_the_twin(tmp_path):
    from test_store import cheap_process
    store = CorpusStore(tmp_path / "c.sqlite")
    store.add_documents([FIXTURE], cheap_process)
    seed = extract_all([SEED]).projects
    found = store.match_previous(seed[["project_name", "department", "year"]])
    assert (found["prev_source"] == FIXTURE.name).all() and (found["prev_year"] == 2020).all()
