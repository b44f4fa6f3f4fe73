"""bm25s backend: BM25 over jieba tokens. The only module that knows bm25s.

bm25s computes the BM25 matrix (one column per term, the score each document earns from
it) when documents are indexed; the store keeps that matrix as three numpy arrays and
scores a query by adding the columns of its terms, as bm25s's own ``get_scores`` does
(``np.add.at`` in term order: the same floats, tested). Loading and searching therefore
need only numpy — not bm25s, which imports scipy (half a second at every start-up).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Neighbours, as_ids, top_of

_ARRAYS = ("data", "indices", "indptr")


class Bm25Store:
    """The BM25 matrix plus each document's token ids, so documents can be added and
    removed (bm25s indexes a fixed collection: a change re-indexes from the kept tokens)."""

    kind = "bm25s"

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = float(k1), float(b)
        self._vocab: dict[str, int] = {}
        # every document's token ids, concatenated in ``_ids`` order, and where each ends
        self._tokens = np.zeros(0, np.int32)
        self._ends = np.zeros(0, np.int64)
        self._ids = np.zeros(0, np.int64)
        self._matrix = {name: np.zeros(0 if name != "indptr" else 1, np.int32) for name in _ARRAYS}
        self._matrix["data"] = np.zeros(0, np.float32)
        self._df: np.ndarray = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, term: str) -> bool:
        return self.doc_freq(term) > 0

    def add(self, ids, token_lists: Sequence[Sequence[str]], texts=None) -> None:
        ids = as_ids(ids)  # texts: for stores that analyze text themselves
        if len(ids) != len(token_lists):
            raise ValueError("one token list per id")
        if np.isin(ids, self._ids).any():
            raise ValueError("an id is already stored")
        new = [np.array([self._vocab.setdefault(t, len(self._vocab)) for t in toks], np.int32) for toks in token_lists]
        lengths = np.array([len(d) for d in new], np.int64)
        self._tokens = np.concatenate([np.asarray(self._tokens), *new]) if new else self._tokens
        self._ends = np.concatenate([self._ends, (self._ends[-1] if len(self._ends) else 0) + np.cumsum(lengths)])
        self._ids = np.concatenate([self._ids, ids])
        self._reindex()

    def remove(self, ids) -> None:
        keep = ~np.isin(self._ids, as_ids(ids))
        docs = [d for d, k in zip(self._doc_tokens(), keep) if k]
        self._tokens = np.concatenate(docs) if docs else np.zeros(0, np.int32)
        self._ends = np.cumsum([len(d) for d in docs]).astype(np.int64)
        self._ids = self._ids[keep]
        self._reindex()

    def ids(self) -> np.ndarray:
        return self._ids

    def scores(self, tokens: Sequence[str], text: str | None = None) -> np.ndarray:
        cols = [self._vocab[t] for t in tokens if t in self._vocab]
        scores = np.zeros(len(self), dtype=np.float32)
        data, indices, indptr = (self._matrix[n] for n in _ARRAYS)
        for j in cols:
            if j + 1 < len(indptr):
                start, end = indptr[j], indptr[j + 1]
                np.add.at(scores, indices[start:end], data[start:end])
        return scores

    def search(self, tokens, k: int, allowed=None, text: str | None = None) -> Neighbours:
        scores = self.scores(tokens)
        if allowed is not None:
            scores = np.where(np.isin(self._ids, as_ids(allowed)), scores, 0.0).astype(np.float32)
        return top_of(scores, self._ids, int(k), positive=True)

    def doc_freq(self, term: str) -> int:
        j = self._vocab.get(term)
        return 0 if j is None or j >= len(self._df) else int(self._df[j])

    def save(self, folder: Path, name: str) -> list[str]:
        base = Path(folder) / name
        base.mkdir(parents=True, exist_ok=True)
        for n in _ARRAYS:
            np.save(base / f"{n}.npy", self._matrix[n])
        np.save(base / "doc_ids.npy", self._ids)
        np.save(base / "doc_ends.npy", np.asarray(self._ends))
        np.save(base / "doc_tokens.npy", np.asarray(self._tokens))
        (base / "terms.json").write_text(json.dumps(list(self._vocab), ensure_ascii=False), "utf-8")
        return [name]

    @classmethod
    def load(cls, folder: Path, name: str, params: dict) -> "Bm25Store":
        base = Path(folder) / name
        store = cls(params.get("k1", 1.2), params.get("b", 0.75))
        store._vocab = {t: i for i, t in enumerate(json.loads((base / "terms.json").read_text("utf-8")))}
        # memory-mapped: a query reads only its terms' columns, a change only the token lists
        load = lambda n: np.load(base / f"{n}.npy", allow_pickle=False, mmap_mode="r")  # noqa: E731
        store._ids = np.array(load("doc_ids"))
        store._ends, store._tokens = np.array(load("doc_ends")), load("doc_tokens")
        if len(store._ends) != len(store._ids) or (len(store._ends) and store._ends[-1] != len(store._tokens)):
            raise ValueError(f"{name}: token lists do not match the documents")
        store._matrix = {n: load(n) for n in _ARRAYS}
        if len(store._matrix["indptr"]) != len(store._vocab) + 1 or (
                len(store._matrix["indptr"]) and store._matrix["indptr"][-1] != len(store._matrix["indices"])):
            raise ValueError(f"{name}: the BM25 matrix does not match its vocabulary or documents")
        store._df = np.diff(store._matrix["indptr"]).astype(np.int64)
        return store

    def _doc_tokens(self) -> list[np.ndarray]:
        starts = np.r_[0, self._ends[:-1]] if len(self._ends) else self._ends
        return [np.asarray(self._tokens[a:b]) for a, b in zip(starts, self._ends)]

    def params(self) -> dict:
        return {"kind": self.kind, "k1": self.k1, "b": self.b, "method": "lucene", "count": len(self),
                "vocabulary": len(self._vocab)}

    # --- internals -------------------------------------------------------------------
    def _reindex(self) -> None:
        """Recompute the matrix with bm25s; its columns are re-ordered to our term ids."""
        if not len(self._ids):
            self.__init__(self.k1, self.b)
            return
        bm25s, Tokenized = _import_bm25s()

        bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        bm25.index(Tokenized(ids=[d.tolist() for d in self._doc_tokens()], vocab=self._vocab), show_progress=False)
        data, indices, indptr = (np.asarray(bm25.scores[n]) for n in _ARRAYS)
        # bm25s numbers columns from the vocabulary it is given; map each of our term ids to
        # its column (a term no document has any more gets an empty column)
        cols = [bm25.vocab_dict.get(t) for t in self._vocab]
        parts_d, parts_i, ptr = [], [], [0]
        for c in cols:
            if c is not None and c + 1 < len(indptr):
                parts_d.append(data[indptr[c]:indptr[c + 1]])
                parts_i.append(indices[indptr[c]:indptr[c + 1]])
                ptr.append(ptr[-1] + int(indptr[c + 1] - indptr[c]))
            else:
                ptr.append(ptr[-1])
        self._matrix = {"data": np.concatenate(parts_d).astype(np.float32) if parts_d else np.zeros(0, np.float32),
                        "indices": np.concatenate(parts_i).astype(np.int32) if parts_i else np.zeros(0, np.int32),
                        "indptr": np.array(ptr, np.int64)}
        self._df = np.diff(self._matrix["indptr"]).astype(np.int64)


def _import_bm25s():
    """bm25s, keeping the level its logger had: on import it sets that logger to DEBUG."""
    logger = logging.getLogger("bm25s")
    level = logger.level
    import bm25s
    from bm25s.tokenization import Tokenized

    logger.setLevel(level)
    return bm25s, Tokenized
