"""Abstention: decide whether the corpus supports an answer at all.

e5 cosines sit in a narrow band (about 0.8-0.93) whatever the query, so a fixed cosine
threshold cannot tell "no answer" from "answer". The signals used instead are relative:

* ``dense_z``: how far the best cosine stands above this query's own similarity
  distribution over the whole corpus (its null distribution): a passage that really
  answers stands out from the bulk, a query about an absent topic is uniformly "meh";
* ``coverage``: the IDF-weighted share of the query's content words that the best
  passages contain (BM25 evidence), so a question about a term the speeches never use
  ("罢免") loses support unless dense retrieval is confident on its own;
* ``agreement``: whether the dense and BM25 rankers put the same passages on top.

``support_score`` maps these to one number; the threshold lives in settings and its
calibration is reported by ``python -m assistant calibrate``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Evidence:
    dense_top: float
    dense_z: float
    coverage: float
    top_coverage: float
    agreement: float
    n_terms: int

    @classmethod
    def collect(cls, query: str, tokens: list[str], index, dense_all: np.ndarray, bm25: np.ndarray,
                d_idx: np.ndarray, b_order: np.ndarray, mask: np.ndarray | None) -> "Evidence":
        vals = dense_all if mask is None else dense_all[mask]
        if len(vals) == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0)
        top = float(vals.max())
        mu, sd = float(vals.mean()), float(vals.std()) or 1e-6
        terms = index.tokenizer.content_terms(query)
        idf = _idf(index, terms)
        total = sum(idf.values()) or 1.0
        # coverage over the best few passages of either ranker
        pool = list(dict.fromkeys([int(i) for i in d_idx[:5]] + [int(i) for i in b_order[:5]]))
        texts = [index.passages[i].context + index.passages[i].text for i in pool]
        found = {t for t in terms if any(t in x for x in texts)}
        coverage = sum(idf[t] for t in found) / total if terms else 0.0
        top_text = texts[0] if texts else ""
        top_cov = sum(idf[t] for t in terms if t in top_text) / total if terms else 0.0
        a, b = set(int(i) for i in d_idx[:10]), set(int(i) for i in b_order[:10])
        agreement = len(a & b) / 10.0
        return cls(top, (top - mu) / sd, coverage, top_cov, agreement, len(terms))

    def as_dict(self) -> dict:
        return asdict(self)


def _idf(index, terms: list[str]) -> dict[str, float]:
    """BM25-style IDF of each term over the passages (an unseen term gets the maximum)."""
    n = len(index.passages)
    vocab = index.bm25.vocab_dict
    out = {}
    for t in terms:
        df = 0
        if t in vocab:
            col = vocab[t]
            indptr = index.bm25.scores["indptr"]
            df = int(indptr[col + 1] - indptr[col])
        out[t] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out


def support_score(ev: Evidence) -> float:
    """One support number in [0, 1]; below the calibrated threshold the assistant abstains."""
    # the z-score of a genuine answer is typically 4-6, of an unanswerable question 2-3.5
    z = 1 / (1 + math.exp(-(ev.dense_z - 3.6) * 2.0))
    lexical = ev.coverage if ev.n_terms else 0.5
    return float(0.6 * z + 0.4 * lexical)
