"""The loaded index, its manifest, and loading with every check a damaged or foreign index fails.

Layout under ``index_dir``::

    models/…            converted embedding model (see e5convert)
    cache/…             content-addressed caches (chunks, embeddings, tokens; see assistant.cache)
    builds/<id>/        one complete build: manifest.json, passages.jsonl, groups.json,
                        passages.faiss, sentences.faiss, sentence_owner.npy, bm25/
                        (Milvus: the collections assistant_<id>_* instead of the
                        .faiss files, bm25.ids.npy and bm25.df.json instead of bm25/)
    current -> builds/<id>   switched with an atomic symlink replace

Building is ``assistant.build``; adding and removing files is ``assistant.corpus``.
The stores (FAISS, bm25s) sit behind the protocols of ``assistant.store``; the manifest
records each store's kind and parameters, and loading opens them through the same factory.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .embed import Embedder
from .errors import AssistantError, IndexError_, IndexMismatch, IndexMissing, IngestError
from .ingest import corpus_map, file_hash
from .settings import Settings
from .columns import MetadataColumns, PhraseIndex
from .passages import read_passages, texts_of
from .text import sentences
from .store import LexicalStore, VectorStore, open_lexical_store, open_vector_store
from .tokenize import DATA, Tokenizer
from .types import Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 11  # bump when chunking or the stored layout changes (it keys the chunk cache too)
REBUILD_HINT = "rebuild it with: python -m assistant build --force"


@dataclass
class Index:
    """A loaded index: ``passages[i]`` is ID ``i`` in the ``dense`` and ``lexical`` stores;
    sentence vector ``j`` in ``sentences`` belongs to passage ``sentence_owner[j]``."""

    passages: Sequence[Passage]
    """A list, or above ``resident_passages`` a PassageFile reading them on demand."""
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
    null_sample: np.ndarray | None = None
    """A fixed random sample of passages (sorted ids): the query's own score distribution,
    which z-fusion and abstention measure against, is estimated on it (all passages when
    the index has fewer than ``null_sample``)."""
    phrases: "PhraseIndex | None" = None
    """Character-bigram postings for verbatim lookups (None: built on first use)."""
    docs: dict = field(default_factory=dict)
    by_id: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)
    """Template group -> its passages, for groups of two or more."""

    def __post_init__(self):
        self._all = np.arange(len(self.passages), dtype=np.int64)
        if self.null_sample is None:
            self.null_sample = self._all
        self._null_cache = None
        self.fields = MetadataColumns(len(self.passages))
        docs: dict[str, list[int]] = {}
        # one pass: passages on disk are parsed once at load, not once per table
        for i, p in enumerate(self.passages):
            self.fields.add(i, p)
            self.by_id[p.id] = i
            docs.setdefault(p.doc_id, []).append(i)
        self.docs = docs
        # template groups of two or more passages (a passage alone is most of a large index)
        g = np.asarray(self.groups, np.int64)
        order = np.argsort(g, kind="stable")
        sg = g[order]
        starts = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]]) if len(sg) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(sg)]
        for a, b in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
            self.members[int(sg[a])] = order[a:b].tolist()

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def version(self) -> str:
        """The build this index was loaded from (its folder name): API responses report it."""
        return self.path.name

    def dense_scores(self, queries: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Dense score of passages ``ids`` (default: all) for each query vector: (len(ids),)
        for one vector, (len(ids), queries) for a matrix.

        The cosine with the whole passage, mixed with the cosine of its best-matching
        sentence: ``(1 - w) * passage + w * best sentence`` (w = ``sentence_weight``). One
        passage vector blurs a paragraph that covers several points; a question usually
        asks about one of them. Only the given passages and their sentences are scored."""
        single = queries.ndim == 1
        q = np.asarray(queries, np.float32).reshape(1, -1) if single else np.asarray(queries, np.float32)
        if ids is not None and ids is self.null_sample:
            scores = self._null_scores(q)  # every query scores the sample: its vectors are kept
        else:
            ids = self._all if ids is None else np.asarray(ids, np.int64)
            has, sent, starts = self._sentence_blocks(ids)
            scores = self._mix(self.dense.score(q, ids), self.sentences.score(q, sent) if len(sent) else None,
                               has, starts)
        return scores[:, 0] if single else scores

    def _sentence_blocks(self, ids: np.ndarray):
        """(passages of ``ids`` that have sentence vectors, their sentence ids one block per
        passage, where each block starts)."""
        if not (self.sentence_weight and len(self.sentence_owner) and len(ids)):
            return np.zeros(len(ids), bool), np.zeros(0, np.int64), np.zeros(0, np.int64)
        lo = np.searchsorted(self.sentence_owner, ids)
        hi = np.searchsorted(self.sentence_owner, ids, side="right")
        has = hi > lo
        counts = (hi - lo)[has]
        sent = np.repeat(lo[has] - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        return has, sent.astype(np.int64), np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)

    def _mix(self, passage: np.ndarray, sentence: np.ndarray | None, has: np.ndarray,
             starts: np.ndarray) -> np.ndarray:
        if sentence is not None and has.any():
            best = np.maximum.reduceat(sentence, starts, axis=0)
            w = self.sentence_weight
            passage[has] = (1.0 - w) * passage[has] + w * best
        return passage

    def _null_scores(self, q: np.ndarray) -> np.ndarray:
        if self._null_cache is None:
            has, sent, starts = self._sentence_blocks(self.null_sample)
            self._null_cache = (self.dense.vectors(self.null_sample), self.sentences.vectors(sent) if len(sent)
                                else None, has, starts)
        passages, sents, has, starts = self._null_cache
        return self._mix(passages @ q.T, None if sents is None else sents @ q.T, has, starts)

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

    def null_ids(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The passages a query's null distribution is measured on: the allowed passages of
        the null sample, or all allowed passages when there are no more of them than that."""
        if mask is None:
            return self.null_sample
        allowed = np.flatnonzero(mask)
        if len(allowed) <= len(self.null_sample):
            return allowed
        return self.null_sample[mask[self.null_sample]]

    def phrase_index(self) -> "PhraseIndex":
        """The verbatim-lookup index (built from the passages when the build did not store one)."""
        if self.phrases is None:
            self.phrases = PhraseIndex.build(texts_of(self.passages))
        return self.phrases

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

def corpus_fingerprint(settings: Settings, files: dict[str, Path] | None = None) -> dict:
    """File name -> sha256 for every corpus file (or for ``files``: name -> path)."""
    files = corpus_map(settings.index.corpus_dir) if files is None else files
    return {name: file_hash(path) for name, path in files.items()}


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
            "sentence_weight": s.sentence_weight, "store": str(s.store), "null_sample": s.null_sample,
            "ann_threshold": s.ann_threshold, "max_file_mb": s.max_file_mb,
            "max_passages_per_document": s.max_passages_per_document,
            "lexicon": lexicon[:16],
            # only a Milvus build has one, so switching it on does not make FAISS builds stale
            **({"milvus_uri": s.milvus_address} if s.store == "milvus" else {})}


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


# --- integrity -------------------------------------------------------------------------

def file_digests(folder: Path) -> dict:
    """Size and BLAKE2b digest of every file of a build folder but the manifest."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            out[p.relative_to(folder).as_posix()] = {"size": p.stat().st_size, "blake2b": _digest(p)}
    return out


def seal(manifest: dict) -> dict:
    """``manifest`` with a digest of its own content (a changed digit is noticed, not only broken JSON)."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return {**body, "digest": hash_of(body)}


def verify(base: Path, manifest: dict) -> None:
    """Refuse a build whose manifest or files differ from what was written (name the file)."""
    if manifest.get("digest") != hash_of({k: v for k, v in manifest.items() if k != "digest"}):
        raise IndexError_(f"the index manifest {base / 'manifest.json'} is damaged (its checksum does not "
                          f"match); {REBUILD_HINT}")
    for name, want in manifest.get("build_files", {}).items():
        path = base / name
        try:
            size = path.stat().st_size
        except OSError:
            raise IndexError_(f"the index file {path} is missing; {REBUILD_HINT}") from None
        if size != want["size"] or _digest(path) != want["blake2b"]:
            what = "size" if size != want["size"] else "checksum"
            raise IndexError_(f"the index file {path} is damaged (its {what} differs from when it was "
                              f"written); {REBUILD_HINT}")


def _digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def corpus_drift(manifest: dict, settings: Settings) -> str | None:
    """A cheap look (names and sizes, no hashing) at whether the corpus folder still holds
    what the index was built from; what differs, or None."""
    try:
        now = {name: p.stat().st_size for name, p in corpus_map(settings.index.corpus_dir).items()}
    except (OSError, IngestError):
        return "the corpus folder cannot be read"
    built = manifest.get("file_sizes", {})
    added, gone = sorted(set(now) - set(built)), sorted(set(built) - set(now))
    changed = sorted(n for n in set(now) & set(built) if now[n] != built[n])
    parts = [f"{label} {', '.join(names[:3])}" + (" …" if len(names) > 3 else "")
             for label, names in (("new:", added), ("removed:", gone), ("changed:", changed)) if names]
    return "; ".join(parts) or None


# --- load -------------------------------------------------------------------------------

def read_manifest(settings: Settings) -> dict | None:
    """The current build's manifest, None when there is no build."""
    return _read_manifest(Path(settings.index.index_dir) / "current" / "manifest.json")


def _read_manifest(path: Path) -> dict | None:
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


def _read_parts(base: Path, manifest: dict, token: str | None, resident: int) -> dict:
    stores = manifest["stores"]
    return {
        "passages": read_passages(base / "passages.jsonl", resident),
        "dense": open_vector_store(base, "passages", stores["passages"], token),
        "sentences": open_vector_store(base, "sentences", stores["sentences"], token),
        "sentence_owner": np.load(base / "sentence_owner.npy", allow_pickle=False),
        "lexical": open_lexical_store(base, "bm25", stores["lexical"], token),
        "terms": json.loads((base / "terms.json").read_text("utf-8")),
        "null_sample": np.load(base / "null_sample.npy", allow_pickle=False),
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
    sample = parts["null_sample"]
    if len(sample) and (sample.min() < 0 or sample.max() >= n or np.any(np.diff(sample) <= 0)):
        raise IndexError_(f"the index in {where} is inconsistent (its null sample names passages it "
                          f"does not have); {REBUILD_HINT}")
    if dense.dim != manifest["model"]["dim"]:
        raise IndexError_(f"the index vectors have dimension {dense.dim}, "
                          f"the manifest says {manifest['model']['dim']}; {REBUILD_HINT}")


def current_build(settings: Settings) -> str | None:
    """The name of the build ``current`` points to (None when there is none)."""
    try:
        return Path(os.readlink(Path(settings.index.index_dir) / "current")).name
    except OSError:
        return None


def load(settings: Settings, embedder: Embedder | None = None, check_corpus: bool = False) -> Index:
    """Load the current index, refusing one that is missing, corrupt or built for another model.

    The build is read from the folder ``current`` pointed to when loading began, so a switch
    meanwhile cannot mix two builds; if that folder was replaced and removed mid-read, the
    new current one is read instead."""
    for attempt in range(3):
        name = current_build(settings)
        try:
            return _load_build(settings, name, embedder, check_corpus)
        except IndexError_:
            if attempt == 2 or name is None or current_build(settings) == name:
                raise
            log.info("the index changed while it was read; reading the new one")
    raise AssertionError("unreachable")


def _load_build(settings: Settings, name: str | None, embedder: Embedder | None, check_corpus: bool) -> Index:
    base = Path(settings.index.index_dir) / "builds" / (name or "-")
    manifest = _check_manifest(_read_manifest(base / "manifest.json") if name else None, settings, embedder,
                               check_corpus)
    verify(base, manifest)
    try:
        parts = _read_parts(base, manifest, settings.index.milvus_token, settings.index.resident_passages)
    except AssistantError:
        raise
    except Exception as e:
        raise IndexError_(f"the index in {settings.index.index_dir} is corrupt ({type(e).__name__}: {e}); "
                          f"{REBUILD_HINT}") from e
    _check_consistent(parts, manifest, settings.index.index_dir)
    for store in (parts["dense"], parts["sentences"]):
        if hasattr(store, "nprobe"):  # query-time: settings, not part of the build
            store.nprobe = settings.retrieval.ann_nprobe
    return Index(passages=parts["passages"], dense=parts["dense"], sentences=parts["sentences"],
                 sentence_owner=parts["sentence_owner"], lexical=parts["lexical"],
                 tokenizer=Tokenizer(parts["terms"]), manifest=manifest, groups=parts["groups"],
                 path=base.resolve(), sentence_weight=float(manifest["params"].get("sentence_weight", 0.0)),
                 null_sample=parts["null_sample"],
                 phrases=PhraseIndex.load(base, texts_of(parts["passages"])))
