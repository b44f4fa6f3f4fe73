"""FAISS backend: exact inner product (``IndexFlatIP`` behind an ID map) while that is fast
enough, an inverted file with 8-bit scalar quantization (``IVF<n>,SQ8``) beyond.

Measured (``python scripts/benchmark.py --scale``): flat search stays within a few ms up to
about 10^5 vectors; at 10^6 passages with 5×10^6 sentence vectors it would take seconds
per query and 9 GB of float32, while IVF-SQ8 keeps the vectors in a quarter of that and
answers in milliseconds at recall@10 ≥ 0.95 (README). HNSW needs the float vectors (or
SQ8 plus a graph of ~0.25 KB per vector) for no better recall here, so IVF-SQ8 it is.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..system import cores

from .base import Neighbours, as_ids


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4·√n (FAISS's rule of thumb), at least 16."""
    return max(16, int(4 * np.sqrt(max(n, 1))))


class FaissStore:
    """Vectors in FAISS with stable IDs. ``spec`` "Flat": ``IndexIDMap2(IndexFlatIP)``, exact
    search, the flat vectors readable without a copy for exact scoring of given IDs.
    ``spec`` "IVF<n>,SQ8": approximate search over ``nprobe`` lists, vectors kept in 8 bits
    (decoded for scoring given IDs through a hash-table direct map)."""

    kind = "faiss"

    def __init__(self, dim: int, index=None, spec: str = "Flat", nprobe: int = 32, threads: int = 1):
        import faiss

        self.dim = int(dim)
        self.threads = int(threads)
        """OpenMP threads for a search: one query gains nothing from more and loses much
        when they wait for each other (measured: 13 ms on one thread, 53 ms on two, 10^5 vectors)."""
        self.spec = spec
        self.nprobe = int(nprobe)
        if index is None:
            # vectors are L2-normalized, so inner product = cosine similarity
            if spec == "Flat":
                index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
            else:
                index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
                # IDs 0..n-1 added in order: an array direct map (8 bytes an ID; a hash table
                # would cost ~50) decodes the vectors of given IDs for scoring
                faiss.extract_index_ivf(index).set_direct_map_type(faiss.DirectMap.Array)
        self._index = index
        self._flat = spec == "Flat"
        self._rows: dict[int, int] | None = None
        self._identity = True
        self._mapped: Path | None = None
        """The file a loaded IVF index is mapped from (read-only: read into memory before a change)."""

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids, vectors) -> None:
        import faiss

        self._writable()
        faiss.omp_set_num_threads(cores())  # training and adding use every core
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(vectors) and not self._index.is_trained:
            # the inverted lists are learned from (a sample of) the first vectors added
            n = min(len(vectors), 64 * faiss_lists(self._index))
            pick = np.random.default_rng(0).choice(len(vectors), size=n, replace=False)
            self._index.train(vectors[np.sort(pick)])
        ids = as_ids(ids)
        if len(vectors) and not self._flat and self._sequential(ids):
            self._index.add(vectors)  # an array direct map takes IDs 0..n-1 in order only
        elif len(vectors):
            if not self._flat:
                self._hashtable()
            self._index.add_with_ids(vectors, ids)
        self._refresh()

    def remove(self, ids) -> None:
        import faiss

        self._writable()
        ids = as_ids(ids)
        if len(ids) and self._flat:
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
        elif len(ids):
            # after a removal the IDs are no longer 0..n-1: the direct map becomes a hash
            # table, which removes only through an ID array selector
            self._hashtable()
            self._index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
        self._refresh()

    def search(self, queries, k: int, allowed=None) -> Neighbours:
        import faiss

        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = min(int(k), len(self))
        faiss.omp_set_num_threads(self.threads)
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
            params = self._params(sel)
        elif not self._flat:
            params = self._params(None)
        if k <= 0:
            return Neighbours(np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32))
        scores, ids = self._index.search(q, k, params=params)
        return Neighbours(ids, scores)

    def score(self, queries, ids) -> np.ndarray:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        ids = as_ids(ids)
        if not self._flat:
            return self.vectors(ids) @ q.T
        xb = self._vectors()
        if self._identity and len(ids) == len(xb) and (not len(ids) or (ids[0] == 0 and ids[-1] == len(ids) - 1
                                                                       and np.all(np.diff(ids) == 1))):
            return xb @ q.T  # every vector in ID order: no gather needed
        return xb[self._row_of(ids)] @ q.T

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors of ``ids`` (a copy; decoded from 8 bits for an IVF-SQ8 index)."""
        ids = as_ids(ids)
        if not self._flat:
            return self._index.reconstruct_batch(ids) if len(ids) else np.zeros((0, self.dim), np.float32)
        return self._vectors()[self._row_of(ids)].copy()

    def save(self, folder: Path, name: str) -> list[str]:
        import faiss

        faiss.write_index(self._index, str(Path(folder) / f"{name}.faiss"))
        return [f"{name}.faiss"]

    @classmethod
    def load(cls, folder: Path, name: str, params: dict) -> "FaissStore":
        import faiss

        path = Path(folder) / f"{name}.faiss"
        spec = params.get("spec", "Flat")
        # an IVF index is mapped, not read: its codes (1.9 GB at 5×10^6 sentence vectors) stay
        # in the page cache, shared and droppable, and a query touches only its nprobe lists
        mapped = spec != "Flat" and hasattr(faiss, "IO_FLAG_MMAP_IFC")
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC) if mapped else faiss.read_index(str(path))
        if index.d != params.get("dim", index.d):
            raise ValueError(f"{name}.faiss has dimension {index.d}, the manifest says {params['dim']}")
        if spec != "Flat" and faiss.extract_index_ivf(index).direct_map.type == faiss.DirectMap.NoMap:
            raise ValueError(f"{name}.faiss has no ID map to score candidates with")
        store = cls(index.d, index, spec, params.get("nprobe", 32))
        store._mapped = path if mapped else None
        store._refresh()
        return store

    def params(self) -> dict:
        out = {"kind": self.kind, "spec": self.spec, "index": "IDMap2,Flat" if self._flat else self.spec,
               "metric": "inner_product", "dim": self.dim, "count": len(self)}
        if not self._flat:
            out["nprobe"] = self.nprobe
        return out

    # --- internals -------------------------------------------------------------------
    def _params(self, sel):
        import faiss

        if self._flat:
            return faiss.SearchParameters(sel=sel)
        return faiss.SearchParametersIVF(nprobe=self.nprobe, sel=sel) if sel is not None else \
            faiss.SearchParametersIVF(nprobe=self.nprobe)

    def _writable(self) -> None:
        import faiss

        if self._mapped is not None:  # a copy in memory (the mapped file may be gone by now)
            self._index = faiss.deserialize_index(faiss.serialize_index(self._index))
            self._mapped = None

    def _sequential(self, ids: np.ndarray) -> bool:
        import faiss

        return (faiss.extract_index_ivf(self._index).direct_map.type == faiss.DirectMap.Array
                and np.array_equal(ids, np.arange(len(self), len(self) + len(ids))))

    def _hashtable(self) -> None:
        import faiss

        ivf = faiss.extract_index_ivf(self._index)
        if ivf.direct_map.type != faiss.DirectMap.Hashtable:
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)

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

        if not self._flat:  # the direct map resolves IDs itself
            self._identity, self._rows = False, None
            return
        labels = faiss.vector_to_array(self._index.id_map) if len(self) else np.zeros(0, np.int64)
        self._identity = bool(np.array_equal(labels, np.arange(len(labels))))
        self._rows = None if self._identity else {int(x): r for r, x in enumerate(labels)}

    def _row_of(self, ids: np.ndarray) -> np.ndarray:
        if self._identity:
            if len(ids) and (ids.min() < 0 or ids.max() >= len(self)):
                raise KeyError("unknown vector id")
            return ids
        return np.array([self._rows[int(i)] for i in ids], dtype=np.int64)


def faiss_lists(index) -> int:
    import faiss

    return faiss.extract_index_ivf(index).nlist
