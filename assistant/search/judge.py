"""The abstention judge: does the corpus support an answer at all?

Three tests, each passed on the evidence of *either* ranker (so a paraphrased question
that shares no words with its answer, or an exact figure the dense model ranks poorly,
still gets through):

1. In domain: the best cosine reaches the ``domain_quantile`` quantile of the best cosines
   in-domain questions reach with their own speech held out, or the best passages hold
   ``domain_coverage`` of the query's IDF-weighted words. Questions about other subjects
   (football fixtures, rural e-commerce) fail it.
2. Distinctive: the best match stands out of the query's own similarity distribution (a
   z-score) at least as much as the ``null_quantile`` quantile of held-out questions, or
   the best passages hold ``coverage`` of its word weight.
3. Focused: every important word of the question that the best passages do not contain
   is still echoed by them in meaning. A near-topic question about an absent detail
   ("罢免乡镇人大代表要经过哪些程序" when only elections are covered) passes tests 1-2 on
   its topic words; what gives it away is that dropping "罢免" from the question changes
   its meaning (importance) but not its similarity to the passages found (echo). A
   paraphrase's answer echoes the missing word instead ("截瘫" → "脊髓损伤").

Tests 1-2 use the per-index calibration (``assistant.calibrate``); test 3's thresholds
are settings, measured on labelled queries (README). The evidence is computed once per
query and kept on the verdict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..calibrate import thresholds
from ..index import Index
from ..settings import AbstentionSettings
from .fuse import coverage
from .state import QueryState, Verdict

NO_ANSWER = "语料中没有找到与此问题直接相关的内容"


@dataclass
class Evidence:
    """The signals behind a verdict."""

    dense_top: float
    dense_z: float
    coverage: float
    n_terms: int
    focus: float = 1.0
    """Lowest echo/importance ratio among important query words absent from the best
    passages (1.0 when there is none or the test did not run)."""
    focus_term: str = ""

    def as_dict(self) -> dict:
        return {k: (v if isinstance(v, str) else round(float(v), 4)) for k, v in asdict(self).items()}


class AbstentionJudge:
    """Holds the index's calibration; judges each query once from both rankers' best passages."""

    def __init__(self, index: Index, settings: AbstentionSettings,
                 embed_queries: Callable[[list[str]], np.ndarray], pool: int = 5, reuse_query: bool = False):
        self.index = index
        self.settings = settings
        self.embed_queries = embed_queries
        self.reuse_query = reuse_query
        """The query's own vector serves the focus test (an encoder whose vectors do not depend
        on their batch mates); otherwise the query is embedded again beside its variants."""
        self.pool = pool
        self.tau_z, self.tau_top = thresholds(index.manifest.get("calibration", {}), settings)

    def __call__(self, state: QueryState) -> None:
        pool = list(dict.fromkeys([int(i) for i in state.dense_top[:self.pool]] +
                                  [int(i) for i in state.bm25_top[:self.pool]]))
        texts = [self.index.passages[i].context + self.index.passages[i].text for i in pool]
        mu, sd = state.dense_null
        top = state.dense_best
        ev = Evidence(top, (top - mu) / sd if sd else 0.0, coverage(state.terms, texts), len(state.terms))
        support = self.support(ev)
        st = self.settings
        if state.abstain and support >= 1.0 and len(state.text) <= st.focus_max_chars:
            # the focus test costs one embedding per missing word: only when the rest passed
            ev.focus, ev.focus_term = focus(state.text, state.vector, absent_terms(list(state.terms), texts),
                                            lambda vecs: self.index.dense_scores(vecs, np.array(pool, np.int64)),
                                            self.embed_queries, st.focus_importance, self.reuse_query)
            support = self.support(ev)
        abstained = state.abstain and support < 1.0
        reason = ""
        if abstained:
            reason = NO_ANSWER
            if ev.focus < st.focus_ratio:
                # say which part of the question the speeches lack: the user can rephrase or drop it
                reason += f"（最相关的段落都没有谈到「{ev.focus_term}」）"
        state.verdict = Verdict(abstained=abstained, support=support, reason=reason, evidence=ev.as_dict())

    def support(self, ev: Evidence) -> float:
        """Support in units of this index's thresholds (see ``support``)."""
        return support(ev, self.tau_z, self.tau_top, self.settings)


def support(ev: Evidence, tau_z: float, tau_top: float, st: AbstentionSettings) -> float:
    """Support in units of the thresholds: the weakest of the three tests; < 1 means abstain."""
    def ratio(x: float, bar: float) -> float:
        return x / bar if bar > 0 else float("inf")

    in_domain = max(ratio(ev.dense_top, tau_top), ratio(ev.coverage, st.domain_coverage))
    distinctive = max(ratio(ev.dense_z, tau_z), ratio(ev.coverage, st.coverage))
    # the ratio is negative when the passages match better without the word: shift it so
    # that the bar maps to 1 like the other tests
    focused = max(0.0, 1.0 + ev.focus) / max(1e-6, 1.0 + st.focus_ratio)
    return float(min(in_domain, distinctive, focused))


def absent_terms(terms: list[str], texts: list[str], limit: int = 12) -> list[str]:
    """Query terms that none of ``texts`` contains, longest form only (jieba's search mode
    also yields a word's parts), at most ``limit`` of them in query order."""
    missing = [t for t in terms if not any(t in x for x in texts)]
    return [t for t in missing if not any(t != u and t in u for u in missing)][:limit]


def focus(query: str, qvec: np.ndarray, missing: list[str], pool_scores, embed_queries,
          min_importance: float, reuse_query: bool = False) -> tuple[float, str]:
    """(lowest echo/importance ratio, its word) over the ``missing`` words of ``query``.

    For a word w: importance = 1 - cos(q, q without w), what w adds to the question;
    echo = max over the best passages p of score(q, p) - score(q without w, p), how much of
    that the passages carry. Words less important than ``min_importance`` (fillers such as
    "平时", "为啥") are skipped. ``pool_scores(query_vectors) -> (passages, queries)`` scores
    the best passages; ``embed_queries(texts) -> vectors`` embeds the variants. With
    ``reuse_query`` ``qvec`` is used as it is (it must be what ``embed_queries([query])`` gives
    beside any batch mates: fp32 ONNX, the fake); otherwise the question is embedded again
    beside its variants, because an int8 encoder's activation scale depends on the batch and
    importance and echo compare the question with its variants."""
    if not missing:
        return 1.0, ""
    variants = [query.replace(w, "") for w in missing]
    if reuse_query:
        variants = embed_queries(variants)
    else:
        both = embed_queries([query] + variants)
        qvec, variants = both[0], both[1:]
    scores = pool_scores(np.vstack([qvec.reshape(1, -1), variants]))
    if not len(scores):
        return 1.0, ""
    worst, word = 1.0, ""
    for j, (w, v) in enumerate(zip(missing, variants), start=1):
        importance = 1.0 - float(qvec @ v)
        if importance < min_importance:
            continue
        ratio = float((scores[:, 0] - scores[:, j]).max()) / importance
        if ratio < worst:
            worst, word = ratio, w
    return worst, word
