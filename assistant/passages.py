"""A build's passages (``passages.jsonl``, one JSON object a line) as a sequence.

A small index keeps them all in memory, as a plain list. A large one (more than the
``resident_passages`` setting) keeps only the byte offset of each line and reads a passage
from the file when a result needs it, with the most recent ones cached: at 10^6 passages
the texts and citations as Python objects would take about 3 GB, the offsets take 8 MB.
Reads are positional (``os.pread``), so threads share the file and the process's memory
holds no mapped pages of it.
"""
from __future__ import annotations

import json
import os
import functools
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Iterator

import numpy as np

from .types import Passage

_BLOCK = 1 << 22


def _parse(line: bytes) -> Passage:
    return Passage.from_dict(json.loads(line))


def read_passages(path: Path, resident: int) -> "list[Passage] | PassageFile":
    """The passages of ``path``: a list when there are at most ``resident`` of them, else a
    :class:`PassageFile` reading them on demand."""
    starts, ends = line_spans(path)
    if len(starts) > resident:
        return PassageFile(path, (starts, ends))
    raw = Path(path).read_bytes()
    return [_parse(raw[a:b]) for a, b in zip(starts.tolist(), ends.tolist())]


def line_spans(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of each non-blank line of ``path``, newline excluded. Lines
    end at "\n" only: json leaves U+2028, U+0085, \x1c… unescaped inside a passage's text,
    and splitlines() would break there (the index would not load)."""
    starts, ends, pos, carry = [], [], 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            nl = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + pos
            starts.append(np.r_[carry, nl[:-1] + 1] if len(nl) else np.zeros(0, np.int64))
            ends.append(nl)
            if len(nl):
                carry = int(nl[-1]) + 1
            pos += len(block)
        if carry < pos:  # a last line without a newline
            starts.append(np.array([carry]))
            ends.append(np.array([pos]))
        s = np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)
        e = np.concatenate(ends).astype(np.int64) if ends else np.zeros(0, np.int64)
    # the build writes one JSON object a line and the manifest's digest guards the file: the
    # only blank line there can be is an empty one
    keep = e > s
    return s[keep], e[keep]


class PassageFile(Sequence):
    """The passages of a ``passages.jsonl``, read on demand by position, ``cache`` kept."""

    def __init__(self, path: Path, spans: tuple[np.ndarray, np.ndarray] | None = None, cache: int = 4096):
        self.path = Path(path)
        self._starts, self._ends = line_spans(self.path) if spans is None else spans
        self._fd = os.open(self.path, os.O_RDONLY)
        # the file stays readable through this descriptor even after its build is pruned
        weakref.finalize(self, os.close, self._fd)
        # a passage read once stays for the next results (a thread-safe LRU)
        self._read = functools.lru_cache(maxsize=cache)(self._read_line)

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"passage {i} of {len(self)}")
        return self._read(i)

    def _read_line(self, i: int) -> Passage:
        start = int(self._starts[i])
        return _parse(os.pread(self._fd, int(self._ends[i]) - start, start))

    def __iter__(self) -> Iterator[Passage]:
        """All passages in order, read sequentially (not cached)."""
        with open(self.path, "rb", buffering=_BLOCK) as fh:
            for a, b in zip(self._starts.tolist(), self._ends.tolist()):
                fh.seek(a)  # within the buffer: no system call
                yield _parse(fh.read(b - a))


class Texts(Sequence):
    """The ``text`` of each passage of ``passages``, read through it (no copy)."""

    def __init__(self, passages: Sequence[Passage]):
        self._passages = passages

    def __len__(self) -> int:
        return len(self._passages)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [p.text for p in self._passages[i]]
        return self._passages[i].text

    def __iter__(self) -> Iterator[str]:
        return (p.text for p in self._passages)


def texts_of(passages: Sequence[Passage]) -> Sequence[str]:
    """Passage texts: a list for passages in memory, a view for a :class:`PassageFile`."""
    return Texts(passages) if isinstance(passages, PassageFile) else [p.text for p in passages]
