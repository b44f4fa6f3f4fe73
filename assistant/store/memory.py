"""In-memory backend: numpy brute force. The fake for tests (and a reference: its results
must equal FAISS's), also usable for tiny corpora."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Neighbours, as_ids


class MemoryStore:
    """Vectors in a numpy array, IDs beside them; exact search by one matrix product."""

    kind = "memory"

    def __init__(self, dim: int):
        self.dim = int(dim)
        self._ids = np.zeros(0, np.int64)
        self._vecs = np.zeros((0, self.dim), np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids, vectors) -> None:
        ids = as_ids(ids)
        if np.isin(ids, self._ids).any():
            raise ValueError("an id is already stored")
        self._ids = np.concatenate([self._ids, ids])
        self._vecs = np.vstack([self._vecs, np.asarray(vectors, np.float32).reshape(-1, self.dim)])

    def remove(self, ids) -> None:
        keep = ~np.isin(self._ids, as_ids(ids))
        self._ids, self._vecs = self._ids[keep], self._vecs[keep]

    def search(self, queries, k: int, allowed=None) -> Neighbours:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        rows = np.arange(len(self._ids)) if allowed is None else np.flatnonzero(np.isin(self._ids, as_ids(allowed)))
        k = min(int(k), len(rows))
        ids = np.full((len(q), k), -1, np.int64)
        scores = np.full((len(q), k), -np.inf, np.float32)
        sims = self._vecs[rows] @ q.T
        for j in range(len(q)):
            # ties go to the lower id, as FAISS orders them
            order = np.lexsort((self._ids[rows], -sims[:, j]))[:k]
            ids[j, :len(order)] = self._ids[rows][order]
            scores[j, :len(order)] = sims[order, j]
        return Neighbours(ids, scores)

    def score(self, queries, ids) -> np.ndarray:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        return self.vectors(ids) @ q.T

    def vectors(self, ids) -> np.ndarray:
        pos = {int(x): r for r, x in enumerate(self._ids)}
        return self._vecs[np.array([pos[int(i)] for i in as_ids(ids)], dtype=np.int64)]

    def save(self, folder: Path, name: str) -> list[str]:
        np.save(Path(folder) / f"{name}.ids.npy", self._ids)
        np.save(Path(folder) / f"{name}.vectors.npy", self._vecs)
        return [f"{name}.ids.npy", f"{name}.vectors.npy"]

    @classmethod
    def load(cls, folder: Path, name: str, params: dict) -> "MemoryStore":
        store = cls(params["dim"])
        store._ids = np.load(Path(folder) / f"{name}.ids.npy", allow_pickle=False)
        store._vecs = np.load(Path(folder) / f"{name}.vectors.npy", allow_pickle=False)
        return store

    def params(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "count": len(self)}
