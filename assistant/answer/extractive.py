"""The extractive answer (摘录回答): the few sentences of the top passages that best answer
the question, each a character-exact piece of its passage, cited [n] to its card.

A candidate sentence is scored with the same two signals retrieval uses: the embedding
model (the index's own sentence vectors: nothing is embedded at answer time) and BM25's
term weights (the IDF-weighted share of the question's words the sentence holds).
Near-identical sentences (template copies across speeches) are given once. The chosen
sentences are shown as the speeches order them: speeches by their best card, sentences
in reading order inside one speech, so 一是…二是… points stay together and in order.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..index import Index
from ..search.fuse import coverage
from ..search.retrieve import idf_weights
from ..settings import AnswerSettings
from ..types import Answer, AnswerKind, AnswerSentence, SearchResult

MIN_CHARS = 6
"""Shorter pieces (a lead-in such as "同志们：") are not answer sentences."""


@dataclass
class Candidate:
    text: str
    ref: int
    """1-based card number."""
    passage: int
    """Position of the passage in the index."""
    start: int
    cosine: float
    lexical: float
    score: float = 0.0


def bigrams(text: str) -> set[str]:
    """Character bigrams of the letters, digits and Han characters of ``text``."""
    s = "".join(ch for ch in text if ch.isalnum())
    return {s[i:i + 2] for i in range(len(s) - 1)} or ({s} if s else set())


def near_identical(a: str, b: str, threshold: float = 0.7) -> bool:
    """Whether two sentences say the same (character-bigram Jaccard)."""
    x, y = bigrams(a), bigrams(b)
    return bool(x and y) and len(x & y) / len(x | y) >= threshold


class ExtractiveAnswerer:
    """Picks answer sentences from a search result over ``index``."""

    def __init__(self, index: Index, settings: AnswerSettings):
        self.index = index
        self.settings = settings

    def answer(self, result: SearchResult) -> Answer | None:
        """The answer for ``result``, or None when retrieval abstained or found nothing."""
        t = time.perf_counter()
        if result.abstained or not result.hits or result.vector is None:
            return None
        cands = self.candidates(result)
        if not cands:
            return None
        chosen = self._select(cands)
        return Answer(kind=AnswerKind.EXTRACTIVE, sentences=self._ordered(chosen), seconds=time.perf_counter() - t)

    def candidates(self, result: SearchResult) -> list[Candidate]:
        """Every sentence of the top cards, scored against the question."""
        ix = self.index
        q = np.asarray(result.vector, np.float32)
        idf = idf_weights(ix, ix.tokenizer.content_terms(result.query))
        out: list[Candidate] = []
        for ref, hit in enumerate(result.hits[:self.settings.answer_passages], start=1):
            i = ix.position(hit.passage.id)
            if i is None:
                continue
            out.extend(self._sentences_of(i, ref, q, idf))
        if out:
            cos = np.array([c.cosine for c in out])
            z = (cos - cos.mean()) / (cos.std() or 1.0)
            for c, zc in zip(out, z):
                c.score = float(zc + self.settings.answer_lexical_weight * c.lexical)
        return out

    def _sentences_of(self, i: int, ref: int, q: np.ndarray, idf: dict) -> list[Candidate]:
        return [Candidate(text, ref, i, start, cos, coverage(idf, [text]))
                for text, start, cos in self.index.passage_sentences(i, q) if len(text) >= MIN_CHARS]

    def _select(self, cands: list[Candidate]) -> list[Candidate]:
        st = self.settings
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen: list[Candidate] = [ranked[0]]
        used = len(ranked[0].text)
        for c in ranked[1:]:
            if len(chosen) >= st.answer_sentences or c.score < st.answer_min_score:
                break
            if used + len(c.text) > st.answer_chars or any(near_identical(c.text, o.text) for o in chosen):
                continue
            chosen.append(c)
            used += len(c.text)
        return chosen

    def _ordered(self, chosen: list[Candidate]) -> list[AnswerSentence]:
        ix = self.index
        first_ref: dict[str, int] = {}
        for c in sorted(chosen, key=lambda c: c.ref):
            first_ref.setdefault(ix.passages[c.passage].doc_id, c.ref)
        order = sorted(chosen, key=lambda c: (first_ref[ix.passages[c.passage].doc_id],
                                              ix.passages[c.passage].position, c.start))
        return [AnswerSentence(text=c.text, ref=c.ref, refs=[c.ref], passage_id=ix.passages[c.passage].id,
                               start=c.start, support=1.0) for c in order]
