"""LLM answers: the prompt goes to the generator, the reply streams out, and only a reply
that passes the citation check is shown as the answer; otherwise the extractive one is."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

from ..settings import AnswerSettings
from ..types import Answer, AnswerKind, SearchResult
from .check import check, says_no_info
from .extractive import ExtractiveAnswerer
from .generate import Generator
from .prompt import messages


@dataclass
class Draft:
    """A generated answer while it streams: the text so far and its timings."""

    text: str = ""
    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None


class LLMAnswerer:
    """Streams a generator's answer over the top cards and checks it when it is complete."""

    def __init__(self, generator: Generator, extractive: ExtractiveAnswerer, settings: AnswerSettings):
        self.generator = generator
        self.extractive = extractive
        self.settings = settings

    def stream(self, result: SearchResult, draft: Draft) -> Iterator[str]:
        """Feed ``draft`` with the generator's pieces (yielding each); raises GeneratorError."""
        hits = result.hits[:self.settings.answer_passages]
        for piece in self.generator.stream(messages(result.query, hits)):
            if draft.first_token is None:
                draft.first_token = time.perf_counter() - draft.started
            draft.text += piece
            yield piece

    def finish(self, result: SearchResult, draft: Draft) -> Answer:
        """The checked answer for a complete ``draft``, or the extractive one with the reason."""
        hits = result.hits[:self.settings.answer_passages]
        sentences = check(draft.text, hits, self.settings.support_threshold)
        answer = Answer(kind=AnswerKind.LLM, sentences=sentences, model=self.generator.name, raw=draft.text,
                        seconds=time.perf_counter() - draft.started, first_token_seconds=draft.first_token)
        if sentences and all(says_no_info(s.text) for s in sentences):
            answer.no_answer = True
            answer.note = "模型认为所给段落不能回答这个问题（以下段落供参考）"
            return answer
        bad = sum(not s.supported for s in sentences)
        if not sentences or answer.supported_share < self.settings.fallback_share:
            why = (f"模型生成的回答中 {bad}/{len(sentences)} 句在所引段落中找不到依据" if sentences
                   else "模型没有给出回答")
            return self.fall_back(result, f"{why}，改为显示摘录回答", draft.text)
        return answer

    def fall_back(self, result: SearchResult, note: str, raw: str = "") -> Answer | None:
        """The extractive answer, noting why the generated one is not shown."""
        answer = self.extractive.answer(result)
        if answer is not None:
            answer.note, answer.raw, answer.model = note, raw, self.generator.name
        return answer
