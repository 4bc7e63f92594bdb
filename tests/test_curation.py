"""The library's curation loop: abstained names → candidate types → reviewed → added (DESIGN §8)."""
import shutil

import pandas as pd
import pytest

from zhibiao.errors import ZhibiaoError
from zhibiao.taxonomy import load_library
from zhibiao.taxonomy.curation import add_types, propose_types
from zhibiao.taxonomy.library import LIBRARY_DIR


def _normalized(names, **cols):
    df = pd.DataFrame({"level3": names, "indicator_id": [""] * len(names), "category": ["数量指标"] * len(names),
                       "unit": ["个"] * len(names), "op": [">="] * len(names),
                       "value_kind": ["numeric"] * len(names), "level1_canonical": ["产出指标"] * len(names)})
    for k, v in cols.items():
        df[k] = v
    return df


def test_the_wordings_of_one_unseen_indicator_become_one_candidate():
    rows = _normalized(["智慧灯杆安装数量", "安装智慧灯杆数量", "智慧灯杆安装数量", "农村饮水工程维修数量"])
    rows.loc[3, "indicator_id"] = "quantity.something"   # a typed row is no candidate
    cands = propose_types(rows)
    assert len(cands) == 1
    c = cands.iloc[0]
    assert c["count"] == 3 and c["name"] == "智慧灯杆安装数量"
    assert (c["measure"], c["object"], c["action"]) == ("数量", "智慧灯杆", "安装")
    assert c["aliases"] == "安装智慧灯杆数量"
    assert c["value_form"] == "≥___个" and c["category"] == "数量指标" and c["keep"] == ""


def test_reviewed_candidates_join_their_sector_file(tmp_path):
    lib_dir = tmp_path / "library"
    shutil.copytree(LIBRARY_DIR, lib_dir)
    cands = propose_types(_normalized(["智慧灯杆安装数量", "安装智慧灯杆数量"]))
    cands.loc[0, ["keep", "sectors", "indicator_id"]] = ["是", "城乡社区", "urban.smart_poles_installed"]
    assert add_types(cands, lib_dir) == {"212_城乡社区.tsv": 1}
    lib = load_library(lib_dir)
    hit = lib[lib["indicator_id"] == "urban.smart_poles_installed"].iloc[0]
    assert hit["aliases"] == ["安装智慧灯杆数量"] and hit["sector"] == "城乡社区" and hit["unit"] == "个"
    assert len(lib) == len(load_library()) + 1   # the shipped library is untouched


def test_a_candidate_the_validator_rejects_writes_nothing(tmp_path):
    lib_dir = tmp_path / "library"
    shutil.copytree(LIBRARY_DIR, lib_dir)
    before = {p.name: p.read_bytes() for p in lib_dir.iterdir()}
    cands = propose_types(_normalized(["智慧灯杆安装数量"]))
    cands.loc[0, ["keep", "category"]] = ["是", "产出类"]
    with pytest.raises(ZhibiaoError, match="产出类"):
        add_types(cands, lib_dir)
    assert {p.name: p.read_bytes() for p in lib_dir.iterdir()} == before


def test_nothing_kept_nothing_added(tmp_path):
    assert add_types(propose_types(_normalized(["智慧灯杆安装数量"])), tmp_path) == {}


def test_no_rows_give_no_candidates_not_an_error():
    """`zhibiao library propose` on inputs that all failed to read ended in an AttributeError."""
    cands = propose_types(pd.DataFrame(columns=["level3", "indicator_id"]))
    assert len(cands) == 0 and "keep" in cands.columns


def test_a_file_without_the_keep_column_is_told_what_to_give(tmp_path):
    """A rows file is not a candidates file: a clear message, not a KeyError."""
    with pytest.raises(ZhibiaoError, match="keep"):
        add_types(pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]}), tmp_path)
