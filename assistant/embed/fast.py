"""Queries on the ONNX encoder, documents on sentence-transformers loaded when needed.

Answering needs only query vectors (a question, the focus test's variants, a pasted
paragraph for 相似段落): those go through onnxruntime (``onnx.py``), which loads in about a
second and runs a query in about 10 ms on one thread. Passages are embedded only by builds
(and `add`), on the fp32 sentence-transformers model, which — with torch — is loaded on
the first call that needs it; a search or the app never imports torch.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .onnx import OnnxQueryEncoder

log = logging.getLogger(__name__)


class FastQueryEmbedder:
    """An Embedder with ONNX queries (fp32 or int8) and lazily loaded fp32 documents (same model)."""

    def __init__(self, model_dir: Path, onnx_path: Path, name: str, fingerprint: str, query_threads: int = 1,
                 query_encoder: str = "onnx"):
        self.query_encoder = query_encoder
        self.model_dir = Path(model_dir)
        self.name = name
        self.fingerprint = fingerprint
        # the session loads in a background thread; a damaged file surfaces at the first query
        self._encoder = OnnxQueryEncoder(self.model_dir, onnx_path, threads=query_threads)
        self.dim = self._encoder.dim
        self.max_tokens = self._encoder.max_tokens
        self._query_threads = query_threads
        self._documents = None
        self._lock = threading.Lock()

    @property
    def query_fingerprint(self) -> str:
        """Identifies the query vectors (calibration is cached and recorded per query encoder)."""
        return f"{self.fingerprint}/{self.query_encoder}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.embed_queries(list(texts))

    def embed_lookup(self, texts: Sequence[str]) -> np.ndarray:
        """A pasted paragraph, embedded as a passage (the passage prompt) on the query encoder."""
        return self._encoder.embed(list(texts), prompt_name="passage")

    def embed_passages(self, texts, batch_size: int = 16, progress: bool = False) -> np.ndarray:
        return self.documents().embed_passages(texts, batch_size, progress)

    def count_tokens(self, text: str) -> int:
        return self.documents().count_tokens(text)

    def documents(self):
        """The fp32 sentence-transformers embedder (loaded, with torch, on first use)."""
        with self._lock:
            if self._documents is None:
                from . import open_sentence_transformer

                log.info("loading the document embedder (sentence-transformers, fp32)")
                self._documents = open_sentence_transformer(self.model_dir, self.name, self.fingerprint,
                                                            self._query_threads)
            return self._documents
