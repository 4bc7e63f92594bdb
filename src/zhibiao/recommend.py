"""Suggest a complete indicator set for a new project, grounded in similar past projects.

Retrieval finds the nearest past projects (name + purpose + goals); their
canonical indicators are pooled, weighted by similarity, and backed off to the
sector's and then the corpus's most common indicators when the neighbours are
thin. Every required category is covered whenever the corpus supports it.
Values, names and 确定依据 come from the neighbours' rows, rendered cleanly.

    >>> from zhibiao import suggest
    >>> out = suggest("农村环卫保洁项目", k=10)
    >>> {"数量指标", "服务对象满意度指标"} <= {s["category"] for s in out["suggestions"]}
    True
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from .errors import ModelNotFound, ZhibiaoError
from .resources import models_dir, training_data_dir
from .taxonomy import level1_of, load_library
# Required groups of DESIGN §5 (data/required_groups.tsv); a group is covered by any of its categories.
from .taxonomy.groups import GROUP_OF, REQUIRED_GROUPS  # noqa: F401  (re-exported)
from .text import normalize_chars
from .values import format_value, parse_value, unit_dimension
from .versioning import VersionStamped

RECOMMENDER_FILE = "recommender.joblib"


# A well-formed indicator name: no digits, no punctuation, no notes in brackets.
_ILL_FORMED = re.compile(r"[\d%％()（）【】\[\]、，,。;；:：/\\\-—~≥≤<>=＝+]")


def project_text(name: str, purpose: str = "", goals: str = "") -> str:
    parts = [normalize_chars(str(p or "")).strip() for p in (name, purpose, goals)]
    return "。".join(p for p in parts if p)


class Recommender(VersionStamped):
    """Nearest-project recommender. ``fit`` takes the projects table and their labelled rows.

    Parameters
    ----------
    embedder : Embedder
    n_neighbours : int
        How many past projects vote.
    prior_weight : float
        Pseudo-count of the sector and corpus priors; larger trusts neighbours less.
    """

    def __init__(self, embedder, *, n_neighbours: int = 8, prior_weight: float = 0.6,
                 embedding_share: float = 0.5):
        self.embedder = embedder
        self.n_neighbours = n_neighbours
        self.prior_weight = prior_weight
        self.embedding_share = embedding_share

    # -- fitting -----------------------------------------------------------
    def fit(self, projects: pd.DataFrame, rows: pd.DataFrame) -> "Recommender":
        rows = rows[rows["indicator_id"].fillna("") != ""].copy()
        keep = projects[projects["project_id"].isin(set(rows["project_id"]))].reset_index(drop=True)
        self.projects_ = keep[["project_id", "project_name", "source"]].copy()
        texts = [project_text(*r) for r in keep.reindex(columns=["project_name", "purpose", "goals"])
                 .fillna("").itertuples(index=False)]
        self.projects_["text"] = texts
        self.char_ = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        self.char_matrix_ = self.char_.fit_transform(texts)
        self.emb_matrix_ = self.embedder.encode(texts)
        pos = {p: i for i, p in enumerate(self.projects_["project_id"])}
        self.ids_ = np.array(sorted(set(rows["indicator_id"])))
        col = {iid: j for j, iid in enumerate(self.ids_)}
        # Which types each project uses (binary: a project lists a type once or a few times).
        self.presence_ = np.zeros((len(pos), len(self.ids_)), dtype=np.float32)
        for pid, iid in zip(rows["project_id"], rows["indicator_id"]):
            self.presence_[pos[pid], col[iid]] = 1.0
        # What the library says of each type, as plain dicts for the per-query hot path.
        info = load_library().set_index("indicator_id").reindex(self.ids_)
        self.id_category_ = dict(zip(self.ids_, info["category"].fillna("")))
        self.id_name_ = dict(zip(self.ids_, info["name"].fillna(pd.Series(self.ids_, index=info.index))))
        self.id_sector_ = dict(zip(self.ids_, info["sector"].fillna("通用")))
        self.id_kind_ = dict(zip(self.ids_, info["value_kind"].fillna("")))
        self.project_sector_ = np.array([self._sector_of(self.presence_[i]) for i in range(len(pos))])
        # Evidence per type for names, values and 确定依据: (project index, level3, value, basis).
        self.evidence_ = defaultdict(list)
        for pid, iid, l3, v, b in zip(rows["project_id"], rows["indicator_id"], rows["level3"],
                                      rows["value"], rows.get("basis", pd.Series([""] * len(rows)))):
            self.evidence_[iid].append((pos[pid], str(l3), str(v), str(b)))
        self.evidence_ = dict(self.evidence_)
        return self

    @classmethod
    def fit_from_training(cls, df: pd.DataFrame, data_dir=None, embedder=None, **kwargs) -> "Recommender":
        projects = pd.read_csv(Path(data_dir or training_data_dir()) / "projects.csv", dtype=str,
                               keep_default_na=False)
        return cls(embedder, **kwargs).fit(projects, df)

    def _sector_of(self, presence_row: np.ndarray) -> str:
        sectors = Counter(self.id_sector_[self.ids_[j]] for j in np.nonzero(presence_row)[0])
        sectors.pop("通用", None)
        return sectors.most_common(1)[0][0] if sectors else "通用"

    # -- persistence -------------------------------------------------------
    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / RECOMMENDER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Recommender":
        path = Path(path) if path else models_dir()
        if path.is_dir():
            path = path / RECOMMENDER_FILE
        if not path.exists():
            raise ModelNotFound(f"no recommender at {path}; run `zhibiao train` first")
        return joblib.load(path)

    # -- scoring -----------------------------------------------------------
    def neighbours(self, text: str, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Indices and similarities of the nearest projects, best first."""
        q = normalize_chars(text)
        sims = (self.char_.transform([q]) @ self.char_matrix_.T).toarray()[0] * (1 - self.embedding_share)
        sims += self.embedding_share * (self.embedder.encode([q]) @ self.emb_matrix_.T)[0]
        if exclude is not None:
            sims = np.where(exclude, -np.inf, sims)
        order = np.argsort(-sims)[: self.n_neighbours]
        order = order[np.isfinite(sims[order])]
        return order, sims[order]

    def type_scores(self, text: str, exclude: np.ndarray | None = None):
        """Score every known type for a query: neighbour votes backed off to sector and corpus priors."""
        idx, sims = self.neighbours(text, exclude)
        keep = np.ones(len(self.presence_), dtype=bool) if exclude is None else ~exclude
        # Sharper than linear so that one close neighbour outweighs several loose ones.
        w = np.clip(sims, 0, None) ** 3
        votes = w @ self.presence_[idx] if len(idx) else np.zeros(len(self.ids_))
        corpus_prior = self.presence_[keep].mean(axis=0)
        sector = Counter()
        for i, wi in zip(idx, w):
            sector[self.project_sector_[i]] += wi
        top_sector = sector.most_common(1)[0][0] if sector else "通用"
        in_sector = keep & (self.project_sector_ == top_sector)
        sector_prior = self.presence_[in_sector].mean(axis=0) if in_sector.any() else corpus_prior
        lam = self.prior_weight * max(w.sum(), 1e-6) if len(w) else 1.0
        prior = 0.5 * sector_prior + 0.5 * corpus_prior
        scores = (votes + lam * prior) / (w.sum() + lam)
        return scores, idx, sims, w

    def rank(self, scores: np.ndarray, k: int = 10, covered: frozenset[str] = frozenset()) -> list[int]:
        """Top-k type indices, with every required group swapped in where the corpus has it
        (groups in ``covered`` are already in the clerk's draft)."""
        order = [int(j) for j in np.argsort(-scores) if scores[j] > 0]
        top = order[:k]
        for group in REQUIRED_GROUPS:
            if group in covered or any(GROUP_OF.get(self.id_category_[self.ids_[j]]) == group for j in top):
                continue
            best = next((j for j in order[k:] if GROUP_OF.get(self.id_category_[self.ids_[j]]) == group), None)
            if best is None:
                continue  # the corpus has no type of this group
            counts = Counter(GROUP_OF.get(self.id_category_[self.ids_[j]]) for j in top)
            # Replace the weakest member of the best-represented group.
            victim = min((j for j in top if counts[GROUP_OF.get(self.id_category_[self.ids_[j]])] > 1),
                         key=lambda j: scores[j], default=None)
            if victim is None:
                break
            top[top.index(victim)] = best
        return sorted(top, key=lambda j: -scores[j])

    # -- the job -----------------------------------------------------------
    def suggest(self, text: str, description: str = "", budget: float | None = None, k: int = 10,
                draft: pd.DataFrame | None = None) -> dict:
        """DESIGN §5 JSON. With ``draft`` (normalized rows of a partial table), suggest only
        what is missing, and flag draft rows whose type is unusual for this kind of project."""
        budget, k = _check_arguments(text, description, budget, k)
        query = project_text(text, description)
        raw_scores, idx, sims, w = self.type_scores(query)
        scores = raw_scores
        covered: frozenset[str] = frozenset()
        if draft is not None:
            have = set(draft["indicator_id"]) - {""}
            covered = frozenset(GROUP_OF.get(c) for c in draft["category"]) - {None}
            scores = np.where(np.isin(self.ids_, list(have)), 0.0, scores)
        weight_of = dict(zip(idx.tolist(), w.tolist()))
        result = {
            "query": query,
            "neighbours": [{"project_name": self.projects_.loc[i, "project_name"],
                            "source": self.projects_.loc[i, "source"], "score": round(float(s), 4)}
                           for i, s in zip(idx, sims)],
            "suggestions": [self._render(j, float(scores[j]), weight_of, query, budget)
                            for j in self.rank(scores, k, covered)],
        }
        if draft is not None:
            result["draft"] = self._review_draft(draft, dict(zip(self.ids_, raw_scores)))
        return result

    unusual_below = 0.05  # a type this rare for the query's kind of project gets flagged

    def _review_draft(self, draft: pd.DataFrame, score_of: dict) -> list[dict]:
        rows = []
        for _, r in draft.iterrows():
            iid = r.get("indicator_id", "")
            flags = [f for f in str(r.get("flags", "")).split(";") if f]
            if iid and score_of.get(iid, 0.0) < self.unusual_below:
                flags.append("unusual_for_project")
            rows.append({"level3": r.get("level3", ""), "value": r.get("value", ""), "indicator_id": iid,
                         "category": r.get("category", ""), "flags": flags})
        return rows

    def _render(self, j: int, score: float, weight_of: dict, query: str, budget: float | None) -> dict:
        iid = self.ids_[j]
        evidence = self.evidence_.get(iid, [])
        # Neighbours' rows count by their similarity weight; the rest of the corpus a little.
        weighted = [(weight_of.get(p, 0.0) + 0.05, l3, v, b, p) for p, l3, v, b in evidence]
        library_unit = _library_units().get(iid, "")
        value, op, unit = typical_value([(wt, v) for wt, _, v, _, _ in weighted], self.id_kind_.get(iid),
                                        library_unit)
        category = self.id_category_[iid]
        if budget and "成本" in category and library_unit in ("万元", "元"):
            # a total cost is bounded by the budget; a per-head amount (元/人) is not
            value, op, unit = format_value("<=", float(budget), "万元"), "<=", "万元"
        return {
            "indicator_id": iid,
            "indicator_name": self.id_name_[iid],
            "category": category,
            "level1": level1_of(category) if category else "",
            "suggested_level3": best_name(self.id_name_[iid], [(wt, l3) for wt, l3, *_ in weighted], query),
            "suggested_value": value,
            "op": op,
            "unit": unit,
            "basis": _mode([(wt, b.strip()) for wt, _, _, b, _ in weighted if b.strip()]) or "",
            "score": round(score, 4),
            "support": sum(1 for p in {p for *_, p in weighted} if p in weight_of),
            "examples": _examples(self, weighted),
        }


