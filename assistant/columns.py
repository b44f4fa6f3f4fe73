"""Per-passage arrays precomputed once per index, so a query touches no Python loop over
all passages: metadata columns for filters, and character-bigram postings for verbatim
lookups (the phrase lift, and finding a pasted paragraph's own passages)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .text import bare

FIELDS = ("source", "doc_id", "occasion", "place", "speaker")


class MetadataColumns:
    """One integer code per passage and field (-1: not stated), and dates as yyyymmdd (0: none)."""

    def __init__(self, n: int):
        """Columns for ``n`` passages, filled by :meth:`add` (the index reads its passages once)."""
        self.values: dict[str, dict[str, int]] = {f: {} for f in FIELDS}
        self.codes = {f: np.full(n, -1, np.int32) for f in FIELDS}
        self.dates = np.zeros(n, np.int32)

    def add(self, i: int, p) -> None:
        """Record passage ``i``'s metadata."""
        c = p.citation
        row = {"source": c.source, "doc_id": p.doc_id, "occasion": c.occasion, "place": c.place,
               "speaker": c.speaker}
        for f, v in row.items():
            self.codes[f][i] = -1 if v is None else self.values[f].setdefault(v, len(self.values[f]))
        self.dates[i] = int(c.date.replace("-", "")) if c.date and c.date[:4].isdigit() else 0

    def isin(self, field: str, values: list[str]) -> np.ndarray:
        """Passages whose ``field`` is one of ``values``."""
        wanted = [self.values[field][v] for v in values if v in self.values[field]]
        return np.isin(self.codes[field], np.array(wanted, np.int32))

    def date_between(self, lo: str | None, hi: str | None) -> np.ndarray:
        """Passages dated within [lo, hi] (YYYY-MM-DD; a passage without a date fails any bound)."""
        ok = self.dates > 0
        if lo:
            ok &= self.dates >= int(lo.replace("-", ""))
        if hi:
            ok &= self.dates <= int(hi.replace("-", ""))
        return ok


class PhraseIndex:
    """Postings of the character bigrams of each passage's ``bare`` text (letters, digits,
    Han characters): a verbatim lookup intersects the postings of the query's rarest
    bigrams and checks only the passages left."""

    def __init__(self, keys: np.ndarray, indptr: np.ndarray, postings: np.ndarray, texts: list[str]):
        self.keys, self.indptr, self.postings = keys, indptr, postings
        self._texts = texts
        self._bare: dict[int, str] = {}

    @classmethod
    def build(cls, texts: list[str]) -> "PhraseIndex":
        pairs_key, pairs_doc = [], []
        for i, t in enumerate(texts):
            b = bare(t)
            grams = np.unique(_bigram_keys(b))
            pairs_key.append(grams)
            pairs_doc.append(np.full(len(grams), i, np.int32))
        key = np.concatenate(pairs_key) if pairs_key else np.zeros(0, np.int64)
        doc = np.concatenate(pairs_doc) if pairs_doc else np.zeros(0, np.int32)
        order = np.lexsort((doc, key))
        key, doc = key[order], doc[order]
        keys, starts = np.unique(key, return_index=True)
        indptr = np.r_[starts, len(key)].astype(np.int64)
        return cls(keys, indptr, doc, texts)

    def containing(self, text: str, allowed: np.ndarray | None = None, limit_grams: int = 4) -> list[int]:
        """Passages whose bare text contains ``text``'s bare form (ascending ids)."""
        q = bare(text)
        if len(q) < 2:
            return [i for i, t in enumerate(self._texts) if q and q in self._bare_of(i)]
        grams = np.unique(_bigram_keys(q))
        pos = np.searchsorted(self.keys, grams)
        if np.any(pos >= len(self.keys)) or np.any(self.keys[np.minimum(pos, len(self.keys) - 1)] != grams):
            return []  # a bigram no passage has
        sizes = self.indptr[pos + 1] - self.indptr[pos]
        cands = None
        for j in np.argsort(sizes)[:limit_grams]:  # the rarest few narrow it enough
            ids = self.postings[self.indptr[pos[j]]:self.indptr[pos[j] + 1]]
            cands = ids if cands is None else np.intersect1d(cands, ids, assume_unique=True)
            if not len(cands):
                return []
        if allowed is not None:
            cands = cands[allowed[cands]]
        return [int(i) for i in cands if q in self._bare_of(int(i))]

    def _bare_of(self, i: int) -> str:
        b = self._bare.get(i)
        if b is None:
            b = self._bare[i] = bare(self._texts[i])
        return b

    def save(self, folder: Path) -> list[str]:
        for name in ("keys", "indptr", "postings"):
            np.save(Path(folder) / f"phrase_{name}.npy", getattr(self, name))
        return [f"phrase_{n}.npy" for n in ("keys", "indptr", "postings")]

    @classmethod
    def load(cls, folder: Path, texts: list[str]) -> "PhraseIndex":
        arrays = [np.load(Path(folder) / f"phrase_{n}.npy", allow_pickle=False, mmap_mode="r")
                  for n in ("keys", "indptr", "postings")]
        return cls(*arrays, texts)


def _bigram_keys(s: str) -> np.ndarray:
    """Each adjacent character pair as one int64 (two code points)."""
    if len(s) < 2:
        return np.zeros(0, np.int64)
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    return (cps[:-1] << 21) | cps[1:]
