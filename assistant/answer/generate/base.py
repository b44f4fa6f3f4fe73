"""The generator interface."""
from __future__ import annotations

from typing import Iterator, Protocol

from ...errors import AssistantError


class GeneratorError(AssistantError):
    """The LLM could not answer (not installed, not reachable, timed out, refused the request)."""


class Generator(Protocol):
    """Streams the text of a chat reply, piece by piece."""

    name: str

    def stream(self, messages: list[dict]) -> Iterator[str]:
        """Text pieces of the reply to ``messages`` ([{"role", "content"}, ...]); raises GeneratorError."""
