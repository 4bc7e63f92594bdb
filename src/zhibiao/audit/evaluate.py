"""How often each audit finding is right: precision and recall per finding type, on held-out documents.

A reviewer reads every finding, so a false alarm costs as much as a true one. This module measures
each finding type against reviewed labels, never on a document the models saw:

* the four seed documents (``training_data/labels.csv``): each document is normalized by models
  fitted on the other three (leave-one-document-out), then audited. A row's declared category is
  wrong when the reviewed ``category`` disagrees with it (``declared_category``); a row is a
  template copy when ``template_copy`` is 1;
* the hand-labelled real forms of other provinces (``tests/fixtures/realworld/labels.csv``:
  ``declared_level2`` against the reviewed ``category``), normalized by models fitted on all seeds.

Finding types without reviewed labels are reported as unmeasured; the audit shows them as 低 hints
(``data/audit_codes.tsv``) until someone labels them.

The category_mismatch gate (:mod:`zhibiao.audit.mismatch`) is fitted here too, on the same
out-of-fold predictions: :func:`fit_mismatch_table` writes ``data/audit_mismatch_pairs.tsv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..classify import CategoryClassifier
from ..taxonomy import canonical_category, library_without_document, load_library, reconcile
from ..training import library_examples, load_training

REALWORLD = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "realworld"


def _fit_classifier(train: pd.DataFrame, library: pd.DataFrame, embedder) -> CategoryClassifier:
    """The category classifier as ``zhibiao train`` fits it (labelled rows plus the library)."""
    ex = pd.concat([train[["text", "level3", "value", "category"]],
                    library_examples(library)[["text", "level3", "value", "category"]]], ignore_index=True)
    return CategoryClassifier(embedder).fit(ex["text"], ex["value"], ex["category"], ex["level3"])


def _predict(clf: CategoryClassifier, test: pd.DataFrame) -> pd.DataFrame:
    proba = clf.predict_proba(test["text"], test["value"], test["level3"])
    classes = list(clf.classes_)
    best = proba.argmax(axis=1)
    recs = []
    for i, (declared, gold) in enumerate(zip(test["declared_category"], test["category"])):
        pred = classes[best[i]]
        reported, agrees = reconcile(pred, declared or None)
        p_decl = float(proba[i, classes.index(declared)]) if declared in classes else float("nan")
        recs.append({"category": reported, "raw_category": pred, "category_confidence": float(proba[i, best[i]]),
                     "p_declared": p_decl, "declared": declared, "gold": gold,
                     "disagrees": bool(declared) and not agrees,
                     "declared_wrong": bool(declared) and not reconcile(gold, declared)[1]})
    return pd.DataFrame(recs, index=test.index)


def category_oof(df: pd.DataFrame | None = None, embedder=None) -> pd.DataFrame:
    """Out-of-fold category predictions for every seed row: each document tagged by a classifier
    fitted on the other documents and the library without the held-out document's own wordings."""
    df = load_training() if df is None else df
    parts = []
    for doc in sorted(df["document"].unique()):
        train, test = df[df["document"] != doc], df[df["document"] == doc]
        clf = _fit_classifier(train, library_without_document(doc, df), embedder)
        parts.append(_predict(clf, test).assign(document=doc, source=test["source"], location=test["location"],
                                                level3=test["level3"], value=test["value"]))
    return pd.concat(parts)


def realworld_rows(folder: Path = REALWORLD) -> pd.DataFrame:
    """The real forms' rows as extracted, joined with the hand labels (declared, gold category)."""
    from ..copies import as_text
    from ..ingest import extract_all
    from ..classify import category_text
    result = extract_all(sorted(folder.glob("*.xlsx")))
    gold = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    rows = result.rows.merge(gold[["source", "location", "category", "indicator_id"]], on=["source", "location"],
                             how="inner", validate="one_to_one")
    rows["declared_category"] = [canonical_category(as_text(a), as_text(b)) or ""
                                 for a, b in zip(rows["level2"], rows["level1"])]
    rows["text"] = [category_text(a, b) for a, b in zip(rows["level3"], rows["description"].map(as_text))]
    rows["value"] = rows["value"].map(as_text)
    rows["document"] = rows["source"]
    return rows, result.projects


def realworld_predictions(df: pd.DataFrame | None = None, embedder=None) -> pd.DataFrame:
    """Category predictions for the real forms by a classifier fitted on all seeds (none of the
    forms is a seed)."""
    df = load_training() if df is None else df
    rows, _ = realworld_rows()
    clf = _fit_classifier(df, load_library(), embedder)
    return _predict(clf, rows).assign(document=rows["source"], source=rows["source"], location=rows["location"],
                                      level3=rows["level3"], value=rows["value"])
