"""The embedder interface: text -> L2-normalized float32 vectors."""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Embedder(Protocol):
    name: str
    """Identifies the model in manifests (an index built by another model is refused)."""
    dim: int
    max_tokens: int
    query_fingerprint: str
    """Identifies the query vectors: the model plus what runs it (``fingerprint/onnx-int8``)."""
    batch_invariant: bool
    """A query's vector is the same bit for bit whatever it is embedded beside (fp32 ONNX:
    measured on 285 eval queries; not int8, whose activation scale is per batch, nor torch);
    the focus test then reuses it instead of embedding the question again."""

    def embed_passages(self, texts: Sequence[str], batch_size: int = 16, progress: bool = False) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_lookup(self, texts: Sequence[str]) -> np.ndarray:
        """Texts a user pasted to find similar passages: embedded as passages, at query time."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model is fed for ``text`` as a passage, prompt and specials included."""
        ...
