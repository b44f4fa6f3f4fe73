"""An OpenAI-compatible chat endpoint, streamed with httpx (server-sent events)."""
from __future__ import annotations

import json
from typing import Iterator

from .base import GeneratorError


class OpenAIGenerator:
    """``POST {base_url}/chat/completions`` with ``stream: true``; works with ollama, llama-server, vLLM."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float, max_tokens: int,
                 temperature: float):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"{model or 'default'} @ {base_url}"
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature

    def stream(self, messages: list[dict]) -> Iterator[str]:
        import httpx

        body = {"model": self.model, "messages": messages, "stream": True, "max_tokens": self.max_tokens,
                "temperature": self.temperature}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            with httpx.stream("POST", self.url, json=body, headers=headers, timeout=self.timeout) as r:
                if r.status_code != 200:
                    r.read()
                    raise GeneratorError(f"LLM 服务返回错误 {r.status_code} (the LLM endpoint {self.url} answered "
                                         f"{r.status_code}: {r.text[:200]})")
                yield from _pieces(r)
        except httpx.TimeoutException:
            raise GeneratorError(f"LLM 服务超时（{self.timeout:.0f} 秒）(the LLM endpoint {self.url} timed out; "
                                 f"raise llm_timeout or use a smaller model)") from None
        except httpx.HTTPError as e:
            raise GeneratorError(f"无法连接 LLM 服务 (cannot reach the LLM endpoint {self.url}: {e}; "
                                 f"is the server running? check llm_url)") from None


def _pieces(response) -> Iterator[str]:
    """The content deltas of a streamed reply; a server that ignores ``stream`` sends one JSON body."""
    if "text/event-stream" not in response.headers.get("content-type", ""):
        data = json.loads(response.read() or b"{}")
        content = (data.get("choices") or [{}])[0].get("message", {}).get("content") or ""
        if content:
            yield content
        return
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            delta = (json.loads(payload).get("choices") or [{}])[0].get("delta", {}).get("content")
        except ValueError:
            raise GeneratorError(f"LLM 服务返回了无法解析的数据 (malformed stream data: {payload[:100]!r})") from None
        if delta:
            yield delta
