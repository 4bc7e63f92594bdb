"""The on-disk result cache: normalized rows keyed by the normalizer's fingerprint and the row's key."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path


_INHERITED_CONNECTIONS: list[sqlite3.Connection] = []


class ResultCache:
    """sqlite3 store: (fingerprint, blake2b(key tuple)) → JSON of the result columns.

    Safe for several processes on one machine (WAL, busy timeout). One
    connection per thread.
    """

    def __init__(self, path: str | Path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = str(fingerprint)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        con = self._con()
        # A rowid table: the payloads (~600 bytes) are too large for a WITHOUT ROWID b-tree, where inserting
        # in random key order took twice as long (measured: 25k rows, 1.5 s against 0.7 s).
        with con:
            con.execute("CREATE TABLE IF NOT EXISTS results (fingerprint TEXT NOT NULL, key BLOB NOT NULL, "
                        "payload TEXT NOT NULL, PRIMARY KEY (fingerprint, key))")

    def _con(self) -> sqlite3.Connection:
        con, pid = getattr(self._local, "con", None), os.getpid()
        if con is not None and self._local.pid != pid:
            # a worker forked from the process that opened it: SQLite forbids using a connection across a
            # fork, closing it included, so it is kept unused and this process opens its own
            _INHERITED_CONNECTIONS.append(con)
            con = None
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con, self._local.pid = con, pid
        return con

    def get_many(self, keys: list[bytes]) -> dict[bytes, dict]:
        found: dict[bytes, dict] = {}
        con = self._con()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = ("SELECT key, payload FROM results WHERE fingerprint = ? AND key IN (%s)"
                 % ",".join("?" * len(part)))
            got = con.execute(q, [self.fingerprint, *part]).fetchall()
            # one JSON array per query: a call per payload took two thirds longer (measured)
            payloads = json.loads("[" + ",".join(payload for _, payload in got) + "]")
            found.update((bytes(k), payload) for (k, _), payload in zip(got, payloads))
        return found

    def put_many(self, items: list[tuple[bytes, dict]]) -> None:
        if not items:
            return
        con = self._con()
        # NaN is kept as JSON's NaN (Python reads it back): a missing number stays a missing number
        rows = [(self.fingerprint, k, json.dumps(v, ensure_ascii=False, default=str)) for k, v in items]
        con.execute("BEGIN")
        try:
            con.executemany("INSERT OR IGNORE INTO results VALUES (?, ?, ?)", rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def __getstate__(self):  # picklable: reconnect on the other side
        return {"path": self.path, "fingerprint": self.fingerprint}

    def __setstate__(self, state):
        self.path = state["path"]
        self.fingerprint = state["fingerprint"]
        self._local = threading.local()


class VectorStore:
    """sqlite3 store of embeddings: (embedder key, text) → float32 vector, shared by the processes
    of a run and kept across runs, so each distinct name is embedded once, ever, per embedder.

    >>> import numpy as np, tempfile, os
    >>> s = VectorStore(os.path.join(tempfile.mkdtemp(), "v.sqlite"))
    >>> s.put_many("e5", ["群众满意度"], np.array([[0.6, 0.8]], dtype=np.float32))
    >>> s.get_many("e5", ["群众满意度", "新建道路长度"])["群众满意度"].tolist()
    [0.6000000238418579, 0.800000011920929]
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        con = self._con()
        with con:
            con.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, text TEXT NOT NULL, "
                        "vec BLOB NOT NULL, PRIMARY KEY (embedder, text)) WITHOUT ROWID")

    _con = ResultCache._con

    def get_many(self, key: str, texts) -> dict:
        import numpy as np
        found = {}
        con = self._con()
        texts = list(texts)
        for i in range(0, len(texts), 500):
            part = texts[i:i + 500]
            q = "SELECT text, vec FROM vectors WHERE embedder = ? AND text IN (%s)" % ",".join("?" * len(part))
            for text, blob in con.execute(q, [key, *part]):
                found[text] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, key: str, texts, vectors) -> None:
        import numpy as np
        texts = list(texts)
        if not texts:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        con = self._con()
        con.execute("BEGIN")
        try:
            con.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                            [(key, t, v.tobytes()) for t, v in zip(texts, vectors)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return self._con().execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._local = threading.local()


def part_embedders(normalizer):
    """(part, embedder) of the normalizer's parts that embed: ``classifier`` and ``matcher``."""
    for part in ("classifier", "matcher"):
        emb = getattr(getattr(normalizer, part, None), "embedder", None)
        if emb is not None and callable(getattr(emb, "attach_store", None)):
            yield part, emb


def embedders_of(normalizer) -> list:
    """The embedders inside a normalizer (classifier and matcher; often one object)."""
    out = []
    for _part, emb in part_embedders(normalizer):
        if all(emb is not e for e in out):
            out.append(emb)
    return out


def attach_vectors(normalizer, path: str | Path | None) -> VectorStore | None:
    """Give the normalizer's embedders the persistent vector store at ``path``, and the matcher's embedder
    its reference names' vectors, which the model holds already (read in memory, not copied to the
    store)."""
    matcher = getattr(normalizer, "matcher", None)
    emb = getattr(matcher, "embedder", None)
    if emb is not None and callable(getattr(emb, "attach_reference", None)) and not getattr(emb, "center", False) \
            and getattr(matcher, "emb_matrix_", None) is not None:
        # raw vectors only: a centred embedder gives what it encodes after centring
        emb.attach_reference(matcher.exemplars_, matcher.emb_matrix_)
    if path is None:
        return None
    try:
        store = VectorStore(path)
    except (OSError, sqlite3.Error):
        return None
    for emb in embedders_of(normalizer):
        emb.attach_store(store)
    return store


def _default_cache_dir(output: Path) -> Path:
    env = os.environ.get("ZHIBIAO_CACHE_DIR")
    if env:
        return Path(env)
    return output.resolve().parent / ".zhibiao-cache"


_THREAD_CACHES: dict[tuple, ResultCache] = {}
_CACHES_LOCK = threading.Lock()


def _worker_cache(cache_path, fingerprint) -> ResultCache | None:
    if cache_path is None:
        return None
    key = (str(cache_path), fingerprint)
    with _CACHES_LOCK:
        c = _THREAD_CACHES.get(key)
        if c is None:
            try:
                c = ResultCache(cache_path, fingerprint)
            except (OSError, sqlite3.Error):  # the cache dir is not reachable from this worker
                c = None
            _THREAD_CACHES[key] = c
        return c
