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

import pandas as pd

from ..classify import CategoryClassifier
from ..taxonomy import canonical_category, library_without_document, load_library, reconcile
from ..training import library_examples, load_training, model_embedders, split_embedders
from .mismatch import PAIRS_FILE, fires, fit_pairs

REALWORLD = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "realworld"
REVIEWED = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "audit_reviewed.csv"


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


def realworld_rows(folder: Path = REALWORLD) -> tuple[pd.DataFrame, pd.DataFrame]:
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


# --------------------------------------------------------------------------- the gate's table

def mismatch_candidates(pred: pd.DataFrame) -> pd.DataFrame:
    """Rows where the prediction disagrees with a declared category: what category_mismatch judges."""
    return pred[pred["disagrees"]]


def fit_mismatch_table(oof: pd.DataFrame) -> pd.DataFrame:
    """The (declared, predicted) pairs and confidence cuts of :mod:`zhibiao.audit.mismatch`, fitted on
    out-of-fold predictions."""
    return fit_pairs(mismatch_candidates(oof))


PAIRS_HEADER = """\
# category_mismatch: the (declared, predicted) category pairs the classifier separates reliably, read by
# zhibiao.audit.mismatch. A disagreement between a row's declared 二级 and the predicted one is reported
# only for a pair listed here and at a confidence ≥ min_confidence; any other pair abstains.
#
# Fitted by `python -m zhibiao.audit.evaluate --write-pairs` on leave-one-document-out predictions over
# the seeds (each document tagged by a classifier that never saw it), against the reviewed categories of
# training_data/labels.csv: the lowest cut at which (right + 1) / (fired + 2) ≥ 0.8. Refit after
# `zhibiao train`. A reviewer may delete a pair to silence it, or raise its cut.
#
# Columns, tab separated:
#   declared        the canonical 二级 the table files the row under
#   predicted       the category the classifier gives
#   min_confidence  the classifier's confidence from which the finding is reported
#   fired, right, precision   what the cut did on the out-of-fold predictions (for the reviewer)
"""


