"""Event handlers: plain functions of the query service and the components' values.

``layout`` binds them to the page with ``functools.partial(handler, service)``; tests call
them directly. Each takes what it needs from the service once, at its start, so a request
that overlaps an index swap is answered from one index. Errors become messages here (the
outer layer), never tracebacks.
"""
from __future__ import annotations

import logging
import re

import gradio as gr

from ..errors import AssistantError
from ..search import Filters
from ..service import QueryService
from ..types import AnswerKind
from . import render as R

log = logging.getLogger(__name__)

INTERNAL_ERROR = "内部错误，请稍后重试或查看服务器日志 (internal error; see the server log)"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SURROGATE = re.compile("[\ud800-\udfff]")


def corpus_editable(service: QueryService) -> bool:
    """Uploads and removals only where nobody else can reach them unauthenticated."""
    web = service.settings.web
    return web.host in LOOPBACK or bool(web.auth)


# --- the chat -----------------------------------------------------------------------------

def ask(service: QueryService, message, history, last_query, answer_kind, k, mode, sources, doc_ids, occasions,
        date_from, date_to):
    """A question from the chat box: yields (history, cleared box, last query) as the reply
    streams in: the header and the answer, the cards; a generated answer piece by piece."""
    history = list(history or [])
    message = message.strip() if isinstance(message, str) else ""
    if not message:
        yield history, "", last_query
        return
    history.append({"role": "user", "content": R.esc(message)})
    yield [*history, {"role": "assistant", "content": R.reply_html(R.PENDING, done=False)}], "", last_query
    try:
        filters = Filters.parse(sources, doc_ids, date_from, date_to, occasions)
        for html, query in _reply_steps(service, message, last_query, answer_kind, k, mode, filters):
            yield [*history, {"role": "assistant", "content": html}], "", query
        return
    except AssistantError as e:
        html = R.reply_html(R.render_error(str(e)))
    except Exception:
        log.exception("search failed for %r", message)
        html = R.reply_html(R.render_error(INTERNAL_ERROR))
    yield [*history, {"role": "assistant", "content": html}], "", last_query


def _reply_steps(service: QueryService, message, last_query, answer_kind, k, mode, filters):
    """(reply HTML, query) pairs as one chat reply streams."""
    steps = service.ask_stream(message, last_query, k=k, mode=mode, filters=filters, answer=answer_kind)
    reply = next(steps)
    res, head_args = reply.result, (reply.terms, reply.index, message, reply.seconds)
    if reply.answer_kind != AnswerKind.LLM or res.abstained or not res.hits:
        for html in R.stream_result(res, *head_args, answer=reply.answer):
            yield html, res.query
        return
    head = R.render_header(res, message, reply.seconds)
    cards = R.render_cards(res, reply.terms, reply.index)
    model = service.generator_name()
    yield R.reply_html(head + R.render_draft("", model) + cards, done=False), res.query
    for reply in steps:
        if reply.answer is None and reply.draft:
            yield R.reply_html(head + R.render_draft(reply.draft, model) + cards, done=False), res.query
    answer = R.render_answer(reply.answer) if reply.answer else ""
    yield R.reply_html(head + answer + cards), res.query


def ask_example(service: QueryService, evt: gr.SelectData, history, last_query, *opts):
    """A click on an example question."""
    value = evt.value
    text = value.get("text", "") if isinstance(value, dict) else str(value or "")
    yield from ask(service, text, history, last_query, *opts)


def clear():
    """新话题: an empty chat, no previous question."""
    return [], "", None


# --- similar paragraphs ----------------------------------------------------------------------

def find_similar(service: QueryService, text, k, mode, sources, doc_ids, occasions, date_from, date_to,
                 exclude_ids: list[str] | None = None) -> str:
    """The 相似段落 tab: paragraphs that say the same as ``text``, grouped by speech."""
    try:
        filters = Filters.parse(sources, doc_ids, date_from, date_to, occasions)
        reply = service.similar_reply(text, k=k, mode=mode, filters=filters, exclude_ids=exclude_ids)
        return R.render_similar(reply.result, reply.terms, reply.index)
    except AssistantError as e:
        return R.render_error(str(e))
    except Exception:
        log.exception("similar failed")
        return R.render_error(INTERNAL_ERROR)


def similar_to_hit(service: QueryService, passage_id, *opts):
    """A card's 相似段落 button: switch to the tab with that passage's text and its matches."""
    try:
        passage = service.passage(passage_id)
    except AssistantError as e:
        return gr.Tabs(selected="similar"), gr.update(), R.render_error(str(e))
    return gr.Tabs(selected="similar"), passage.text, find_similar(service, passage.text, *opts)


# --- the corpus tab --------------------------------------------------------------------------

def _keep(values, choices) -> list:
    allowed = {c[1] if isinstance(c, tuple) else c for c in choices}
    return [v for v in values or [] if v in allowed]


def corpus_view(service: QueryService, sources, doc_ids, occasions, removing):
    """Summary, table and filter choices of the current index (selections kept where still valid)."""
    index = service.index
    srcs, docs, occs = R.source_choices(index), R.doc_choices(index), R.occasion_choices(index)
    return (R.corpus_summary(index, service.notice), R.corpus_rows(index),
            gr.update(choices=srcs, value=_keep(sources, srcs)),
            gr.update(choices=docs, value=_keep(doc_ids, docs)),
            gr.update(choices=occs, value=_keep(occasions, occs)),
            gr.update(choices=srcs, value=_keep(removing, srcs)))


