"""Abstention: decide whether the corpus supports an answer at all.

e5 cosines sit in a narrow band (about 0.8-0.93) whatever the query, so one fixed cosine
threshold cannot tell "no answer" from "answer". The decision uses two tests, each
calibrated per index on a null distribution, and each passed when *either* ranker has
evidence (so a paraphrased question that shares no words with its answer, or an exact
figure that the dense model ranks poorly, still gets through):

1. In domain: the best cosine is at least the ``abstain_domain_quantile`` quantile of the
   best cosines that in-domain questions reach when their own speech is held out, or the
   best passages hold ``abstain_domain_coverage`` of the query's IDF-weighted words.
   Questions about other subjects (football fixtures, rural e-commerce) fail it.
2. Distinctive: the best match stands out of the query's own similarity distribution (a
   z-score) at least as much as the ``abstain_null_quantile`` quantile of held-out
   questions, or the best passages hold ``abstain_coverage`` of its word weight.

3. Focused: every important word of the question that the best passages do not contain
   is still echoed by them in meaning. A near-topic question about an absent detail
   ("罢免乡镇人大代表要经过哪些程序" when only elections are covered) passes tests 1-2 on
   its topic words; what gives it away is that dropping "罢免" from the question changes
   its meaning (importance) but not its similarity to the passages found (echo). A
   paraphrase's answer echoes the missing word instead ("截瘫" → "脊髓损伤").

The null distributions of tests 1-2 come from the corpus itself at build time: its headings
are used as questions, once with their speech in the index and once with that speech held
out (leave-one-speech-out). The calibration and the rates it implies are saved in the
manifest. Test 3's two thresholds are settings, measured on labelled queries (README).
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
    focus: float = 1.0
    """Lowest echo/importance ratio among important query words absent from the best
    passages (1.0 when there is none or the test did not run)."""
    focus_term: str = ""

    def as_dict(self) -> dict:
        return {k: (v if isinstance(v, str) else round(float(v), 4)) for k, v in asdict(self).items()}


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


def coverage(idf: dict[str, float], texts: list[str]) -> float:
    """Share of the query's IDF weight (``idf``: term -> weight) found in any of ``texts``."""
    total = sum(idf.values())
    if not total:
        return 0.0
    return sum(w for t, w in idf.items() if any(t in x for x in texts)) / total


def collect(idf: dict[str, float], texts: list[str], dense_all: np.ndarray, mask: np.ndarray | None) -> Evidence:
    """Evidence for a query (its term weights ``idf`` and cosines ``dense_all``) given the
    texts of both rankers' best passages."""
    top, z = dense_z(dense_all, mask)
    return Evidence(top, z, coverage(idf, texts), len(idf))


def absent_terms(terms: list[str], texts: list[str], limit: int = 12) -> list[str]:
    """Query terms that none of ``texts`` contains, longest form only (jieba's search mode
    also yields a word's parts), at most ``limit`` of them in query order."""
    missing = [t for t in terms if not any(t in x for x in texts)]
    return [t for t in missing if not any(t != u and t in u for u in missing)][:limit]


def focus(query: str, qvec: np.ndarray, missing: list[str], pool_scores, embed_queries,
          min_importance: float) -> tuple[float, str]:
    """(lowest echo/importance ratio, its word) over the ``missing`` words of ``query``.

    For a word w: importance = 1 - cos(q, q without w), what w adds to the question;
    echo = max over the best passages p of score(q, p) - score(q without w, p), how much of
    that the passages carry. Words less important than ``min_importance`` (fillers such as
    "平时", "为啥") are skipped. ``pool_scores(query_vectors) -> (passages, queries)`` scores
    the best passages; ``embed_queries(texts) -> vectors`` embeds the variants."""
    if not missing:
        return 1.0, ""
    variants = embed_queries([query.replace(w, "") for w in missing])
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


def thresholds(calibration: dict, z_quantile: float, domain_quantile: float) -> tuple[float, float]:
    """(dense z threshold, best-cosine threshold) for the given quantiles of the null samples."""
    z = calibration.get("null_samples")
    top = calibration.get("null_top_samples")
    tau_z = float(np.quantile(np.array(z), z_quantile)) if z else float(calibration.get("tau_dense", 3.4))
    tau_top = float(np.quantile(np.array(top), domain_quantile)) if top else 0.0
    return tau_z, tau_top


def support(ev: Evidence, tau_z: float, tau_top: float, coverage: float, domain_coverage: float,
            focus_ratio: float = -0.12) -> float:
    """Support in units of the thresholds: the weakest of the three tests; < 1 means abstain."""
    def ratio(x: float, bar: float) -> float:
        return x / bar if bar > 0 else float("inf")

    in_domain = max(ratio(ev.dense_top, tau_top), ratio(ev.coverage, domain_coverage))
    distinctive = max(ratio(ev.dense_z, tau_z), ratio(ev.coverage, coverage))
    # the ratio is negative when the passages match better without the word: shift it so
    # that the bar maps to 1 like the other tests
    focused = max(0.0, 1.0 + ev.focus) / max(1e-6, 1.0 + focus_ratio)
    return float(min(in_domain, distinctive, focused))


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


def calibrate(index, embed_queries, quantile: float = 0.8, domain_quantile: float = 0.02) -> dict:
    """Leave-one-speech-out null distributions of the best cosine and of its z-score, from
    the corpus's headings used as questions.

    ``embed_queries(list_of_texts) -> vectors`` embeds the heading questions. The quantiles
    only fill the summary; searches read the thresholds from the stored samples."""
    pairs = heading_queries(index)
    if len(pairs) < 10 or len(index.docs) < 3:
        return {"tau_dense": 3.4, "n": len(pairs), "note": "corpus too small to calibrate; defaults used"}
    qv = embed_queries([q for q, _ in pairs])
    cos = index.dense_scores(qv)  # passages x queries, scored as searches score them
    doc_of = np.array([p.doc_id for p in index.passages])
    present, held_out, held_top = [], [], []
    for j, (_, doc) in enumerate(pairs):
        present.append(dense_z(cos[:, j])[1])
        top, z = dense_z(cos[:, j], doc_of != doc)
        held_out.append(z)
        held_top.append(top)
    present, held_out, held_top = np.array(present), np.array(held_out), np.array(held_top)
    tau = float(np.quantile(held_out, quantile))

    def q5(a):
        return [round(float(x), 3) for x in np.quantile(a, [0.05, 0.25, 0.5, 0.75, 0.95])]

    return {
        "tau_dense": round(tau, 4), "quantile": quantile, "n": len(pairs),
        "tau_top": round(float(np.quantile(held_top, domain_quantile)), 4), "domain_quantile": domain_quantile,
        "null_samples": [round(float(x), 4) for x in np.sort(held_out)],
        "null_top_samples": [round(float(x), 4) for x in np.sort(held_top)],
        "null_z": q5(held_out), "present_z": q5(present), "null_top": q5(held_top),
        "present_below_tau": round(float((present < tau).mean()), 4),
        "null_below_tau": round(float((held_out < tau).mean()), 4),
    }