@lru_cache(maxsize=1)
def _library_units() -> dict[str, str]:
    lib = load_library()
    return dict(zip(lib["indicator_id"], lib["unit"].fillna("")))


def _mode(pairs) -> str | None:
    tally = Counter()
    for wt, item in pairs:
        tally[item] += wt
    return tally.most_common(1)[0][0] if tally else None


def typical_value(weighted_values: list[tuple[float, str]], expected_kind: str | None = None,
                  expected_unit: str = "") -> tuple[str, str | None, str | None]:
    """A clean target from many clerks' values: the most common kind, operator and unit,
    and the weighted median number, rendered afresh (so one clerk's typo never shows).
    When the type expects a kind (the library's value_kind) and some clerk wrote one,
    that kind wins over vaguer majorities (按照规定标准控制 is no target for a cost). When it
    expects a unit, numbers in another dimension do not count (a 补助标准 of ≥90% was copied
    from elsewhere), and bare numbers take the expected unit.

    >>> typical_value([(1, "≥90%"), (1, "90%以上"), (1, "≥95%"), (.1, "=1个")])
    ('≥90%', '>=', '%')
    >>> typical_value([(2, "按照规定标准控制"), (1, "≤50万元")], "numeric")[0]
    '≤50万元'
    >>> typical_value([(3, "≥90%"), (1, "≥200元")], "numeric", "元/人·月")[0], typical_value([(1, "≥200")], "numeric", "人")[0]
    ('≥200元', '≥200人')
    """
    parsed = [(wt, parse_value(v)) for wt, v in weighted_values]
    if expected_unit:  # as the grammar spells it: the library writes 元/人·月 for 元/人/月
        expected_unit = parse_value("1" + expected_unit).unit or expected_unit
    if expected_unit and (want := unit_dimension(expected_unit)):
        fits = lambda pv: pv.kind != "numeric" or not pv.unit or (unit_dimension(pv.unit) or "").split("/")[0] == want.split("/")[0]
        parsed = [(wt, pv if pv.unit or pv.kind != "numeric" else parse_value(pv.text + expected_unit))
                  for wt, pv in parsed if fits(pv)]
    kinds = Counter()
    for wt, pv in parsed:
        if pv.kind != "empty":
            kinds[pv.kind] += wt
    if not kinds:
        return "", None, None
    kind = expected_kind if expected_kind in kinds else kinds.most_common(1)[0][0]
    same = [(wt, pv) for wt, pv in parsed if pv.kind == kind]
    if kind == "numeric":
        op_unit = _mode([(wt, (pv.op or "=", pv.unit or "")) for wt, pv in same])
        op, unit = op_unit
        nums = sorted((pv.number, wt) for wt, pv in same
                      if (pv.op or "=", pv.unit or "") == op_unit and pv.number is not None)
        number = _weighted_median(nums)
        return format_value(op, number, unit or None), op, unit or None
    if kind == "deadline":
        month = _mode([(wt, pv.month or (int(pv.date[5:7]) if pv.date else None)) for wt, pv in same])
        return (f"{month}月底前" if month else _mode([(wt, pv.text.strip()) for wt, pv in same])), None, None
    if kind == "boolean":
        return ("是" if _mode([(wt, pv.boolean) for wt, pv in same]) else "否"), "=", None
    text = _mode([(wt, normalize_chars(pv.text).strip("。.；; ")) for wt, pv in same])
    return text or "", None, None


