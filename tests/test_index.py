"""Index round trip, manifest, mismatch and corruption detection, atomic rebuilds, embedding cache."""
import json
import shutil

import numpy as np
import pytest

from assistant.embed import FakeEmbedder
from assistant.errors import IndexError_, IndexMismatch, IndexMissing
from assistant.build import build, ensure
from assistant.index import file_digests, load, read_manifest, seal


def vecs(store):
    return store.vectors(np.arange(len(store)))


def test_round_trip(settings, fake):
    built = build(settings, fake, progress=False)
    again = load(settings, fake)
    assert [p.to_dict() for p in again.passages] == [p.to_dict() for p in built.passages]
    assert np.array_equal(vecs(again.dense), vecs(built.dense))
    assert len(again.dense) == len(again.lexical) == len(again.passages)
    m = again.manifest
    assert m["model"]["name"] == fake.name and m["model"]["dim"] == fake.dim
    assert m["counts"] == {"documents": 4, "passages": len(built.passages), "sentences": len(built.sentence_owner)}
    # sentence vectors: every sentence of each multi-sentence passage, in passage order
    assert len(built.sentence_owner) > 0 and np.all(np.diff(built.sentence_owner) >= 0)
    assert np.array_equal(vecs(again.sentences), vecs(built.sentences))
    assert np.array_equal(again.sentence_owner, built.sentence_owner)
    assert len(again.sentences) == len(again.sentence_owner)
    assert again.sentence_weight == settings.index.sentence_weight
    assert m["stores"]["passages"]["kind"] == "faiss" and m["stores"]["lexical"]["kind"] == "bm25s"
    assert set(m["files"]) == {"a.txt", "b.txt", "c.txt"}
    for key in ("corpus_hash", "versions", "built_at", "params"):
        assert m[key]
    assert "faiss" in m["versions"] and "bm25s" in m["versions"]
    # ids are unique and stable across rebuilds
    ids = [p.id for p in built.passages]
    assert len(set(ids)) == len(ids)
    assert [p.id for p in build(settings, fake, progress=False).passages] == ids


def test_missing_index_says_how_to_build(settings, fake):
    with pytest.raises(IndexMissing, match="python -m assistant build"):
        load(settings, fake)


def test_model_mismatch_refused(settings, fake):
    build(settings, fake, progress=False)
    other = FakeEmbedder(dim=64)
    other.name, other.fingerprint = "other-model", "other-model-v1"
    with pytest.raises(IndexMismatch, match="other-model.*build --force"):
        load(settings, other)


def test_format_mismatch_refused(settings, fake):
    build(settings, fake, progress=False)
    path = settings.index.index_dir / "current" / "manifest.json"
    m = json.loads(path.read_text())
    m["params"]["format"] = -1
    path.write_text(json.dumps(m))
    with pytest.raises(IndexMismatch, match="format"):
        load(settings, fake)


@pytest.mark.parametrize("victim", ["passages.faiss", "passages.jsonl", "sentences.faiss", "sentence_owner.npy",
                                    "bm25/doc_tokens.npy", "bm25/terms.json", "groups.json"])
def test_corrupt_index_refused_with_rebuild_hint(settings, fake, victim):
    build(settings, fake, progress=False)
    target = settings.index.index_dir / "current" / victim
    target.write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="build --force"):
        load(settings, fake)


def test_sentence_owners_out_of_range_refused(settings, fake):
    built = build(settings, fake, progress=False)
    owner = built.sentence_owner.copy()
    owner[-1] = len(built.passages) + 5
    base = settings.index.index_dir / "current"
    np.save(base / "sentence_owner.npy", owner)
    # re-sealed, as a build with a bug would have written it: the consistency checks catch it
    m = json.loads((base / "manifest.json").read_text())
    m["build_files"] = file_digests(base)
    (base / "manifest.json").write_text(json.dumps(seal(m)))
    with pytest.raises(IndexError_, match="inconsistent.*build --force"):
        load(settings, fake)


