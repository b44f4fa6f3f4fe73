"""Synthetic-scale figures: the seed corpus grown to N passages, built, then searched.

    python scripts/scale_bench.py build N FOLDER   # writes an index of N passages into FOLDER
    python scripts/scale_bench.py serve N FOLDER   # loads it in a fresh process and measures

Passage i copies seed passage i mod 534 (its text, context and citation; its own id and
speech), with a vector derived from the real passage embedding plus Gaussian noise
(cosine ≈ 0.97 to the original), and the real passage's sentence vectors likewise
(≈ 4.9 sentences a passage); BM25 indexes the copies' real tokens (replicated paragraphs).
Vectors are generated in chunks from a seed, so ``serve`` can regenerate them to compute
exact top-10s for recall. Each step prints one JSON line of figures (benchmark.py reads them).
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from assistant.build import _write, null_sample
from assistant.columns import PhraseIndex
from assistant.evaluate import read_queries
from assistant.index import Index, build_params, load
from assistant.service import QueryService
from assistant.settings import ROOT, Settings
from assistant.store import new_vector_store
from assistant.store.bm25 import Bm25Store
from assistant.types import Passage

NOISE = 0.0128  # per dimension: |noise| ≈ 0.25, cosine to the original ≈ 0.97
CHUNK = 50_000


def peak_mb() -> float:
    """This process's peak resident memory, MB: VmHWM of its own address space. (ru_maxrss
    would not do: Linux carries the parent's peak across fork and exec, so a run started from
    the benchmark reported the benchmark's own 4.9 GB.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_parts() -> dict:
    """Resident memory now, MB: anonymous (the process's own) and file-backed (mapped index
    files, which the kernel can drop and re-read)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024) for k in ("RssAnon", "RssFile") if k in fields}


def seed_parts():
    """The real seed index: passages, vectors, sentence vectors and owners, token lists."""
    svc = QueryService.open(Settings.load(), progress=False)
    ix = svc.index
    n = len(ix)
    vec = ix.dense.vectors(np.arange(n))
    svec = ix.sentences.vectors(np.arange(len(ix.sentence_owner)))
    vocab = list(ix.lexical._vocab)
    tokens = [[vocab[t] for t in d] for d in ix.lexical._doc_tokens()]
    return svc, ix, vec, svec, ix.sentence_owner, tokens


def noisy(base: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = base + rng.normal(scale=NOISE, size=base.shape).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def passage_chunks(n: int, vec: np.ndarray):
    """(first id, vectors) of the N synthetic passages, CHUNK at a time."""
    for start in range(0, n, CHUNK):
        ids = np.arange(start, min(n, start + CHUNK))
        yield start, noisy(vec[ids % len(vec)], seed=1_000_000 + start)


def sentence_layout(n: int, owner: np.ndarray):
    """For the N passages: the seed sentence each synthetic sentence copies, and its owner."""
    per = np.bincount(owner, minlength=int(owner.max()) + 1)
    starts = np.r_[0, np.cumsum(per)[:-1]]
    src = np.arange(n) % len(per)
    counts = per[src]
    first = starts[src]
    total = int(counts.sum())
    offs = np.arange(total) - np.repeat(np.cumsum(np.r_[0, counts[:-1]]), counts)
    return np.repeat(first, counts) + offs, np.repeat(np.arange(n), counts)


def build(n: int, folder: Path) -> dict:
    t0 = time.perf_counter()
    svc, ix, vec, svec, owner, tokens = seed_parts()
    settings = svc.settings.replace(index_dir=folder)
    s = settings.index
    fig = {"n": n}
    t = time.perf_counter()
    dense = new_vector_store("faiss", vec.shape[1], n, s.ann_threshold, settings.retrieval.ann_nprobe)
    for start, v in passage_chunks(n, vec):
        dense.add(np.arange(start, start + len(v)), v)
    src, sent_owner = sentence_layout(n, owner)
    sents = new_vector_store("faiss", vec.shape[1], len(src), s.ann_threshold, settings.retrieval.ann_nprobe)
    for start in range(0, len(src), CHUNK * 5):
        part = src[start:start + CHUNK * 5]
        sents.add(np.arange(start, start + len(part)), noisy(svec[part], seed=2_000_000 + start))
    fig["vectors_s"] = round(time.perf_counter() - t, 1)
    fig["sentences"] = int(len(src))
    t = time.perf_counter()
    lexical = Bm25Store()
    lexical.add(np.arange(n), [tokens[i % len(tokens)] for i in range(n)])
    fig["bm25_s"] = round(time.perf_counter() - t, 1)
    passages = []
    for i in range(n):
        p = ix.passages[i % len(ix)]
        copy = i // len(ix)
        passages.append(Passage(id=f"{p.id}~{copy}", doc_id=f"{p.doc_id}~{copy}", text=p.text, citation=p.citation,
                                position=p.position, context=p.context))
    t = time.perf_counter()
    phrases = PhraseIndex.build([p.text for p in passages])
    fig["phrase_s"] = round(time.perf_counter() - t, 1)
    manifest = dict(ix.manifest, params=build_params(settings), seconds={}, synthetic=n,
                    counts={"documents": len({p.doc_id for p in passages}), "passages": n, "sentences": len(src)})
    big = Index(passages=passages, dense=dense, sentences=sents, sentence_owner=sent_owner, lexical=lexical,
                tokenizer=ix.tokenizer, manifest=manifest, groups=list(range(n)), path=folder,
                sentence_weight=ix.sentence_weight, null_sample=null_sample(n, s.null_sample), phrases=phrases)
    t = time.perf_counter()
    _write(big, settings, t0)
    fig["write_s"] = round(time.perf_counter() - t, 1)
    fig["build_s"] = round(time.perf_counter() - t0, 1)
    fig["build_peak_mb"] = round(peak_mb())
    fig["index"] = dense.params()["index"], sents.params()["index"]
    return fig


def serve(n: int, folder: Path) -> dict:
    t0 = time.perf_counter()
    base = QueryService.open(Settings.load(), progress=False)
    settings = base.settings.replace(index_dir=folder)
    index = load(settings, base.embedder)
    svc = QueryService(settings, base.embedder, index)
    fig = {"n": n, "load_s": round(time.perf_counter() - t0, 1)}
    queries = [q["query"] for q in read_queries(ROOT.parent / "shared" / "eval" / "dev.jsonl")
               + read_queries(ROOT / "eval" / "extra.jsonl") if q["type"] != "similar"]
    for q in queries[:3]:
        svc.search(q)
    lat, stages = [], {}
    for q in queries:
        t = time.perf_counter()
        r = svc.search(q)
        lat.append(time.perf_counter() - t)
        for k, v in r.timings.items():
            stages.setdefault(k, []).append(v)
    lat.sort()
    fig.update(p50_ms=round(1000 * lat[len(lat) // 2], 1), p95_ms=round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
               stages_ms={k: round(1000 * float(np.median(v)), 2) for k, v in stages.items()},
               serve_peak_mb=round(peak_mb()), serve_rss_mb=rss_parts())
    # (after the serving figures: the exact recall regenerates every vector, which serving never does)
    fig["recall@10"] = recall(svc, index, queries[:40], n)
    return fig


def recall(svc, index, queries: list[str], n: int) -> dict:
    """recall@10 of the passage and sentence stores against exact inner products over the
    same (regenerated) vectors."""
    _, ix, vec, svec, owner, _ = seed_parts()
    qv = svc.embedder.embed_queries(queries)
    passages = _recall(qv, passage_chunks(n, vec), index.dense)
    src, _ = sentence_layout(n, owner)
    blocks = ((start, noisy(svec[src[start:start + CHUNK * 5]], seed=2_000_000 + start))
              for start in range(0, len(src), CHUNK * 5))
    sents = _recall(qv, blocks, index.sentences)
    return {"passages": round(passages, 3), "sentences": round(sents, 3)}


def _recall(qv: np.ndarray, blocks, store) -> float:
    """recall@10 of ``store`` against the exact top 10 over ``blocks`` of (first id, vectors)."""
    best_s, best_i = [], []
    for start, v in blocks:
        s = v @ qv.T
        top = np.argsort(-s, axis=0)[:10]
        best_s.append(np.take_along_axis(s, top, axis=0).T)
        best_i.append(top.T + start)
    s_all, i_all = np.hstack(best_s), np.hstack(best_i)
    truth = np.take_along_axis(i_all, np.argsort(-s_all, axis=1)[:, :10], axis=1)
    got = store.search(qv, 10).ids
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)]))


if __name__ == "__main__":
    step, n, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(build(n, folder) if step == "build" else serve(n, folder), ensure_ascii=False))