def _weighted_median(pairs: list[tuple[float, float]]) -> float | None:
    if not pairs:
        return None
    total = sum(wt for _, wt in pairs)
    acc = 0.0
    for number, wt in pairs:
        acc += wt
        if acc >= total / 2:
            return number
    return pairs[-1][0]


def best_name(standard: str, weighted_names: list[tuple[float, str]], query: str) -> str:
    """The best-formed name for a type in this context: a neighbour's wording when it is
    clean and fits the query, else the library's standard name.

    >>> best_name("数量", [(1.0, "新建道路长度"), (0.2, "道路长度（米）1")], "新建市政道路工程")
    '新建道路长度'
    """
    tally = Counter()
    q = set(query)
    for wt, name in weighted_names:
        name = normalize_chars(name).strip()
        if not name or len(name) > 14 or _ILL_FORMED.search(name):
            continue
        overlap = len(set(name) & q) / len(set(name))
        tally[name] += wt * (0.5 + overlap)
    if not tally:
        return standard
    name, weight = tally.most_common(1)[0]
    return name if weight >= 0.3 else standard


def _examples(rec: Recommender, weighted, n: int = 3) -> list[str]:
    seen, out = set(), []
    for wt, l3, v, _b, p in sorted(weighted, key=lambda t: -t[0]):
        label = f"{rec.projects_.loc[p, 'project_name']}：{l3} {v}".strip()
        if label not in seen:
            seen.add(label)
            out.append(label)
        if len(out) == n:
            break
    return out


