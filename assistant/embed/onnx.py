"""Query embeddings from an ONNX export of a sentence-transformers model, without torch.

Two halves with very different import costs:

* :func:`export` (run once, offline): loads the model with torch/transformers, writes the
  transformer to ONNX (fp32), quantizes it dynamically to int8 with onnxruntime, and
  records what it did in a JSON file beside them. A second call with the same model
  folder is a cache hit; a changed model folder or a damaged output is re-exported.
* :class:`OnnxQueryEncoder` (every start): the ``tokenizers`` library reads
  ``tokenizer.json``, onnxruntime runs the graph, numpy pools and normalizes. Neither
  torch, transformers nor sentence_transformers is imported, so loading the encoder
  and embedding a query costs a fraction of a second instead of seconds.

Only the parts of a sentence-transformers pipeline that this project meets are handled
(Transformer -> Pooling [-> Normalize]); anything else raises :class:`OnnxUnavailable`
so the caller can fall back to sentence-transformers.

This module imports nothing from the rest of ``assistant``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["OnnxUnavailable", "OnnxQueryEncoder", "export", "fp32_path", "int8_path", "meta_path",
           "model_fingerprint", "read_st_config", "STConfig"]

FP32_NAME = "model.onnx"
INT8_NAME = "model_int8.onnx"
META_NAME = "onnx_export.json"
# Bump when export() writes something different for the same inputs (graph, wrapper,
# quantization recipe), so old caches are rebuilt.
EXPORT_FORMAT = 1
DEFAULT_OPSET = 17

# The recipe export() quantizes with, chosen by measuring multilingual-e5-small on the
# 117 eval queries (+1 over 512 tokens) against sentence-transformers fp32, 1 thread,
# AVX2 without VNNI (cosine min / mean, median ms per query, int8 file size):
#   MatMul, per-tensor, QInt8              0.9822 / 0.9900  10.6 ms  407 MB
#   MatMul, per-channel, QInt8             0.9920 / 0.9963  11.5 ms  407 MB
#   MatMul, per-channel, QInt8, reduce_rng 0.9938 / 0.9971  10.2 ms  407 MB
#   MatMul, per-channel, QUInt8            0.9956 / 0.9975  11.1 ms  407 MB
#   MatMul+Gather, per-channel, QUInt8     0.9943 / 0.9974  10.8 ms  118 MB   <- this
#   same after onnxruntime.transformers fusion (Attention, EmbedLayerNorm): 0.9951 / 0.9975, 11.3 ms
#   MatMul per-channel QInt8 minus the 12 FFN-output MatMuls: 0.9949 / 0.9981, 13.7 ms, 433 MB
# Per-channel matters most; signed weights with unsigned activations saturate on AVX2
# without VNNI, so QUInt8 (or reduce_range) does better there. Quantizing the Gather
# (the 250k x 384 word-embedding table) costs almost nothing in fidelity and cuts the
# file from 407 to 118 MB, which is read at every start. Offline fusion bought no speed:
# the session's own ORT_ENABLE_ALL optimizations already fuse at load.
QUANTIZATION: dict[str, Any] = {
    "method": "quantize_dynamic",
    "weight_type": "QUInt8",
    "per_channel": True,
    "reduce_range": False,
    "op_types_to_quantize": ["MatMul", "Gather"],
}

INSTALL_HINT = "pip install onnxruntime==1.32.0 onnx==1.23.2"

# Files of a model folder that define its output: weights, tokenizer, configs.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "sentencepiece.bpe.model", "spiece.model", "vocab.txt", "vocab.json", "merges.txt",
                    "added_tokens.json")


class OnnxUnavailable(Exception):
    """The ONNX path cannot be used; the message says why and how to fix it.

    Callers are expected to log the message and fall back to sentence-transformers.
    """


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class STConfig:
    """What a sentence-transformers folder says about turning token states into a vector."""

    model_dir: Path
    transformer_dir: Path
    max_seq_length: int
    do_lower_case: bool
    pooling_modes: tuple[str, ...]
    include_prompt: bool
    normalize: bool
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    dim: int | None = None
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    pad_token: str | None = None
    pad_token_id: int | None = None
    module_dirs: tuple[Path, ...] = ()


_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise OnnxUnavailable(f"cannot read {path}: {e}") from e


def read_st_config(model_dir: str | os.PathLike) -> STConfig:
    """Reads modules.json and the module configs of a sentence-transformers folder.

    Raises :class:`OnnxUnavailable` for a pipeline this module does not reproduce.
    """
    root = Path(model_dir)
    modules = _read_json(root / "modules.json")
    if not modules:
        raise OnnxUnavailable(f"{root} has no modules.json: not a sentence-transformers folder")
    transformer_dir: Path | None = None
    pooling: dict | None = None
    normalize = False
    module_dirs: list[Path] = []
    for m in sorted(modules, key=lambda m: m.get("idx", 0)):
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        path = root / m.get("path", "")
        module_dirs.append(path)
        if kind == "Transformer" and transformer_dir is None and pooling is None:
            transformer_dir = path
        elif kind == "Pooling" and transformer_dir is not None and pooling is None:
            pooling = _read_json(path / "config.json")
        elif kind == "Normalize" and pooling is not None:
            normalize = True
        else:
            raise OnnxUnavailable(f"{root}: module {m.get('type')!r} at position {m.get('idx')} is not supported "
                                  "by the ONNX encoder (only Transformer -> Pooling [-> Normalize]); "
                                  "use sentence-transformers for this model")
    if transformer_dir is None or pooling is None:
        raise OnnxUnavailable(f"{root}: modules.json lacks a Transformer followed by a Pooling module")

    if "pooling_mode" in pooling:
        pm = pooling["pooling_mode"]
        modes = (pm,) if isinstance(pm, str) else tuple(pm)
    else:
        modes = tuple(v for k, v in _LEGACY_POOLING.items() if pooling.get(k)) or ("mean",)
    for mode in modes:
        if mode not in _POOLING_MODES:
            raise OnnxUnavailable(f"{root}: unknown pooling mode {mode!r}")
    include_prompt = bool(pooling.get("include_prompt", True))
    if not include_prompt:
        raise OnnxUnavailable(f"{root}: pooling with include_prompt=false is not supported by the ONNX encoder")
    dim = pooling.get("embedding_dimension", pooling.get("word_embedding_dimension"))

    sbert = _read_json(transformer_dir / "sentence_bert_config.json") or _read_json(root / "sentence_bert_config.json")
    hf_config = _read_json(transformer_dir / "config.json")
    tok_config = _read_json(transformer_dir / "tokenizer_config.json")
    max_len = sbert.get("max_seq_length") or tok_config.get("model_max_length")
    # sentence-transformers caps the length at the position table, as we do
    max_pos = hf_config.get("max_position_embeddings")
    if not isinstance(max_len, int) or max_len <= 0 or max_len > 10**6:
        max_len = max_pos if isinstance(max_pos, int) and max_pos > 0 else 512
    if isinstance(max_pos, int) and max_pos > 0 and sbert.get("max_seq_length") is None:
        max_len = min(max_len, max_pos)

    st = _read_json(root / "config_sentence_transformers.json")
    prompts = {str(k): str(v) for k, v in (st.get("prompts") or {}).items()}
    input_names = tuple(tok_config.get("model_input_names") or ("input_ids", "token_type_ids", "attention_mask"))
    input_names = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in input_names)
    if "input_ids" not in input_names or "attention_mask" not in input_names:
        raise OnnxUnavailable(f"{root}: the tokenizer's model_input_names {input_names} lack input_ids/attention_mask")
    pad = tok_config.get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    return STConfig(
        model_dir=root,
        transformer_dir=transformer_dir,
        max_seq_length=int(max_len),
        do_lower_case=bool(sbert.get("do_lower_case", False)),
        pooling_modes=modes,
        include_prompt=include_prompt,
        normalize=normalize,
        prompts=prompts,
        default_prompt_name=st.get("default_prompt_name"),
        dim=int(dim) * len(modes) if dim else None,
        input_names=input_names,
        pad_token=pad if isinstance(pad, str) else None,
        pad_token_id=hf_config.get("pad_token_id") if isinstance(hf_config.get("pad_token_id"), int) else None,
        module_dirs=tuple(module_dirs),
    )


# --------------------------------------------------------------------------- hashing


def _sha256_file(path: Path, bufsize: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def _fingerprint_files(model_dir: Path, exclude: Path | None = None) -> list[Path]:
    """The weight, tokenizer and config files of a model folder (top level and module folders)."""
    try:
        cfg_dirs = {model_dir, *read_st_config(model_dir).module_dirs}
    except OnnxUnavailable:
        cfg_dirs = {model_dir}
    files: set[Path] = set()
    for d in cfg_dirs:
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if not p.is_file():
                continue
            if p.suffix in _WEIGHT_SUFFIXES or p.suffix == ".json" or p.name in _TOKENIZER_FILES:
                files.add(p)
    if exclude is not None:
        ex = exclude.resolve()
        files = {p for p in files if ex not in p.resolve().parents}
    return sorted(files, key=lambda p: p.relative_to(model_dir).as_posix())


def model_fingerprint(model_dir: str | os.PathLike, known: dict[str, dict] | None = None,
                      exclude: Path | None = None) -> tuple[str, dict[str, dict]]:
    """sha256 over the names, sizes and contents of the folder's weight, tokenizer and config files.

    ``known`` maps relative names to ``{"size", "mtime_ns", "sha256"}`` from an earlier
    call: a file whose size and mtime are unchanged is not read again (like git's index),
    so a cache check on a 470 MB model takes milliseconds. Returns the fingerprint and
    the per-file table to remember.
    """
    root = Path(model_dir)
    known = known or {}
    table: dict[str, dict] = {}
    total = hashlib.sha256()
    for p in _fingerprint_files(root, exclude):
        rel = p.relative_to(root).as_posix()
        st = p.stat()
        prev = known.get(rel) or {}
        if prev.get("size") == st.st_size and prev.get("mtime_ns") == st.st_mtime_ns and prev.get("sha256"):
            digest = prev["sha256"]
        else:
            digest = _sha256_file(p)
        table[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        total.update(f"{rel}\0{st.st_size}\0{digest}\n".encode())
    if not table:
        raise OnnxUnavailable(f"{root} holds no model files")
    return total.hexdigest(), table


def _file_record(path: Path) -> dict:
    st = path.stat()
    return {"name": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256_file(path)}


def _file_matches(path: Path, rec: dict | None, full: bool) -> bool:
    """The file is the one ``rec`` describes: same size, and same sha256 unless size+mtime prove it."""
    if not rec:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != rec.get("size"):
        return False
    if not full and st.st_mtime_ns == rec.get("mtime_ns"):
        return True
    return _sha256_file(path) == rec.get("sha256")


# --------------------------------------------------------------------------- export


def fp32_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / FP32_NAME


def int8_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / INT8_NAME


def meta_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / META_NAME


@contextlib.contextmanager
def _atomic_target(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final``; moved onto it with os.replace only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _QuietQuantizer(logging.Filter):
    """onnxruntime.quantization logs one INFO line per tensor on the root logger; drop those.

    Its "consider pre-processing" warning is dropped too: shape inference and offline
    fusion were measured and changed neither fidelity nor speed (see QUANTIZATION).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        path = record.pathname.replace(os.sep, "/")
        if "onnxruntime/quantization" not in path:
            return True
        return record.levelno >= logging.WARNING and "pre-processing" not in record.getMessage()


def _write_json_atomic(path: Path, data: dict) -> None:
    with _atomic_target(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = ""
    return out


def _expected_params(opset: int) -> dict:
    return {"format": EXPORT_FORMAT, "opset": opset, "quantization": QUANTIZATION}


def _cache_hit(out_dir: Path, meta: dict, fingerprint: str, opset: int, full_check: bool) -> bool:
    if not meta or meta.get("fingerprint") != fingerprint:
        return False
    if {k: meta.get(k) for k in ("format", "opset", "quantization")} != _expected_params(opset):
        return False
    files = meta.get("files") or {}
    return (_file_matches(fp32_path(out_dir), files.get("fp32"), full_check)
            and _file_matches(int8_path(out_dir), files.get("int8"), full_check))


def _lock(out_dir: Path):
    """An inter-process lock so two exports into one folder do not both do the work."""
    try:
        from filelock import FileLock
    except ImportError:  # pragma: no cover - filelock is in requirements.txt
        return contextlib.nullcontext()
    return FileLock(str(out_dir / ".onnx_export.lock"))


def export(model_dir: str | os.PathLike, out_dir: str | os.PathLike, opset: int = DEFAULT_OPSET,
           log: Callable[[str], Any] | None = None, full_check: bool = False) -> Path:
    """Exports the model's transformer to ONNX and quantizes it to int8; returns the int8 file.

    ``out_dir`` receives ``model.onnx`` (fp32), ``model_int8.onnx`` and ``onnx_export.json``
    (the model folder's fingerprint, the opset, the package versions, the quantization
    recipe, and size/mtime/sha256 of both .onnx files). The JSON is written last and
    is what makes the folder valid: a killed export leaves at most ``.*.tmp`` files or
    a folder whose JSON does not match, and the next call exports again.

    A call whose JSON matches the model folder and whose files have the recorded size
    (and sha256, checked whenever the mtime changed, or always with ``full_check``) returns
    at once. ``log`` receives progress lines (default: this module's logger at INFO).
    Raises :class:`OnnxUnavailable` when onnxruntime/onnx are missing or the export fails.
    """
    say: Callable[[str], Any] = log or logger.info
    model_dir = Path(model_dir)
    out_dir = Path(out_dir)
    try:
        import onnxruntime  # noqa: F401  (needed by the encoder and the quantizer)
    except ImportError as e:
        raise OnnxUnavailable(f"onnxruntime is not installed ({e}); fix: {INSTALL_HINT}") from e
    try:
        return _export(model_dir, out_dir, opset, say, full_check)
    except OnnxUnavailable:
        raise
    except Exception as e:  # torch/onnx/OS errors of many types; the caller only needs "no ONNX"
        raise OnnxUnavailable(f"ONNX export of {model_dir} into {out_dir} failed: {type(e).__name__}: {e}; "
                              f"fix: check {INSTALL_HINT}, torch and the folder, or use sentence-transformers") from e


def _export(model_dir: Path, out_dir: Path, opset: int, say: Callable[[str], Any], full_check: bool) -> Path:
    st_cfg = read_st_config(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    meta = _read_json_quiet(meta_path(out_dir))
    fingerprint, table = model_fingerprint(model_dir, known=meta.get("model_files"), exclude=out_dir)
    if _cache_hit(out_dir, meta, fingerprint, opset, full_check):
        if meta.get("model_files") != table:
            # same contents, new mtimes (a copied or touched folder): remember them so the
            # next check does not read the weights again
            with contextlib.suppress(OSError):
                _write_json_atomic(meta_path(out_dir), {**meta, "model_files": table})
        return int8_path(out_dir)

    with _lock(out_dir):
        meta = _read_json_quiet(meta_path(out_dir))  # another process may have finished meanwhile
        if _cache_hit(out_dir, meta, fingerprint, opset, full_check):
            return int8_path(out_dir)
        # temp files of an export that was killed (SIGKILL skips the cleanup); we hold the lock
        for name in (FP32_NAME, INT8_NAME):
            for stale in out_dir.glob(f".{name}.*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
        return _export_locked(st_cfg, out_dir, opset, fingerprint, table, say)


def _read_json_quiet(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _export_locked(st_cfg: STConfig, out_dir: Path, opset: int, fingerprint: str, table: dict,
                   say: Callable[[str], Any]) -> Path:
    try:
        import onnx  # noqa: F401
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise OnnxUnavailable(f"onnx / onnxruntime.quantization is not importable ({e}); fix: {INSTALL_HINT}") from e

    # The old JSON goes first: from here until the new one is written, the folder is invalid.
    with contextlib.suppress(FileNotFoundError):
        meta_path(out_dir).unlink()

    t0 = time.perf_counter()
    say(f"exporting {st_cfg.transformer_dir} to ONNX (opset {opset})")
    exporter = _export_fp32(st_cfg, fp32_path(out_dir), opset)
    t_export = time.perf_counter() - t0
    say(f"exported fp32 ONNX in {t_export:.1f}s ({fp32_path(out_dir).stat().st_size / 1e6:.0f} MB)")

    t1 = time.perf_counter()
    q = QUANTIZATION
    quiet = _QuietQuantizer()
    logging.getLogger().addFilter(quiet)
    try:
        with _atomic_target(int8_path(out_dir)) as tmp:
            quantize_dynamic(
                fp32_path(out_dir), tmp,
                op_types_to_quantize=list(q["op_types_to_quantize"]),
                per_channel=bool(q["per_channel"]),
                reduce_range=bool(q["reduce_range"]),
                weight_type=getattr(QuantType, q["weight_type"]),
            )
    finally:
        logging.getLogger().removeFilter(quiet)
    t_quant = time.perf_counter() - t1
    say(f"quantized to int8 in {t_quant:.1f}s ({int8_path(out_dir).stat().st_size / 1e6:.0f} MB)")

    meta = {
        **_expected_params(opset),
        "fingerprint": fingerprint,
        "model_dir": str(st_cfg.model_dir),
        "model_files": table,
        "exporter": exporter,
        "inputs": list(st_cfg.input_names),
        "output": "last_hidden_state",
        "versions": _versions("torch", "transformers", "onnx", "onnxruntime", "tokenizers", "numpy"),
        "seconds": {"export": round(t_export, 2), "quantize": round(t_quant, 2)},
        "files": {"fp32": _file_record(fp32_path(out_dir)), "int8": _file_record(int8_path(out_dir))},
    }
    _write_json_atomic(meta_path(out_dir), meta)
    return int8_path(out_dir)


def _export_fp32(st_cfg: STConfig, target: Path, opset: int) -> str:
    """Writes the transformer (inputs -> last_hidden_state) to ``target``; returns the exporter used."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise in a log

    # eager attention: a plain softmax(QK^T + mask)V graph that every exporter and
    # onnxruntime's fusions handle; the weights are the same as sentence-transformers'.
    model = AutoModel.from_pretrained(str(st_cfg.transformer_dir), attn_implementation="eager")
    model.eval()
    names = list(st_cfg.input_names)

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kw["token_type_ids"] = token_type_ids
            return self.inner(**kw).last_hidden_state

    # Example with padding in one row, so the traced graph keeps the mask path.
    vocab = int(getattr(model.config, "vocab_size", 0) or 8)
    ids = (torch.arange(10, dtype=torch.long).reshape(2, 5) * 37 + 3) % vocab
    if st_cfg.pad_token_id is not None:
        ids[1, 4] = st_cfg.pad_token_id
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=torch.long)
    args = [ids, mask] + ([torch.zeros_like(ids)] if "token_type_ids" in names else [])
    dynamic_axes = {n: {0: "batch", 1: "sequence"} for n in names}
    dynamic_axes["last_hidden_state"] = {0: "batch", 1: "sequence"}

    with _atomic_target(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        # torch >= 2.9 defaults to the dynamo exporter, which needs the onnxscript package
        # (not a dependency here) and writes weights as external data. The TorchScript
        # exporter (dynamo=False) needs nothing extra, writes one self-contained file for a
        # model under 2 GB, and its graph for this BERT matches torch to ~2e-6. Its
        # deprecation and tracer warnings are expected; the numeric check below is what counts.
        warnings.simplefilter("ignore")
        # eval() on the wrapper too: the exporter restores the wrapper's mode afterwards, and a
        # fresh Module is in training mode, which would switch dropout on in ``model``.
        torch.onnx.export(
            _Wrapper(model).eval(), tuple(args), str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
        _check_against_torch(model, tmp, names, st_cfg)
    return f"torch.onnx.export(dynamo=False) torch {torch.__version__}"


def _check_against_torch(model, onnx_file: Path, names: list[str], st_cfg: STConfig) -> None:
    """Runs the fresh export and torch on inputs of another shape than the trace's; raises on mismatch."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    vocab = int(getattr(model.config, "vocab_size", 1000))
    ids = rng.integers(5, vocab, size=(3, 17)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 3:] = 0
    ids[mask == 0] = st_cfg.pad_token_id or 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.zeros_like(ids)
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = sess.run(["last_hidden_state"], feeds)[0]
    with torch.no_grad():
        want = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    err = float(np.abs(got - want)[mask.astype(bool)].max())
    if not err < 1e-3:
        raise OnnxUnavailable(f"the exported graph differs from torch by {err:.3g} on a test batch")


# --------------------------------------------------------------------------- encoder


class OnnxQueryEncoder:
    """Embeds texts like ``SentenceTransformer.encode(..., normalize_embeddings=True)``, on onnxruntime.

    ``model_dir`` is the sentence-transformers folder (tokenizer and pooling config are read
    from it), ``onnx_path`` an ONNX file made by :func:`export` (int8 or fp32).

    Texts are run ``batch_size`` at a time, padded to the longest of the batch. On the fp32
    graph a text's vector does not depend on its batch mates (measured: bit-identical). On
    the dynamically quantized graph it does, a little: the int8 scale of each activation
    is taken over the whole batch tensor, so the same query alone or beside others differs
    by up to ~1.5e-2 per component (cosine >= 0.995). ``batch_invariant=True`` runs one text
    per call instead, for callers that need a query's vector to be reproducible (about 30%
    slower for 8 short queries, the same for one).
    """

    def __init__(self, model_dir: str | os.PathLike, onnx_path: str | os.PathLike, threads: int = 1,
                 batch_size: int = 32, batch_invariant: bool = False):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise OnnxUnavailable(f"onnxruntime is not installed ({e}); fix: {INSTALL_HINT}") from e
        self.config = cfg = read_st_config(model_dir)
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise OnnxUnavailable(f"{self.onnx_path} does not exist; fix: run export() first")
        self._check_recorded_size()

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        self.threads = so.intra_op_num_threads
        # onnxruntime builds the session without holding the GIL (1-2 s for a 470 MB model):
        # in a thread, it overlaps with the tokenizer and whatever the caller loads next
        self._session, self._session_error = None, None
        self._loader = threading.Thread(target=self._load_session, args=(ort, so), daemon=True)
        self._loader.start()
        self.tokenizer = _load_tokenizer(cfg)
        self.dim = int(cfg.dim) if cfg.dim else self._dim_from_session()
        self.max_tokens = cfg.max_seq_length
        self.batch_size = 1 if batch_invariant else max(1, int(batch_size))

    def _load_session(self, ort, so) -> None:
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), so, providers=["CPUExecutionProvider"])
        except Exception as e:
            self._session_error = OnnxUnavailable(f"onnxruntime cannot load {self.onnx_path} ({type(e).__name__}: "
                                                  f"{e}); fix: delete it and run export() again")

    @property
    def session(self):
        """The onnxruntime session (waits for the loading thread the first time)."""
        if self._session is None and self._session_error is None:
            self._loader.join()
        if self._session_error is not None:
            raise self._session_error
        if not hasattr(self, "_inputs"):
            self._inputs = [i.name for i in self._session.get_inputs()]
            unknown = set(self._inputs) - {"input_ids", "attention_mask", "token_type_ids"}
            if unknown:
                raise OnnxUnavailable(f"{self.onnx_path} wants inputs {sorted(unknown)} this encoder does not make")
        return self._session

    def with_batch_size(self, batch_size: int) -> "OnnxQueryEncoder":
        """This encoder running ``batch_size`` texts at a time, on the same session and
        tokenizer (no second copy of the model in memory; onnxruntime sessions take
        concurrent runs)."""
        import copy

        other = copy.copy(self)
        other.batch_size = max(1, int(batch_size))
        return other

    def ready(self) -> "OnnxQueryEncoder":
        """Wait until the session is loaded (raises OnnxUnavailable when it cannot be)."""
        self.session
        return self

    def _dim_from_session(self) -> int:
        out_dim = self.session.get_outputs()[0].shape[-1]
        hidden = out_dim if isinstance(out_dim, int) else None
        dim = hidden * len(self.config.pooling_modes) if hidden else 0
        if not dim:
            raise OnnxUnavailable(f"cannot tell the embedding size of {self.onnx_path}")
        return dim

    def _check_recorded_size(self) -> None:
        meta = _read_json_quiet(self.onnx_path.parent / META_NAME)
        for rec in (meta.get("files") or {}).values():
            if rec.get("name") == self.onnx_path.name and rec.get("size") != self.onnx_path.stat().st_size:
                raise OnnxUnavailable(f"{self.onnx_path} is {self.onnx_path.stat().st_size} bytes, "
                                      f"{META_NAME} says {rec.get('size')}: damaged; fix: run export() again")

    # ---- public API

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries: the model's "query" prompt (if it has one) is prepended."""
        return self.embed(texts, prompt_name="query" if "query" in self.config.prompts else None)

    def embed(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> np.ndarray:
        """float32 (n, dim); ``prompt_name`` picks a prompt from the model's config like sentence-transformers."""
        prefix = self._prompt(prompt_name, prompt)
        texts = [prefix + str(t) for t in texts]
        if self.config.do_lower_case:
            texts = [t.lower() for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # length-sorted batches: less padding to compute
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._run([texts[i] for i in idx])
        return out

    # ---- internals

    def _prompt(self, prompt_name: str | None, prompt: str | None) -> str:
        if prompt is not None:
            return prompt
        name = prompt_name if prompt_name is not None else self.config.default_prompt_name
        if name is None:
            return ""
        if name not in self.config.prompts:
            raise ValueError(f"prompt {name!r} not in the model's prompts {sorted(self.config.prompts)}")
        return self.config.prompts[name]

    def _run(self, texts: list[str]) -> np.ndarray:
        session = self.session
        encs = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encs], dtype=np.int64)
        feeds = {k: v for k, v in feeds.items() if k in self._inputs}
        hidden = session.run(None, feeds)[0].astype(np.float32, copy=False)
        vecs = _pool(hidden, mask, self.config.pooling_modes)
        # like encode(normalize_embeddings=True): L2 whether or not the pipeline ends with Normalize
        return _l2(vecs)


def _pool(hidden: np.ndarray, mask: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """sentence-transformers' Pooling on right-padded batches."""
    m = mask.astype(np.float32)[:, :, None]
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(np.where(m > 0, hidden, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            summed = (hidden * m).sum(axis=1)
            count = np.clip(m.sum(axis=1), 1e-9, None)
            parts.append(summed / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":
            w = m * np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
            parts.append((hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None))
        elif mode == "lasttoken":
            last = np.maximum(mask.sum(axis=1) - 1, 0)
            parts.append(hidden[np.arange(hidden.shape[0]), last])
        else:  # pragma: no cover - read_st_config rejects it
            raise OnnxUnavailable(f"pooling mode {mode!r}")
    out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return np.ascontiguousarray(out, dtype=np.float32)


def _l2(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32, copy=False)


def _load_tokenizer(cfg: "STConfig"):
    """The model's tokenizer.json, set up as sentence-transformers encodes: truncation to
    max_seq_length (right side, specials kept) and right padding."""
    from tokenizers import Tokenizer

    tok_file = cfg.transformer_dir / "tokenizer.json"
    try:
        tok = Tokenizer.from_file(str(tok_file))
    except Exception as e:
        raise OnnxUnavailable(f"cannot load {tok_file} with the tokenizers library: {e}") from e
    tok.enable_truncation(max_length=cfg.max_seq_length)
    pad_id = tok.token_to_id(cfg.pad_token) if cfg.pad_token else None
    if pad_id is None:
        pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else 0
    pad_token = cfg.pad_token or tok.id_to_token(pad_id) or "[PAD]"
    tok.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    return tok
