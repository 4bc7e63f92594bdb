"""When to say a row is filed under the wrong category (category_mismatch).

The classifier disagreeing with the declared 二级 is not enough: measured on other provinces'
tables, the disagreement at confidence ≥ 0.7 was right on 14–16 % of rows. A finding fires only
for a (declared, predicted) pair that the classifier separates reliably, and only above that
pair's confidence cut; both are fitted on out-of-fold predictions over the seeds
(:func:`zhibiao.audit.evaluate.fit_mismatch_table`) and stored in ``data/audit_mismatch_pairs.tsv``,
which a reviewer may edit (delete a pair to silence it). A pair that is not in the table abstains.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..resources import data_file
from .datafiles import read_tsv

PAIRS_FILE = "audit_mismatch_pairs.tsv"
TARGET_PRECISION = 0.8
MIN_CONFIDENCE = 0.5   # below this the classifier's best guess is not a judgement


@lru_cache(maxsize=1)
def pair_table() -> dict[tuple[str, str], float]:
    """(declared, predicted) → the lowest confidence at which a disagreement is reported."""
    if not data_file(PAIRS_FILE).exists():
        return {}
    return {(r["declared"], r["predicted"]): float(r["min_confidence"]) for r in read_tsv(PAIRS_FILE)}


def fires(declared: str, predicted: str, confidence: float, table: dict | None = None) -> bool:
    """Whether a disagreement between the declared and the predicted category is reported."""
    table = pair_table() if table is None else table
    cut = table.get((declared, predicted))
    return cut is not None and confidence >= max(cut, MIN_CONFIDENCE)


def fit_pairs(candidates: pd.DataFrame, target: float = TARGET_PRECISION, min_confidence: float = MIN_CONFIDENCE
              ) -> pd.DataFrame:
    """Per (declared, predicted) pair, the lowest confidence cut at which the disagreements above it
    were right (the declared category wrong) with a Laplace-smoothed precision ≥ ``target``.

    ``candidates``: out-of-fold rows where the prediction disagrees with the declaration, with
    ``declared``, ``category``, ``category_confidence`` and ``declared_wrong`` (the reviewed truth).
    Laplace smoothing ((right + 1) / (n + 2)) means a pair needs at least 3 of 3 (or 7 of 8 …) right
    disagreements before it fires at all: few pairs are trusted, by design.

    >>> c = pd.DataFrame({"declared": ["A"] * 4 + ["B"] * 2, "category": ["X"] * 4 + ["Y"] * 2,
    ...                   "category_confidence": [.9, .8, .7, .6, .9, .8], "declared_wrong": [1, 1, 1, 0, 1, 1]})
    >>> fit_pairs(c)[["declared", "predicted", "min_confidence", "fired", "right"]].values.tolist()
    [['A', 'X', 0.7, 3, 3]]
    """
    recs = []
    for (declared, predicted), g in candidates.groupby(["declared", "category"]):
        g = g[g["category_confidence"] >= min_confidence].sort_values("category_confidence", ascending=False)
        conf = g["category_confidence"].to_numpy()
        right = np.cumsum(g["declared_wrong"].to_numpy(dtype=int))
        n = np.arange(1, len(g) + 1)
        ok = (right + 1) / (n + 2) >= target
        # the lowest cut whose whole upper set passes, not split between equal confidences
        best = None
        for i in range(len(g)):
            if ok[i] and (i + 1 == len(g) or conf[i + 1] < conf[i]):
                best = i
        if best is not None:
            recs.append({"declared": declared, "predicted": predicted,
                         "min_confidence": round(float(conf[best]), 4), "fired": int(n[best]),
                         "right": int(right[best]), "precision": round(float(right[best] / n[best]), 4)})
    return pd.DataFrame(recs, columns=["declared", "predicted", "min_confidence", "fired", "right", "precision"])


def gated_flags(rows: pd.DataFrame) -> pd.Series:
    """The rows' ``flags`` with ``category_mismatch`` where, and only where, the gate reports it, so
    that the audited rows (the service's /audit, the page) say what the findings say."""
    from ..copies import as_text
    from ..taxonomy import reconcile
    table = pair_table()
    out = []
    for flags, declared, cat, conf in zip(rows["flags"].map(as_text), rows["declared_category"].map(as_text),
                                          rows["category"].map(as_text), rows["category_confidence"]):
        kept = [f for f in flags.split(";") if f and f != "category_mismatch"]
        try:
            c = float(conf)
        except (TypeError, ValueError):
            c = 0.0
        if declared and cat and not reconcile(cat, declared)[1] and fires(declared, cat, c if c == c else 0.0, table):
            kept.insert(0, "category_mismatch")
        out.append(";".join(kept))
    return pd.Series(out, index=rows.index, dtype=object)
