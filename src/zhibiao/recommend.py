"""Suggest a complete, sector-appropriate indicator set for a new project (DESIGN §5).

The project is understood first (行业, 资金用途, stated quantities: taxonomy.projects). Every library
type is a candidate, scored by a ranker learnt on leave-one-project-out over the seeds from the
type's fit to the project's sector and archetypes, its keywords in the project text, embedding
similarity, what similar past projects used (rows labelled template_copy never count) and
popularity. Every required category is covered; a past project's specific number is never
offered as this project's value (a stated quantity, the budget, the library's norm or its blank
form ``≥___亩`` instead); each slot has alternatives and a weight (data/weights.tsv).

    >>> from zhibiao import suggest
    >>> out = suggest("农村环卫保洁项目", k=10)
    >>> {"数量指标", "服务对象满意度指标"} <= {s["category"] for s in out["suggestions"]}
    True
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from .errors import ModelNotFound, ZhibiaoError
from .resources import models_dir, training_data_dir
from .taxonomy import ARCHETYPES, SECTORS, archetype_table, level1_of, load_library, sector_table
# Required groups of DESIGN §5 (data/required_groups.tsv); a group is covered by any of its categories.
from .taxonomy.groups import GROUP_OF, MEASURABLE_GROUPS, REQUIRED_GROUPS  # noqa: F401  (re-exported)
from .taxonomy.names import lexicon
from .taxonomy.projects import keyword_hits, understand_project
from .text import normalize_chars
from .values import format_value, parse_value, unit_dimension
from .versioning import VersionStamped, load_saved

RECOMMENDER_FILE = "recommender.joblib"


# A well-formed indicator name: no digits, no punctuation, no notes in brackets.
_ILL_FORMED = re.compile(r"[\d%％()（）【】\[\]、，,。;；:：/\\\-—~≥≤<>=＝+]")


def project_text(name: str, purpose: str = "", goals: str = "") -> str:
    parts = [normalize_chars(str(p or "")).strip() for p in (name, purpose, goals)]
    return "。".join(p for p in parts if p)


# Features of a (project, library type) pair; the ranker's weights are learnt on them (fit_ranker).
FEATURES = ("sector", "common", "archetype", "any_archetype", "keyword", "similarity", "sector_x_similarity",
            "neighbours", "neighbours_x_closeness", "popularity", "shared_scope", "stated_quantity")
FEATURE_FLOOR = {"keyword": 1.5, "stated_quantity": 2.0}
COMMON_SHARE = 0.5  # at most this share of a set is 通用 types when the sector offers its own
CLOSE_PROJECT = 0.5  # a past project at least this similar (char + embedding) counts as close


def _bigrams(s: str) -> set[str]:
    s = re.sub(r"[（(][^）)]*[）)]|[\d%％.≥≤<>=＝+\-~]", "", normalize_chars(str(s)))
    return {s[i:i + 2] for i in range(len(s) - 1)} or ({s} if s else set())


def dice(a: str, b: str) -> float:
    """Char-bigram Dice of two names after brackets, digits and operators are dropped (DESIGN §6).

    >>> round(dice("新建道路长度", "道路新建长度（米）"), 2), dice("受益人数", "受益户数") < 0.5
    (0.6, True)
    """
    x, y = _bigrams(a), _bigrams(b)
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def display_name(name: str) -> str:
    """The library's standard name as a clerk would write it: the bracketed variant dropped
    (项目（工程）完成率 → 项目完成率)."""
    return re.sub(r"（[^）]*）|\([^)]*\)", "", name).strip() or name


def typical_wording(name: str, aliases: list[str]) -> str:
    """The wording of a type that clerks' wordings cluster around: the standard name or an alias
    (clean: no brackets, digits or notes, at most 10 characters) with the highest mean char-bigram
    Dice to all the type's wordings; the standard name wins ties.

    >>> typical_wording("服务对象满意度", ["群众满意度", "受益群众满意度", "居民满意度", "村民满意度"])
    '群众满意度'
    """
    everyone = [display_name(w) for w in (name, *aliases)]
    clean = [w for w in dict.fromkeys(everyone) if len(w) <= 10 and not _ILL_FORMED.search(w)]
    if not clean:
        return display_name(name)
    centrality = {w: sum(dice(w, o) for o in everyone) / len(everyone) for w in clean}
    best = max(clean, key=lambda w: centrality[w])
    standard = display_name(name)
    # the standard name stays unless an alias is clearly more typical
    if standard in centrality and centrality[best] - centrality[standard] < 0.05:
        return standard
    return best


@lru_cache(maxsize=1)
def slot_table() -> dict[str, tuple[int, int]]:
    from .resources import DATA_DIR
    rows = _data_rows(DATA_DIR / "suggest_slots.tsv")
    return {r["group"]: (int(r["min"]), int(r["max"])) for r in rows}


@lru_cache(maxsize=1)
def weight_rules() -> dict[str, list[tuple[str, tuple[str, ...], int]]]:
    from .resources import DATA_DIR
    rules: dict[str, list] = defaultdict(list)
    for r in _data_rows(DATA_DIR / "weights.tsv"):
        rules[r["variant"]].append((r["bucket"], tuple(r["groups"].split("|")), int(r["points"])))
    return dict(rules)


def _data_rows(path) -> list[dict]:
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"))) for ln in lines[1:]]


def assign_weights(groups: list[str | None], variant: str = "default") -> list[int]:
    """Whole-point 分值 per row from the rule ``variant`` of data/weights.tsv; they sum to 100.

    >>> assign_weights(["数量", "数量", "质量", "时效", "成本", "效益", "效益", "满意度"])
    [13, 13, 12, 12, 10, 15, 15, 10]
    """
    rules = weight_rules().get(variant)
    if rules is None:
        raise ZhibiaoError(f"unknown weight rule {variant!r}; known: {', '.join(weight_rules())}")
    bucket_of = {g: b for b, gs, _ in rules for g in gs}
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[bucket_of.get(g, rules[0][0])].append(i)
    present = [(b, p) for b, _, p in rules if members[b]]
    if not present:
        return [0] * len(groups)
    total = sum(p for _, p in present)
    # buckets without rows give their points to the others in proportion; whole points, sum 100
    raw = [(b, p * 100 / total) for b, p in present]
    pts = {b: int(v) for b, v in raw}
    for b, _ in sorted(raw, key=lambda bv: -(bv[1] - int(bv[1])))[: 100 - sum(pts.values())]:
        pts[b] += 1
    out = [0] * len(groups)
    for b, p in pts.items():
        idx = members[b]
        base, extra = divmod(p, len(idx))
        for n, i in enumerate(idx):
            out[i] = base + (1 if n < extra else 0)
    return out


class Recommender(VersionStamped):
    """Suggests a sector-appropriate indicator set from the library (DESIGN §5).

    Candidates are the library's types; each is scored on features of the (project, type) pair —
    the project's sector and archetypes against the type's, the type's keywords in the project text,
    embedding similarity, what similar past projects used (never rows labelled template_copy), and
    seed popularity — with weights learnt by logistic regression on leave-one-project-out over the
    seeds (``fit_ranker``). ``fit`` takes the projects table and their labelled rows.
    """

    def __init__(self, embedder, *, n_neighbours: int = 8, embedding_share: float = 0.5, **_old):
        self.embedder = embedder
        self.n_neighbours = n_neighbours
        self.embedding_share = embedding_share
        self.coef_ = np.array([2.0, 0.5, 0.8, 0.2, 2.0, 3.0, 2.0, 3.0, 2.0, 2.0, 0.3, 2.0])
        self.intercept_ = 0.0

    # -- fitting -----------------------------------------------------------
    def fit(self, projects: pd.DataFrame, rows: pd.DataFrame) -> "Recommender":
        rows = rows[rows["indicator_id"].fillna("") != ""]
        if "template_copy" in rows:  # copied rows say nothing about their project
            rows = rows[rows["template_copy"].astype(str) != "1"]
        keep = projects[projects["project_id"].isin(set(rows["project_id"]))].reset_index(drop=True)
        self.projects_ = keep[["project_id", "project_name", "source"]].copy()
        texts = [project_text(*r) for r in keep.reindex(columns=["project_name", "purpose", "goals"])
                 .fillna("").itertuples(index=False)]
        self.projects_["text"] = texts
        self.char_ = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        self.char_matrix_ = self.char_.fit_transform(texts)
        self.emb_matrix_ = self.embedder.encode(texts)
        pos = {p: i for i, p in enumerate(self.projects_["project_id"])}
        self.project_types_ = [set() for _ in pos]
        self.evidence_ = defaultdict(list)  # type -> (project index, level3, value, basis)
        basis = rows["basis"] if "basis" in rows else pd.Series([""] * len(rows), index=rows.index)
        for pid, iid, l3, v, b in zip(rows["project_id"], rows["indicator_id"], rows["level3"], rows["value"], basis):
            self.project_types_[pos[pid]].add(iid)
            self.evidence_[iid].append((pos[pid], str(l3), str(v), str(b)))
        self.evidence_ = dict(self.evidence_)
        self._fit_library(load_library())
        return self

    def _fit_library(self, lib: pd.DataFrame) -> None:
        """Everything the ranker needs of the library, precomputed (embeddings included)."""
        lib = lib.reset_index(drop=True)
        self.lib_signature_ = _signature(lib)
        self.ids_ = lib["indicator_id"].to_numpy()
        self.col_ = {iid: j for j, iid in enumerate(self.ids_)}
        self.children_ = None   # read on first use (:meth:`_children`)
        self.lib_ = lib[["indicator_id", "name", "category", "level1", "unit", "value_form", "value_kind", "op",
                         "basis", "sector", "scope", "measure", "object"]].copy()
        self.lib_["display"] = [typical_wording(n, al) for n, al in zip(lib["name"], lib["aliases"])]
        self.lib_["group"] = lib["category"].map(GROUP_OF)
        self.types_ = self.lib_.to_dict("records")  # plain dicts: the per-query hot path avoids pandas
        self.category_arr_ = self.lib_["category"].to_numpy()
        self.group_arr_ = self.lib_["group"].to_numpy()
        self.display_arr_ = self.lib_["display"].to_numpy()
        self.id_category_ = dict(zip(self.ids_, lib["category"]))
        self.id_name_ = dict(zip(self.ids_, lib["name"]))
        self.type_sectors_ = [set(s) or {"通用"} for s in lib["sectors"]]
        self.type_archetypes_ = [set(a) for a in lib["archetypes"]]
        # a sector type without keywords is called for by its object and the object's spellings in the
        # name grammar (路灯: 道路照明, 照明设施); 通用 objects are too vague to call for anything
        spellings = defaultdict(list)
        for sp, canon in lexicon().objects.items():
            spellings[canon].append(sp)
        # (an object that is also a spending word, 工程 or 设备, calls for nothing in particular)
        generic = {normalize_chars(w) for ws in archetype_table()["keywords"] for w in ws}
        self.type_keywords_ = [
            [k for k in (kws or ([obj, *spellings.get(obj, [])] if sec != "通用" and obj not in generic else []))
             if len(k) >= 2 and normalize_chars(k) not in generic]
            for kws, obj, sec in zip(lib["keywords"], lib["object"], lib["sector"])]
        self.type_words_ = [set(_bigrams(n + o + "".join(a))) for n, o, a in
                            zip(lib["name"], lib["object"], lib["aliases"].map(lambda al: "".join(al[:3])))]
        self.common_ = np.array([("通用" in s) for s in self.type_sectors_], dtype=np.float32)
        self.shared_ = (lib["scope"] == "共性").to_numpy(np.float32)
        self.keyword_index_ = defaultdict(list)
        for j, kws in enumerate(self.type_keywords_):
            for k in kws:
                self.keyword_index_[normalize_chars(k)].append(j)
        self.keyword_index_ = dict(self.keyword_index_)
        texts = [f"{n}：{'、'.join(k[:6])}" for n, k in zip(lib["name"], lib["keywords"])]
        self.type_emb_ = self.embedder.encode(texts)
        self.sectors_ = [s for s in SECTORS if s != "通用"]
        self.sector_member_ = np.array([[s in ts for s in self.sectors_] for ts in self.type_sectors_],
                                       dtype=np.float32).reshape(len(lib), len(self.sectors_))
        self.archetypes_ = list(ARCHETYPES)
        self.arch_member_ = np.array([[a in ta for a in self.archetypes_] for ta in self.type_archetypes_],
                                     dtype=np.float32).reshape(len(lib), len(self.archetypes_))
        self.any_arch_ = (self.arch_member_.sum(axis=1) == 0).astype(np.float32)
        sector_texts = [f"{s}：{'、'.join(k[:25])}" for s, k in
                        zip(sector_table()["sector"], sector_table()["keywords"]) if s != "通用"]
        self.sector_emb_ = self.embedder.encode(sector_texts)
        # a measurable group whose library value form is no number is never offered (not_measurable)
        measurable = lib["category"].map(GROUP_OF).isin(MEASURABLE_GROUPS)
        vague = (lib["value_kind"] == "qualitative") | ((lib["value_kind"] == "numeric") & (lib["unit"] == "")
                                                        & ~lib["value_form"].str.contains(r"\d"))
        self.eligible_ = ~(measurable & vague).to_numpy()
        # a bare blank form (___) with no past project's wording to offer instead says nothing
        bare = lib["value_form"].str.fullmatch(r"[_\s]*").to_numpy()
        has_evidence = np.array([len({p for p, *_ in self.evidence_.get(i, [])}) >= 2 for i in self.ids_])
        self.eligible_ &= ~(bare & ~has_evidence)
        self.presence_ = np.zeros((len(self.project_types_), len(self.ids_)), dtype=np.float32)
        for i, types in enumerate(self.project_types_):
            for iid in types:
                if iid in self.col_:
                    self.presence_[i, self.col_[iid]] = 1.0

    def _ensure_library(self) -> None:
        """A library changed since fit (types added by a merge) is re-read once per process."""
        lib = load_library()
        if _signature(lib) != self.lib_signature_:
            self._fit_library(lib)

    @classmethod
    def fit_from_training(cls, df: pd.DataFrame, data_dir=None, embedder=None, **kwargs) -> "Recommender":
        projects = pd.read_csv(Path(data_dir or training_data_dir()) / "projects.csv", dtype=str,
                               keep_default_na=False)
        return cls(embedder, **kwargs).fit(projects, df).fit_ranker(projects)

    # -- persistence -------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_project_columns", None)
        return state

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
        rec = load_saved(path)
        if not hasattr(rec, "lib_signature_"):
            raise ModelNotFound(f"{path} predates the library-based recommender; run `zhibiao train`")
        rec._ensure_library()
        return rec

    # -- understanding and features ----------------------------------------
    def understand(self, name: str, description: str = "", budget: float | None = None) -> dict:
        def by_similarity(text: str) -> dict[str, float]:
            sims = self.sector_emb_ @ self.embedder.encode([text])[0]
            best = np.argsort(-sims)[:2]
            return {self.sectors_[i]: float(max(sims[i], 1e-3)) for i in best}
        return understand_project(name, description, budget, fallback=by_similarity)

    def neighbours(self, text: str, exclude: np.ndarray | None = None, q_emb=None) -> tuple[np.ndarray, np.ndarray]:
        """Indices and similarities of the nearest past projects, best first."""
        q = normalize_chars(text)
        sims = (self.char_.transform([q]) @ self.char_matrix_.T).toarray()[0] * (1 - self.embedding_share)
        q_emb = self.embedder.encode([q])[0] if q_emb is None else q_emb
        sims += self.embedding_share * (self.emb_matrix_ @ q_emb)
        if exclude is not None:
            sims = np.where(exclude, -np.inf, sims)
        order = np.argsort(-sims)[: self.n_neighbours]
        order = order[np.isfinite(sims[order])]
        return order, sims[order]

    def features(self, query: str, project: dict, exclude: np.ndarray | None = None, store=None):
        """(n_types, len(FEATURES)) matrix for one project, plus its neighbours. ``store`` (a
        :class:`_StorePart`): the user's stored projects join the shipped ones as neighbours."""
        q_emb = self.embedder.encode([query])[0]
        n = len(self.ids_)
        sector_w = {s["sector"]: s["score"] for s in project["sectors"]}
        f_sector = self.sector_member_ @ np.array([sector_w.get(s, 0.0) for s in self.sectors_], dtype=np.float32)
        arch = set(project["archetypes"])
        f_arch = np.minimum(self.arch_member_ @ np.array([a in arch for a in self.archetypes_], dtype=np.float32), 1)
        f_any = self.any_arch_
        f_kw = np.zeros(n, dtype=np.float32)
        # every type keyword the text contains counts (隐患 inside 隐患排查治理 too): masking is for
        # telling sectors apart, not for the types of one sector
        for kw, _s, owners in keyword_hits(normalize_chars(query), self.keyword_index_, nested=True):
            for j in owners:
                f_kw[j] = max(f_kw[j], min(len(kw), 5) / 5)
        f_sim = self.type_emb_ @ q_emb
        idx, sims = self.neighbours(query, exclude, q_emb)
        pool_sims, presence = sims, self.presence_[idx]
        if store is not None:
            idx, sims, pool_sims, presence = store.merge(idx, sims, presence, self.n_neighbours)
        w = np.clip(pool_sims, 0, None) ** 3
        votes = (w @ presence) / (w.sum() + 1e-9) if len(pool_sims) else np.zeros(n)
        closeness = float(pool_sims.max()) if len(pool_sims) else 0.0
        # neighbours' votes count as far as the neighbours are close: far ones are no evidence
        votes = votes * min(1.0, closeness / CLOSE_PROJECT) ** 2
        keep = np.ones(len(self.presence_), dtype=bool) if exclude is None else ~exclude
        # popularity speaks for 通用 types only: the seeds' sector types are popular in the seeds'
        # sectors (roads in 河北), which says nothing of the next project's sector
        pop = self.presence_[keep].mean(axis=0)
        f_qty = np.zeros(n, dtype=np.float32)
        for q in project["quantities"]:
            for j in self._quantity_slots(q):
                f_qty[j] = 1.0
        X = np.column_stack([f_sector, self.common_, f_arch, f_any, f_kw, f_sim, f_sector * f_sim,
                             votes, votes * closeness, np.sqrt(pop) * self.common_, self.shared_, f_qty]
                            ).astype(np.float32)
        # candidates: the project's sector(s), 通用, a keyword or stated quantity that calls for the type,
        # or a close past project that used it; a far project's types never leak in
        gate = ((f_sector >= 0.2) | (self.common_ > 0) | (f_kw > 0) | (f_qty > 0)
                | ((votes > 0) & (closeness >= CLOSE_PROJECT)))
        return X, idx, sims, gate & self.eligible_

    def _quantity_slots(self, q: dict) -> list[int]:
        """Library types a stated quantity can fill: same unit kind, and the object fits."""
        out = []
        dim = unit_dimension(q["unit"]) or ""
        qwords = _bigrams(q["object"] + q["action"])
        for j, t in enumerate(self.types_):
            unit, kind = t["unit"], t["value_kind"]
            if kind != "numeric" or not unit or not _unit_fits(q["unit"], dim, unit):
                continue
            if q["object"] or q["action"]:
                if not qwords or len(qwords & self.type_words_[j]) / len(qwords) < 0.5:
                    continue
            out.append(j)
        return out

    # -- learning the ranker -----------------------------------------------
    def fit_ranker(self, projects: pd.DataFrame, C: float = 1.0) -> "Recommender":
        """Learn the feature weights on leave-one-project-out over the past projects: for each,
        features computed without it, label = the types it used."""
        X, y = self.lopo_design(projects)
        if y.sum() == 0:
            return self
        coef, intercept = _nonnegative_logistic(X, y, C)
        # The seeds' types were migrated from the seeds themselves and carry no keywords of their own,
        # and their descriptions state few quantities: those features cannot be judged on the seeds,
        # so their weights never fall below a prior (FEATURE_FLOOR).
        floor = np.array([FEATURE_FLOOR.get(f, 0.0) for f in FEATURES])
        coef = np.maximum(coef, floor)
        # The seeds' types carry no archetypes, so the seeds reward "fits any archetype" over "fits this
        # project's": a type made for the project's kind of spending is never worth less than one made
        # for none in particular.
        arch, any_arch = FEATURES.index("archetype"), FEATURES.index("any_archetype")
        coef[arch] = max(coef[arch], coef[any_arch])
        self.coef_ = coef
        self.intercept_ = intercept
        return self

    def project_sector(self, i: int, fallback: str = "通用") -> str:
        """A past project's sector: the most common own sector of its types (通用 aside), a tie going to the
        sector of its first type in id order (the types are a set: in set order, a tie went another way in
        each process)."""
        tally = Counter(self.types_[self.col_[t]]["sector"] for t in sorted(self.project_types_[i]) if t in self.col_)
        tally.pop("通用", None)
        return tally.most_common(1)[0][0] if tally else fallback

    def lopo_design(self, projects: pd.DataFrame):
        """Features and labels of every past project, once hidden alone (leave-one-project-out) and
        once with its whole sector hidden (leave-one-sector-out): the ranker must also serve a
        sector no past project is close to."""
        info = projects.set_index("project_id")
        sectors = np.array([self.project_sector(i) for i in range(len(self.projects_))])
        Xs, ys = [], []
        for i, pid in enumerate(self.projects_["project_id"]):
            if len(self.project_types_[i]) < 3:
                continue
            r = info.loc[pid]
            query = project_text(r["project_name"], r.get("purpose", ""))
            project = self.understand(r["project_name"], r.get("purpose", ""))
            alone = np.zeros(len(self.projects_), dtype=bool)
            alone[i] = True
            for exclude in (alone, alone | (sectors == sectors[i])):
                X, _, _, gate = self.features(query, project, exclude)
                Xs.append(X[gate])
                ys.append(self.presence_[i][gate])
        return np.vstack(Xs), np.concatenate(ys)

    def scores(self, X: np.ndarray, gate: np.ndarray) -> np.ndarray:
        s = X @ self.coef_ + self.intercept_
        return np.where(gate, 1 / (1 + np.exp(-s)), 0.0)

    # -- ranking -----------------------------------------------------------
    def rank(self, scores: np.ndarray, k: int = 10, covered: frozenset[str] = frozenset(),
             exclude_ids: frozenset[str] = frozenset()) -> list[int]:
        """Top-k type indices: every required group first (unless ``covered`` by a draft), then the
        best of the rest within each group's share (data/suggest_slots.tsv); near-duplicate names
        (char-bigram Dice ≥ 0.7 with one already chosen) are skipped."""
        slots = slot_table()
        order = [int(j) for j in np.argsort(-scores) if scores[j] > 0 and self.ids_[j] not in exclude_ids]
        # at most half the set is 通用; the rest is this sector's own, as far as it has candidates
        max_common = max(1, math.ceil(k * COMMON_SHARE))
        n_specific = sum(1 for j in order[: 4 * k] if not self.common_[j] and scores[j] >= 0.2)
        if n_specific < k - max_common:
            max_common = k - n_specific
        groups, names = self.group_arr_, self.display_arr_
        chosen: list[int] = []
        count: Counter = Counter()

        def fits(j: int) -> bool:
            if self.common_[j] and sum(self.common_[c] for c in chosen) >= max_common:
                return False
            return all(dice(names[j], names[c]) < 0.7 for c in chosen)

        best = {}
        for j in order:
            best.setdefault(groups[j], scores[j])
        # with fewer slots than groups, the groups whose best type scores highest go first
        for group, (lo, _hi) in sorted(slots.items(), key=lambda gl: -best.get(gl[0], 0.0)):
            if group in covered:
                continue
            for j in order:
                if len(chosen) >= k or count[group] >= lo:
                    break
                if groups[j] == group and j not in chosen and fits(j):
                    chosen.append(j)
                    count[group] += 1
        for j in order:
            if len(chosen) >= k:
                break
            g = groups[j]
            cap = max(1, round(slots.get(g, (0, k))[1] * k / 10)) if g in slots else k
            if j in chosen or count[g] >= cap or not fits(j):
                continue
            chosen.append(j)
            count[g] += 1
        return sorted(chosen, key=lambda j: -scores[j])

    # -- the job -----------------------------------------------------------
    def suggest(self, text: str, description: str = "", budget: float | None = None, k: int = 10,
                draft: pd.DataFrame | None = None, weights: str = "default", *, store=None,
                exclude: np.ndarray | None = None) -> dict:
        """DESIGN §5 JSON. With ``draft`` (normalized rows of a partial table), suggest only
        what is missing, and flag draft rows whose type is unusual for this kind of project.

        ``store``: the user's own past projects, as a :class:`zhibiao.store.CorpusIndex` (or
        anything with ``neighbours(text, k)`` and ``project_rows(project_id)``). Its nearest
        projects join the shipped ones as neighbours, so the types they used score higher, and
        their rows are evidence (wording, typical values); nothing is refitted. Store neighbours
        and every suggestion with stored evidence name their source table (``sources``).
        ``exclude``: shipped projects to hide (a mask over ``projects_``; for evaluation)."""
        budget, k = _check_arguments(text, description, budget, k)
        if weights not in weight_rules():
            raise ZhibiaoError(f"unknown weight rule {weights!r}; known: {', '.join(weight_rules())}")
        query = project_text(text, description)
        project = self.understand(text, description, budget)
        part = _StorePart(self, store, query) if store is not None else None
        X, idx, sims, gate = self.features(query, project, exclude, part)
        scores = self.scores(X, gate)
        covered: frozenset[str] = frozenset()
        have: frozenset[str] = frozenset()
        if draft is not None:
            have = frozenset(set(draft["indicator_id"]) - {""})
            covered = frozenset(GROUP_OF.get(c) for c in draft["category"]) - {None}
        chosen = self.rank(scores, k, covered, have)
        ctx = _Context(self, project, idx, sims, budget, query, part)
        suggestions = [self._render(j, float(scores[j]), ctx) for j in chosen]
        for s, wgt in zip(suggestions, assign_weights([GROUP_OF.get(s["category"]) for s in suggestions], weights)):
            s["weight"] = wgt
        taken = set(chosen) | {self.col_[i] for i in have if i in self.col_}
        for s, j in zip(suggestions, chosen):
            s["alternatives"] = self._alternatives(j, scores, taken, ctx, project["sector"])
        names, sources = self._project_column("project_name"), self._project_column("source")
        neighbours = [{"project_name": names[i], "source": sources[i], "score": round(float(s), 4)}
                      for i, s in zip(idx, sims)]
        closest = float(sims[0]) if len(sims) else 0.0
        if part is not None:   # one list, best first; each says whether it is shipped or the user's
            neighbours = sorted([{**n, "origin": "corpus"} for n in neighbours] + part.kept_neighbours(),
                                key=lambda n: -n["score"])
            closest = max([closest] + [n["score"] for n in neighbours])
        result = {
            "query": query,
            "project": {k_: project[k_] for k_ in ("sector", "sectors", "archetypes", "quantities")},
            "no_close_project": not closest >= CLOSE_PROJECT,
            "neighbours": neighbours,
            "suggestions": suggestions,
        }
        if draft is not None:
            result["draft"] = self._review_draft(draft, scores, project, query)
        return result

    def _project_column(self, column: str) -> list:
        """A column of ``projects_`` (whose index is the position) as a list: a suggestion reads dozens of
        project names, and each ``.loc`` lookup cost 0.14 ms (a third of a warm suggest)."""
        columns = self.__dict__.setdefault("_project_columns", {})
        if column not in columns:
            columns[column] = self.projects_[column].tolist()
        return columns[column]

    def _alternatives(self, j: int, scores: np.ndarray, taken: set, ctx, sector: str, n: int = 3) -> list[dict]:
        """Other types of the suggestion's category, best first; a 通用 suggestion's own refinements for
        the project's sector come first (群众满意度 → 就业服务对象满意度 for a 就业 project): measured on
        the seeds, putting them in the suggestion's place lost 8 points of recall@10, since those tables
        write the generic name; on the four real forms of other provinces it gained 3.5."""
        same = np.nonzero((self.category_arr_ == self.category_arr_[j]) & (scores > 0))[0]
        refined = [c for c in self._children().get(j, ()) if self.common_[j] and sector in self.type_sectors_[c]
                   and scores[c] > 0 and self.category_arr_[c] == self.category_arr_[j]]
        ranked = sorted(refined, key=lambda c: -scores[c]) + [int(a) for a in same[np.argsort(-scores[same])]]
        cands = list(dict.fromkeys(a for a in ranked if a not in taken))[:n]
        out = []
        for a in cands:
            r = self._render(a, float(scores[a]), ctx, brief=True)
            out.append({key: r[key] for key in ("indicator_id", "indicator_name", "suggested_level3",
                                                "suggested_value", "value_source", "score")})
        return out

    def _children(self) -> dict[int, list[int]]:
        """Type position → the positions of the types that refine it (the library's ``parent``)."""
        if getattr(self, "children_", None) is None:
            lib = load_library()
            parent = dict(zip(lib["indicator_id"], lib["parent"]))
            children = defaultdict(list)
            for c, iid in enumerate(self.ids_):
                if parent.get(iid) in self.col_:
                    children[self.col_[parent[iid]]].append(c)
            self.children_ = dict(children)
        return self.children_

    def _review_draft(self, draft: pd.DataFrame, scores: np.ndarray, project: dict, query: str) -> list[dict]:
        """A draft row is unusual when its type belongs to none of the project's sectors (nor 通用),
        fits none of its archetypes, and no keyword of the type is in the project's text."""
        sectors = {s["sector"] for s in project["sectors"]} | {"通用"}
        arch = set(project["archetypes"])
        q = normalize_chars(query)
        rows = []
        for _, r in draft.iterrows():
            iid = r.get("indicator_id", "")
            flags = [f for f in str(r.get("flags", "")).split(";") if f]
            j = self.col_.get(iid)
            if j is not None:
                fits = (self.type_sectors_[j] & sectors or self.type_archetypes_[j] & arch
                        or any(normalize_chars(k) in q for k in self.type_keywords_[j]))
                if not fits:
                    flags.append("unusual_for_project")
            rows.append({"level3": r.get("level3", ""), "value": r.get("value", ""), "indicator_id": iid,
                         "category": r.get("category", ""), "flags": flags})
        return rows

    def _render(self, j: int, score: float, ctx, brief: bool = False) -> dict:
        iid = self.ids_[j]
        lib = self.types_[j]
        value, op, unit, source = self._value(j, ctx)
        category = lib["category"]
        out = {
            "indicator_id": iid,
            "indicator_name": lib["name"],
            "category": category,
            "level1": lib["level1"] or (level1_of(category) if category else ""),
            "suggested_level3": lib["display"],
            "suggested_value": value,
            "op": op,
            "unit": unit,
            "value_source": source,
            "basis": lib["basis"],
            "score": round(score, 4),
        }
        if not brief:
            evidence = [e for e in self.evidence_.get(iid, []) if e[0] in ctx.weight_of]
            stored = ctx.stored.get(iid, [])
            out["support"] = len({e[0] for e in evidence}) + len({e.project_id for e in stored})
            out["examples"] = _examples(
                [(ctx.weight_of[p], f"{self._project_column('project_name')[p]}：{l3} {v}") for p, l3, v, _b in evidence]
                + [(e.weight, f"{e.project_name}：{e.level3} {e.value}") for e in stored])
            if stored:   # the user's own tables behind it, and the wording they use
                out["suggested_level3"] = best_name(lib["display"], [(e.weight, e.level3) for e in stored], ctx.query)
                out["sources"] = [e.provenance() for e in sorted(stored, key=lambda e: -e.weight)[:3]]
        return out

    def _value(self, j: int, ctx) -> tuple[str, str | None, str | None, str]:
        """(value, op, unit, value_source): a stated quantity, the budget, the library's own
        norm, a rate or deadline common across past projects, or the library's blank form."""
        lib = self.types_[j]
        form, unit, kind = lib["value_form"], lib["unit"] or None, lib["value_kind"]
        op = lib["op"] or None
        if kind == "numeric" and unit:
            for q in ctx.project["quantities"]:
                if j in ctx.slots_of(q):
                    return format_value(op or "=", q["number"], q["unit"]), op or "=", q["unit"], "description"
        if GROUP_OF.get(lib["category"]) == "成本" and unit == "万元":
            if ctx.budget:  # a total cost is bounded by the budget; a per-head amount (元/人) is not
                return format_value("<=", float(ctx.budget), "万元"), "<=", "万元", "budget"
            money = [q for q in ctx.project["quantities"] if q["unit"] == "万元"]
            if len(money) == 1:
                return format_value("<=", money[0]["number"], "万元"), "<=", "万元", "description"
        if "___" not in form:
            pv = parse_value(form)
            return form, (pv.op if pv.kind == "numeric" else op), (pv.unit or unit), "library"
        qualitative = kind == "qualitative" or (kind == "numeric" and not unit)
        if unit == "%" or kind in ("deadline", "boolean") or qualitative:
            # a rate, a deadline or a wording (健全) is no project-specific fact: one common across
            # past projects may stand
            evidence = self.evidence_.get(self.ids_[j], [])
            stored = ctx.stored.get(self.ids_[j], [])
            if len({p for p, *_ in evidence}) + len({e.project_id for e in stored}) >= 2:
                typical = typical_value([(ctx.weight_of.get(p, 0.0) + 0.05, v) for p, _l, v, _b in evidence]
                                        + [(e.weight + 0.05, e.value) for e in stored], kind, unit or "")
                if typical[0] and _value_ok(typical[0], lib["category"]):
                    return typical[0], typical[1], typical[2], "past_projects"
        return form, op, unit, "library"


