"""The on-disk result cache: normalized rows keyed by the normalizer's fingerprint and the row's key."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path


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
        with con:
            con.execute("CREATE TABLE IF NOT EXISTS results (fingerprint TEXT NOT NULL, key BLOB NOT NULL, "
                        "payload TEXT NOT NULL, PRIMARY KEY (fingerprint, key)) WITHOUT ROWID")

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def get_many(self, keys: list[bytes]) -> dict[bytes, dict]:
        found: dict[bytes, dict] = {}
        con = self._con()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = ("SELECT key, payload FROM results WHERE fingerprint = ? AND key IN (%s)"
                 % ",".join("?" * len(part)))
            for k, payload in con.execute(q, [self.fingerprint, *part]):
                found[bytes(k)] = json.loads(payload)
        return found

    def put_many(self, items: list[tuple[bytes, dict]]) -> None:
        if not items:
            return
        con = self._con()
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
