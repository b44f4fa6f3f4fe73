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

    def embed_passages(self, texts: Sequence[str], batch_size: int = 16, progress: bool = False) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_lookup(self, texts: Sequence[str]) -> np.ndarray:
        """Texts a user pasted to find similar passages: embedded as passages, at query time."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model is fed for ``text`` as a passage, prompt and specials included."""
        ...