def _nonnegative_logistic(X: np.ndarray, y: np.ndarray, C: float = 1.0) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-penalised logistic regression whose feature weights are ≥ 0: every feature
    is evidence for a type, never against it. Four documents of one province would otherwise teach
    the ranker that a keyword match counts against a type (seed projects use one of several road
    types), which would not hold for a sector the seeds lack."""
    from scipy.optimize import minimize
    w_pos = len(y) / (2 * max(y.sum(), 1))
    w_neg = len(y) / (2 * max(len(y) - y.sum(), 1))
    sw = np.where(y > 0, w_pos, w_neg)

    def loss(theta):
        z = X @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-z))
        nll = np.sum(sw * (np.logaddexp(0, z) - y * z))
        grad_z = sw * (p - y)
        g = np.append(X.T @ grad_z + theta[:-1] / C, grad_z.sum())
        return nll + 0.5 * theta[:-1] @ theta[:-1] / C, g

    theta0 = np.zeros(X.shape[1] + 1)
    bounds = [(0, None)] * X.shape[1] + [(None, None)]
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return res.x[:-1], float(res.x[-1])


class _Context:
    """What rendering one suggestion needs to know of the query."""

    def __init__(self, rec: Recommender, project: dict, idx, sims, budget, query, store=None):
        self.rec, self.project, self.budget, self.query = rec, project, budget, query
        w = np.clip(sims, 0, None) ** 3
        self.weight_of = dict(zip(np.asarray(idx).tolist(), w.tolist()))
        self.stored = store.evidence() if store is not None else {}   # type -> [_Stored]
        self._slots: dict[int, set] = {}

    def slots_of(self, q: dict) -> set:
        key = id(q)
        if key not in self._slots:
            self._slots[key] = set(self.rec._quantity_slots(q))
        return self._slots[key]


@dataclass(frozen=True)
class _Stored:
    """One stored row as evidence for a type: its project's weight and where it stands."""
    weight: float
    project_id: int
    project_name: str
    level3: str
    value: str
    neighbour: dict
    row: dict

    def provenance(self) -> dict:
        n, r = self.neighbour, self.row
        return {"project_name": self.project_name, "source": n.get("source"), "path": n.get("path"),
                "sheet": r.get("sheet"), "row": r.get("row_number"), "location": r.get("location"),
                "year": n.get("year"), "level3": self.level3, "value": self.value}