def upload(service: QueryService, files, sources, doc_ids, occasions, removing, progress=gr.Progress()):
    """加入语料: add the uploaded files, then refresh the corpus views."""
    status = change_corpus(service, "add", files, progress)
    return (status, *corpus_view(service, sources, doc_ids, occasions, removing), None)


def remove(service: QueryService, names, confirmed, sources, doc_ids, occasions, removing):
    """从语料中删除 (after the browser's confirm dialog)."""
    if names and not confirmed:
        status = '<div class="notice">已取消删除。</div>'
    else:
        status = change_corpus(service, "remove", names)
    return (status, *corpus_view(service, sources, doc_ids, occasions, []))


def change_corpus(service: QueryService, kind: str, items, progress=None) -> str:
    """Add (``kind="add"``: uploaded paths) or remove (``"remove"``: corpus file names) files
    through the service (which swaps the new index in); the outcome as HTML."""
    def step(frac, desc):
        if progress is not None:
            progress(frac, desc=desc)

    verb = "加入" if kind == "add" else "删除"
    if not corpus_editable(service):
        return R.render_error("此服务对外开放且未设置密码（settings.auth），语料编辑已关闭")
    items = list(items or [])
    if not items:
        return R.render_error("请先选择要上传的文件" if kind == "add" else "请先选择要删除的文件")
    refused: list[str] = []
    if kind == "add":
        step(0.05, "检查文件类型和大小")
        items, refused = service.check_uploads(items)
        if not items:
            return R.render_change(verb, [], refused)
    try:
        step(0.2, "解析文件并更新索引（只为新段落计算向量）……" if kind == "add" else "删除文件并更新索引……")
        report = service.add_files(items) if kind == "add" else service.remove_files(items)
    except AssistantError as e:  # IndexBusy included: its message says what to do
        return R.render_error(str(e))
    except Exception:
        log.exception("%s failed for %s", kind, items)
        return R.render_error(INTERNAL_ERROR)
    step(1.0, "完成")
    return R.render_change(verb, report.changed, refused + report.skipped, report.seconds)


# --- the API ----------------------------------------------------------------------------------

class Api:
    """The named endpoints ``/search`` and ``/similar`` (``SearchResult.to_dict()``, or a dict
    with an ``error`` message). Methods so that Gradio reads their signatures and docstrings;
    ``k`` and ``mode`` default to the settings."""

    def __init__(self, service: QueryService):
        self.service = service

    def search(self, query: str, k: int | None = None, mode: str | None = None, sources: str = "",
               doc_ids: str = "", date_from: str = "", date_to: str = "", occasions: str = "",
               places: str = "", speakers: str = "") -> dict:
        """Passages that answer ``query``: SearchResult.to_dict(), or a dict with an "error" field.
        sources / doc_ids / occasions / places / speakers are comma-separated; dates are YYYY-MM-DD."""
        return self._run("search", query, k, mode, sources, doc_ids, date_from, date_to, occasions, places,
                         speakers)

    def similar(self, text: str, k: int | None = None, mode: str | None = None, sources: str = "",
                doc_ids: str = "", date_from: str = "", date_to: str = "", occasions: str = "",
                places: str = "", speakers: str = "") -> dict:
        """Paragraphs that say the same as ``text`` (same shape as /search)."""
        return self._run("similar", text, k, mode, sources, doc_ids, date_from, date_to, occasions, places,
                         speakers)

    def ask(self, question: str, k: int | None = None, mode: str | None = None, answer: str | None = None,
            previous: str = "", sources: str = "", doc_ids: str = "", date_from: str = "", date_to: str = "",
            occasions: str = "", places: str = "", speakers: str = "") -> dict:
        """The answer to ``question`` and its evidence: /search's fields plus "answer" (text with [n],
        its sentences with passage ids and support flags; null when the search abstained).
        ``answer`` is "extractive" or "llm" (default: the setting); ``previous`` is the question
        before, for follow-ups."""
        try:
            filters = Filters.parse(sources, doc_ids, date_from, date_to, occasions, places, speakers)
            reply = self.service.ask(question, previous, k=k, mode=mode, filters=filters, answer=answer)
            return {**reply.result.to_dict(), "answer": reply.answer.to_dict() if reply.answer else None}
        except AssistantError as e:
            return {**_error_dict(question, mode, str(e)), "answer": None}
        except Exception:
            log.exception("ask failed for %r", question)
            return {**_error_dict(question, mode, INTERNAL_ERROR), "answer": None}

    def _run(self, kind: str, text, k, mode, *filter_values) -> dict:
        try:  # the service checks every argument's type and value: a QueryError says which is wrong
            fn = self.service.search if kind == "search" else self.service.similar
            return fn(text, k=k, mode=mode, filters=Filters.parse(*filter_values)).to_dict()
        except AssistantError as e:
            return _error_dict(text, mode, str(e))
        except Exception:
            log.exception("%s failed for %r", kind, text)
            return _error_dict(text, mode, INTERNAL_ERROR)


ECHOED_CHARS = 200
"""An error answer repeats at most this much of the query (it may be 100k characters)."""


def _error_dict(query, mode, message: str) -> dict:
    """The answer to a refused request: /search's fields, empty, and the message. The query and the
    mode are echoed only as what they should have been (text, cut short, valid UTF-8)."""
    def echo(v):
        return _SURROGATE.sub("\ufffd", v[:ECHOED_CHARS]) if isinstance(v, str) else None

    return {"query": echo(query), "mode": echo(mode), "outcome": "error", "abstained": False, "reason": "",
            "support": None, "evidence": {}, "hits": [], "index_version": None, "error": message}
