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
    """Every passage's mixed dense score, and the top candidates proposed by the vector
    stores of passages and of sentences, ordered by that score."""

    def __call__(self, state: QueryState) -> None:
        ix = self.index
        n = self.wanted(state)
        state.dense_all = ix.dense_scores(state.vector.astype(np.float32))
        allowed = None if state.mask is None else np.flatnonzero(state.mask)
        cands = set(self._top(ix.dense, state.vector, n, allowed).tolist())
        if ix.sentence_weight and len(ix.sentence_owner):
            owner = ix.sentence_owner
            s_allowed = None if state.mask is None else np.flatnonzero(state.mask[owner])
            cands.update(owner[self._top(ix.sentences, state.vector, n, s_allowed)].tolist())
        order = sorted(cands, key=lambda i: -state.dense_all[i])[:n]
        state.dense_top = np.array(order, dtype=np.int64)

    @staticmethod
    def _top(store, qvec: np.ndarray, n: int, allowed: np.ndarray | None) -> np.ndarray:
        if not len(store) or (allowed is not None and not len(allowed)):
            return np.zeros(0, np.int64)
        return store.search(qvec.reshape(1, -1), n, allowed).row(0)


class LexicalRetriever(_Retriever):
    """BM25 scores of every passage for the query's tokens, the top candidates, and the
    query's content terms weighted by IDF (fusion and abstention share them)."""

    def __call__(self, state: QueryState) -> None:
        ix = self.index
        n = self.wanted(state)
        bm = ix.lexical.scores(ix.tokenizer(state.text))
        if state.mask is not None:
            bm = np.where(state.mask, bm, 0.0)
        order = np.argsort(-bm, kind="stable")
        state.bm25_all = bm
        state.bm25_top = order[bm[order] > 0][:n]
        state.terms = idf_weights(ix, ix.tokenizer.content_terms(state.text))


def idf_weights(index: Index, terms: list[str]) -> dict[str, float]:
    """BM25-style IDF of each term over the passages (an unseen term gets the maximum)."""
    n = len(index.passages)
    out = {}
    for t in terms:
        df = index.lexical.doc_freq(t)
        out[t] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out
