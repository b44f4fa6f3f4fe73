"""Logging set-up for the outer layers (CLI and app); the library itself only logs."""
from __future__ import annotations

import logging
import sys

_NOISY = ("sentence_transformers", "transformers", "httpx", "httpcore", "jieba", "filelock", "datasketch",
          "faiss.loader", "bm25s", "urllib3", "asyncio")


def configure(level: str | int = "INFO", fmt: str = "%(levelname)s %(name)s: %(message)s") -> None:
    """Log to stderr at ``level``; keep third-party chatter out of the user's terminal."""
    if isinstance(level, str):
        level = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
