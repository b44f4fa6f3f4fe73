"""Abstention: decide whether the corpus supports an answer at all.

e5 cosines sit in a narrow band (about 0.8-0.93) whatever the query, so a fixed cosine
threshold cannot tell "no answer" from "answer". Two relative signals are used instead:

* ``dense_z``: how far the best cosine stands above this query's own similarity
  distribution over the corpus. A passage that really answers stands out from the bulk.
* ``coverage``: the IDF-weighted share of the query's content words found in the best
  passages of either ranker (BM25 evidence).

The assistant abstains when *neither* ranker has evidence: the dense z is below what
queries get when their answer has been removed from the corpus, and the best passages
hold less than ``abstain_coverage`` of the query's word weight.

The dense threshold is calibrated per index at build time, on a null distribution: the
corpus's own headings are used as queries, once with their speech in the index and once
with that speech held out (leave-one-speech-out). ``tau_dense`` is the
``abstain_null_quantile`` quantile of the held-out z-scores. The calibration, with the
rates it implies on those held-out queries, is saved in the manifest.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Evidence:
    dense_top: float
    dense_z: float
    coverage: float
    n_terms: int

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def dense_z(dense_all: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(best cosine, its z-score against the query's cosines to every allowed passage)."""
    vals = dense_all if mask is None else dense_all[mask]
    if len(vals) < 2:
        return (float(vals.max()) if len(vals) else 0.0), 0.0
    top = float(vals.max())
    return top, (top - float(vals.mean())) / (float(vals.std()) or 1e-6)


def idf_weights(index, terms: list[str]) -> dict[str, float]:
    """BM25-style IDF of each term over the passages (an unseen term gets the maximum)."""
    n = len(index.passages)
    vocab = index.bm25.vocab_dict
    indptr = index.bm25.scores["indptr"]
    out = {}
    for t in terms:
        df = int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0
        out[t] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out


def collect(query: str, index, dense_all: np.ndarray, pool: list[int], mask: np.ndarray | None) -> Evidence:
    """Evidence for ``query`` given its cosines and the best passages ``pool`` of both rankers."""
    top, z = dense_z(dense_all, mask)
    terms = index.tokenizer.content_terms(query)
    if not terms:
        return Evidence(top, z, 0.0, 0)
    idf = idf_weights(index, terms)
    texts = [index.passages[i].context + index.passages[i].text for i in pool]
    found = sum(idf[t] for t in terms if any(t in x for x in texts))
    return Evidence(top, z, found / (sum(idf.values()) or 1.0), len(terms))


def tau_dense(calibration: dict, quantile: float) -> float:
    """The dense threshold for ``quantile`` of the calibrated null distribution."""
    samples = calibration.get("null_samples")
    if samples:
        return float(np.quantile(np.array(samples), quantile))
    return float(calibration.get("tau_dense", 3.4))


def support(ev: Evidence, tau: float, min_coverage: float) -> float:
    """Support in units of the thresholds: >= 1 when either ranker has enough evidence."""
    lexical = ev.coverage / min_coverage if min_coverage > 0 else 0.0
    return float(max(ev.dense_z / tau if tau > 0 else 0.0, lexical))


# --- calibration ------------------------------------------------------------------------

_MARKER = re.compile(r"^[（(]?[一二三四五六七八九十\d]+[)）、.．]?|^第[一二三四五六七八九十]+[,，、]?")


def heading_queries(index, limit: int = 150) -> list[tuple[str, str]]:
    """(heading text without its marker, doc_id) pairs usable as natural queries."""
    seen: dict[str, str] = {}
    for p in index.passages:
        for h in p.citation.headings:
            h = _MARKER.sub("", h).strip(" ,，。:：")
            if 6 <= len(h) <= 30 and h not in seen:
                seen[h] = p.doc_id
    items = sorted(seen.items())
    # a deterministic spread over the corpus rather than the first speeches only
    step = max(1, len(items) // limit)
    return items[::step][:limit]


def calibrate(index, embed_queries, quantile: float = 0.8) -> dict:
    """Leave-one-speech-out null distribution of the dense z-score, from the corpus's headings.

    ``embed_queries(list_of_texts) -> vectors`` embeds the heading questions."""
    pairs = heading_queries(index)
    if len(pairs) < 10 or len(index.docs) < 3:
        return {"tau_dense": 3.4, "n": len(pairs), "note": "corpus too small to calibrate; default used"}
    qv = embed_queries([q for q, _ in pairs])
    cos = index.vectors @ qv.T  # passages x queries
    doc_of = np.array([p.doc_id for p in index.passages])
    present, held_out = [], []
    for j, (_, doc) in enumerate(pairs):
        present.append(dense_z(cos[:, j])[1])
        held_out.append(dense_z(cos[:, j], doc_of != doc)[1])
    present, held_out = np.array(present), np.array(held_out)
    tau = float(np.quantile(held_out, quantile))
    return {
        "tau_dense": round(tau, 4), "quantile": quantile, "n": len(pairs),
        "null_samples": [round(float(x), 4) for x in np.sort(held_out)],
        "null_z": [round(float(x), 3) for x in np.quantile(held_out, [0.05, 0.25, 0.5, 0.75, 0.95])],
        "present_z": [round(float(x), 3) for x in np.quantile(present, [0.05, 0.25, 0.5, 0.75, 0.95])],
        "present_below_tau": round(float((present < tau).mean()), 4),
        "null_below_tau": round(float((held_out < tau).mean()), 4),
    }
