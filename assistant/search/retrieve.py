"""Retrieval stages: candidates from the dense ranker (FAISS over passage and sentence
vectors) and from the lexical ranker (BM25 over jieba tokens)."""
from __future__ import annotations

import math

import numpy as np

from ..index import Index
from .state import QueryState


class _Retriever:
    """A ranker over ``index`` contributing ``candidates`` (at least 4 × k) to fusion."""

    def __init__(self, index: Index, candidates: int):
        self.index = index
        self.candidates = candidates

    def wanted(self, state: QueryState) -> int:
        return max(self.candidates, state.k * 4)


class DenseRetriever(_Retriever):
    """The top candidates proposed by the vector stores of passages and of sentences,
    ordered by the mixed dense score; and the query's null distribution on the sample."""

    def __call__(self, state: QueryState) -> None:
        ix = self.index
        n = self.wanted(state)
        q = state.vector.astype(np.float32)
        allowed = state.mask
        cands = set(self._top(ix.dense, q, n, allowed).tolist())
        if ix.sentence_weight and len(ix.sentence_owner):
            s_allowed = None if allowed is None else allowed[ix.sentence_owner]
            cands.update(ix.sentence_owner[self._top(ix.sentences, q, n, s_allowed)].tolist())
        ids = np.array(sorted(cands), dtype=np.int64)
        scores = ix.dense_scores(q, ids) if len(ids) else np.zeros(0, np.float32)
        state.dense.update(zip(ids.tolist(), scores.tolist()))
        state.dense_top = ids[np.argsort(-scores, kind="stable")][:n]
        null = ix.null_ids(allowed)
        null_scores = ix.dense_scores(q, null) if len(null) else np.zeros(0, np.float32)
        if len(null_scores) >= 2:
            state.dense_null = (float(null_scores.mean()), float(null_scores.std()) or 1e-6)
        best = [float(x.max()) for x in (scores, null_scores) if len(x)]
        state.dense_best = max(best) if best else 0.0
        state.null = null

    @staticmethod
    def _top(store, qvec: np.ndarray, n: int, allowed: np.ndarray | None) -> np.ndarray:
        if not len(store) or (allowed is not None and not allowed.any()):
            return np.zeros(0, np.int64)
        return store.search(qvec.reshape(1, -1), n, allowed).row(0)


class LexicalRetriever(_Retriever):
    """BM25 scores for the query's tokens, the top candidates, the positive scores' null
    statistics, and the query's content terms weighted by IDF (fusion and abstention share them)."""

    def __call__(self, state: QueryState) -> None:
        ix = self.index
        n = self.wanted(state)
        bm = ix.lexical.scores(ix.tokenizer(state.text), text=state.text)
        if state.mask is not None:
            bm = np.where(state.mask, bm, 0.0)
        state.bm25_all = bm
        state.bm25_top = top_positive(bm, n)
        null = state.null if state.null is not None else ix.null_ids(state.mask)
        pos = bm[null][bm[null] > 0]
        if len(pos) > 1:
            state.bm25_null = (float(pos.mean()), float(pos.std()) or 1.0)
        state.terms = idf_weights(ix, ix.tokenizer.content_terms(state.text))


def top_positive(scores: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` highest positive scores' ids, best first, ties by id (a stable sort of the
    whole array gives the same), in time linear in the corpus."""
    pos = np.flatnonzero(scores > 0)
    if len(pos) > n:
        cut = np.partition(scores[pos], len(pos) - n)[len(pos) - n]
        pos = pos[scores[pos] >= cut]
    return pos[np.argsort(-scores[pos], kind="stable")][:n]


def idf_weights(index: Index, terms: list[str]) -> dict[str, float]:
    """BM25-style IDF of each term over the passages (an unseen term gets the maximum)."""
    n = len(index.passages)
    out = {}
    for t in terms:
        df = index.lexical.doc_freq(t)
        out[t] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out
