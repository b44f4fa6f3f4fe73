"""The 公文 heading markers, in one place: chunking, ingest, the PDF reader and the
abstention calibration all recognise headings by these patterns.

The hierarchy is 一、 → （一） → 1. / 1、 → （1）/ ① , with 第一/首先/其次 and 一是/一要 as
paragraph lead-ins (levels 5 and 6).
"""
from __future__ import annotations

import re

#: (level, pattern); a lower level is an outer section.
LEVELS: list[tuple[int, re.Pattern]] = [
    (1, re.compile(r"^([一二三四五六七八九十]{1,3})[、.．]")),
    (2, re.compile(r"^[（(]([一二三四五六七八九十]{1,3})[)）]")),
    (3, re.compile(r"^(\d{1,2})[、.．](?!\d)")),
    (4, re.compile(r"^[（(](\d{1,2})[)）]|^([①②③④⑤⑥⑦⑧⑨⑩])")),
    (5, re.compile(r"^(第[一二三四五六七八九十]{1,3})(?=[,，、:：是])|^(首先|其次|再次|最后)(?=[,，:：])")),
    (6, re.compile(r"^([一二三四五六七八九十]{1,2}[是要])(?=[,，:：\u4e00-\u9fff])")),
]

#: A line opening with one of these starts a heading or numbered paragraph, so it is never
#: the continuation of a sentence broken across lines (ingest, PDF reader).
HEADING_START = re.compile(
    r"^(?:[一二三四五六七八九十百]+[、.．]|[（(][一二三四五六七八九十]+[)）]|\d{1,2}[、.．](?!\d)|"
    r"[（(]\d{1,2}[)）]|[①②③④⑤⑥⑦⑧⑨⑩]|第[一二三四五六七八九十]+[,，、:：是]|"
    r"(?:首先|其次|再次|最后)[,，:：]|[一二三四五六七八九十]+[是要][,，:：]?)")

# the marker at the start of a heading text, as stripped to turn a heading into a question
_MARKER = re.compile(r"^[（(]?[一二三四五六七八九十\d]+[)）、.．]?|^第[一二三四五六七八九十]+[,，、]?")


def heading_level(text: str) -> tuple[int, str] | None:
    """(level, marker) when the paragraph opens with a heading marker, else None."""
    for level, pat in LEVELS:
        m = pat.match(text)
        if m:
            return level, m.group(0)
    return None


def strip_marker(heading: str) -> str:
    """The heading's words without its marker and trailing punctuation ("（一）坚持依法监督。" → "坚持依法监督")."""
    return _MARKER.sub("", heading).strip(" ,，。:：")
