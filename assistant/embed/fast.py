"""Queries and documents on the model's ONNX export; no torch.

Answering needs only query vectors (a question, the focus test's variants, a pasted
paragraph for 相似段落): those go through onnxruntime (``onnx.py``), which loads in about a
second and runs a query in about 10 ms on one thread. Passages are embedded only by builds
(and `add`), on the fp32 export (the same vectors as sentence-transformers to 1e-5), loaded
on the first call that needs it with every core; neither a search, the app nor an add imports
torch (``torch_model()`` gives the sentence-transformers model: the benchmark's anchor).
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
    """An Embedder on the model's ONNX export: queries on ``onnx_path`` (fp32 or int8),
    pasted paragraphs on ``lookup_path`` (default: the same), documents on the fp32 export
    ``documents_path``."""

    def __init__(self, model_dir: Path, onnx_path: Path, name: str, fingerprint: str, query_threads: int = 1,
                 query_encoder: str = "onnx", documents_path: Path | None = None, lookup_path: Path | None = None):
        self.query_encoder = query_encoder
        self.model_dir = Path(model_dir)
        self.name = name
        self.fingerprint = fingerprint
        # the session loads in a background thread; a damaged file surfaces at the first query
        self._encoder = OnnxQueryEncoder(self.model_dir, onnx_path, threads=query_threads)
        # pasted paragraphs may run on their own (int8) graph: long texts gain most from it,
        # and no calibration depends on their vectors; loaded on the first paragraph
        self._lookup_path = Path(lookup_path or onnx_path)
        self._lookup: OnnxQueryEncoder | None = None
        self.dim = self._encoder.dim
        self.max_tokens = self._encoder.max_tokens
        self._query_threads = query_threads
        self._documents_path = Path(documents_path or onnx_path)
        self._documents = None
        self._counter = None
        self._lock = threading.Lock()

    @property
    def batch_invariant(self) -> bool:
        """fp32 vectors are bit-identical alone or in a batch (285 eval queries, 1 and 2
        threads); int8 ones are not (the activation scale is taken over the batch)."""
        return self.query_encoder == "onnx"

    @property
    def query_fingerprint(self) -> str:
        """Identifies the query vectors (calibration is cached and recorded per query encoder)."""
        return f"{self.fingerprint}/{self.query_encoder}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.embed_queries(list(texts))

    def embed_lookup(self, texts: Sequence[str]) -> np.ndarray:
        """A pasted paragraph, embedded as a passage (the passage prompt) on the lookup encoder."""
        return self._lookup_encoder().embed(list(texts), prompt_name="passage")

    def _lookup_encoder(self) -> OnnxQueryEncoder:
        with self._lock:
            if self._lookup is None:
                self._lookup = self._sibling(self._lookup_path, self._query_threads, self._encoder.batch_size)
            return self._lookup

    def _sibling(self, path: Path, threads: int, batch_size: int) -> OnnxQueryEncoder:
        """An encoder of ``path``: the query encoder's own session when it is that graph on
        that many threads (no second copy of the model), else a new session."""
        if path == self._encoder.onnx_path and threads == self._encoder.threads:
            enc = self._encoder.ready()
            return enc if batch_size == enc.batch_size else enc.with_batch_size(batch_size)
        log.info("loading %s for %s threads", path.name, threads)
        return OnnxQueryEncoder(self.model_dir, path, threads=threads, batch_size=batch_size).ready()

    def embed_passages(self, texts, batch_size: int = 16, progress: bool = False) -> np.ndarray:
        """Passages (the passage prompt) on the fp32 export, on every core, with a progress bar."""
        enc = self._document_encoder()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # length-sorted chunks: each batch pads to similar lengths (the encoder sorts inside a chunk)
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), np.float32)
        step = max(batch_size, 16) * 8
        chunks = range(0, len(texts), step)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc="embedding", unit_scale=step, total=len(chunks))
        for start in chunks:
            idx = order[start:start + step]
            out[idx] = enc.embed([texts[i] for i in idx], prompt_name="passage")
        return out

    def count_tokens(self, text: str) -> int:
        """Tokens the model is fed for ``text`` as a passage, prompt and specials included (untruncated)."""
        with self._lock:
            if self._counter is None:
                from tokenizers import Tokenizer

                self._counter = Tokenizer.from_file(str(self._encoder.config.transformer_dir / "tokenizer.json"))
                self._counter.no_truncation()
                self._counter.no_padding()
                self._prefix = self._encoder.config.prompts.get("passage", "")
        return len(self._counter.encode(self._prefix + text, add_special_tokens=True).ids)

    def _document_encoder(self) -> OnnxQueryEncoder:
        with self._lock:
            if self._documents is None:
                from ..system import cores

                self._documents = self._sibling(self._documents_path, cores(), 16)
            return self._documents

    def torch_model(self):
        """The same model on sentence-transformers (imports torch): the benchmark's anchor."""
        from . import open_sentence_transformer

        return open_sentence_transformer(self.model_dir, self.name, self.fingerprint, self._query_threads)