class _StorePart:
    """The user's stored projects nearest a query, on the shipped projects' footing.

    ``index`` is a :class:`zhibiao.store.CorpusIndex` (duck-typed: ``neighbours(text, k)`` with
    a ``score`` and ``project_id`` each, ``project_rows(project_id)``). Its similarity (char
    TF-IDF cosine) stands in for the shipped projects' char-plus-embedding one: embedding every
    stored project would cost about a second per hundred projects, and the two scales agree where
    it counts (a seed project's own name scores 0.63 against it shipped, 0.66 against its twin
    stored). Rows flagged template_copy are no evidence, as in the shipped corpus.
    """

    def __init__(self, rec: Recommender, index, query: str):
        self.neighbours = [n for n in index.neighbours(query, rec.n_neighbours) if n.get("score", 0) > 0]
        self.rows = [[r for r in index.project_rows(n["project_id"]) if "template_copy" not in str(r.get("flags") or "")]
                     for n in self.neighbours]
        self.sims = np.array([float(n["score"]) for n in self.neighbours], dtype=float)
        self.presence = np.zeros((len(self.neighbours), len(rec.ids_)), dtype=np.float32)
        for i, rows in enumerate(self.rows):
            for r in rows:
                j = rec.col_.get(r.get("indicator_id") or "")
                if j is not None:
                    self.presence[i, j] = 1.0
        self.kept: list[int] = list(range(len(self.neighbours)))

    def merge(self, idx, sims, presence, n: int):
        """The n nearest of the shipped neighbours (idx, sims, presence) and the stored ones:
        (shipped idx kept, their sims, all kept sims, all kept presence rows), best first."""
        both = np.concatenate([sims, self.sims])
        order = np.argsort(-both, kind="stable")[:n]
        shipped = order[order < len(sims)]
        self.kept = [int(i) - len(sims) for i in order if i >= len(sims)]
        return idx[shipped], sims[shipped], both[order], np.vstack([presence, self.presence])[order]

    def kept_neighbours(self) -> list[dict]:
        return [{**self.neighbours[i], "origin": "store"} for i in self.kept]

    def evidence(self) -> dict[str, list[_Stored]]:
        out: dict[str, list[_Stored]] = defaultdict(list)
        for i in self.kept:
            n, weight = self.neighbours[i], max(float(self.sims[i]), 0.0) ** 3
            for r in self.rows[i]:
                iid = r.get("indicator_id") or ""
                if iid and r.get("level3"):
                    out[iid].append(_Stored(weight, n["project_id"], n.get("project_name") or "", str(r["level3"]),
                                            str(r.get("value") or ""), n, r))
        return dict(out)


