"""Document -> Passages: heading-aware, short paragraphs folded in, long ones split.

The 公文 heading hierarchy is 一、 → （一） → 1. / 1、 → （1）, with 第一/首先/其次 and
一是/一要 as paragraph lead-ins. A short line that opens with a marker is a heading: it
is not a passage of its own but goes into the heading path (and the embedding/BM25
context) of every passage under it. Skipped levels are tolerated: a new heading pops
every open heading of the same or a deeper level.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .headings import heading_level
from .text import sentences
from .types import Citation, Document, Passage

HEADING_MAX_CHARS = 40


@dataclass
class _Unit:
    text: str
    paragraph: int
    headings: tuple[str, ...]
    labels: tuple[str, ...]


def _is_heading(text: str, level: int | None) -> bool:
    """A pure heading: marked, short, and at most one sentence."""
    if level is None or len(text) > HEADING_MAX_CHARS:
        return False
    body = text.rstrip("。.!！:：")
    if re.search(r"[:：].{6,}", body):
        return False  # "1、电量:计划完成82亿千瓦时,增长8.79%" is a lead with its content
    return not re.search(r"[。！？!?；;]", body)


def _path(stack: list[tuple[int, str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(heading texts, markers) of the open headings, outermost first."""
    return tuple(h for _, _, h in stack), tuple(m for _, m, _ in stack)


def _open_numbered(stack: list[tuple[int, str, str]], level: int, marker: str, para: str) -> tuple:
    """A numbered body paragraph ("1、突出发展主题，……") opens its own sub-section: its lead
    clause heads the paragraphs that follow it (lead-ins like 一是/首先 at levels 5-6 only
    label the paragraph itself). Updates stack; returns the paragraph's own (marker, lead)s."""
    while stack and stack[-1][0] >= level:
        stack.pop()
    lead = re.split(r"[。！？!?；;：:]", para, maxsplit=1)[0][:HEADING_MAX_CHARS]
    if level <= 4:
        stack.append((level, marker, lead))
        return ()
    return ((marker, lead),)


def structure(doc: Document, short_chars: int = 24) -> list[_Unit]:
    """Paragraphs with their heading paths; headings and short lines folded into bodies."""
    stack: list[tuple[int, str, str]] = []  # (level, marker, heading text)
    units: list[_Unit] = []
    pending: list[tuple[str, int]] = []  # short paragraphs waiting for the next body
    flags = doc.meta.get("heading_flags") or []
    # the latest heading while nothing has been written under it yet: if the next heading is
    # not deeper, it was a one-line point ("2、售电均价:……") rather than a title, and becomes a passage
    orphan: tuple[int, _Unit] | None = None
    for n, para in enumerate(doc.paragraphs, start=1):
        lv = heading_level(para)
        level = lv[0] if lv else None
        flagged = n <= len(flags) and flags[n - 1]
        if flagged and not lv:
            # a heading by the file's own markup (docx style, md #, html h2) without a 公文 marker
            lv, level = (0, ""), 0
        if flagged or _is_heading(para, level):
            if orphan and level <= orphan[0]:
                units.append(orphan[1])  # the previous heading got no body: keep its words
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, lv[1], para.rstrip("。.")))
            orphan = (level, _Unit(para, n, *_path(stack)))
            continue
        orphan = None
        if len(para) < short_chars and not lv:
            pending.append((para, n))
            continue
        own = _open_numbered(stack, level, lv[1], para) if lv else ()
        headings, labels = _path(stack)
        headings += tuple(h for _, h in own)
        labels += tuple(m for m, _ in own)
        first = pending[0][1] if pending else n
        text = "".join(p for p, _ in pending) + para
        pending = []
        units.append(_Unit(text, first, headings, labels))
    if orphan and not pending:
        units.append(orphan[1])
    if pending:
        tail = "".join(p for p, _ in pending)
        if units:
            units[-1].text += tail
        else:
            units.append(_Unit(tail, pending[0][1], *_path(stack)))
    return _merge_points(units)


POINT_MAX_CHARS = 60
POINTS_MAX_CHARS = 300


