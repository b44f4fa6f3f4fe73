"""The real embedder: a sentence-transformers model on the CPU."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, with e5-style query/passage prompts when the model defines them."""

    batch_invariant = False  # padding beside longer batch mates changes torch's float sums slightly

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

    @property
    def query_fingerprint(self) -> str:
        return self.fingerprint

    def embed_lookup(self, texts):
        return self.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        # verbose=False: counting a long paragraph before it is split is expected, not an error
        return len(self.model.tokenizer(self._prefix + text, add_special_tokens=True, verbose=False)["input_ids"])