@lru_cache(maxsize=1)
def default_recommender() -> Recommender:
    return Recommender.load()


_RE_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def _check_arguments(text, description, budget, k) -> tuple[float | None, int]:
    """One-line errors for what no suggestion can answer: a name without a word (！！！, 12345,
    an emoji, a zero-width space), a budget that is not a positive amount, k outside 1–50."""
    if not _RE_WORD.search(f"{text or ''}{description or ''}"):
        raise ZhibiaoError("suggest needs a project name or description in words (Chinese or Latin letters)")
    if budget is not None:
        try:
            budget = float(budget)
        except (TypeError, ValueError):
            raise ZhibiaoError(f"budget must be a number of 万元, not {budget!r}") from None
        if not (math.isfinite(budget) and budget > 0):
            raise ZhibiaoError(f"budget must be a positive number of 万元, not {budget:g}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 50:
        raise ZhibiaoError(f"k must be a whole number from 1 to 50, not {k!r}")
    return budget, int(k)


def suggest(text: str, description: str = "", budget: float | None = None, k: int = 10,
            draft=None) -> dict:
    """Suggest indicators for a project (DESIGN §5 JSON).

    Parameters
    ----------
    text : project name or short description
    description : optional longer description (资金用途, 绩效目标)
    budget : optional budget in 万元; cost suggestions use it
    k : how many suggestions
    draft : optional partial table (a path or a DataFrame of rows with level3/value); only
        what it lacks is suggested, and its unusual rows are flagged under "draft"
    """
    if draft is not None:
        from .classify import Normalizer
        from .ingest import extract
        rows = draft if isinstance(draft, pd.DataFrame) else extract(draft)
        draft = Normalizer.load().normalize(rows)
    return default_recommender().suggest(text, description=description, budget=budget, k=k, draft=draft)
