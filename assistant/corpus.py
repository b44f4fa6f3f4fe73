"""Changing the corpus: add and remove files as one transaction with the index.

A change is staged under ``corpus/.pending/<id>/``: the new files and a plan naming what is
added and removed. The new index is built from the corpus as it will be, and its manifest
names the transaction. Only once that build is current are the staged files moved into the
corpus and the removed ones deleted. Killed at any moment, a change leaves either the old
index with the old corpus (the staged change is discarded) or the new index, whose manifest
names the transaction (the change is completed): ``recover`` does one or the other, on the
next change or load. So a file is in ``corpus/`` exactly when the current index holds it.

Every change ends in a complete new build (``assistant.build``), made fast by the
content-addressed caches, so an incrementally changed index equals one built from scratch.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .build import build, cache_dir, check_passages
from .cache import JsonCache
from .embed import Embedder
from .errors import IndexBusy, IngestError
from .index import Index, read_manifest
from .ingest import PENDING, corpus_map, read_file
from .lock import index_lock
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ChangeReport:
    """What an add or remove did: files changed, files refused (with the reason), the new index."""

    changed: list[str]
    skipped: list[str]
    index: Index | None
    seconds: float = 0.0


@dataclass
class Plan:
    """One staged change: files to add (staged in ``folder/files``) and names to remove."""

    id: str
    folder: Path
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)

    @property
    def files(self) -> Path:
        return self.folder / "files"

    def save(self) -> None:
        """Written once everything is staged: a folder without a plan is an abandoned stage."""
        tmp = self.folder / "plan.json.tmp"
        tmp.write_text(json.dumps({"id": self.id, "add": self.add, "remove": self.remove}, ensure_ascii=False),
                       "utf-8")
        os.replace(tmp, self.folder / "plan.json")

    def view(self, corpus: Path) -> dict[str, Path]:
        """The corpus as it will be after this change: name -> file."""
        files = corpus_map(corpus)
        for name in self.remove:
            files.pop(name, None)
        files.update({name: self.files / name for name in self.add})
        return dict(sorted(files.items()))


def add_files(settings: Settings, embedder: Embedder, paths: list, progress: bool = False) -> ChangeReport:
    """Add readable files to the corpus and the index, as one transaction.

    Unreadable files (binary, corrupt, empty, too large, too many passages, unknown type)
    are reported with the reason and skipped; the rest of the batch goes in. A file enters
    ``corpus/`` only once the index that holds it is current."""
    t0 = time.time()
    corpus = Path(settings.index.corpus_dir)
    changed, skipped = [], []
    with index_lock(settings):
        recover(settings)
        corpus.mkdir(parents=True, exist_ok=True)
        plan = _new_plan(corpus)
        chunks = JsonCache(cache_dir(settings) / "chunks.json")  # one read for the whole batch
        try:
            for raw in paths:
                try:
                    changed.append(_stage(Path(raw), corpus, plan, settings, embedder, chunks))
                except IngestError as e:
                    skipped.append(str(e))
            chunks.save()  # the build reuses the chunks made to check the limit
            index = _commit(plan, settings, embedder, progress) if plan.add else None
        finally:
            _finish(plan, settings)
    return ChangeReport(changed, skipped, index, time.time() - t0)


def remove_files(settings: Settings, embedder: Embedder, names: list, progress: bool = False) -> ChangeReport:
    """Remove files from the corpus and the index, as one transaction. Each item may be a
    path (the one given to ``add``, or inside the corpus folder), a file name, or a speech id."""
    t0 = time.time()
    corpus = Path(settings.index.corpus_dir)
    changed, skipped = [], []
    with index_lock(settings):
        recover(settings)
        plan = _new_plan(corpus)
        try:
            for raw in names:
                try:
                    name = resolve(settings, str(raw))
                except IngestError as e:
                    skipped.append(str(e))
                    continue
                if name not in plan.remove:
                    plan.remove.append(name)
                    changed.append(name)
            index = _commit(plan, settings, embedder, progress) if plan.remove else None
        finally:
            _finish(plan, settings)
    return ChangeReport(changed, skipped, index, time.time() - t0)


def resolve(settings: Settings, item: str) -> str:
    """The corpus file (its name relative to the corpus folder) that ``item`` names: a path,
    a file name or a speech id. IngestError when none does."""
    corpus = Path(settings.index.corpus_dir).resolve()
    files = corpus_map(corpus) if corpus.is_dir() else {}
    p = Path(item)
    if item in files:
        return item
    if p.is_absolute() and corpus in p.resolve().parents and str(p.resolve().relative_to(corpus)) in files:
        return str(p.resolve().relative_to(corpus))
    by_name = [rel for rel, f in files.items() if f.name == p.name]
    if len(by_name) == 1:
        return by_name[0]  # the path given to add (the corpus keeps its file name)
    doc = _document_file(settings, item)
    if doc is not None and doc in files:
        return doc
    if len(by_name) > 1:
        raise IngestError(f"{p.name}: several corpus files have this name ({', '.join(by_name)}); "
                          f"give the one to remove as it is in the corpus folder")
    raise IngestError(f"{item}: not a file or speech of the corpus (python -m assistant list shows them)")


def _document_file(settings: Settings, doc_id: str) -> str | None:
    """The corpus file holding speech ``doc_id``; IngestError when it also holds others."""
    manifest = read_manifest(settings)
    docs = (manifest or {}).get("documents", {})
    source = docs.get(doc_id)
    if source is None:
        return None
    siblings = sorted(d for d, s in docs.items() if s == source)
    if len(siblings) > 1:
        raise IngestError(f"{doc_id}: this speech is one of {len(siblings)} in the file {source}; "
                          f"remove the whole file with: python -m assistant remove {source}")
    return source


def recover(settings: Settings, wait: bool = True) -> None:
    """Finish or discard changes a killed process left staged (see the module docstring).

    Cheap (moves and deletes, never a build). With ``wait=False`` it does nothing while
    another process holds the lock: that writer recovers before its own change."""
    pending = Path(settings.index.corpus_dir) / PENDING
    if not pending.is_dir():
        return
    try:
        with index_lock(settings, timeout=5.0 if wait else 0.0):
            current = (read_manifest(settings) or {}).get("transaction")
            for folder in sorted(pending.iterdir()):
                plan = _read_plan(folder)
                if plan is not None and plan.id == current:
                    log.info("completing the interrupted corpus change %s", plan.id)
                    _apply(plan, Path(settings.index.corpus_dir))
                elif plan is not None:
                    log.info("discarding the interrupted corpus change %s (its index was never made current)",
                             plan.id)
                shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(pending, ignore_errors=True)
    except IndexBusy:
        if wait:
            raise


def _finish(plan: Plan, settings: Settings) -> None:
    """After a change, successful or not: complete it if its index is current, then drop the stage."""
    if plan.id == (read_manifest(settings) or {}).get("transaction"):
        _apply(plan, Path(settings.index.corpus_dir))
    shutil.rmtree(plan.folder, ignore_errors=True)
    try:
        plan.folder.parent.rmdir()  # .pending itself, when no other stage is left
    except OSError:
        pass


def _new_plan(corpus: Path) -> Plan:
    plan_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{os.urandom(3).hex()}"
    folder = corpus / PENDING / plan_id
    (folder / "files").mkdir(parents=True)
    return Plan(plan_id, folder)


def _read_plan(folder: Path) -> Plan | None:
    try:
        data = json.loads((folder / "plan.json").read_text("utf-8"))
        return Plan(str(data["id"]), folder, list(data["add"]), list(data["remove"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # never saved: staging was interrupted, so no build names it


def _stage(src: Path, corpus: Path, plan: Plan, settings: Settings, embedder: Embedder, chunks: JsonCache) -> str:
    """Validate ``src`` and copy it into the plan's staging folder; the name it will have."""
    if not src.is_file():
        raise IngestError(f"{src.name or src}: no such file")
    name = safe_name(src.name)
    if name in plan.add:
        raise IngestError(f"{name}: a second file of this name in one batch; rename one of them")
    # validate before it can enter the corpus: readable, within the size and passage limits
    docs = read_file(src, max_bytes=settings.index.max_file_mb * 2**20)
    check_passages(docs, settings, embedder, chunks)
    dest = corpus / name
    if dest.exists() and dest.read_bytes() != src.read_bytes():
        raise IngestError(f"{name}: a different file with this name is already in the corpus; "
                          f"remove it first or rename the new one")
    tmp = plan.files / f".{name}.part"
    shutil.copyfile(src, tmp)
    os.replace(tmp, plan.files / name)
    plan.add.append(name)
    return name


