"""Changing the corpus: add and remove files, one writer at a time, and rebuild.

Every change ends in a complete new build (``assistant.build``), made fast by the
content-addressed caches, so an incrementally changed index equals one built from scratch.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .build import build
from .embed import Embedder
from .errors import IngestError
from .index import Index
from .ingest import read_file
from .lock import index_lock
from .settings import Settings

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
    t0 = time.time()
    corpus = Path(settings.index.corpus_dir)
    changed, skipped = [], []
    with index_lock(settings):
        corpus.mkdir(parents=True, exist_ok=True)
        for raw in paths:
            try:
                changed.append(_copy_in(Path(raw), corpus))
            except IngestError as e:
                skipped.append(str(e))
        index = build(settings, embedder, progress=progress) if changed else None
    return ChangeReport(changed, skipped, index, time.time() - t0)


def _copy_in(src: Path, corpus: Path) -> str:
    """Validate ``src`` and copy it into ``corpus`` atomically; the name it has there."""
    if not src.is_file():
        raise IngestError(f"{src.name or src}: no such file")
    read_file(src)  # validate before it can enter the corpus
    dest = corpus / src.name
    if dest.exists():
        if dest.resolve() == src.resolve() or dest.read_bytes() == src.read_bytes():
            return dest.name
        raise IngestError(f"{src.name}: a different file with this name is already in the corpus; "
                          f"remove it first or rename the new one")
    tmp = corpus / f".{src.name}.{os.getpid()}.part"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest.name


def remove_files(settings: Settings, embedder: Embedder, names: list, progress: bool = False) -> ChangeReport:
    """Delete files (by name or path inside the corpus folder) and update the index."""
    t0 = time.time()
    corpus = Path(settings.index.corpus_dir).resolve()
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
