"""One writer at a time: the lock that guards the corpus folder and the index."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .errors import IndexBusy
from .settings import Settings

_LOCKS: dict[tuple[int, str], object] = {}


@contextmanager
def index_lock(settings: Settings, timeout: float = 5.0):
    """Exclusive right to change the corpus folder and the index (re-entrant in one process).

    A second process gets IndexBusy after ``timeout`` seconds instead of corrupting anything."""
    from filelock import FileLock, Timeout

    root = Path(settings.index.index_dir)
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