_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_name(name: str) -> str:
    """The name a file gets in the corpus folder: its last path component, with no control
    characters; IngestError for names that could escape or hide there (``..``, a leading
    dot, reserved device names, over 200 bytes)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().rstrip(". ")
    shown = base or repr(name)
    if not base or base.startswith(".") or base.split(".")[0].lower() in _RESERVED:
        raise IngestError(f"{shown}: not allowed as a file name in the corpus (hidden, empty or reserved); rename it")
    if len(base.encode("utf-8")) > 200:
        raise IngestError(f"{shown[:40]}…: the file name is too long (over 200 bytes); rename it")
    return base


def _commit(plan: Plan, settings: Settings, embedder: Embedder, progress: bool) -> Index:
    """Build the index of the corpus as the plan leaves it and make it current (``_finish``
    then applies the plan to the folder)."""
    plan.save()
    return build(settings, embedder, progress=progress, files=plan.view(Path(settings.index.corpus_dir)),
                 transaction=plan.id)


def _apply(plan: Plan, corpus: Path) -> None:
    """Make the corpus folder what the plan's (current) index holds; safe to repeat."""
    for name in plan.add:
        staged = plan.files / name
        if staged.exists():
            os.replace(staged, corpus / name)
    for name in plan.remove:
        (corpus / name).unlink(missing_ok=True)
