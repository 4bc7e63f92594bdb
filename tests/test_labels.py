"""training_data/labels.csv: one reviewed label per row of training_data/rows.csv.

If rows.csv is regenerated and its (source, location) keys shift, these tests fail: relabel with
``python scripts/label_tools.py build`` and review the rows it marks ``reviewed=0``.
"""
from __future__ import annotations

import pandas as pd
import pytest

from zhibiao.resources import training_data_dir
from zhibiao.taxonomy import CATEGORIES, canonical_category, load_library

KEY = ["source", "location"]


def _read(name: str) -> pd.DataFrame:
    path = training_data_dir() / name
    if not path.exists():
        pytest.fail(f"{path} is missing")
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def rows():
    return _read("rows.csv")


@pytest.fixture(scope="module")
def labels():
    return _read("labels.csv")


def test_columns(labels):
    for col in ("source", "location", "level3", "declared_category", "category", "indicator_id",
                "reason", "template_copy", "reviewed"):
        assert col in labels.columns, col


def test_one_label_per_row(rows, labels):
    assert not labels.duplicated(KEY).any(), labels[labels.duplicated(KEY, keep=False)].head()
    assert not rows.duplicated(KEY).any()
    m = rows[KEY + ["level3"]].merge(labels[KEY + ["level3"]], on=KEY, how="outer",
                                     suffixes=("_row", "_label"), indicator=True)
    unlabelled = m[m["_merge"] == "left_only"]
    orphans = m[m["_merge"] == "right_only"]
    assert unlabelled.empty, f"{len(unlabelled)} rows have no label (rows.csv regenerated?):\n{unlabelled.head()}"
    assert orphans.empty, f"{len(orphans)} labels match no row (keys shifted?):\n{orphans.head()}"


def test_level3_matches(rows, labels):
    m = rows[KEY + ["level3"]].merge(labels[KEY + ["level3"]], on=KEY, suffixes=("_row", "_label"))
    bad = m[m["level3_row"] != m["level3_label"]]
    assert bad.empty, f"{len(bad)} labels are aligned to a different level3 (keys shifted?):\n{bad.head()}"


def test_indicator_ids_exist(labels):
    ids = set(load_library()["indicator_id"])
    bad = labels[~labels["indicator_id"].isin(ids)]
    assert bad.empty, bad[["location", "level3", "indicator_id"]].head()


def test_categories_valid(labels):
    assert labels["category"].isin(CATEGORIES).all()
    assert labels["declared_category"].isin(CATEGORIES).all()


def test_declared_category_is_the_canonical_declared_label(rows, labels):
    m = rows.merge(labels[KEY + ["declared_category"]], on=KEY)
    expected = [canonical_category(l2, l1) or "" for l1, l2 in zip(m["level1"], m["level2"])]
    assert (m["declared_category"] == pd.Series(expected, index=m.index)).all()


def test_reason_wherever_corrected(labels):
    corrected = labels[labels["category"] != labels["declared_category"]]
    assert (corrected["reason"].str.strip() != "").all(), corrected[corrected["reason"].str.strip() == ""].head()
    assert len(corrected) > 0  # the declared labels are noisy: some must have been corrected


def test_template_copy_and_reviewed_flags(labels):
    assert labels["template_copy"].isin(["0", "1"]).all()
    assert (labels["reviewed"] == "1").all(), "labels pre-filled by a script but not reviewed by hand"


def test_dingzhou_copy_paste_is_marked(rows, labels):
    m = rows.merge(labels, on=KEY, suffixes=("", "_label"))
    dz = m[m["source"].str.startswith("004")]
    fp = dz[dz["level3"].str.contains("计划生育") & ~dz["project_name"].str.contains("计划生育|计生")]
    assert len(fp) > 0 and (fp["template_copy"] == "1").all()
    # what the row says decides the type, whatever the project
    assert (fp["indicator_id"] == "cost.subsidy_standard").all()


def test_realworld_holdout_labels_match_the_extracted_rows():
    """benchmarks/holdout.py joins hand labels to the rows of the four real forms: keep them in step."""
    from pathlib import Path

    from zhibiao.ingest import extract_all
    from zhibiao.taxonomy import CATEGORIES, load_library
    forms = Path(__file__).parent / "fixtures" / "realworld"
    rows = extract_all(sorted(forms.glob("*.xlsx"))).rows
    gold = pd.read_csv(forms / "labels.csv", dtype=str, keep_default_na=False)
    assert list(zip(gold["source"], gold["location"], gold["level3"])) == \
        list(zip(rows["source"], rows["location"], rows["level3"]))
    assert set(gold["category"]) <= set(CATEGORIES)
    assert set(gold["indicator_id"]) - {""} <= set(load_library()["indicator_id"])
