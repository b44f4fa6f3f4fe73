"""Generators: stream an LLM's reply to a list of chat messages.

    base.py      the Generator protocol and GeneratorError
    openai.py    any OpenAI-compatible chat endpoint (ollama, llama.cpp's llama-server, vLLM), over httpx
    llamacpp.py  llama-cpp-python in this process, one GGUF loaded once and reused
"""
from __future__ import annotations

from ...settings import LLMSettings
from ...types import LLMBackend
from .base import Generator, GeneratorError

__all__ = ["Generator", "GeneratorError", "open_generator"]


def open_generator(settings: LLMSettings) -> Generator | None:
    """The generator the settings configure, or None when ``llm_backend`` is ``none``."""
    if settings.llm_backend == LLMBackend.OPENAI:
        from .openai import OpenAIGenerator

        return OpenAIGenerator(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout,
                               settings.llm_max_tokens, settings.llm_temperature)
    if settings.llm_backend == LLMBackend.LLAMA:
        from .llamacpp import LlamaCppGenerator

        return LlamaCppGenerator(settings.llm_gguf, settings.llm_chat_format, settings.llm_context,
                                 settings.llm_threads, settings.llm_max_tokens, settings.llm_temperature,
                                 settings.llm_model)
    return None
