"""Retrieval of past projects from a corpus store, updated incrementally.

Each stored project is a bag of character 1–2-grams (its name, purpose and indicator
names) hashed into a fixed space, so adding a table never refits anything: the index
reads the store's change feed (:meth:`CorpusStore.changes`), appends the new projects'
vectors, masks out removed ones and updates the document frequencies. IDF weights are
applied at query time, so scores are exact TF-IDF cosines over what is stored now.

This is the store side of "suggest from the store": :meth:`neighbours` and :meth:`suggest`
name the source table of every neighbour and suggestion; the recommender merges them with
its shipped corpus and library candidates.

Building the index reads every stored row (about 6 s for 17,000 projects), which a one-shot
``zhibiao suggest --db`` would pay each time; with a ``snapshot`` file the index starts from
what an earlier process saved for the same store and reads only the changes since.
"""
from __future__ import annotations

import os
import pickle
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

_VECTORIZER = HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=2 ** 18,
                                alternate_sign=False, norm=None)
_NAME_WEIGHT = 2   # the name says more than the indicator list


def _project_texts(rows: pd.DataFrame, projects: pd.DataFrame) -> list[str]:
    names: dict = {}
    for pid, level3 in zip(rows["project_id"].tolist(), rows["level3"].tolist()):
        if isinstance(level3, str) and level3:
            names.setdefault(pid, []).append(level3)
    out = []
    for pid, name, purpose in zip(projects["project_id"].tolist(), projects["project_name"].tolist(),
                                  projects["purpose"].tolist()):
        name = name if isinstance(name, str) else ""
        purpose = purpose if isinstance(purpose, str) else ""
        out.append(" ".join([name] * _NAME_WEIGHT + [purpose] + names.get(pid, [])))
    return out


_ROW_FIELDS = ("project_id", "level1", "level2", "level3", "value", "basis", "category", "level1_canonical",
               "indicator_id", "indicator_name", "flags", "location", "sheet", "row_number")
# what a neighbour says of itself: the project and its source table (file, sheet, first row)
_NEIGHBOUR_FIELDS = ("project_id", "project_name", "source", "path", "sheet", "row", "year", "department")


def _plain(v):
    return None if v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v) else v


def _dicts(df: pd.DataFrame) -> list[dict]:
    cols = {c: [_plain(v) for v in df[c].astype(object).tolist()] for c in df.columns}
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


def _int(value):
    return None if value is None or pd.isna(value) else int(value)


_SNAPSHOT_FORMAT = 1
_SNAPSHOT_STATE = ("token", "meta", "rows_by_project", "tf", "df")


