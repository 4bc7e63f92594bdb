"""Spot check on documents from other provinces: the four real forms in tests/fixtures/realworld.

None of them is a seed, so the shipped models never trained on their rows. The gold category and
indicator type of each of their 64 rows were assigned by hand (tests/fixtures/realworld/labels.csv;
an empty indicator_id means the library has no fitting type, so abstaining is the right answer).
All four are 人社/就业 forms, and a few of their names are library aliases, so this is a spot
check, not a benchmark.

    python benchmarks/holdout.py                 # as shipped (the cascade on)
    python benchmarks/holdout.py --full-models   # every row through the full models
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from zhibiao import Normalizer
from zhibiao.ingest import extract_all
from zhibiao.taxonomy import canonical_category, load_library
from zhibiao.training import type_ancestors

FORMS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "realworld"


def main() -> None:
    result = extract_all(sorted(FORMS.glob("*.xlsx")))
    normalizer = Normalizer.load()
    normalizer.use_cascade = "--full-models" not in sys.argv[1:]
    rows = normalizer.normalize(result.rows, result.projects)
    gold = pd.read_csv(FORMS / "labels.csv", dtype=str, keep_default_na=False)
    m = rows.merge(gold[["source", "location", "category", "indicator_id"]], on=["source", "location"],
                   suffixes=("", "_gold"), validate="one_to_one")
    assert len(m) == len(gold) == len(rows), "labels.csv does not match the extracted rows"
    declared = [canonical_category(l2, l1) for l2, l1 in zip(m["level2"], m["level1"])]
    answered = m["indicator_id"] != ""
    has_type = m["indicator_id_gold"] != ""
    print(f"{len(m)} rows from {m['source'].nunique()} forms")
    print(f"category accuracy            {(m['category'] == m['category_gold']).mean():.3f}")
    declared = pd.Series(declared, index=m.index)
    stated = declared.notna()
    print(f"declared 二级 accuracy        {(declared[stated] == m['category_gold'][stated]).mean():.3f}"
          f"  (the clerks' own labels, on the {stated.sum()} rows that state one)")
    # a finer type than the label (one whose parent chain holds it) is right too
    ancestors = type_ancestors(load_library())
    right = pd.Series([g == p or g in ancestors.get(p, ()) for g, p in zip(m["indicator_id_gold"], m["indicator_id"])],
                      index=m.index) & answered
    print(f"indicator type: answered {answered.mean():.3f} of rows, {right.sum() / max(answered.sum(), 1):.3f} "
          f"of the answers right")
    print(f"  rows with a fitting type: {has_type.sum()}, matched right {(right & has_type).sum()}; "
          f"rows with none: {(~has_type).sum()}, abstained on {(~answered & ~has_type).sum()}")
    suggest_recall(result)


def suggest_recall(result) -> None:
    """Soft recall@10 of suggest on each form's own names (DESIGN §6 yardstick), beside popularity."""
    import numpy as np
    from zhibiao import suggest
    from zhibiao.recommend import default_recommender
    from zhibiao.suggest_eval import soft_recall
    rec = default_recommender()
    popular = [rec.display_arr_[j] for j in np.argsort(-rec.presence_.sum(axis=0), kind="stable")[:10]]
    info = result.projects.set_index("project_id")
    ours, base, alts = [], [], []
    for pid, g in result.rows.groupby("project_id"):
        p = info.loc[pid]
        out = suggest(p["project_name"], description=str(p.get("purpose", "") or ""), k=10)
        names = [s["suggested_level3"] for s in out["suggestions"]]
        ours.append(soft_recall(names, list(g["level3"])))
        base.append(soft_recall(popular, list(g["level3"])))
        firsts = [s["alternatives"][0]["suggested_level3"] for s in out["suggestions"] if s["alternatives"]]
        alts.append(soft_recall(names + firsts, list(g["level3"])))
    print(f"suggest soft recall@10 over the {len(ours)} forms' projects: {np.mean(ours):.3f} "
          f"(popularity {np.mean(base):.3f}); with each suggestion's first alternative {np.mean(alts):.3f}")


if __name__ == "__main__":
    main()
