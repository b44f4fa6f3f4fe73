"""Fusion stage: one score per candidate from the dense and lexical rankers.

``hybrid`` mode combines them (``Fusion``): ``rrf`` (reciprocal rank fusion), ``zscore``
(each ranker's score standardized against the query's own score distribution over the
corpus, weighted and summed) or ``adaptive`` (zscore with the BM25 weight scaled by how
much of the query BM25's best passage actually contains). In ``hybrid`` and ``bm25`` mode a
short query found verbatim in a passage lifts that passage to the top (``dense`` mode is
the plain embedding ranking, for comparison).
"""
from __future__ import annotations

import numpy as np

from ..index import Index
from ..settings import RetrievalSettings
from ..text import bare
from ..types import Fusion, Mode
from .state import QueryState


def score_dense(index: Index, state: QueryState, ids) -> None:
    """Add the dense scores of ``ids`` not scored yet (BM25's candidates) to ``state.dense``."""
    todo = np.array(sorted(i for i in ids if i not in state.dense), dtype=np.int64)
    if len(todo):
        state.dense.update(zip(todo.tolist(), index.dense_scores(state.vector.astype(np.float32), todo).tolist()))


def coverage(idf: dict[str, float], texts: list[str]) -> float:
    """Share of the query's IDF weight (``idf``: term -> weight) found in any of ``texts``."""
    total = sum(idf.values())
    if not total:
        return 0.0
    return sum(w for t, w in idf.items() if any(t in x for x in texts)) / total


class Fuse:
    """Candidate -> score for the query's mode, then the verbatim-phrase lift."""

    def __init__(self, index: Index, settings: RetrievalSettings):
        self.index = index
        self.settings = settings

    def __call__(self, state: QueryState) -> None:
        if state.mode == Mode.DENSE:
            fused = {int(i): state.dense[int(i)] for i in state.dense_top}
        elif state.mode == Mode.BM25:
            fused = {int(i): float(state.bm25_all[i]) for i in state.bm25_top}
        elif self.settings.fusion == Fusion.RRF:
            fused = self._rrf(state)
        else:
            weight = state.bm25_weight
            if self.settings.fusion == Fusion.ADAPTIVE:
                weight *= self._lexical_match(state)
            fused = self._zscore(state, weight)
        if self.settings.phrase_boost and state.mode != Mode.DENSE:
            self._lift_phrases(state, fused)
        state.fused = fused

    def _rrf(self, state: QueryState) -> dict[int, float]:
        fused, rk = {}, self.settings.rrf_k
        for r, i in enumerate(state.dense_top):
            fused[int(i)] = fused.get(int(i), 0.0) + self.settings.dense_weight / (rk + r + 1)
        for r, i in enumerate(state.bm25_top):
            fused[int(i)] = fused.get(int(i), 0.0) + state.bm25_weight / (rk + r + 1)
        return fused

    def _lexical_match(self, state: QueryState) -> float:
        """Share of the query's IDF-weighted words that BM25's best passage contains: how far
        the lexical ranker's evidence deserves trust for this query. A paraphrased question
        ("乡里的人大该配几个专门干事") shares few words with its answer, so BM25's top hits are
        noise there; an exact term or figure is matched in full."""
        if not len(state.bm25_top):
            return 0.0
        top = self.index.passages[int(state.bm25_top[0])]
        return coverage(state.terms, [top.context + top.text])

    def _zscore(self, state: QueryState, bm25_weight: float) -> dict[int, float]:
        """Weighted sum of each ranker's score standardized against this query's own score
        distribution (its null distribution, measured on the null sample), over both rankers'
        candidates."""
        bm = state.bm25_all
        d_mu, d_sd = state.dense_null
        b_mu, b_sd = state.bm25_null
        ids = set(int(x) for x in state.dense_top) | set(int(x) for x in state.bm25_top)
        score_dense(self.index, state, ids)
        out = {}
        for i in ids:
            zd = (state.dense[i] - d_mu) / d_sd
            zb = (bm[i] - b_mu) / b_sd if bm[i] > 0 else 0.0
            out[i] = float(self.settings.dense_weight * zd + bm25_weight * max(zb, 0.0))
        return out

    def _lift_phrases(self, state: QueryState, fused: dict[int, float]) -> None:
        """Passages containing the whole short query verbatim (punctuation and quotes
        ignored) go to the top: the user typed an exact term or figure."""
        q = bare(state.text)
        if not 2 <= len(q) <= 24:
            return
        matches = self.index.phrase_index().containing(state.text, state.mask)
        if not matches:
            return
        lo, hi = min(fused.values(), default=0.0), max(fused.values(), default=1.0)
        lift = self.settings.phrase_boost * ((hi - lo) or 1.0)
        for i in matches:
            fused[i] = fused.get(i, lo) + lift
