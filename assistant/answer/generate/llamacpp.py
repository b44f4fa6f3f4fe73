"""llama-cpp-python in this process: one GGUF, loaded once, its KV cache reused across turns."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterator

from .base import GeneratorError

log = logging.getLogger(__name__)

INSTALL_HINT = ("pip install -r requirements-llm.txt (llama-cpp-python builds from source in about 10 minutes; "
                "pip keeps the built wheel in its cache), then python -m assistant llm setup --model 0.5b")


class LlamaCppGenerator:
    """A GGUF chat model through ``llama_cpp.Llama``; loading happens on first use."""

    def __init__(self, gguf: Path | None, chat_format: str | None, n_ctx: int, threads: int, max_tokens: int,
                 temperature: float, label: str = ""):
        if gguf is None or not Path(gguf).is_file():
            raise GeneratorError(f"没有找到 GGUF 模型文件 (no GGUF file at {gguf}; set llm_gguf, or run: "
                                 f"python -m assistant llm setup --model 0.5b)")
        self.path = Path(gguf)
        self.name = label or self.path.name
        self.chat_format = chat_format
        self.n_ctx, self.threads = n_ctx, threads
        self.max_tokens, self.temperature = max_tokens, temperature
        self._llm = None
        self._lock = threading.Lock()  # one generation at a time: the model and its cache are shared
        self.load_seconds: float | None = None

    def load(self):
        """Load the model (once); its chat template must come from the file or ``chat_format``."""
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError:
            raise GeneratorError(f"llama-cpp-python 未安装 (llama-cpp-python is not installed: {INSTALL_HINT})") from None
        t = time.perf_counter()
        try:
            llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.threads,
                        chat_format=self.chat_format, verbose=False)
        except Exception as e:  # a damaged or foreign file
            raise GeneratorError(f"GGUF 模型无法加载 (the GGUF {self.path} could not be loaded: {e})") from e
        if not self.chat_format and not llm.metadata.get("tokenizer.chat_template"):
            # llama-cpp-python would silently fall back to the llama-2 format
            raise GeneratorError(f"{self.path.name} has no chat template; set llm_chat_format (e.g. chatml)")
        self.load_seconds = time.perf_counter() - t
        log.info("loaded %s in %.1fs", self.path.name, self.load_seconds)
        self._llm = llm
        return llm

    def stream(self, messages: list[dict]) -> Iterator[str]:
        llm = self.load()
        with self._lock:
            try:
                for chunk in llm.create_chat_completion(messages=messages, stream=True, max_tokens=self.max_tokens,
                                                        temperature=self.temperature):
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            except ValueError as e:  # e.g. the prompt does not fit the context window
                raise GeneratorError(f"模型无法处理该请求 (llama.cpp refused the prompt: {e}; raise llm_context)") from e
