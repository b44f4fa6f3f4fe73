"""Answers above the cards: extractive by default, LLM-written when configured, always checked.

    extractive.py  ExtractiveAnswerer: the best sentences of the top passages, verbatim, cited [n]
    prompt.py      the numbered-passages prompt for an LLM
    generate/      Generator protocol; OpenAI-compatible endpoint and llama-cpp-python backends
    check.py       the citation check: markers, support, verbatim quotes
    llm.py         LLMAnswerer: stream a generated answer, check it, fall back to the extractive one
"""
from .check import NO_INFO, check
from .extractive import ExtractiveAnswerer
from .generate import Generator, GeneratorError, open_generator
from .llm import LLMAnswerer

__all__ = ["NO_INFO", "check", "ExtractiveAnswerer", "Generator", "GeneratorError", "open_generator", "LLMAnswerer"]
