"""Content-addressed caches under ``index/cache``: work done once per distinct input.

They make a rebuild after adding or removing a file cheap (only new passages are
embedded, tokenized and chunked), which is how the index stays incremental while every
build remains a complete, consistent one: same passages, same results as from scratch.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)


def key(*parts: str) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def _entry_digest(value) -> str:
    return key(json.dumps(value, ensure_ascii=False, sort_keys=True))[:16]


class JsonCache:
    """A dict persisted as one JSON file, each entry with a digest of its value: an
    unreadable file or a damaged entry only costs recomputation, it is never used."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {}
        self.dirty = False
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text("utf-8"))["entries"]
                self.data = {k: e[1] for k, e in stored.items() if e[0] == _entry_digest(e[1])}
            except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
                log.warning("ignoring unreadable cache %s (%s)", self.path, e)
            else:
                if len(self.data) < len(stored):
                    log.warning("cache %s: %d damaged entries dropped (recomputed)", self.path,
                                len(stored) - len(self.data))

    def get_many(self, keys: Sequence[str], compute: Callable[[list[int]], list]) -> list:
        """Values for ``keys``; ``compute(missing_positions)`` fills the gaps."""
        missing = [i for i, k in enumerate(keys) if k not in self.data]
        if missing:
            for i, v in zip(missing, compute(missing)):
                self.data[keys[i]] = v
            self.dirty = True
        return [self.data[k] for k in keys]

    def save(self, keep: set[str] | None = None) -> None:
        """Write if changed; ``keep`` drops entries no longer used so the cache cannot grow forever."""
        if keep is not None and set(self.data) - keep:
            self.data = {k: v for k, v in self.data.items() if k in keep}
            self.dirty = True
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        entries = {k: [_entry_digest(v), v] for k, v in self.data.items()}
        tmp.write_text(json.dumps({"entries": entries}, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.path)
        self.dirty = False


class VectorCache:
    """Embeddings by content hash, for one model."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict[str, np.ndarray] = {}
        if self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    self.data = dict(zip(z["keys"].tolist(), z["vectors"]))
            except Exception as e:  # a broken cache only costs time
                log.warning("ignoring unreadable embedding cache %s (%s)", self.path, e)

    def get_many(self, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], dim: int) -> np.ndarray:
        keys = [key(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self.data))
        if todo:
            first = {k: t for t, k in zip(texts, keys) if k in set(todo)}
            vecs = embed([first[k] for k in todo])
            self.data.update(zip(todo, vecs))
            self._save()
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([self.data[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.stem + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(list(self.data)), vectors=np.stack(list(self.data.values())))
        os.replace(tmp, self.path)
