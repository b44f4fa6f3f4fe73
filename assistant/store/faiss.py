"""FAISS backend: exact inner product (``IndexFlatIP``) behind an ID map."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Neighbours, as_ids


class FaissStore:
    """Vectors in a ``faiss.IndexIDMap2(IndexFlatIP)``: exact search, stable IDs, and the
    flat vectors readable without a copy for exact scoring of given IDs."""

    kind = "faiss"

    def __init__(self, dim: int, index=None):
        import faiss

        self.dim = int(dim)
        # vectors are L2-normalized, so inner product = cosine similarity
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._rows: dict[int, int] | None = None
        self._identity = True

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids, vectors) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(vectors):
            self._index.add_with_ids(vectors, as_ids(ids))
        self._refresh()

    def remove(self, ids) -> None:
        import faiss

        ids = as_ids(ids)
        if len(ids):
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
        self._refresh()

    def search(self, queries, k: int, allowed=None) -> Neighbours:
        import faiss

        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = min(int(k), len(self))
        params = None
        if allowed is not None:
            allowed = np.asarray(allowed)
            if allowed.dtype == bool:
                # a bitmap selector: no set of a million IDs to build per query
                k = min(k, int(allowed.sum()))
                self._bits = np.packbits(allowed, bitorder="little")
                sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(self._bits))
            else:
                allowed = as_ids(allowed)
                k = min(k, len(allowed))
                sel = faiss.IDSelectorBatch(allowed)
            params = faiss.SearchParameters(sel=sel)
        if k <= 0:
            return Neighbours(np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32))
        scores, ids = self._index.search(q, k, params=params)
        return Neighbours(ids, scores)

    def score(self, queries, ids) -> np.ndarray:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        xb = self._vectors()
        ids = as_ids(ids)
        if self._identity and len(ids) == len(xb) and (not len(ids) or (ids[0] == 0 and ids[-1] == len(ids) - 1
                                                                       and np.all(np.diff(ids) == 1))):
            return xb @ q.T  # every vector in ID order: no gather needed
        return xb[self._row_of(ids)] @ q.T

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors of ``ids`` (a copy)."""
        return self._vectors()[self._row_of(as_ids(ids))].copy()

    def save(self, folder: Path, name: str) -> list[str]:
        import faiss

        faiss.write_index(self._index, str(Path(folder) / f"{name}.faiss"))
        return [f"{name}.faiss"]

    @classmethod
    def load(cls, folder: Path, name: str, params: dict) -> "FaissStore":
        import faiss

        index = faiss.read_index(str(Path(folder) / f"{name}.faiss"))
        if index.d != params.get("dim", index.d):
            raise ValueError(f"{name}.faiss has dimension {index.d}, the manifest says {params['dim']}")
        store = cls(index.d, index)
        store._refresh()
        return store

    def params(self) -> dict:
        return {"kind": self.kind, "index": "IDMap2,Flat", "metric": "inner_product", "dim": self.dim,
                "count": len(self)}

    # --- internals -------------------------------------------------------------------
    def _vectors(self) -> np.ndarray:
        import faiss

        flat = faiss.downcast_index(self._index.index)
        n = len(self)
        if not n:
            return np.zeros((0, self.dim), np.float32)
        # a view of FAISS's own storage (valid while the index lives): no second copy in memory
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def _refresh(self) -> None:
        import faiss

        labels = faiss.vector_to_array(self._index.id_map) if len(self) else np.zeros(0, np.int64)
        self._identity = bool(np.array_equal(labels, np.arange(len(labels))))
        self._rows = None if self._identity else {int(x): r for r, x in enumerate(labels)}

    def _row_of(self, ids: np.ndarray) -> np.ndarray:
        if self._identity:
            if len(ids) and (ids.min() < 0 or ids.max() >= len(self)):
                raise KeyError("unknown vector id")
            return ids
        return np.array([self._rows[int(i)] for i in ids], dtype=np.int64)
