"""The store protocols. IDs are int64 labels chosen by the caller (the index uses a
passage's or a sentence's position); a removed ID is gone, the others keep theirs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np


@dataclass
class Neighbours:
    """Top-k of a store search: ``ids[q, r]`` and ``scores[q, r]`` for query q's r-th hit,
    best first; rows are padded with id -1 (score -inf) when fewer were found."""

    ids: np.ndarray
    scores: np.ndarray

    def row(self, q: int = 0) -> np.ndarray:
        """The found ids of query ``q`` (padding dropped)."""
        return self.ids[q][self.ids[q] >= 0]


class VectorStore(Protocol):
    """Vectors by ID; inner product similarity (vectors are L2-normalized: cosine)."""

    kind: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` under ``ids[i]`` (IDs not yet present)."""

    def remove(self, ids: np.ndarray) -> None:
        """Forget these IDs (unknown ones are ignored)."""

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Neighbours:
        """The ``k`` best IDs per query, restricted to ``allowed`` when given: an array of IDs,
        or a boolean mask indexed by ID."""

    def score(self, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact similarity of each of ``ids`` to each query: shape (len(ids), len(queries))."""

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (a copy), shape (len(ids), dim)."""

    def save(self, folder: Path, name: str) -> list[str]:
        """Write the store into ``folder`` (files named after ``name``); returns the file names."""

    def params(self) -> dict:
        """What the manifest records to load this store again (``kind`` first)."""


class LexicalStore(Protocol):
    """Term statistics of tokenized documents by ID, scored with BM25."""

    kind: str

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, token_lists: Sequence[Sequence[str]], texts: Sequence[str] | None = None) -> None:
        """Store documents by their tokens; ``texts`` (their raw text) is for a store whose
        server analyzes text itself (Milvus), others ignore it."""

    def remove(self, ids: np.ndarray) -> None: ...

    def scores(self, tokens: Sequence[str], text: str | None = None) -> np.ndarray:
        """The BM25 score of every stored document for the query ``tokens`` (or its ``text``,
        for a store that analyzes text), in ``ids()`` order."""

    def ids(self) -> np.ndarray:
        """The stored IDs, in the order ``scores`` uses."""

    def search(self, tokens: Sequence[str], k: int, allowed: np.ndarray | None = None,
               text: str | None = None) -> Neighbours:
        """The ``k`` best-scoring IDs with a positive score, restricted to ``allowed`` IDs."""

    def doc_freq(self, term: str) -> int:
        """How many stored documents contain ``term``."""

    def __contains__(self, term: str) -> bool: ...

    def save(self, folder: Path, name: str) -> list[str]: ...

    def params(self) -> dict: ...


def as_ids(ids) -> np.ndarray:
    """IDs as a 1-D int64 array (a boolean mask becomes the IDs it marks)."""
    ids = np.asarray(ids)
    if ids.dtype == bool:
        return np.flatnonzero(ids).astype(np.int64)
    return ids.astype(np.int64).reshape(-1)


def top_of(scores: np.ndarray, ids: np.ndarray, k: int, positive: bool = False) -> Neighbours:
    """The ``k`` best of one query's ``scores`` over ``ids`` (a stable order for ties)."""
    order = np.argsort(-scores, kind="stable")
    if positive:
        order = order[scores[order] > 0]
    order = order[:k]
    found = np.full((1, k), -1, np.int64)
    vals = np.full((1, k), -np.inf, np.float32)
    found[0, :len(order)] = ids[order]
    vals[0, :len(order)] = scores[order]
    return Neighbours(found, vals)
