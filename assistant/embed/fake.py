"""A fast, deterministic stand-in embedder for tests of the logic around the model."""
from __future__ import annotations

import hashlib

import numpy as np


class FakeEmbedder:
    """Deterministic hashed character n-gram vectors: similar text, similar vector. For tests."""

    name = "fake-ngram"
    fingerprint = "fake-ngram-v1"
    batch_invariant = True  # each text hashed on its own

    def __init__(self, dim: int = 256, max_tokens: int = 512):
        self.dim = dim
        self.max_tokens = max_tokens
        self.calls = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        grams = list(text) + [text[i:i + 2] for i in range(len(text) - 1)]
        for g in grams:
            if g.strip():
                h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
                v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts, batch_size=16, progress=False):
        self.calls += len(texts)
        return np.stack([self._vec(t) for t in texts]) if len(texts) else np.zeros((0, self.dim), np.float32)

    query_fingerprint = fingerprint

    def embed_queries(self, texts):
        return self.embed_passages(texts)

    def embed_lookup(self, texts):
        return self.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return len(text) + 2