def write_mismatch_table(table: pd.DataFrame, path: Path | None = None) -> Path:
    from ..resources import data_file
    path = Path(path or data_file(PAIRS_FILE))
    lines = [PAIRS_HEADER + "\t".join(table.columns)]
    lines += ["\t".join(f"{v:g}" if isinstance(v, float) else str(v) for v in row)
              for row in table.itertuples(index=False, name=None)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- finding scores

def _score(fired: pd.Series, truth: pd.Series) -> dict:
    fired, truth = fired.astype(bool), truth.astype(bool)
    n_fired, right, n_true = int(fired.sum()), int((fired & truth).sum()), int(truth.sum())
    return {"fired": n_fired, "right": right, "truth": n_true,
            "precision": right / n_fired if n_fired else float("nan"),
            "recall": right / n_true if n_true else float("nan")}


def _gate(pred: pd.DataFrame, table: dict) -> pd.Series:
    return pd.Series([bool(d) and fires(dec, cat, c, table) for d, dec, cat, c in
                      zip(pred["disagrees"], pred["declared"], pred["category"], pred["category_confidence"])],
                     index=pred.index)


def _as_dict(table: pd.DataFrame) -> dict:
    return {(d, p): float(c) for d, p, c in zip(table["declared"], table["predicted"], table["min_confidence"])}


def category_mismatch_scores(oof: pd.DataFrame, realworld: pd.DataFrame | None = None,
                             old_cut: float = 0.7) -> dict:
    """category_mismatch against the reviewed categories. Seeds: each document's gate is fitted on
    the other documents' out-of-fold rows (nested). Real forms: the gate fitted on all seeds, as
    shipped. ``before``: the old rule (any disagreement at confidence ≥ ``old_cut``)."""
    fired = pd.Series(False, index=oof.index)
    for doc in oof["document"].unique():
        inner = oof["document"] != doc
        fired[~inner] = _gate(oof[~inner], _as_dict(fit_mismatch_table(oof[inner])))
    out = {"seeds_lodo": _score(fired, oof["declared_wrong"]),
           "seeds_lodo_before": _score(oof["disagrees"] & (oof["category_confidence"] >= old_cut),
                                       oof["declared_wrong"])}
    out["seeds_lodo"]["per_document"] = {d: _score(fired[g.index], g["declared_wrong"])
                                         for d, g in oof.groupby("document")}
    if realworld is not None:
        shipped = _as_dict(fit_mismatch_table(oof))
        out["realworld"] = _score(_gate(realworld, shipped), realworld["declared_wrong"])
        out["realworld_before"] = _score(realworld["disagrees"] & (realworld["category_confidence"] >= old_cut),
                                         realworld["declared_wrong"])
    return out


def template_copy_scores(data_dir=None) -> dict:
    """The copy-paste detector on the seeds against the reviewed ``template_copy`` labels (the
    detector has no fitted parameters; it was designed while reading 定州, so this is optimistic)."""
    from ..copies import detect_template_copy, prepare_rows, project_table
    from ..resources import training_data_dir
    data_dir = Path(data_dir or training_data_dir())
    df = load_training(data_dir)
    projects = pd.read_csv(data_dir / "projects.csv", dtype=str, keep_default_na=False)
    rows = prepare_rows(df)
    hit = detect_template_copy(rows, project_table(rows, projects))["template_copy"].astype(bool)
    return {"seeds": _score(hit, df["template_copy"] == "1")}


def reviewed_scores(path: Path = REVIEWED) -> dict:
    """Precision of the findings in a hand-reviewed sample (``tests/fixtures/audit_reviewed.csv``:
    one finding a line, with the reviewer's verdict 1 = right, 0 = false alarm)."""
    if not Path(path).exists():
        return {}
    rev = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = {}
    for code, g in rev.groupby("code"):
        right = int((g["verdict"] == "1").sum())
        out[code] = {"reviewed_sample": {"fired": len(g), "right": right, "truth": float("nan"),
                                  "precision": right / len(g), "recall": float("nan")}}
    return out


def finding_scores(oof: pd.DataFrame | None = None, realworld: pd.DataFrame | None = None, embedder=None,
                   data_dir=None) -> dict:
    """Precision and recall of every finding type, held out by document, with its severity.

    ``oof``/``realworld``: category predictions (:func:`category_oof`, :func:`realworld_predictions`),
    computed with ``embedder`` when not given. A type with no reviewed labels is listed as unmeasured.
    """
    from .codes import CODE_ORDER, code_info
    if oof is None or realworld is None:
        df = load_training(data_dir)
        oof = category_oof(df, embedder) if oof is None else oof
        realworld = realworld_predictions(df, embedder) if realworld is None else realworld
    sets = {"category_mismatch": category_mismatch_scores(oof, realworld),
            "template_copy": template_copy_scores(data_dir)}
    for code, s in reviewed_scores().items():
        sets.setdefault(code, {}).update(s)
    out = {}
    for code in CODE_ORDER:
        out[code] = {"severity": code_info(code).severity, "sets": sets.get(code, {})}
    return out


def format_finding_scores(scores: dict) -> str:
    """The table ``zhibiao evaluate`` prints (and the README quotes)."""
    lines = ["Audit findings against reviewed labels (seeds: leave-one-document-out; realworld: 4 forms of other "
             "provinces)", f"{'finding':24} {'sev':3} {'set':18} {'fired':>5} {'right':>5} {'precision':>9} {'recall':>7}"]
    for code, s in scores.items():
        if not s["sets"]:
            lines.append(f"{code:24} {s['severity']:3} {'unmeasured (no reviewed labels)'}")
            continue
        for name, m in s["sets"].items():
            p = "   -" if m["precision"] != m["precision"] else f"{m['precision']:.3f}"
            r = "   -" if m["recall"] != m["recall"] else f"{m['recall']:.3f}"
            lines.append(f"{code:24} {s['severity']:3} {name:18} {m['fired']:5d} {m['right']:5d} {p:>9} {r:>7}")
    return "\n".join(lines)


def main(argv=None) -> None:
    import argparse
    import json
    from ..resources import models_dir
    ap = argparse.ArgumentParser(prog="python -m zhibiao.audit.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--embedder", default=None, help="default: the shipped model's (models/model_card.json)")
    ap.add_argument("--write-pairs", action="store_true", help="refit data/audit_mismatch_pairs.tsv")
    ap.add_argument("--cache", default=None, help="pickle the predictions here / reuse them")
    a = ap.parse_args(argv)
    cache = Path(a.cache) if a.cache else None
    if cache is not None and cache.exists():
        oof, rw = pd.read_pickle(cache)
    else:
        name = a.embedder
        if name is None:
            card = models_dir() / "model_card.json"
            name = json.loads(card.read_text(encoding="utf-8"))["embedder"] if card.exists() else "none"
        df, lib = load_training(), load_library()
        emb = split_embedders(model_embedders(name))[0]   # the findings read the category classifier
        if emb is not None:
            emb.fit(list(df["text"]) + list(lib["name"]))
        oof, rw = category_oof(df, emb), realworld_predictions(df, emb)
        if cache is not None:
            pd.to_pickle((oof, rw), cache)
    if a.write_pairs:
        print(f"wrote {write_mismatch_table(fit_mismatch_table(oof))}")
        from .mismatch import pair_table
        pair_table.cache_clear()
    print(format_finding_scores(finding_scores(oof, rw)))


if __name__ == "__main__":
    main()
