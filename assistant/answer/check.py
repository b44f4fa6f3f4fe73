"""The citation check every generated answer passes before it is shown.

The generated text is split into sentences; each sentence's [n] markers must name cards
that were given to the model; the sentence must be supported by a passage it cites (the
share of its character bigrams that occur in that passage reaches ``support_threshold``,
calibrated on extractive sentences with their own and with wrong citations: README);
and text it quotes (「…」, “…”) must occur verbatim in the cited passage. A sentence that
says the passages do not answer (资料中没有相关信息) needs no citation.
"""
from __future__ import annotations

import re

from ..text import squash
from ..types import AnswerSentence, Hit
from .extractive import bigrams

NO_INFO = "资料中没有相关信息"
_NO_INFO = re.compile(r"资料中?(?:没有|未|并未|无)(?:提[到及供]|涉及|相关|包含|说明)|没有相关信息|无法回答|不能回答")
_MARKER = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、\-–]\s*\d{1,3})*)\s*[\]】］]")
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*(?:\s*" + _MARKER.pattern + r")*|[。！？!?；;]+")
_QUOTE = re.compile(r"「([^」]{2,})」|“([^”]{2,})”|\"([^\"]{2,})\"")


def containment(sentence: str, passage: str) -> float:
    """Share of the sentence's character bigrams that occur in the passage."""
    s, p = bigrams(sentence), bigrams(passage)
    return len(s & p) / len(s) if s else 0.0


def says_no_info(text: str) -> bool:
    """Whether a sentence states that the passages do not answer."""
    return bool(_NO_INFO.search(text))


def _refs(markers: list[str]) -> list[int]:
    out: list[int] = []
    for m in markers:
        for part in re.split(r"\s*[,，、]\s*", m):
            if re.fullmatch(r"\d+\s*[\-–]\s*\d+", part):
                a, b = (int(x) for x in re.split(r"\s*[\-–]\s*", part))
                out.extend(range(a, min(b, a + 20) + 1))
            elif part.strip().isdigit():
                out.append(int(part))
    return list(dict.fromkeys(out))


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, the card numbers it cites) for each sentence of ``text``;
    a marker standing after the sentence's end punctuation belongs to that sentence."""
    out = []
    for m in _SENTENCE.finditer(text):
        chunk = m.group(0)
        refs = _refs(_MARKER.findall(chunk))
        clean = _MARKER.sub("", chunk).strip()
        if not re.search(r"[\w\u4e00-\u9fff]", clean):
            if refs and out:  # stray markers on their own: they cite the sentence before
                out[-1] = (out[-1][0], list(dict.fromkeys(out[-1][1] + refs)))
            continue
        out.append((clean, refs))
    return out


def check(text: str, hits: list[Hit], threshold: float) -> list[AnswerSentence]:
    """The sentences of a generated answer, each with its citation verdict and flags."""
    out = []
    for sentence, refs in split_cited(text):
        valid = [r for r in refs if 1 <= r <= len(hits)]
        s = AnswerSentence(text=sentence, ref=valid[0] if valid else None, refs=refs, support=0.0)
        if says_no_info(sentence):
            s.supported, s.support = True, 1.0
            out.append(s)
            continue
        if len(valid) < len(refs):
            s.flags.append("bad_citation")
        if not valid:
            s.flags.append("no_citation")
        else:
            best = max(valid, key=lambda r: containment(sentence, hits[r - 1].passage.text))
            passage = hits[best - 1].passage
            s.ref, s.passage_id = best, passage.id
            s.support = containment(sentence, passage.text)
            if s.support < threshold:
                s.flags.append("unsupported")
            if any(squash(q) not in squash(" ".join(hits[r - 1].passage.text for r in valid)) for q in quotes(sentence)):
                s.flags.append("quote_not_found")
            start = passage.text.find(sentence)
            s.start = start if start >= 0 else None
        s.supported = not s.flags
        out.append(s)
    return out


def quotes(sentence: str) -> list[str]:
    """The texts a sentence quotes (「…」, “…”, "…")."""
    return [next(g for g in m.groups() if g) for m in _QUOTE.finditer(sentence)]
