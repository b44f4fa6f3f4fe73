"""Stores: where the index keeps its vectors and its BM25 statistics.

``base`` holds the two protocols (``VectorStore``, ``LexicalStore``) and ``Neighbours``;
each backend is one file: ``faiss`` (embedded exact inner-product search), ``bm25``
(bm25s over jieba tokens), ``memory`` (numpy brute force, the fake for tests) and
``milvus`` (vectors and BM25 full-text search in a Milvus server or milvus-lite; pymilvus is
imported only when it is chosen).
"""
from __future__ import annotations

from pathlib import Path

from .base import LexicalStore, Neighbours, VectorStore

__all__ = ["LexicalStore", "Neighbours", "VectorStore", "new_vector_store", "new_lexical_store",
           "open_vector_store", "open_lexical_store"]


def new_vector_store(kind: str, dim: int, size: int = 0, ann_threshold: int = 200_000,
                     nprobe: int = 32, milvus: dict | None = None) -> VectorStore:
    """An empty vector store of ``kind`` ("faiss", "memory" or "milvus") for ``size`` vectors:
    exact (flat) up to ``ann_threshold`` vectors and an IVF-SQ8 index beyond. ``milvus``
    names the place for a Milvus store: ``uri``, ``collection`` and ``token``."""
    if kind == "milvus":
        from .milvus import MilvusStore

        return MilvusStore.create(milvus["uri"], milvus["collection"], dim, milvus.get("token"), size,
                                  ann_threshold, nprobe)
    if kind == "faiss":
        from .faiss import FaissStore, ivf_lists

        if size > ann_threshold:
            return FaissStore(dim, spec=f"IVF{ivf_lists(size)},SQ8", nprobe=nprobe)
        return FaissStore(dim)
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore(dim)
    raise ValueError(f"unknown vector store {kind!r}: use faiss, memory or milvus")


def new_lexical_store(kind: str, milvus: dict | None = None, analyzer: dict | None = None) -> LexicalStore:
    """An empty BM25 store: bm25s in this process beside a FAISS or memory store, Milvus's own
    full-text search (``analyzer``: its analyzer parameters) beside a Milvus one."""
    if kind == "milvus":
        from .milvus import MilvusBm25Store

        return MilvusBm25Store.create(milvus["uri"], milvus["collection"], milvus.get("token"), analyzer)
    from .bm25 import Bm25Store

    return Bm25Store(k1=1.2, b=0.75)


def open_vector_store(folder: Path, name: str, params: dict, token: str | None = None) -> VectorStore:
    """Load the vector store saved as ``name`` in ``folder`` with the ``params`` it recorded
    (``token``: Milvus's, never written to the manifest)."""
    kind = params.get("kind")
    if kind == "milvus":
        from .milvus import MilvusStore

        return MilvusStore.load(params, token)
    if kind == "faiss":
        from .faiss import FaissStore

        return FaissStore.load(folder, name, params)
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore.load(folder, name, params)
    raise ValueError(f"unknown vector store {kind!r} in the manifest")


def open_lexical_store(folder: Path, name: str, params: dict, token: str | None = None) -> LexicalStore:
    """Load the lexical store saved as ``name`` in ``folder``."""
    if params.get("kind") == "milvus-bm25":
        from .milvus import MilvusBm25Store

        return MilvusBm25Store.load(folder, name, params, token)
    if params.get("kind") == "bm25s":
        from .bm25 import Bm25Store

        return Bm25Store.load(folder, name, params)
    raise ValueError(f"unknown lexical store {params.get('kind')!r} in the manifest")
