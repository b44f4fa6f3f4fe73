"""The loaded index, its manifest, and loading with every check a damaged or foreign index fails.

Layout under ``index_dir``::

    models/…            converted embedding model (see e5convert)
    cache/…             content-addressed caches (chunks, embeddings, tokens; see assistant.cache)
    builds/<id>/        one complete build: manifest.json, passages.jsonl, groups.json,
                        passages.faiss, sentences.faiss, sentence_owner.npy, bm25/
    current -> builds/<id>   switched with an atomic symlink replace

Building is ``assistant.build``; adding and removing files is ``assistant.corpus``.
The stores (FAISS, bm25s) sit behind the protocols of ``assistant.store``; the manifest
records each store's kind and parameters, and loading opens them through the same factory.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embed import Embedder
from .errors import IndexError_, IndexMismatch, IndexMissing
from .ingest import corpus_files, file_hash
from .settings import Settings
from .text import sentences
from .store import LexicalStore, VectorStore, open_lexical_store, open_vector_store
from .tokenize import DATA, Tokenizer
from .types import Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 8  # bump when chunking or the stored layout changes (it keys the chunk cache too)
REBUILD_HINT = "rebuild it with: python -m assistant build --force"


@dataclass
class Index:
    """A loaded index: ``passages[i]`` is ID ``i`` in the ``dense`` and ``lexical`` stores;
    sentence vector ``j`` in ``sentences`` belongs to passage ``sentence_owner[j]``."""

    passages: list[Passage]
    dense: VectorStore
    """One vector per passage (title and heading path included)."""
    sentences: VectorStore
    """One vector per sentence of the passages with two or more sentences, in passage order."""
    sentence_owner: np.ndarray
    """The passage each sentence vector belongs to (non-decreasing)."""
    lexical: LexicalStore
    tokenizer: Tokenizer
    manifest: dict
    groups: list[int]
    """Template-duplicate group of each passage (passages of one group say the same thing)."""
    path: Path
    sentence_weight: float
    docs: dict = field(default_factory=dict)
    by_id: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)

    def __post_init__(self):
        owner = np.asarray(self.sentence_owner)
        # where each owning passage's block of sentence vectors starts (for np.maximum.reduceat)
        self._sent_starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        self._sent_passages = owner[self._sent_starts]
        self._all = np.arange(len(self.passages), dtype=np.int64)
        self._all_sentences = np.arange(len(owner), dtype=np.int64)
        self.by_id = {p.id: i for i, p in enumerate(self.passages)}
        for i, g in enumerate(self.groups):
            self.members.setdefault(g, []).append(i)
        docs: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            docs.setdefault(p.doc_id, []).append(i)
        self.docs = docs

    def __len__(self) -> int:
        return len(self.passages)

    def dense_scores(self, queries: np.ndarray) -> np.ndarray:
        """Dense score of every passage for each query vector: (passages,) for one vector,
        (passages, queries) for a matrix.

        The cosine with the whole passage, mixed with the cosine of its best-matching
        sentence: ``(1 - w) * passage + w * best sentence`` (w = ``sentence_weight``). One
        passage vector blurs a paragraph that covers several points; a question usually
        asks about one of them."""
        single = queries.ndim == 1
        q = np.asarray(queries, np.float32).reshape(1, -1) if single else np.asarray(queries, np.float32)
        scores = self.dense.score(q, self._all)
        if self.sentence_weight and len(self._sent_passages):
            best = np.maximum.reduceat(self.sentences.score(q, self._all_sentences), self._sent_starts, axis=0)
            w = self.sentence_weight
            rows = self._sent_passages
            scores[rows] = (1.0 - w) * scores[rows] + w * best
        return scores[:, 0] if single else scores

    def passage_sentences(self, i: int, query: np.ndarray) -> list[tuple[str, int, float]]:
        """(sentence, offset in the passage text, cosine with ``query``) for each sentence of
        passage ``i``: the index's own sentence vectors, or the passage vector for a passage
        of one sentence (nothing is embedded)."""
        text = self.passages[i].text
        sents = [x.strip() for x in sentences(text) if x.strip()]
        ids = self.sentence_ids(i)
        q = np.asarray(query, np.float32).reshape(1, -1)
        if len(ids) == len(sents) and len(ids):  # one vector per sentence, in this order
            cos = self.sentences.score(q, ids)[:, 0]
        else:
            cos = np.repeat(self.dense.score(q, np.array([i]))[0, 0], len(sents))
        out, cursor = [], 0
        for s, c in zip(sents, cos):
            start = text.find(s, cursor)
            cursor = start + len(s)
            out.append((s, start, float(c)))
        return out

    def sentence_ids(self, i: int) -> np.ndarray:
        """IDs (in ``sentences``) of passage ``i``'s sentence vectors; empty for a one-sentence passage."""
        lo, hi = np.searchsorted(self.sentence_owner, [i, i + 1])
        return np.arange(lo, hi, dtype=np.int64)

    def position(self, passage_id: str) -> int | None:
        """The position of a passage by its id (None when this index does not have it)."""
        return self.by_id.get(passage_id)

    def section(self, i: int, limit: int = 9) -> list[int]:
        """Passages of the same top-level section as passage ``i`` (same first heading),
        in order, at most ``limit`` of them centred on ``i``."""
        top = self.passages[i].citation.headings[:1]
        ids = [j for j in self.docs[self.passages[i].doc_id] if self.passages[j].citation.headings[:1] == top]
        k = ids.index(i)
        lo = max(0, min(k - limit // 2, len(ids) - limit))
        return ids[lo:lo + limit]

    def documents(self) -> list[dict]:
        """One row per speech: id, title, 篇N, date, metadata, source and passage count."""
        rows = []
        for doc_id, ids in self.docs.items():
            c = self.passages[ids[0]].citation
            rows.append({"doc_id": doc_id, "title": c.title, "number": c.number, "date": c.date,
                         "occasion": c.occasion, "place": c.place, "speaker": c.speaker,
                         "source": c.source, "passages": len(ids)})
        return rows


# --- fingerprints -----------------------------------------------------------------------

def corpus_fingerprint(settings: Settings) -> dict:
    """File name -> sha256 for every corpus file."""
    root = Path(settings.index.corpus_dir)
    return {str(p.relative_to(root)): file_hash(p) for p in corpus_files(root)}


def hash_of(obj) -> str:
    """sha256 of a JSON-serializable value (key order ignored)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def build_params(settings: Settings) -> dict:
    """Everything besides corpus and model that changes what a build contains."""
    s = settings.index
    lexicon = hashlib.sha256((DATA / "userdict.txt").read_bytes() + (DATA / "stopwords.txt").read_bytes()).hexdigest()
    return {"format": FORMAT_VERSION, "chunk_max_tokens": s.chunk_max_tokens,
            "chunk_overlap_sentences": s.chunk_overlap_sentences,
            "short_paragraph_chars": s.short_paragraph_chars,
            "embed_context": s.embed_context, "dedupe_threshold": s.dedupe_threshold,
            "sentence_weight": s.sentence_weight, "store": str(s.store), "lexicon": lexicon[:16]}


def staleness(manifest: dict, settings: Settings, embedder: Embedder | None) -> str | None:
    """Why an index no longer matches the corpus, model or settings (None when it matches)."""
    if manifest.get("params", {}).get("format") != FORMAT_VERSION:
        return f"index format {manifest.get('params', {}).get('format')} is not the current {FORMAT_VERSION}"
    if embedder is not None and manifest.get("model", {}).get("fingerprint") != embedder.fingerprint:
        return f"built with model {manifest.get('model', {}).get('name')!r}, settings use {embedder.name!r}"
    if embedder is not None and manifest.get("model", {}).get("query_fingerprint") != embedder.query_fingerprint:
        return "the query encoder changed (the abstention calibration is made with it)"
    if manifest.get("params") != build_params(settings):
        return "chunking or lexicon settings changed"
    if manifest.get("corpus_hash") != hash_of(corpus_fingerprint(settings)):
        return "corpus files changed"
    return None


# --- load -------------------------------------------------------------------------------

def read_manifest(settings: Settings) -> dict | None:
    """The current build's manifest, None when there is no build."""
    path = Path(settings.index.index_dir) / "current" / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise IndexError_(f"the index manifest {path} is unreadable ({e}); {REBUILD_HINT}")


def _check_manifest(manifest: dict | None, settings: Settings, embedder: Embedder | None,
                    check_corpus: bool) -> dict:
    where = settings.index.index_dir
    if manifest is None:
        raise IndexMissing(f"no index in {where}; build it with: python -m assistant build")
    if manifest.get("params", {}).get("format") != FORMAT_VERSION:
        raise IndexMismatch(f"the index in {where} has format "
                            f"{manifest.get('params', {}).get('format')}, this version needs {FORMAT_VERSION}; {REBUILD_HINT}")
    if embedder is not None and manifest["model"]["fingerprint"] != embedder.fingerprint:
        raise IndexMismatch(f"the index was built with model {manifest['model']['name']!r} "
                            f"but the settings use {embedder.name!r}; {REBUILD_HINT}")
    if check_corpus:
        why = staleness(manifest, settings, embedder)
        if why:
            raise IndexMismatch(f"the index is out of date ({why}); {REBUILD_HINT}")
    return manifest


def _read_parts(base: Path, manifest: dict) -> dict:
    stores = manifest["stores"]
    return {
        "passages": [Passage.from_dict(json.loads(line))
                     for line in (base / "passages.jsonl").read_text("utf-8").splitlines() if line.strip()],
        "dense": open_vector_store(base, "passages", stores["passages"]),
        "sentences": open_vector_store(base, "sentences", stores["sentences"]),
        "sentence_owner": np.load(base / "sentence_owner.npy"),
        "lexical": open_lexical_store(base, "bm25", stores["lexical"]),
        "terms": json.loads((base / "terms.json").read_text("utf-8")),
        "groups": json.loads((base / "groups.json").read_text("utf-8")),
    }


def _check_consistent(parts: dict, manifest: dict, where: Path) -> None:
    n, counts = len(parts["passages"]), manifest["counts"]
    dense, lexical, owner = parts["dense"], parts["lexical"], parts["sentence_owner"]
    if not (len(dense) == len(lexical) == n == len(parts["groups"]) == counts["passages"]):
        raise IndexError_(f"the index in {where} is inconsistent ({n} passages, {len(dense)} vectors, "
                          f"{len(lexical)} in BM25); {REBUILD_HINT}")
    ns = counts.get("sentences", 0)
    if not (len(parts["sentences"]) == len(owner) == ns) or \
            (ns and (owner.min() < 0 or owner.max() >= n or np.any(np.diff(owner) < 0))):
        raise IndexError_(f"the index in {where} is inconsistent ({ns} sentences in the manifest, "
                          f"{len(owner)} owners, {len(parts['sentences'])} sentence vectors); {REBUILD_HINT}")
    if dense.dim != manifest["model"]["dim"]:
        raise IndexError_(f"the index vectors have dimension {dense.dim}, "
                          f"the manifest says {manifest['model']['dim']}; {REBUILD_HINT}")


def load(settings: Settings, embedder: Embedder | None = None, check_corpus: bool = False) -> Index:
    """Load the current index, refusing one that is missing, corrupt or built for another model."""
    base = Path(settings.index.index_dir) / "current"
    manifest = _check_manifest(read_manifest(settings), settings, embedder, check_corpus)
    try:
        parts = _read_parts(base, manifest)
    except Exception as e:
        raise IndexError_(f"the index in {settings.index.index_dir} is corrupt ({type(e).__name__}: {e}); "
                          f"{REBUILD_HINT}") from e
    _check_consistent(parts, manifest, settings.index.index_dir)
    return Index(passages=parts["passages"], dense=parts["dense"], sentences=parts["sentences"],
                 sentence_owner=parts["sentence_owner"], lexical=parts["lexical"],
                 tokenizer=Tokenizer(parts["terms"]), manifest=manifest, groups=parts["groups"],
                 path=base.resolve(), sentence_weight=float(manifest["params"].get("sentence_weight", 0.0)))
