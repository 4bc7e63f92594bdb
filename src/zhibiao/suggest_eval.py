"""Evaluate suggest with a yardstick that does not use our matcher (DESIGN §6): soft recall@k.

A project's own 三级 name counts as recalled when one of the k suggested names is close to it
(char-bigram Dice ≥ 0.5 after brackets, digits and operators are dropped). Two protocols over the
seed projects, each next to the popularity baseline (the k types most used by the training projects):

* leave-one-project-out: the project is hidden from the neighbours and the popularity counts;
* leave-one-sector-out: every project of the project's sector is hidden, and with them all the
  evidence the sector's library types had from past projects.

Rows labelled template_copy are neither truth nor evidence. The ranker's dozen feature weights
were fitted on all seeds (their LOPO features), a small optimism the README notes.

    python -m zhibiao.suggest_eval          # prints the table
    from zhibiao.suggest_eval import evaluate_suggest, format_report
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .recommend import Recommender, default_recommender, dice, project_text
from .resources import training_data_dir

__all__ = ["soft_recall", "evaluate_suggest", "format_report"]

THRESHOLD = 0.5
KS = (5, 10)


def _clean(name: str) -> str:
    return re.sub(r"（[^）]*）|\([^)]*\)|[\d%％.≥≤<>=＝+\-~\s]", "", str(name))


def soft_recall(suggested: list[str], truth: list[str], threshold: float = THRESHOLD) -> float:
    """Share of the true names (distinct, non-empty) that some suggested name is close to.

    >>> soft_recall(["新建道路长度", "群众满意度"], ["道路新建长度（米）", "受益人数"])
    0.5
    """
    truth = list(dict.fromkeys(t for t in (_clean(x) for x in truth) if len(t) >= 2))
    if not truth:
        return float("nan")
    return sum(any(dice(s, t) >= threshold for s in suggested) for t in truth) / len(truth)


def _seed_frames(data_dir):
    from .training import load_training
    df = load_training(data_dir)
    projects = pd.read_csv(Path(data_dir or training_data_dir()) / "projects.csv", dtype=str, keep_default_na=False)
    return df, projects


def evaluate_suggest(data_dir=None, rec: Recommender | None = None) -> pd.DataFrame:
    """One row per (seed project, protocol): sector, soft recall@5/@10 of suggest and of popularity."""
    df, projects = _seed_frames(data_dir)
    rec = rec or default_recommender()
    own = df[df["template_copy"].astype(str) != "1"]
    truth = own.groupby("project_id")["level3"].apply(list).to_dict()
    info = projects.set_index("project_id")
    pids = list(rec.projects_["project_id"])
    understood = {}
    sectors = {}
    for i, pid in enumerate(pids):
        r = info.loc[pid]
        understood[pid] = rec.understand(r["project_name"], r["purpose"])
        sectors[pid] = rec.project_sector(i, understood[pid]["sector"])
    sector_arr = np.array([sectors[p] for p in pids])
    out = []
    for i, pid in enumerate(pids):
        if pid not in truth:
            continue
        r = info.loc[pid]
        query = project_text(r["project_name"], r["purpose"])
        for protocol in ("leave-one-project-out", "leave-one-sector-out"):
            exclude = np.zeros(len(pids), dtype=bool)
            exclude[i] = True
            if protocol == "leave-one-sector-out":
                exclude |= sector_arr == sectors[pid]
            X, _, _, gate = rec.features(query, understood[pid], exclude)
            scores = rec.scores(X, gate)
            pop = rec.presence_[~exclude].sum(axis=0)
            row = {"project_id": pid, "project_name": r["project_name"], "sector": sectors[pid],
                   "protocol": protocol, "n_true": len(truth[pid])}
            for k in KS:
                names = [rec.display_arr_[j] for j in rec.rank(scores, k)]
                # the baseline speaks with the same wordings, so only the choice of types differs
                popular = [rec.display_arr_[j] for j in np.argsort(-pop, kind="stable")[:k]]
                row[f"suggest@{k}"] = soft_recall(names, truth[pid])
                row[f"popularity@{k}"] = soft_recall(popular, truth[pid])
            out.append(row)
    return pd.DataFrame(out)


def format_report(per_project: pd.DataFrame) -> str:
    """Overall and per-sector means, each protocol with the popularity baseline beside it."""
    cols = [f"{m}@{k}" for k in KS for m in ("suggest", "popularity")]
    lines = ["suggest soft recall (char-bigram Dice ≥ 0.5 to a project's own 三级 names; template copies excluded)"]
    for protocol, part in per_project.groupby("protocol", sort=False):
        lines.append(f"\n{protocol} ({len(part)} projects)")
        lines.append(f"{'sector':<14}{'n':>4}  " + "  ".join(f"{c:>14}" for c in cols))
        table = [("ALL", part)] + [(s, g) for s, g in part.groupby("sector")]
        for name, g in table:
            lines.append(f"{name:<14}{len(g):>4}  " + "  ".join(f"{g[c].mean():>14.3f}" for c in cols))
    return "\n".join(lines)


def main() -> None:
    print(format_report(evaluate_suggest()))


if __name__ == "__main__":
    main()
