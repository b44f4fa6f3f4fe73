"""``python -m tests.crash_point N WORDS…``: run ``python -m assistant WORDS…`` and SIGKILL
itself just before its N-th file-system change (N = 0: never; N = -1: never, but list
each change on stderr; the count is printed last).

The crash harness's ``--points`` mode kills an operation at each of its changes in turn,
which reaches the windows of a few microseconds (between two renames) that a kill at a
random time almost never hits. A change is a call of ``os.replace``/``rename``/``unlink``/
``remove``/``symlink``/``mkdir``/``rmdir``, ``shutil.copyfile``/``copy2``/``rmtree``, or an
``open``/``os.open`` for writing (numpy's saves, the lock file); writes from C (FAISS) are not.
"""
from __future__ import annotations

import builtins
import io
import os
import runpy
import shutil
import signal
import sys

_STOP = int(sys.argv[1]) if len(sys.argv) > 1 else 0
_SEEN = 0
_WRITE_MODES = set("wax+")


def _change(what: str, *paths) -> None:
    """Count one change; at the chosen one, say which (on stderr) and die."""
    global _SEEN
    _SEEN += 1
    if _SEEN == _STOP or _STOP < 0:
        names = " -> ".join(_short(p) for p in paths)
        os.write(2, f"crash point {_SEEN}: before {what}({names})\n".encode())
    if _SEEN == _STOP:
        os.kill(os.getpid(), signal.SIGKILL)


def _short(path) -> str:
    """A path as its last two parts (``builds/x.partial``), a file descriptor as its number."""
    if isinstance(path, int):
        return str(path)
    parts = os.fspath(path).replace(os.sep, "/").rstrip("/").split("/")
    return "/".join(parts[-2:])


def _wrap(module, name: str, paths: int) -> None:
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        _change(f"{module.__name__}.{name}", *args[:paths])
        return real(*args, **kwargs)

    setattr(module, name, wrapper)


def _wrap_open() -> None:
    real = builtins.open

    def opener(file, mode="r", *args, **kwargs):
        if _WRITE_MODES & set(mode):
            _change(f"open[{mode}]", file)
        return real(file, mode, *args, **kwargs)

    builtins.open = io.open = opener


def install() -> None:
    """Patch the functions that change files."""
    for name, paths in (("replace", 2), ("rename", 2), ("unlink", 1), ("remove", 1), ("symlink", 2),
                        ("mkdir", 1), ("rmdir", 1)):
        _wrap(os, name, paths)
    for name in ("copyfile", "copy2", "rmtree"):
        _wrap(shutil, name, 2 if name != "rmtree" else 1)
    _wrap_open()
    real_open = os.open

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
            _change("os.open", path)
        return real_open(path, flags, *args, **kwargs)

    os.open = os_open


def main() -> None:
    install()
    sys.argv = ["assistant", *sys.argv[2:]]
    try:
        runpy.run_module("assistant", run_name="__main__", alter_sys=True)
    finally:
        os.write(2, f"crash points: {_SEEN}\n".encode())


if __name__ == "__main__":
    main()
