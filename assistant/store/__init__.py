"""Stores: where the index keeps its vectors and its BM25 statistics.

``base`` holds the two protocols (``VectorStore``, ``LexicalStore``) and ``Neighbours``;
each backend is one file: ``faiss`` (embedded exact inner-product search), ``bm25``
(bm25s over jieba tokens) and ``memory`` (numpy brute force, the fake for tests). A new
backend (e.g. Milvus) is one more file here plus a line in ``open_vector_store`` /
``open_lexical_store``.
"""
from __future__ import annotations

from pathlib import Path

from .base import LexicalStore, Neighbours, VectorStore

__all__ = ["LexicalStore", "Neighbours", "VectorStore", "new_vector_store", "open_vector_store",
           "open_lexical_store"]


def new_vector_store(kind: str, dim: int, size: int = 0, ann_threshold: int = 200_000,
                     nprobe: int = 32) -> VectorStore:
    """An empty vector store of ``kind`` ("faiss" or "memory") for ``size`` vectors: FAISS is
    exact (flat) up to ``ann_threshold`` vectors and an IVF-SQ8 index beyond."""
    if kind == "faiss":
        from .faiss import FaissStore, ivf_lists

        if size > ann_threshold:
            return FaissStore(dim, spec=f"IVF{ivf_lists(size)},SQ8", nprobe=nprobe)
        return FaissStore(dim)
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore(dim)
    raise ValueError(f"unknown vector store {kind!r}: use faiss or memory")


def open_vector_store(folder: Path, name: str, params: dict) -> VectorStore:
    """Load the vector store saved as ``name`` in ``folder`` with the ``params`` it recorded."""
    kind = params.get("kind")
    if kind == "faiss":
        from .faiss import FaissStore

        return FaissStore.load(folder, name, params)
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore.load(folder, name, params)
    raise ValueError(f"unknown vector store {kind!r} in the manifest")


def open_lexical_store(folder: Path, name: str, params: dict) -> LexicalStore:
    """Load the lexical store saved as ``name`` in ``folder``."""
    if params.get("kind") == "bm25s":
        from .bm25 import Bm25Store

        return Bm25Store.load(folder, name, params)
    raise ValueError(f"unknown lexical store {params.get('kind')!r} in the manifest")
