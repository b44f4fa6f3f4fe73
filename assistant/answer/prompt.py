"""The prompt: numbered passages with their citations, and the rules the answer must keep."""
from __future__ import annotations

from ..types import Hit
from .check import NO_INFO

SYSTEM = (
    "你是政府讲话稿检索助手。只能根据用户给出的编号资料回答问题，不要使用资料以外的知识。"
    "用中文简洁作答，每句话末尾用方括号标注所依据资料的编号，例如[1]或[2]。"
    "引用原文时必须与资料一字不差。"
    f"如果资料不能回答这个问题，只回答：{NO_INFO}。"
)


def messages(question: str, hits: list[Hit], limit_chars: int = 700) -> list[dict]:
    """Chat messages asking ``question`` over ``hits`` (each passage cut to ``limit_chars``)."""
    blocks = []
    for n, h in enumerate(hits, start=1):
        text = h.passage.text if len(h.passage.text) <= limit_chars else h.passage.text[:limit_chars] + "……"
        blocks.append(f"[{n}] 出处：{h.citation.detailed()}\n{text}")
    user = "资料：\n" + "\n\n".join(blocks) + f"\n\n问题：{question}\n请根据资料回答，每句话后标注资料编号。"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
