"""Multi-turn chat: turn a follow-up question into a query that stands on its own.

A follow-up leans on the previous question: it opens with a connective or pronoun
("那具体有哪些形式？", "这些工作由谁负责"), refers back ("上述", "其中"), or ends in a
bare "呢". Retrieval has no memory, so the previous question's key terms that the
follow-up does not repeat are put in front of it::

    >>> rewrite_followup("那具体有哪些形式？", "乡镇人大监督怎么做", tokenizer)
    '乡镇人大 监督 那具体有哪些形式？'

Pure functions; the tokenizer (``assistant.tokenize.Tokenizer`` or anything with a
``content_terms(text) -> list[str]`` method) is passed in.
"""
from __future__ import annotations

import re
from typing import Protocol

__all__ = ["is_follow_up", "carried_terms", "rewrite_followup"]

_FOLLOW_START = re.compile(r"^(?:那么?|那些|这些?|这个|它们?|其中|还有|另外|此外|以及|具体|比如|例如)")
_FOLLOW_REF = re.compile(r"这些|那些|上述|以上|它们|其中|该项|此项|这方面|那方面")
_FOLLOW_END = re.compile(r"呢[？?！!。]*$")


class TermSource(Protocol):
    def content_terms(self, text: str) -> list[str]: ...


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on the one before it (connective or pronoun opening,
    a reference back, or a bare 呢 at the end)."""
    q = (question or "").strip()
    return bool(_FOLLOW_START.match(q) or _FOLLOW_REF.search(q) or _FOLLOW_END.search(q))


def carried_terms(previous: str, question: str, tokenizer: TermSource) -> list[str]:
    """Key terms of the previous question that the follow-up does not repeat (a term inside a
    longer kept term is dropped: "乡镇人大" covers "乡镇" and "人大")."""
    terms = [t for t in tokenizer.content_terms(previous or "") if t not in question]
    return [t for t in terms if not any(t != o and t in o for o in terms)]


def rewrite_followup(question: str, previous: str | None, tokenizer: TermSource) -> str:
    """The query to retrieve with: a follow-up gets the previous question's key terms
    prepended; any other question is returned stripped and unchanged."""
    question = (question or "").strip()
    if not previous or not question or not is_follow_up(question):
        return question
    terms = carried_terms(previous, question, tokenizer)
    return f"{' '.join(terms)} {question}" if terms else question