def _unit_fits(stated: str, dim: str, unit: str) -> bool:
    """A stated unit fills a type's unit when they measure the same thing (counts must agree on
    what is counted: 人 is not 户)."""
    want = unit_dimension(parse_value("1" + unit).unit or unit) or ""
    if not dim or dim.split("/")[0] != want.split("/")[0] or "/" in dim or "/" in want:
        return False
    if dim == "count":
        same = {stated, unit}
        return len(same) == 1 or same == {"人", "人次"}
    return True


def _value_ok(value: str, category: str) -> bool:
    """The value passes our own checks: measurable groups need a number or a deadline; a rate ≤ 100%."""
    pv = parse_value(value)
    if GROUP_OF.get(category) in MEASURABLE_GROUPS and pv.kind == "qualitative":
        return False
    return not (pv.unit == "%" and pv.number is not None and pv.number > 100)


def _signature(lib: pd.DataFrame) -> str:
    import hashlib
    h = hashlib.sha1()
    for row in lib[["indicator_id", "name", "value_form", "unit"]].itertuples(index=False):
        h.update("\t".join(row).encode())
    for kws in lib["keywords"]:
        h.update("|".join(kws).encode())
    return h.hexdigest()


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


def _examples(weighted: list[tuple[float, str]], n: int = 3) -> list[str]:
    """The labels (项目：三级 值) of the heaviest evidence, each once."""
    seen, out = set(), []
    for _wt, label in sorted(weighted, key=lambda t: -t[0]):
        label = label.strip()
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
