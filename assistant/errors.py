"""Errors the library raises; the CLI and app turn them into user messages.

Every message says what went wrong and how to fix it.
"""
import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def shown(value, limit: int = 40) -> str:
    """A user's value as a message quotes it: its repr, cut to ``limit`` characters, lone
    surrogates replaced (a message must encode as UTF-8: a 100k-character or a malformed
    input is not echoed back)."""
    text = repr(value)
    if len(text) > limit:
        text = f"{text[:limit]}…（{len(text)} 字 / chars）"
    return _SURROGATE.sub("\ufffd", text)


class AssistantError(Exception):
    """Base class: a problem the user can act on."""


class QueryError(AssistantError, ValueError):
    """The query itself is unusable (empty, too long, no searchable content)."""


class IngestError(AssistantError):
    """A corpus file could not be read; the message names the file and the reason."""


class IndexError_(AssistantError):
    """The index is missing, corrupt, or was built for something else."""


class IndexMissing(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


class IndexBusy(IndexError_):
    pass


class ModelError(AssistantError):
    """The embedding model cannot be loaded; the message says how to repair or replace it."""