def _merge_points(units: list[_Unit]) -> list[_Unit]:
    """Consecutive one-line points of one section ("1、电量:……" "2、售电均价:……" "4、线损:完成3.52%。")
    become one passage: alone, each is too short to mean much and crowds out the paragraphs
    that explain (short texts match short queries too easily)."""
    out: list[_Unit] = []
    run = False  # whether out[-1] is a merged run that may grow
    for u in units:
        prev = out[-1] if out else None
        if (prev is not None and len(u.text) <= POINT_MAX_CHARS and heading_level(u.text)
                and (run or (len(prev.text) <= POINT_MAX_CHARS and heading_level(prev.text)))
                and prev.headings[:-1] == u.headings[:-1] and prev.labels[:-1] == u.labels[:-1]
                and len(prev.text) + len(u.text) <= POINTS_MAX_CHARS):
            if not run:  # the run is cited by the section both points belong to
                prev.headings, prev.labels = prev.headings[:-1], prev.labels[:-1]
            prev.text += u.text
            run = True
            continue
        out.append(u)
        run = False
    return out


def _split_long(text: str, fits: Callable[[str], bool], overlap: int) -> list[str]:
    """Greedy sentence packing so every chunk fits; consecutive chunks share ``overlap`` sentences."""
    sents = sentences(text)
    # a single sentence longer than the window is cut at commas, then hard-cut
    pieces: list[str] = []
    for s in sents:
        if fits(s):
            pieces.append(s)
            continue
        buf = ""
        for part in re.findall(r"[^,，、]*[,，、]?", s):
            if not part:
                continue
            if fits(buf + part):
                buf += part
            else:
                if buf:
                    pieces.append(buf)
                buf = part
                while not fits(buf):
                    cut = max(1, len(buf) // 2)
                    while cut > 1 and not fits(buf[:cut]):
                        cut //= 2
                    pieces.append(buf[:cut])
                    buf = buf[cut:]
        if buf:
            pieces.append(buf)
    chunks: list[str] = []
    start = 0
    while start < len(pieces):
        end = start + 1
        while end < len(pieces) and fits("".join(pieces[start:end + 1])):
            end += 1
        chunks.append("".join(pieces[start:end]))
        if end >= len(pieces):
            break
        # step forward, repeating up to `overlap` sentences, but always make progress
        start = max(start + 1, end - overlap)
    return chunks


def context_header(doc: Document, headings: tuple[str, ...]) -> str:
    """The title and heading path, prepended for the embedder and BM25 only."""
    # a collection's title ("…讲话(精选18篇)") says nothing about one speech in it, and
    # would pull every speech of the collection towards queries that share its words
    parts = [] if doc.meta.get("collection") else [f"《{doc.title}》"]
    parts.extend(headings)
    return " > ".join(parts)


def chunk_document(doc: Document, count_tokens: Callable[[str], int], max_tokens: int,
                   overlap: int = 1, short_chars: int = 24,
                   with_context: bool = True) -> list[Passage]:
    """Split one speech into passages, each within ``max_tokens`` as the embedder will see it.

    ``count_tokens(text)`` must count what the embedder feeds the model for ``text``
    (prompt and special tokens included).
    """
    passages: list[Passage] = []
    for unit in structure(doc, short_chars):
        context = context_header(doc, unit.headings) if with_context else ""

        def fits(t: str, _ctx=context) -> bool:
            return count_tokens(embed_text(_ctx, t)) <= max_tokens

        parts = [unit.text] if fits(unit.text) else _split_long(unit.text, fits, overlap)
        for k, part in enumerate(parts, start=1):
            multi = len(parts) > 1
            cit = Citation(title=doc.title, source=doc.source, paragraph=unit.paragraph,
                           number=doc.number, headings=unit.headings, labels=unit.labels,
                           date=doc.date, part=k if multi else None,
                           parts=len(parts) if multi else None, page=_page(doc, unit.paragraph),
                           occasion=doc.meta.get("occasion"), place=doc.meta.get("place"),
                           speaker=doc.meta.get("speaker"))
            pid = f"{doc.id}:{unit.paragraph}" + (f".{k}" if multi else "")
            passages.append(Passage(id=pid, doc_id=doc.id, text=part, citation=cit,
                                    position=len(passages), context=context))
    return passages


def _page(doc: Document, paragraph: int) -> int | None:
    pages = doc.meta.get("pages") or []
    return pages[paragraph - 1] if 0 < paragraph <= len(pages) else None


def embed_text(context: str, text: str) -> str:
    """What the embedder and BM25 see for a passage: context line, then the text."""
    return f"{context}\n{text}" if context else text