def test_dense_scores_mix_the_best_sentence(settings, fake):
    index = build(settings, fake, progress=False)
    q = fake.embed_queries(["秸秆禁烧"])[0]
    whole = vecs(index.dense) @ q
    mixed = index.dense_scores(q)
    w = index.sentence_weight
    for i in range(len(index)):
        own = vecs(index.sentences)[index.sentence_owner == i]
        expect = whole[i] if not len(own) else (1 - w) * whole[i] + w * float((own @ q).max())
        assert abs(mixed[i] - expect) < 1e-5
    # a matrix of queries gives one column per query
    both = index.dense_scores(fake.embed_queries(["秸秆禁烧", "人大监督"]))
    assert both.shape == (len(index), 2) and np.allclose(both[:, 0], mixed, atol=1e-6)
    # weight 0: passage vectors only, and no sentence vectors are built
    plain = build(settings.replace(sentence_weight=0.0), fake, progress=False)
    assert len(plain.sentence_owner) == 0 and np.allclose(plain.dense_scores(q), vecs(plain.dense) @ q, atol=1e-6)


def test_stale_corpus_triggers_rebuild(settings, fake):
    first = ensure(settings, fake, progress=False)
    assert ensure(settings, fake, progress=False).path == first.path  # up to date: loaded, not rebuilt
    (settings.index.corpus_dir / "d.txt").write_text("新的讲话\n同志们:今天我们专门研究秸秆禁烧工作,各村要落实责任。\n", "utf-8")
    with pytest.raises(IndexMismatch, match="corpus files changed"):
        load(settings, fake, check_corpus=True)
    rebuilt = ensure(settings, fake, progress=False)
    assert rebuilt.path != first.path
    assert any(p.citation.source == "d.txt" for p in rebuilt.passages)


def test_failed_build_leaves_previous_index_usable(settings, fake, monkeypatch):
    good = build(settings, fake, progress=False)
    (settings.index.corpus_dir / "d.txt").write_text("另一篇讲话\n同志们:这是一段新的讲话内容,用来触发重建。\n", "utf-8")

    def boom(*a, **k):
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(fake, "embed_passages", boom)
    with pytest.raises(RuntimeError):
        build(settings, fake, progress=False)
    monkeypatch.undo()
    still = load(settings, fake)
    assert [p.id for p in still.passages] == [p.id for p in good.passages]


def test_embedding_cache_skips_unchanged_passages(settings, fake):
    build(settings, fake, progress=False)
    n_first = fake.calls
    (settings.index.corpus_dir / "d.txt").write_text("补充讲话\n同志们:今天补充强调一下森林防火工作,大家务必高度重视。\n", "utf-8")
    build(settings, fake, progress=False)
    assert 0 < fake.calls - n_first <= 2


def test_removed_build_folder_is_reported(settings, fake):
    build(settings, fake, progress=False)
    shutil.rmtree((settings.index.index_dir / "current").resolve())
    assert read_manifest(settings) is None
    with pytest.raises(IndexMissing):
        load(settings, fake)


def test_corrupt_caches_only_cost_time(settings, fake):
    first = build(settings, fake, progress=False)
    for f in (settings.index.index_dir / "cache").iterdir():
        f.write_bytes(b"\x00garbage{")
    again = build(settings, fake, progress=False)
    assert [p.to_dict() for p in again.passages] == [p.to_dict() for p in first.passages]
    assert np.allclose(vecs(again.dense), vecs(first.dense))


def test_passages_with_unicode_line_separators_load(settings, fake):
    # found by tests/test_fuzz.py: passages.jsonl was read with splitlines(), which also breaks at
    # U+2028, U+2029, U+0085 and \x1c-\x1e (json.dumps leaves them raw): the new index would not load
    text = "乡镇人大要加强监督\u2028执法检查\u2029视察\x85调研\x1c评议\x1d测评\x1e整改，切实增强监督实效。"
    (settings.index.corpus_dir / "d.md").write_text(f"# 监督工作会议讲话\n\n{text}\n", "utf-8")
    build(settings, fake, progress=False)
    again = load(settings, fake)
    assert any(p.text == text for p in again.passages)


def test_eval_queries_with_a_line_separator(tmp_path):
    from assistant.evaluate import read_queries

    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"id": "a", "type": "semantic", "query": "监督\u2028形式"}, ensure_ascii=False) + "\n",
                 "utf-8")
    assert read_queries(f)[0]["query"] == "监督\u2028形式"