class CorpusIndex:
    """In-memory nearest-project index over a :class:`CorpusStore`.

    ``snapshot``: a file to start from and to save to (see the module's doc). It is used only when
    it was saved for this very store (:meth:`CorpusStore.identity`: a store made again at the same
    URL is another store) by this format; anything else in it, or an unreadable file, is ignored
    and the index is built from the store. It is saved (written aside, then renamed) when building
    or catching up changed the index, not on later refreshes.
    """

    def __init__(self, store, *, refresh_every: float = 2.0, snapshot: str | os.PathLike | None = None):
        self.store = store
        self.refresh_every = refresh_every   # seconds between change-feed polls on query
        self.token = (0, 0)
        self._checked = 0.0
        self.meta: list[dict] = []           # one per project, aligned with the rows of self.tf
        self.rows_by_project: dict[int, list[dict]] = {}
        self.tf = sp.csr_matrix((0, _VECTORIZER.n_features), dtype=np.float64)
        self.df = np.zeros(_VECTORIZER.n_features)
        self._lock = threading.RLock()   # the service queries from several threads
        self.snapshot = Path(snapshot) if snapshot is not None else None
        identity = store.identity() if self.snapshot is not None else None
        self.from_snapshot = identity is not None and self._load(identity)
        if self.refresh(force=True) and identity is not None:
            self._save(identity)

    # pickle, not joblib: joblib's unpickler is pure Python (measured on 17,094 projects: 2.6 s against 0.3 s).
    # A snapshot is read only from beside the store or from the user's own cache.
    def _load(self, identity: str) -> bool:
        try:
            with open(self.snapshot, "rb") as f:
                saved = pickle.load(f)
            if saved.get("format") != _SNAPSHOT_FORMAT or saved.get("identity") != identity:
                return False
            state = {k: saved[k] for k in _SNAPSHOT_STATE}
        except Exception:  # noqa: BLE001 - a missing, damaged or foreign snapshot only costs a rebuild
            return False
        self.__dict__.update(state)
        self._derive()
        return True

    def _save(self, identity: str) -> None:
        tmp = self.snapshot.with_name(f".{self.snapshot.name}.{os.getpid()}.tmp")
        try:
            self.snapshot.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                pickle.dump({"format": _SNAPSHOT_FORMAT, "identity": identity,
                             **{k: getattr(self, k) for k in _SNAPSHOT_STATE}}, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.snapshot)
        except OSError:   # a read-only or full cache: the next process builds again
            tmp.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.meta)

    def refresh(self, force: bool = False) -> bool:
        """Apply the store's changes since the last call; True when something changed."""
        with self._lock:
            return self._refresh(force)

    def _refresh(self, force: bool) -> bool:
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_every:
            return False
        self._checked = now
        doc, removal = self.store.change_token()   # the usual poll: one small query
        if doc <= self.token[0] and removal <= self.token[1]:   # ids are never reused
            return False
        new_rows, removed, token = self.store.changes(self.token, fields=list(_ROW_FIELDS))
        if token == self.token:
            return False
        self.token = token
        if removed and self.meta:
            gone = set(removed)
            keep = np.array([m["document_id"] not in gone for m in self.meta])
            dropped = self.tf[np.flatnonzero(~keep)]
            self.df -= np.asarray((dropped > 0).sum(axis=0)).ravel()
            self.tf = self.tf[np.flatnonzero(keep)]
            for m in (m for m, k in zip(self.meta, keep) if not k):
                self.rows_by_project.pop(m["project_id"], None)
            self.meta = [m for m, k in zip(self.meta, keep) if k]
        if len(new_rows):
            ids = set(new_rows["project_id"].dropna().astype(int))
            projects = self.store.projects()
            projects = projects[projects["project_id"].isin(ids)].reset_index(drop=True)
            texts = _project_texts(new_rows, projects)
            tf = _VECTORIZER.transform(texts)
            tf.data = 1 + np.log(tf.data)   # sublinear tf
            self.df += np.asarray((tf > 0).sum(axis=0)).ravel()
            self.tf = sp.vstack([self.tf, tf], format="csr")
            cols = [c for c in _ROW_FIELDS if c in new_rows.columns]
            for r in _dicts(new_rows[cols]):
                if r["project_id"] is not None and r["project_id"] == r["project_id"]:
                    r["row_number"] = _int(r.get("row_number"))
                    self.rows_by_project.setdefault(int(r["project_id"]), []).append(r)
            for p in _dicts(projects[["project_id", "document_id", "project_name", "source", "source_path", "year",
                                      "department"]]):
                p["project_id"], p["year"], p["department"] = int(p["project_id"]), _int(p["year"]), p["department"] or None
                first = next(iter(self.rows_by_project.get(p["project_id"], ())), {})
                p.update(path=p.pop("source_path"), sheet=first.get("sheet"), row=first.get("row_number"))
                self.meta.append(p)
        self._derive()
        return True

    def _derive(self) -> None:
        """Per refresh, not per query: column access for the query's n-grams, and each project's
        TF-IDF norm under the current document frequencies."""
        self._tfc = self.tf.tocsc()
        self._idf = np.log((len(self.meta) + 1) / (self.df + 1)) + 1
        self._norms = np.sqrt(self.tf.multiply(self.tf).tocsr() @ (self._idf ** 2))

    def neighbours(self, text: str, k: int = 10) -> list[dict]:
        """The k stored projects closest to ``text``, best first, each with its source table
        (``source`` file name, ``path``, ``sheet`` and ``row`` of its first indicator row)."""
        self.refresh()
        with self._lock:
            return self._neighbours(text, k)

    def _neighbours(self, text: str, k: int) -> list[dict]:
        if not self.meta or not text.strip():
            return []
        n, idf = len(self.meta), self._idf
        q = _VECTORIZER.transform([text])
        q.data = 1 + np.log(q.data)
        cols = q.indices
        qw = q.data * idf[cols] ** 2                      # tf @ (q·idf²) = (tf·idf)·(q·idf)
        dots = self._tfc[:, cols] @ qw
        norms = self._norms * np.sqrt(np.sum((q.data * idf[cols]) ** 2))
        scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        top = np.argpartition(-scores, min(k, n - 1))[:k] if n > k else np.arange(n)
        top = sorted(top, key=lambda i: (-scores[i], i))
        return [{**{f: self.meta[i][f] for f in _NEIGHBOUR_FIELDS}, "score": round(float(scores[i]), 4)}
                for i in top if scores[i] > 0]

    def project_rows(self, project_id: int) -> list[dict]:
        """A stored project's rows (dicts of the index's row fields, with sheet and row_number)."""
        with self._lock:
            return list(self.rows_by_project.get(project_id, ()))

    def suggest(self, text: str, k: int = 10, n_neighbours: int = 10) -> dict:
        """Indicators of the nearest stored projects, pooled by canonical type.

        A type's score is the summed similarity of the projects that use it over the summed
        similarity of all neighbours; ``sources`` names the tables it came from. Values are
        not pre-filled: ``value_examples`` shows past targets for the recommender to judge.
        """
        neigh = self.neighbours(text, n_neighbours)
        with self._lock:
            return self._pool(text, neigh, k)

    def _pool(self, text: str, neigh: list[dict], k: int) -> dict:
        total = sum(n["score"] for n in neigh) or 1.0
        pooled: dict[str, dict] = {}
        seen: defaultdict[str, set] = defaultdict(set)
        for n in neigh:
            for r in self.rows_by_project.get(n["project_id"], ()):
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
