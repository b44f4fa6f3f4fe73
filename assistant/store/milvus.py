"""Milvus backend (``store = "milvus"``): passage and sentence vectors, and BM25 full-text
search, in a Milvus server, or in milvus-lite (a local ``.db`` folder) for tests and small use.
The only module that knows pymilvus; it is imported when this backend is chosen, never before.

Each build has its own collections, named after the build id (``assistant_<build>_passages``,
``…_sentences``, ``…_bm25``), so the current build keeps answering while the next one fills
its own; pruning a build drops them (``drop_build``). The manifest records URI and names.

BM25 is Milvus's own: a VARCHAR field analyzed by its jieba tokenizer (search mode, the
project dictionary, corpus terms and stopwords), a BM25 Function filling a sparse field.
Only the IDF of query terms (abstention, adaptive fusion) comes from this process's
tokenizer: the store keeps their document frequencies beside the manifest.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import AssistantError
from .base import Neighbours, as_ids

INSTALL_HINT = "pip install -r requirements-milvus.txt"
TOPK = 16384  # Milvus's largest limit for one search or query
_BATCH = 1000  # rows per insert: ~1.5 MB of 384-d vectors, far below gRPC's message limit
_MAX_TEXT = 65535  # bytes in a VARCHAR
# jieba emits every punctuation mark (and space) as a token; Milvus's stop filter drops these
# with the stopwords, and the caller adds the corpus's other symbols
_PUNCT = "，。、；：？！“”‘’（）《》〈〉【】「」『』—…·～,.;:?!\"'()[]{}<>-/\\|@#$%^&*+=~`×％ \t\n\r\u3000"

_clients: dict[tuple[str, str], object] = {}
_clients_lock = threading.Lock()


class MilvusUnavailable(AssistantError):
    """pymilvus (or milvus-lite for a local file) is not installed, or the server is unreachable."""


def _pymilvus():
    try:
        import pymilvus
    except ImportError as e:
        raise MilvusUnavailable(f'store = "milvus" needs pymilvus: {INSTALL_HINT}') from e
    return pymilvus


def is_local(uri: str) -> bool:
    """A milvus-lite folder (a path ending in .db) rather than a server URI."""
    return "://" not in uri


def client(uri: str, token: str | None = None):
    """One MilvusClient per URI and token in this process (milvus-lite starts its server once)."""
    key = (uri, token or "")
    with _clients_lock:
        if key not in _clients:
            pymilvus = _pymilvus()
            if is_local(uri):
                try:
                    import milvus_lite  # noqa: F401  (pymilvus starts it for a .db path)
                except ImportError as e:
                    raise MilvusUnavailable(f"milvus_uri {uri!r} is a local milvus-lite file, which needs "
                                            f"milvus-lite: {INSTALL_HINT} (or point milvus_uri at a server)") from e
                if not uri.endswith(".db"):
                    raise MilvusUnavailable(f"milvus_uri {uri!r}: a local milvus-lite file must end in .db")
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                _clients[key] = pymilvus.MilvusClient(uri=uri, token=token or "")
            except Exception as e:
                if is_local(uri):
                    raise MilvusUnavailable(f"milvus-lite cannot open {uri} ({type(e).__name__}): one process at a "
                                            f"time may, so stop the other (the app or a build), or point milvus_uri "
                                            f"at a Milvus server") from e
                raise MilvusUnavailable(f"cannot connect to Milvus at {uri} ({type(e).__name__}: {e}); start the "
                                        f"server or fix milvus_uri / milvus_token") from e
        return _clients[key]


def collection_name(build_id: str, store: str) -> str:
    """Collection of ``store`` (passages, sentences, bm25) in build ``build_id`` (letters, digits, _)."""
    return f"assistant_{re.sub(r'[^0-9A-Za-z_]', '_', build_id)}_{store}"


def drop_build(uri: str, token: str | None, build_id: str) -> list[str]:
    """Drop every collection of build ``build_id`` (a pruned or failed build); the names dropped."""
    c = client(uri, token)
    names = [collection_name(build_id, s) for s in ("passages", "sentences", "bm25")]
    gone = [n for n in names if c.has_collection(n)]
    for n in gone:
        c.drop_collection(n)
    return gone


def drop_collections(params: list[dict], token: str | None) -> None:
    """Drop the Milvus collections that manifest ``params`` name (other kinds are skipped)."""
    for p in params:
        if str(p.get("kind", "")).startswith("milvus") and p.get("collection"):
            c = client(p["uri"], token)
            if c.has_collection(p["collection"]):
                c.drop_collection(p["collection"])


def analyzer_params(words: Sequence[str] = (), stopwords: Sequence[str] = ()) -> dict:
    """Milvus's jieba analyzer set up like ``assistant.tokenize``: search mode, jieba's own
    dictionary plus ``words``, lower case, ``stopwords`` and punctuation dropped."""
    return {"tokenizer": {"type": "jieba", "mode": "search", "dict": ["_default_", *words]},
            "filter": ["lowercase", {"type": "stop", "stop_words": sorted(set(stopwords) | set(_PUNCT))}]}


class _Collection:
    """What both stores share: the client, the collection, its row count, ID filters."""

    def __init__(self, uri: str, collection: str, token: str | None):
        self.uri, self.collection, self.token = uri, collection, token
        self.client = client(uri, token)

    def _open(self) -> int:
        """Load the collection for search; its row count (an error naming the fix when it is gone)."""
        if not self.client.has_collection(self.collection):
            raise ValueError(f"Milvus collection {self.collection} is missing at {self.uri}; "
                             f"rebuild the index with: python -m assistant build --force")
        self.client.load_collection(self.collection)
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(rows[0]["count(*)"])

    def _create(self, schema, index_params) -> None:
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)  # a leftover of a killed build with this id
        # Strong: a build searches (calibration) right after inserting
        self.client.create_collection(self.collection, schema=schema, index_params=index_params,
                                      consistency_level="Strong")

    def _insert(self, rows: list[dict]) -> None:
        for a in range(0, len(rows), _BATCH):
            self.client.insert(self.collection, rows[a:a + _BATCH])
        # sealed segments: milvus-lite rebuilds an unflushed segment's index at every search
        self.client.flush(self.collection)

    def _get(self, ids: np.ndarray, field: str) -> dict[int, object]:
        out: dict[int, object] = {}
        for a in range(0, len(ids), 4096):
            part = [int(i) for i in ids[a:a + 4096]]
            for row in self.client.get(self.collection, ids=part, output_fields=[field]):
                out[int(row["id"])] = row[field]
        return out

    @staticmethod
    def _filter(allowed) -> tuple[str, int | None]:
        """(Milvus filter expression, how many IDs it allows) for ``allowed`` (None: no filter)."""
        if allowed is None:
            return "", None
        ids = as_ids(allowed)
        return f"id in [{','.join(map(str, ids.tolist()))}]", len(ids)

    def drop(self) -> None:
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)


class MilvusStore(_Collection):
    """Vectors in a Milvus collection (inner product on L2-normalized vectors: cosine): an exact
    FLAT index up to ``ann_threshold`` vectors, IVF_SQ8 beyond, as the FAISS store does."""

    kind = "milvus"

    def __init__(self, uri: str, collection: str, dim: int, token: str | None = None, index: str = "FLAT",
                 nlist: int = 0, nprobe: int = 32, count: int = 0):
        super().__init__(uri, collection, token)
        self.dim, self.index, self.nlist, self.nprobe = int(dim), index, int(nlist), int(nprobe)
        self._count = count

    @classmethod
    def create(cls, uri: str, collection: str, dim: int, token: str | None = None, size: int = 0,
               ann_threshold: int = 200_000, nprobe: int = 32) -> "MilvusStore":
        from .faiss import ivf_lists

        dt = _pymilvus().DataType
        store = cls(uri, collection, dim, token, "IVF_SQ8" if size > ann_threshold else "FLAT",
                    ivf_lists(size) if size > ann_threshold else 0, nprobe)
        schema = store.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", dt.INT64, is_primary=True)
        schema.add_field("vector", dt.FLOAT_VECTOR, dim=store.dim)
        index = store.client.prepare_index_params()
        index.add_index("vector", index_type=store.index, metric_type="IP",
                        params={"nlist": store.nlist} if store.nlist else {})
        store._create(schema, index)
        return store

    @classmethod
    def load(cls, params: dict, token: str | None = None) -> "MilvusStore":
        store = cls(params["uri"], params["collection"], params["dim"], token, params.get("index", "FLAT"),
                    params.get("nlist", 0), params.get("nprobe", 32))
        store._count = store._open()
        return store

    def __len__(self) -> int:
        return self._count

    def add(self, ids, vectors) -> None:
        ids = as_ids(ids)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("one vector per id")
        if len(ids):
            self._insert([{"id": int(i), "vector": v} for i, v in zip(ids.tolist(), vectors)])
            self._count += len(ids)

    def remove(self, ids) -> None:
        ids = as_ids(ids)
        if len(ids):
            present = len(self._get(ids, "id"))  # unknown IDs are ignored, and not counted
            self.client.delete(self.collection, ids=[int(i) for i in ids])
            self._count -= present

    def search(self, queries, k: int, allowed=None) -> Neighbours:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        expr, n_allowed = self._filter(allowed)
        k = min(int(k), len(self), TOPK, len(self) if n_allowed is None else n_allowed)
        if k <= 0:
            return Neighbours(np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32))
        params = {"metric_type": "IP", "params": {"nprobe": self.nprobe} if self.nlist else {}}
        res = self.client.search(self.collection, data=[v.tolist() for v in q], anns_field="vector", limit=k,
                                 filter=expr, search_params=params, output_fields=["id"])
        ids = np.full((len(q), k), -1, np.int64)
        scores = np.full((len(q), k), -np.inf, np.float32)
        for j, hits in enumerate(res):
            for r, h in enumerate(hits[:k]):
                ids[j, r], scores[j, r] = int(h["id"]), float(h["distance"])
        return Neighbours(ids, scores)

    def score(self, queries, ids) -> np.ndarray:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        return self.vectors(ids) @ q.T

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors of ``ids`` fetched from Milvus (scoring given IDs needs every one,
        which a filtered ANN search does not promise)."""
        ids = as_ids(ids)
        got = self._get(ids, "vector")
        try:
            return np.array([got[int(i)] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)
        except KeyError as e:
            raise KeyError(f"unknown vector id {e}") from None

    def save(self, folder: Path, name: str) -> list[str]:
        self.client.flush(self.collection)
        return []  # everything is in Milvus; the manifest's params name the collection

    def params(self) -> dict:
        out = {"kind": self.kind, "uri": self.uri, "collection": self.collection, "index": self.index,
               "metric": "inner_product", "dim": self.dim, "count": len(self)}
        if self.nlist:
            out.update(nlist=self.nlist, nprobe=self.nprobe)
        return out


class MilvusBm25Store(_Collection):
    """BM25 by Milvus full-text search: ``text`` analyzed by Milvus's jieba, a BM25 Function
    producing ``sparse``. ``tokens`` keeps this process's tokens of each document, so the
    document frequencies kept here (query-term IDF) follow a removal."""

    kind = "milvus-bm25"

    def __init__(self, uri: str, collection: str, token: str | None = None, k1: float = 1.2, b: float = 0.75):
        super().__init__(uri, collection, token)
        self.k1, self.b = float(k1), float(b)
        self._ids = np.zeros(0, np.int64)  # sorted
        self._df: dict[str, int] = {}

    @classmethod
    def create(cls, uri: str, collection: str, token: str | None = None, analyzer: dict | None = None,
               k1: float = 1.2, b: float = 0.75) -> "MilvusBm25Store":
        pm = _pymilvus()
        dt = pm.DataType
        store = cls(uri, collection, token, k1, b)
        schema = store.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", dt.INT64, is_primary=True)
        schema.add_field("text", dt.VARCHAR, max_length=_MAX_TEXT, enable_analyzer=True,
                         analyzer_params=analyzer or analyzer_params())
        schema.add_field("tokens", dt.VARCHAR, max_length=_MAX_TEXT)
        schema.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
        schema.add_function(pm.Function(name="bm25", function_type=pm.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
        index = store.client.prepare_index_params()
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": store.k1, "bm25_b": store.b})
        store._create(schema, index)
        return store

    @classmethod
    def load(cls, folder: Path, name: str, params: dict, token: str | None = None) -> "MilvusBm25Store":
        store = cls(params["uri"], params["collection"], token, params.get("k1", 1.2), params.get("b", 0.75))
        count = store._open()
        store._ids = np.load(Path(folder) / f"{name}.ids.npy", allow_pickle=False)
        terms = json.loads((Path(folder) / f"{name}.df.json").read_text("utf-8"))
        store._df = dict(zip(terms["terms"], terms["counts"]))
        if count != len(store._ids):
            raise ValueError(f"Milvus collection {store.collection} has {count} documents, the index {len(store._ids)}")
        return store

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, term: str) -> bool:
        return self.doc_freq(term) > 0

    def add(self, ids, token_lists: Sequence[Sequence[str]], texts: Sequence[str] | None = None) -> None:
        """Index ``texts`` (Milvus analyzes them; the tokens joined when none are given) and
        count ``token_lists``' terms for ``doc_freq``."""
        ids = as_ids(ids)
        texts = [" ".join(t) for t in token_lists] if texts is None else list(texts)
        if not len(ids) == len(token_lists) == len(texts):
            raise ValueError("one token list and one text per id")
        if np.isin(ids, self._ids).any():
            raise ValueError("an id is already stored")
        rows = [{"id": int(i), "text": _fit(t), "tokens": _fit("\n".join(toks))}
                for i, t, toks in zip(ids.tolist(), texts, token_lists)]
        if rows:
            self._insert(rows)
        for toks in token_lists:
            for t in set(toks):
                self._df[t] = self._df.get(t, 0) + 1
        self._ids = np.sort(np.concatenate([self._ids, ids]))

    def remove(self, ids) -> None:
        ids = as_ids(ids)
        ids = ids[np.isin(ids, self._ids)]
        if not len(ids):
            return
        for joined in self._get(ids, "tokens").values():
            for t in set(joined.split("\n")) - {""}:
                self._df[t] -= 1
                if not self._df[t]:
                    del self._df[t]
        self.client.delete(self.collection, ids=[int(i) for i in ids])
        self._ids = self._ids[~np.isin(self._ids, ids)]

    def ids(self) -> np.ndarray:
        return self._ids

    def scores(self, tokens: Sequence[str], text: str | None = None) -> np.ndarray:
        """BM25 of every document in ``ids()`` order; only Milvus's best ``TOPK`` (16384) are
        returned by a search, the rest count as 0."""
        found = self._bm25(tokens, text, min(len(self), TOPK), "")
        out = np.zeros(len(self), np.float32)
        if found:
            ids, vals = zip(*found)
            out[np.searchsorted(self._ids, np.array(ids, np.int64))] = vals
        return out

    def search(self, tokens: Sequence[str], k: int, allowed=None, text: str | None = None) -> Neighbours:
        expr, n_allowed = self._filter(allowed)
        k = int(k)
        found = self._bm25(tokens, text, min(k, TOPK, len(self) if n_allowed is None else n_allowed), expr)
        ids = np.full((1, k), -1, np.int64)
        vals = np.full((1, k), -np.inf, np.float32)
        for r, (i, s) in enumerate(found):
            ids[0, r], vals[0, r] = i, s
        return Neighbours(ids, vals)

    def doc_freq(self, term: str) -> int:
        return self._df.get(term, 0)

    def save(self, folder: Path, name: str) -> list[str]:
        self.client.flush(self.collection)
        np.save(Path(folder) / f"{name}.ids.npy", self._ids)
        terms = {"terms": list(self._df), "counts": list(self._df.values())}
        (Path(folder) / f"{name}.df.json").write_text(json.dumps(terms, ensure_ascii=False), "utf-8")
        return [f"{name}.ids.npy", f"{name}.df.json"]

    def params(self) -> dict:
        return {"kind": self.kind, "uri": self.uri, "collection": self.collection, "k1": self.k1, "b": self.b,
                "analyzer": "jieba/search", "count": len(self), "vocabulary": len(self._df)}

    def _bm25(self, tokens: Sequence[str], text: str | None, limit: int, expr: str) -> list[tuple[int, float]]:
        """(id, score) of the positive BM25 matches of the query, best first."""
        query = text if text is not None else " ".join(tokens)
        if limit <= 0 or not query.strip():
            return []
        res = self.client.search(self.collection, data=[query], anns_field="sparse", limit=limit, filter=expr,
                                 search_params={"metric_type": "BM25"}, output_fields=["id"])
        # BM25 is never negative; milvus-lite reports it negated (its distances sort ascending)
        hits = [(int(h["id"]), abs(float(h["distance"]))) for h in res[0]] if res else []
        return sorted((h for h in hits if h[1] > 0), key=lambda h: (-h[1], h[0]))


def _fit(text: str) -> str:
    if len(text.encode("utf-8")) > _MAX_TEXT:
        raise ValueError(f"a document of {len(text)} characters is longer than Milvus's VARCHAR "
                         f"({_MAX_TEXT} bytes); lower chunk_max_tokens")
    return text
