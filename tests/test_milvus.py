"""The Milvus backend (``store = "milvus"``) on milvus-lite: the store protocols, Milvus's own
BM25, builds that own their collections (dropped when pruned or failed), the messages when
pymilvus is missing; and, with the real model, top-5 agreement with FAISS on the eval queries.

milvus-lite reimplements the Milvus API in Python, so these tests prove the client code, not
the server. They are skipped when pymilvus or milvus-lite is missing, unless
ASSISTANT_REQUIRE_MILVUS=1 (CI), where they must run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.store import new_lexical_store, new_vector_store, open_lexical_store, open_vector_store

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
HAVE = all(importlib.util.find_spec(m) for m in ("pymilvus", "milvus_lite"))
if not HAVE and os.environ.get("ASSISTANT_REQUIRE_MILVUS") == "1":
    raise RuntimeError("ASSISTANT_REQUIRE_MILVUS=1 but pymilvus/milvus-lite are missing: "
                       "pip install -r requirements-milvus.txt")
needs_milvus = pytest.mark.skipif(not HAVE, reason="pymilvus/milvus-lite not installed "
                                                   "(pip install -r requirements-milvus.txt)")


@pytest.fixture(scope="session")
def lite(tmp_path_factory) -> str:
    """One milvus-lite database for the session (each build has its own collections)."""
    return str(tmp_path_factory.mktemp("milvus") / "test.db")


@pytest.fixture
def msettings(settings, lite):
    return settings.replace(store="milvus", milvus_uri=lite)


def _place(lite: str, name: str) -> dict:
    return {"uri": lite, "collection": f"t_{name}_{os.urandom(3).hex()}"}


def _vectors(n=40, dim=16, seed=3):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@needs_milvus
def test_vector_store_search_score_remove_reopen(lite, tmp_path):
    v = _vectors()
    store = new_vector_store("milvus", 16, 40, milvus=_place(lite, "v"))
    store.add(np.arange(40), v)
    q = v[:3] + 0.01
    top = store.search(q, 5)
    assert np.array_equal(top.ids, np.argsort(-(v @ q.T), axis=0)[:5].T)
    assert np.allclose(top.scores, np.sort(v @ q.T, axis=0)[::-1][:5].T, atol=1e-5)
    assert np.allclose(store.score(q, np.array([7, 2])), v[[7, 2]] @ q.T, atol=1e-6)
    mask = np.zeros(40, bool)
    mask[[10, 11, 12]] = True
    assert set(store.search(q[:1], 5, allowed=mask).row(0)) == {10, 11, 12}
    store.remove(np.array([0, 1, 2, 30, 99]))  # 99 is unknown: ignored
    assert len(store) == 36
    assert not set(store.search(q, 3).ids.ravel()) & {0, 1, 2, 30}
    assert np.allclose(store.vectors(np.array([5, 39])), v[[5, 39]])
    with pytest.raises(KeyError):
        store.vectors(np.array([0]))
    assert store.save(tmp_path, "x") == []  # nothing in the build folder: it is all in Milvus
    back = open_vector_store(tmp_path, "x", store.params())
    assert len(back) == 36 and np.array_equal(back.search(q, 3).ids, store.search(q, 3).ids)
    assert store.params()["index"] == "FLAT"
    store.drop()


@needs_milvus
def test_approximate_index_beyond_the_threshold(lite):
    v = _vectors(1500, 16, seed=4)
    store = new_vector_store("milvus", 16, len(v), ann_threshold=1000, nprobe=64, milvus=_place(lite, "ivf"))
    assert store.params()["index"] == "IVF_SQ8" and store.params()["nlist"] > 0
    store.add(np.arange(len(v)), v)
    q = _vectors(10, 16, seed=6)
    truth = np.argsort(-(v @ q.T), axis=0)[:10].T
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, store.search(q, 10).ids)])
    assert recall >= 0.9, recall
    store.drop()


@needs_milvus
def test_milvus_bm25_scores_df_remove_reopen(lite, tmp_path):
    from assistant.store.milvus import analyzer_params

    texts = ["人大监督要依法进行，执法检查。", "信访稳定工作要早发现、早处理。", "人大代表要联系群众。"]
    tokens = [["人大", "监督", "依法", "执法", "检查"], ["信访", "稳定", "工作"], ["人大", "代表", "联系", "群众"]]
    store = new_lexical_store("milvus", _place(lite, "bm"), analyzer_params(["人大代表"], ["要"]))
    store.add(np.arange(3), tokens, texts)
    assert store.doc_freq("人大") == 2 and "信访" in store and "火星" not in store
    s = store.scores([], text="人大监督")
    assert s.shape == (3,) and s[0] > s[2] > 0 == s[1]
    # punctuation and stopwords are dropped by Milvus's analyzer: they match nothing
    assert not store.scores([], text="，。要").any()
    assert list(store.search([], 5, allowed=np.array([2]), text="人大").row(0)) == [2]
    assert list(store.search(["信访"], 5).row(0)) == [1]  # without a text: the tokens joined
    store.remove(np.array([0]))
    assert store.doc_freq("人大") == 1 and "监督" not in store and list(store.ids()) == [1, 2]
    names = store.save(tmp_path, "bm25")
    assert sorted(names) == ["bm25.df.json", "bm25.ids.npy"]
    back = open_lexical_store(tmp_path, "bm25", store.params())
    assert np.allclose(back.scores([], text="人大 信访"), store.scores([], text="人大 信访"))
    assert back.doc_freq("人大") == 1 and len(back) == 2
    store.drop()


@needs_milvus
def test_build_search_reload_and_prune(msettings, settings, fake):
    from assistant.build import build
    from assistant.corpus import add_files
    from assistant.index import load
    from assistant.search import Searcher
    from assistant.store.milvus import client

    first = build(msettings, fake, progress=False)
    stores = first.manifest["stores"]
    assert {p["kind"] for p in stores.values()} == {"milvus", "milvus-bm25"}
    assert {p["uri"] for p in stores.values()} == {msettings.index.milvus_address}
    assert not list(first.path.glob("*.faiss"))
    c = client(msettings.index.milvus_address)
    names = [p["collection"] for p in stores.values()]
    assert all(c.has_collection(n) and first.path.name.replace("-", "_") in n for n in names)
    # the same rankings as the embedded stores on the tiny corpus
    embedded = settings.replace(index_dir=settings.index.index_dir.parent / "faiss-index")
    a = Searcher(build(embedded, fake, progress=False), fake, embedded)
    b = Searcher(load(msettings, fake), fake, msettings)
    for q in ("人大监督要采取哪些形式", "信访稳定工作怎么做", "秸秆综合利用", "每个乡镇配备几名人大工作人员"):
        assert [h.passage.id for h in a.search(q, k=3).hits] == [h.passage.id for h in b.search(q, k=3).hits], q
    assert [h.passage.id for h in a.similar(SIMILAR, k=3).hits] == [h.passage.id for h in b.similar(SIMILAR, k=3).hits]
    # a corpus change is a new build in new collections; the old build's are dropped
    extra = msettings.index.corpus_dir.parent / "d.txt"
    extra.write_text("另一篇讲话\n同志们:秸秆禁烧工作要常抓不懈,这是一段新的讲话内容。\n", "utf-8")
    report = add_files(msettings, fake, [extra])
    new = [p["collection"] for p in report.index.manifest["stores"].values()]
    assert set(new).isdisjoint(names) and all(c.has_collection(n) for n in new)
    assert not any(c.has_collection(n) for n in names)
    assert any(h.passage.citation.source == "d.txt" for h in Searcher(report.index, fake, msettings).search("秸秆禁烧").hits)


SIMILAR = "人大监督是宪法和法律赋予乡镇人大的重要职权。乡镇人大要通过执法检查、视察、听取报告和述职评议等形式"


@needs_milvus
def test_failed_build_drops_its_collections(msettings, fake, monkeypatch):
    from assistant import build as b
    from assistant.index import load
    from assistant.store.milvus import client

    good = b.build(msettings, fake, progress=False)
    c = client(msettings.index.milvus_address)
    before = set(c.list_collections())
    monkeypatch.setattr("assistant.calibrate.calibrate", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError, match="killed"):
        b.build(msettings, fake, progress=False)
    monkeypatch.undo()
    assert set(c.list_collections()) == before  # the failed build's collections are gone
    assert not list((msettings.index.index_dir / "builds").glob("*.partial"))
    assert load(msettings, fake).path == good.path


@needs_milvus
def test_a_missing_collection_says_rebuild(msettings, fake):
    from assistant.build import build
    from assistant.errors import IndexError_
    from assistant.index import load
    from assistant.store.milvus import client

    ix = build(msettings, fake, progress=False)
    client(msettings.index.milvus_address).drop_collection(ix.manifest["stores"]["sentences"]["collection"])
    with pytest.raises(IndexError_, match="build --force"):
        load(msettings, fake)


def test_milvus_settings(settings, tmp_path):
    from assistant.index import build_params

    s = settings.replace(store="milvus")
    assert s.index.milvus_address == str((settings.index.index_dir / "milvus.db").resolve())
    assert s.replace(milvus_uri="http://milvus:19530").index.milvus_address == "http://milvus:19530"
    assert "milvus_uri" in build_params(s) and "milvus_uri" not in build_params(settings)
    with pytest.raises(ValueError, match="faiss, memory, milvus"):
        settings.replace(store="qdrant")


def test_missing_pymilvus_names_the_requirements_file(msettings, fake, monkeypatch):
    from assistant.build import build
    from assistant.errors import AssistantError
    from assistant.store import milvus

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus -> ImportError
    monkeypatch.setattr(milvus, "_clients", {})
    with pytest.raises(AssistantError, match="requirements-milvus.txt"):
        build(msettings, fake, progress=False)
    assert not [d for d in (msettings.index.index_dir / "builds").iterdir() if d.is_dir()]


def test_the_default_stores_never_import_pymilvus(settings):
    code = ("import sys; from assistant.build import build; from assistant.embed import FakeEmbedder; "
            "from assistant.settings import Settings; "
            f"s = Settings.load(corpus_dir={str(settings.index.corpus_dir)!r}, "
            f"index_dir={str(settings.index.index_dir)!r}, model='fake'); "
            "build(s, FakeEmbedder(), progress=False); print('pymilvus' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr[-2000:]


# --------------------------------------------------------------------------- real model

def _top5(service, q: dict) -> list[str]:
    fn = service.searcher.similar if q["type"] == "similar" else service.searcher.search
    return [h.passage.id for h in fn(q["query"], k=5).hits]


@needs_milvus
@pytest.mark.real
def test_top5_agrees_with_faiss_on_the_eval_queries(real_service, tmp_path, capsys):
    """The seed corpus built on milvus-lite (embeddings from the FAISS build's cache) gives the
    same top 5 (as a set; both abstaining counts) on ≥ 90 % of the eval queries: the dev set
    with the project's extra and extra2 sets, 117 in all. Per set the figure is printed; the
    dev set alone (24) is 21 here, its 3 differences near-ties at rank 5 (README, Milvus)."""
    from assistant.build import build
    from assistant.service import QueryService

    if not DEV.is_file():
        pytest.skip(f"no eval queries at {DEV}")
    ref = real_service.settings
    s = ref.replace(index_dir=tmp_path / "index", store="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    shutil.copytree(ref.index.index_dir / "cache", s.index.index_dir / "cache")
    mv = QueryService(s, real_service.embedder, build(s, real_service.embedder, progress=False))
    sets = {p.name: [json.loads(line) for line in p.read_text("utf-8").splitlines() if line.strip()]
            for p in (DEV, ROOT / "eval" / "extra.jsonl", ROOT / "eval" / "extra2.jsonl") if p.is_file()}
    lines, agree, total = [], {}, 0
    for name, queries in sets.items():
        pairs = [(_top5(real_service, q), _top5(mv, q)) for q in queries]
        agree[name] = sum(set(a) == set(b) for a, b in pairs)
        order = sum(a == b for a, b in pairs)
        lines.append(f"{name}: {agree[name]}/{len(pairs)} as sets, {order}/{len(pairs)} in the same order")
        lines += [f"  differs: {q['id']} {q['query'][:24]} {a} vs {b}" for q, (a, b) in zip(queries, pairs)
                  if set(a) != set(b)]
        total += len(pairs)
    with capsys.disabled():
        print(f"\nMilvus (milvus-lite) vs FAISS top-5 agreement: {sum(agree.values())}/{total}\n" + "\n".join(lines))
    assert sum(agree.values()) >= 0.9 * total
