"""Abstention calibration: null distributions built from the corpus itself, at build time.

e5 cosines sit in a narrow band (about 0.8-0.93) whatever the query, so one fixed cosine
threshold cannot tell "no answer" from "answer". The corpus's own headings are used as
questions, once with their speech in the index and once with that speech held out
(leave-one-speech-out): how well and how distinctly a held-out question still matches
is what an in-domain question without its answer looks like. The samples and the rates
they imply are saved in the manifest; ``thresholds`` turns them into the bars the
abstention judge (``assistant.search.judge``) applies.
"""
from __future__ import annotations

import numpy as np

from .headings import strip_marker
from .settings import AbstentionSettings


def dense_z(dense_all: np.ndarray, null: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(best score among the allowed passages, its z-score against the scores of the
    passages ``null`` — the allowed part of the null sample — as searches compute it)."""
    vals = dense_all if mask is None else dense_all[mask]
    if not len(vals):
        return 0.0, 0.0
    top = float(vals.max())
    ref = dense_all[null]
    if len(ref) < 2:
        return top, 0.0
    return top, (top - float(ref.mean())) / (float(ref.std()) or 1e-6)


def heading_queries(index, limit: int = 150) -> list[tuple[str, str]]:
    """(heading text without its marker, doc_id) pairs usable as natural queries."""
    seen: dict[str, str] = {}
    for p in index.passages:
        for h in p.citation.headings:
            h = strip_marker(h)
            if 6 <= len(h) <= 30 and h not in seen:
                seen[h] = p.doc_id
    items = sorted(seen.items())
    # a deterministic spread over the corpus rather than the first speeches only
    step = max(1, len(items) // limit)
    return items[::step][:limit]


def calibrate(index, embed_queries, settings: AbstentionSettings) -> dict:
    """Leave-one-speech-out null distributions of the best cosine and of its z-score, from
    the corpus's headings used as questions.

    ``embed_queries(list_of_texts) -> vectors`` embeds the heading questions. The settings'
    quantiles only fill the summary; searches read the thresholds from the stored samples."""
    pairs = heading_queries(index)
    if len(pairs) < 10 or len(index.docs) < 3:
        return {"tau_dense": 3.4, "n": len(pairs), "note": "corpus too small to calibrate; defaults used"}
    qv = embed_queries([q for q, _ in pairs])
    cos = index.dense_scores(qv)  # passages x queries, scored as searches score them
    doc_of = np.array([p.doc_id for p in index.passages])
    present, held_out, held_top = [], [], []
    for j, (_, doc) in enumerate(pairs):
        present.append(dense_z(cos[:, j], index.null_ids())[1])
        held = doc_of != doc
        top, z = dense_z(cos[:, j], index.null_ids(held), held)
        held_out.append(z)
        held_top.append(top)
    present, held_out, held_top = np.array(present), np.array(held_out), np.array(held_top)
    quantile, domain_quantile = settings.null_quantile, settings.domain_quantile
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


def thresholds(calibration: dict, settings: AbstentionSettings) -> tuple[float, float]:
    """(dense z threshold, best-cosine threshold) at the settings' quantiles of the null samples."""
    z = calibration.get("null_samples")
    top = calibration.get("null_top_samples")
    tau_z = float(np.quantile(np.array(z), settings.null_quantile)) if z else float(calibration.get("tau_dense", 3.4))
    tau_top = float(np.quantile(np.array(top), settings.domain_quantile)) if top else 0.0
    return tau_z, tau_top
