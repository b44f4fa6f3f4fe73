"""bm25s backend: BM25 over jieba tokens. The only module that knows bm25s's internals."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Neighbours, as_ids, top_of


class Bm25Store:
    """A bm25s index plus each document's token ids, so documents can be added and removed
    (bm25s indexes a fixed collection: a change re-indexes from the kept tokens)."""

    kind = "bm25s"

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = float(k1), float(b)
        self._vocab: dict[str, int] = {}
        self._docs: list[np.ndarray] = []  # token ids per document, in ``_ids`` order
        self._ids = np.zeros(0, np.int64)
        self._bm25 = None
        self._df: np.ndarray = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, term: str) -> bool:
        return term in self._vocab and self.doc_freq(term) > 0

    def add(self, ids, token_lists: Sequence[Sequence[str]]) -> None:
        ids = as_ids(ids)
        if len(ids) != len(token_lists):
            raise ValueError("one token list per id")
        if np.isin(ids, self._ids).any():
            raise ValueError("an id is already stored")
        for toks in token_lists:
            self._docs.append(np.array([self._vocab.setdefault(t, len(self._vocab)) for t in toks], np.int64))
        self._ids = np.concatenate([self._ids, ids])
        self._reindex()

    def remove(self, ids) -> None:
        keep = ~np.isin(self._ids, as_ids(ids))
        self._docs = [d for d, k in zip(self._docs, keep) if k]
        self._ids = self._ids[keep]
        self._reindex()

    def ids(self) -> np.ndarray:
        return self._ids

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        toks = [t for t in tokens if t in self._vocab]
        if not toks or self._bm25 is None:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(toks), dtype=np.float32)

    def search(self, tokens, k: int, allowed=None) -> Neighbours:
        scores = self.scores(tokens)
        if allowed is not None:
            scores = np.where(np.isin(self._ids, as_ids(allowed)), scores, 0.0).astype(np.float32)
        return top_of(scores, self._ids, int(k), positive=True)

    def doc_freq(self, term: str) -> int:
        j = self._vocab.get(term)
        return 0 if j is None or j >= len(self._df) else int(self._df[j])

    def save(self, folder: Path, name: str) -> list[str]:
        folder = Path(folder)
        if self._bm25 is not None:
            self._bm25.save(str(folder / name), show_progress=False)
        else:
            (folder / name).mkdir(parents=True, exist_ok=True)
        lengths = np.array([len(d) for d in self._docs], np.int64)
        np.save(folder / name / "doc_ids.npy", self._ids)
        np.save(folder / name / "doc_lengths.npy", lengths)
        np.save(folder / name / "doc_tokens.npy", np.concatenate(self._docs) if self._docs else np.zeros(0, np.int64))
        (folder / name / "terms.json").write_text(json.dumps(list(self._vocab), ensure_ascii=False), "utf-8")
        return [name]

    @classmethod
    def load(cls, folder: Path, name: str, params: dict) -> "Bm25Store":
        import bm25s

        base = Path(folder) / name
        store = cls(params.get("k1", 1.2), params.get("b", 0.75))
        store._vocab = {t: i for i, t in enumerate(json.loads((base / "terms.json").read_text("utf-8")))}
        store._ids = np.load(base / "doc_ids.npy")
        lengths = np.load(base / "doc_lengths.npy")
        flat = np.load(base / "doc_tokens.npy")
        if lengths.sum() != len(flat) or len(lengths) != len(store._ids):
            raise ValueError(f"{name}: token lists do not match the documents")
        store._docs = np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []
        if len(store._ids):
            store._bm25 = bm25s.BM25.load(str(base), show_progress=False)
            store._df = store._doc_freqs()
        return store

    def params(self) -> dict:
        return {"kind": self.kind, "k1": self.k1, "b": self.b, "count": len(self), "vocabulary": len(self._vocab)}

    # --- internals -------------------------------------------------------------------
    def _reindex(self) -> None:
        import bm25s
        from bm25s.tokenization import Tokenized

        if not len(self._ids):
            self._bm25, self._df = None, np.zeros(0, np.int64)
            return
        # bm25s numbers the vocabulary itself from the ids it is given: pass ours unchanged
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        self._bm25.index(Tokenized(ids=[d.tolist() for d in self._docs], vocab=self._vocab), show_progress=False)
        self._df = self._doc_freqs()

    def _doc_freqs(self) -> np.ndarray:
        """Documents per term: bm25s keeps its scores as a CSC matrix, one column per term."""
        indptr = np.asarray(self._bm25.scores["indptr"])
        df = np.diff(indptr)
        vocab = self._bm25.vocab_dict
        out = np.zeros(len(self._vocab), np.int64)
        for term, j in self._vocab.items():
            k = vocab.get(term)
            if k is not None and k < len(df):
                out[j] = df[k]
        return out
