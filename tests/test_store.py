"""The store protocols: FAISS and the numpy fake agree; IDs survive removals; bm25s behind
its wrapper; a whole search over the memory store equals the FAISS one."""
import numpy as np
import pytest

from assistant.store import new_vector_store, open_lexical_store, open_vector_store
from assistant.store.bm25 import Bm25Store


def _vectors(n=40, dim=16, seed=3):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["faiss", "memory"])
def test_vector_store_search_score_remove_save(kind, tmp_path):
    v = _vectors()
    store = new_vector_store(kind, 16)
    store.add(np.arange(40), v)
    q = v[:3] + 0.01
    top = store.search(q, 5)
    exact = np.argsort(-(v @ q.T), axis=0)[:5].T
    assert np.array_equal(top.ids, exact)
    assert np.allclose(store.score(q, np.array([7, 2])), v[[7, 2]] @ q.T, atol=1e-6)
    # an ID filter restricts the search; fewer allowed than k pads nothing
    only = store.search(q[:1], 5, allowed=np.array([10, 11, 12]))
    assert set(only.row(0)) == {10, 11, 12}
    # removing keeps the other IDs (the vectors they name do not move)
    store.remove(np.array([0, 1, 2, 30]))
    assert len(store) == 36
    again = store.search(q, 3)
    assert not set(again.ids.ravel()) & {0, 1, 2, 30}
    assert np.allclose(store.vectors(np.array([5, 39])), v[[5, 39]])
    assert np.allclose(store.score(q, np.array([5])), v[[5]] @ q.T, atol=1e-6)
    store.save(tmp_path, "x")
    loaded = open_vector_store(tmp_path, "x", store.params())
    assert len(loaded) == 36 and np.array_equal(loaded.search(q, 3).ids, again.ids)
    assert loaded.params()["kind"] == kind


def test_faiss_and_memory_agree_on_every_query():
    v = _vectors(200, 16, seed=9)
    a, b = new_vector_store("faiss", 16), new_vector_store("memory", 16)
    for s in (a, b):
        s.add(np.arange(200), v)
    q = _vectors(20, 16, seed=1)
    assert np.array_equal(a.search(q, 10).ids, b.search(q, 10).ids)
    assert np.allclose(a.search(q, 10).scores, b.search(q, 10).scores, atol=1e-5)


def test_bm25_store_scores_df_add_remove_save(tmp_path):
    docs = [["人大", "监督", "执法"], ["信访", "稳定"], ["人大", "代表"]]
    store = Bm25Store()
    store.add(np.arange(3), docs)
    assert store.doc_freq("人大") == 2 and store.doc_freq("火星") == 0
    assert "信访" in store and "火星" not in store
    s = store.scores(["人大", "监督", "火星"])
    assert s.shape == (3,) and s[0] > s[2] > 0 == s[1]
    top = store.search(["人大"], 5, allowed=np.array([2]))
    assert list(top.row(0)) == [2]
    store.remove(np.array([0]))
    assert store.doc_freq("人大") == 1 and "监督" not in store and list(store.ids()) == [1, 2]
    store.add(np.array([7]), [["监督", "工作"]])
    assert store.doc_freq("监督") == 1 and list(store.search(["监督"], 3).row(0)) == [7]
    store.save(tmp_path, "bm25")
    loaded = open_lexical_store(tmp_path, "bm25", store.params())
    assert np.allclose(loaded.scores(["监督", "人大"]), store.scores(["监督", "人大"]))
    assert loaded.doc_freq("人大") == 1
    loaded.add(np.array([8]), [["人大"]])  # a loaded store can still change
    assert loaded.doc_freq("人大") == 2


def test_a_search_over_the_memory_store_equals_faiss(settings, fake):
    from assistant.build import build
    from assistant.search import Searcher

    faiss_index = build(settings, fake, progress=False)
    mem = settings.replace(store="memory", index_dir=settings.index.index_dir.parent / "mem-index")
    mem_index = build(mem, fake, progress=False)
    assert mem_index.manifest["stores"]["passages"]["kind"] == "memory"
    a, b = Searcher(faiss_index, fake, settings), Searcher(mem_index, fake, mem)
    for q in ("人大监督要采取哪些形式", "96.5%", "信访稳定工作怎么做", "秸秆综合利用"):
        ra, rb = a.search(q, k=5), b.search(q, k=5)
        assert [h.passage.id for h in ra.hits] == [h.passage.id for h in rb.hits]
        assert np.allclose([h.score for h in ra.hits], [h.score for h in rb.hits], atol=1e-5)


def _clustered(n, dim=32, centers=40, seed=5):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, dim))
    v = c[rng.integers(0, centers, n)] + 0.35 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_approximate_store_beyond_the_threshold(tmp_path):
    v = _clustered(6000)
    exact = new_vector_store("faiss", 32, len(v), ann_threshold=10_000)
    approx = new_vector_store("faiss", 32, len(v), ann_threshold=1000, nprobe=16)
    assert exact.params()["index"] == "IDMap2,Flat" and approx.params()["index"].startswith("IVF")
    for s in (exact, approx):
        s.add(np.arange(len(v)), v)
    q = _clustered(30, seed=8)
    truth, got = exact.search(q, 10).ids, approx.search(q, 10).ids
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)])
    assert recall >= 0.9, recall
    # scores of given ids come from the 8-bit codes: close to exact
    assert np.abs(approx.score(q, np.array([3, 99])) - v[[3, 99]] @ q.T).max() < 0.01
    mask = np.zeros(len(v), bool)
    mask[::5] = True
    assert all(i % 5 == 0 for i in approx.search(q, 10, mask).ids.ravel() if i >= 0)
    approx.remove(np.array([int(got[0][0])]))
    assert int(got[0][0]) not in approx.search(q[:1], 10).ids[0]
    approx.save(tmp_path, "ivf")
    back = open_vector_store(tmp_path, "ivf", approx.params())
    assert np.array_equal(back.search(q, 10).ids, approx.search(q, 10).ids)


def test_a_loaded_ivf_index_is_mapped_and_changes_after_a_read(tmp_path):
    v = _clustered(3000)
    ivf = new_vector_store("faiss", 32, len(v), ann_threshold=1000, nprobe=16)
    ivf.add(np.arange(len(v)), v)
    ivf.save(tmp_path, "ivf")
    back = open_vector_store(tmp_path, "ivf", ivf.params())
    assert back._mapped == tmp_path / "ivf.faiss"  # codes in the page cache, not copied
    q = _clustered(20, seed=3)
    assert np.array_equal(back.search(q, 10).ids, ivf.search(q, 10).ids)
    assert np.array_equal(back.vectors(np.array([0, 7, 2999])), ivf.vectors(np.array([0, 7, 2999])))
    (tmp_path / "ivf.faiss").rename(tmp_path / "pruned.faiss")  # a newer build replaced this one
    assert np.array_equal(back.search(q, 10).ids, ivf.search(q, 10).ids)
    # a change needs a writable index: copied into memory first, the file left as it was
    before = (tmp_path / "pruned.faiss").read_bytes()
    (tmp_path / "pruned.faiss").unlink()
    back.add(np.array([3000]), v[:1])
    back.remove(np.array([5]))
    assert back._mapped is None and len(back) == 3000 and 5 not in back.search(q, 50).ids
    assert np.array_equal(back.vectors(np.array([3000])), ivf.vectors(np.array([0])))
    back.save(tmp_path, "again")
    assert (tmp_path / "again.faiss").read_bytes() != before
