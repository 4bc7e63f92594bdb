"""Retrieval of past projects from a corpus store, updated incrementally.

Each stored project is a bag of character 1–2-grams (its name, purpose and indicator
names) hashed into a fixed space, so adding a table never refits anything: the index
reads the store's change feed (:meth:`CorpusStore.changes`), appends the new projects'
vectors, masks out removed ones and updates the document frequencies. IDF weights are
applied at query time, so scores are exact TF-IDF cosines over what is stored now.

This is the store side of "suggest from the store": :meth:`neighbours` and :meth:`suggest`
name the source table of every neighbour and suggestion; the recommender merges them with
its shipped corpus and library candidates.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

_VECTORIZER = HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=2 ** 18,
                                alternate_sign=False, norm=None)
_NAME_WEIGHT = 2   # the name says more than the indicator list


def _project_texts(rows: pd.DataFrame, projects: pd.DataFrame) -> pd.Series:
    level3 = rows.groupby("project_id")["level3"].apply(lambda s: " ".join(s.dropna().astype(str)))
    name = projects["project_name"].fillna("").astype(str)
    purpose = projects["purpose"].fillna("").astype(str)
    return ((name + " ") * _NAME_WEIGHT + purpose + " " +
            projects["project_id"].map(level3).fillna("")).set_axis(projects["project_id"])


def _int(value):
    return None if value is None or pd.isna(value) else int(value)


class CorpusIndex:
    """In-memory nearest-project index over a :class:`CorpusStore`."""

    def __init__(self, store, *, refresh_every: float = 2.0):
        self.store = store
        self.refresh_every = refresh_every   # seconds between change-feed polls on query
        self.token = (0, 0)
        self._checked = 0.0
        self.meta = pd.DataFrame(columns=["project_id", "document_id", "project_name", "source", "year",
                                          "department"])
        self.rows = pd.DataFrame()
        self.tf = sp.csr_matrix((0, _VECTORIZER.n_features), dtype=np.float64)
        self.df = np.zeros(_VECTORIZER.n_features)
        self.refresh(force=True)

    def __len__(self) -> int:
        return len(self.meta)

    def refresh(self, force: bool = False) -> bool:
        """Apply the store's changes since the last call; True when something changed."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_every:
            return False
        self._checked = now
        new_rows, removed, token = self.store.changes(self.token)
        if token == self.token:
            return False
        self.token = token
        if removed and len(self.meta):
            keep = ~self.meta["document_id"].isin(removed).to_numpy()
            gone = self.tf[np.flatnonzero(~keep)]
            self.df -= np.asarray((gone > 0).sum(axis=0)).ravel()
            self.tf, self.meta = self.tf[np.flatnonzero(keep)], self.meta[keep].reset_index(drop=True)
            self.rows = self.rows[~self.rows["document_id"].isin(removed)]
        if len(new_rows):
            ids = sorted(new_rows["project_id"].dropna().unique().astype(int).tolist())
            projects = self.store.projects()
            projects = projects[projects["project_id"].isin(ids)].reset_index(drop=True)
            texts = _project_texts(new_rows, projects)
            tf = _VECTORIZER.transform(texts.tolist())
            tf.data = 1 + np.log(tf.data)   # sublinear tf
            self.df += np.asarray((tf > 0).sum(axis=0)).ravel()
            self.tf = sp.vstack([self.tf, tf], format="csr")
            self.meta = pd.concat([self.meta, projects[["project_id", "document_id", "project_name", "source",
                                                        "year", "department"]]], ignore_index=True)
            self.rows = pd.concat([self.rows, new_rows], ignore_index=True) if len(self.rows) else new_rows
        self._sq = self.tf.multiply(self.tf).tocsr()
        self._by_project = {pid: g for pid, g in self.rows.groupby("project_id")} if len(self.rows) else {}
        return True

    def neighbours(self, text: str, k: int = 10) -> list[dict]:
        """The k stored projects closest to ``text``, best first, each with its source table."""
        self.refresh()
        if not len(self.meta) or not text.strip():
            return []
        n = len(self.meta)
        idf = np.log((n + 1) / (self.df + 1)) + 1
        q = _VECTORIZER.transform([text])
        q.data = 1 + np.log(q.data)
        qw = q.multiply(idf.reshape(1, -1) ** 2).tocsr()     # q·idf² so that tf @ qw = (tf·idf)·(q·idf)
        dots = np.asarray((self.tf @ qw.T).todense()).ravel()
        norms = np.sqrt(self._sq @ (idf ** 2)) * np.sqrt(q.multiply(q) @ (idf ** 2)).item()
        scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        top = np.argsort(-scores, kind="stable")[:k]
        return [{"project_id": int(self.meta.at[i, "project_id"]), "project_name": self.meta.at[i, "project_name"],
                 "source": self.meta.at[i, "source"], "year": _int(self.meta.at[i, "year"]),
                 "department": self.meta.at[i, "department"] or None, "score": round(float(scores[i]), 4)}
                for i in top if scores[i] > 0]

    def suggest(self, text: str, k: int = 10, n_neighbours: int = 10) -> dict:
        """Indicators of the nearest stored projects, pooled by canonical type.

        A type's score is the summed similarity of the projects that use it over the summed
        similarity of all neighbours; ``sources`` names the tables it came from. Values are
        not pre-filled: ``value_examples`` shows past targets for the recommender to judge.
        """
        neigh = self.neighbours(text, n_neighbours)
        total = sum(n["score"] for n in neigh) or 1.0
        pooled: dict[str, dict] = {}
        seen: defaultdict[str, set] = defaultdict(set)
        for n in neigh:
            rows = self._by_project.get(n["project_id"])
            if rows is None:
                continue
            for r in rows.to_dict("records"):
                key = r.get("indicator_id") or f"name:{r.get('level3')}"
                if not r.get("level3") or n["project_id"] in seen[key] or "template_copy" in str(r.get("flags") or ""):
                    continue
                seen[key].add(n["project_id"])
                s = pooled.setdefault(key, {
                    "indicator_id": r.get("indicator_id") or "", "indicator_name": r.get("indicator_name") or "",
                    "category": r.get("category") or r.get("level2") or "", "level1": r.get("level1_canonical")
                    or r.get("level1") or "", "suggested_level3": r.get("level3"), "score": 0.0, "support": 0,
                    "examples": [], "value_examples": [], "sources": []})
                s["score"] += n["score"] / total
                s["support"] += 1
                for field, value in (("examples", r.get("level3")), ("value_examples", r.get("value")),
                                     ("sources", n["source"])):
                    if value and value not in s[field] and len(s[field]) < 3:
                        s[field].append(value)
        ranked = sorted(pooled.values(), key=lambda s: (-s["score"], -s["support"], s["suggested_level3"]))[:k]
        for s in ranked:
            s["score"] = round(s["score"], 4)
        return {"query": text, "neighbours": neigh, "suggestions": ranked}
