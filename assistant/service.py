"""The query service: the one object the web UI, the API endpoints and the CLI call.

It owns the settings, the embedder and the current index (behind a ``Searcher``), and
offers search, similar, a chat turn (follow-up rewrite included), corpus changes (which
build a new index and swap it in) and the views the UI needs. It returns the named result
types; turning errors into messages is the caller's job (CLI, web).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .answer import ExtractiveAnswerer, GeneratorError, LLMAnswerer, open_generator
from .answer.llm import Draft
from .conversation import rewrite_followup
from .corpus import ChangeReport, add_files, remove_files
from .embed import Embedder, load_embedder
from .errors import IndexBusy, QueryError, shown
from .index import Index
from .readers import SUPPORTED_SUFFIXES
from .search import Filters, Searcher, check_text
from .settings import Settings
from .types import Answer, AnswerKind, LLMBackend, Mode, Passage, SearchResult

log = logging.getLogger(__name__)

MAX_K = 20
"""Largest top-k the UI and the API accept (above ``top_k`` when that is set higher)."""


@dataclass
class Reply:
    """One search as a caller shows it: the result, the words to highlight, and the index
    it came from (context views must read the same index even if a new one was swapped in)."""

    question: str
    """What the user typed; ``result.query`` is what was searched (a follow-up is rewritten)."""
    result: SearchResult
    terms: list[str]
    index: Index
    seconds: float
    answer: Answer | None = None
    """The answer above the cards (None while an LLM answer streams, or when retrieval abstained)."""
    draft: str = ""
    """The generated text so far, while an LLM answer streams."""
    answer_kind: AnswerKind = AnswerKind.EXTRACTIVE
    """The kind of answer being made for this reply."""

LLM_HINT = ("未配置模型生成：在 assistant.toml 中设置 llm_backend（openai 或 llama），"
            "或运行 pip install -r requirements-llm.txt 与 python -m assistant llm setup --model 0.5b "
            "(no LLM is configured: set llm_backend, see README)")


class QueryService:
    """Search, similar and corpus changes over one swappable index (thread-safe)."""

    def __init__(self, settings: Settings, embedder: Embedder, index: Index):
        self.settings = settings
        self.embedder = embedder
        self._searcher = Searcher(index, embedder, settings)
        self._lock = threading.Lock()
        self.writing = threading.Lock()
        """Held for the whole of a corpus change: one at a time."""
        self._generator = None
        self._generator_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._unloadable: str | None = None

    @classmethod
    def open(cls, settings: Settings, progress: bool = True) -> "QueryService":
        """Load the embedder and the current index. Reading never builds: a missing or
        mismatched index is an error that says how to build it (``python -m assistant build``);
        a corpus changed by hand is served as indexed, with ``notice`` saying so."""
        from .corpus import recover
        from .index import load

        t = time.perf_counter()
        recover(settings, wait=False)  # a change a killed process left half done: moves, never a build
        embedder = load_embedder(settings, progress=progress)
        log.info("embedder %r ready (%.1fs)", settings.index.model, time.perf_counter() - t)
        index = load(settings, embedder)
        counts = index.manifest.get("counts", {})
        log.info("index ready: %s speeches, %s passages (%.1fs)", counts.get("documents"), counts.get("passages"),
                 time.perf_counter() - t)
        return cls(settings, embedder, index)

    @classmethod
    def prepared(cls, settings: Settings, progress: bool = True) -> "QueryService":
        """Build the index when it is missing or stale, then open it: for scripts and tests
        (a write; the CLI's reads and the app only ``open``)."""
        from .build import ensure

        ensure(settings, load_embedder(settings, progress=progress), progress=progress)
        return cls.open(settings, progress=progress)

    @property
    def notice(self) -> str | None:
        """Why the current index may not show the corpus folder as it is now (None when it does)."""
        from .index import corpus_drift

        why = corpus_drift(self.index.manifest, self.settings)
        return None if why is None else (f"语料文件夹已变更（{why}），当前索引未包含这些变化；"
                                         f"运行 python -m assistant build 更新索引 "
                                         f"(the corpus folder changed since the index was built; run: python -m assistant build)")

    # --- the current index ------------------------------------------------------------
    @property
    def searcher(self) -> Searcher:
        """The current searcher; take it once per request so one request sees one index."""
        with self._lock:
            return self._searcher

    @property
    def index(self) -> Index:
        return self.searcher.index

    def swap(self, index: Index) -> None:
        """Serve ``index`` from now on; requests already running finish on the old one."""
        searcher = Searcher(index, self.embedder, self.settings)
        with self._lock:
            self._searcher = searcher
        log.info("serving index %s (%d passages)", index.version, len(index))

    def reload(self) -> bool:
        """Swap to the build another process made current, if it is not the one served
        (True when swapped). A build that fails to load is logged and skipped: the served
        index stays until a newer one is made current."""
        from .errors import AssistantError
        from .index import current_build, load

        target = current_build(self.settings)
        if target in (None, self.index.version, self._unloadable):
            return False
        if not self.writing.acquire(blocking=False):
            return False  # a change in this process is running: it swaps in its own build
        try:
            index = load(self.settings, self.embedder)
        except AssistantError as e:
            log.error("not serving the new index %s: %s", target, e)
            self._unloadable = target
            return False
        finally:
            self.writing.release()
        self.swap(index)
        return True

    def watch(self, interval: float | None = None) -> None:
        """Check every ``interval`` seconds (setting ``reload_seconds``) for an index another
        process made current and swap to it, on a daemon thread; 0 turns it off."""
        interval = self.settings.web.reload_seconds if interval is None else interval
        if interval <= 0 or self._watcher is not None:
            return

        def loop():
            while True:
                time.sleep(interval)
                try:
                    self.reload()
                except Exception:  # the watcher must outlive any one bad build
                    log.exception("index reload failed")

        self._watcher = threading.Thread(target=loop, name="index-watch", daemon=True)
        self._watcher.start()

    # --- queries ------------------------------------------------------------------------
    def search(self, text: str, k=None, mode=None, filters: Filters | None = None) -> SearchResult:
        """The passages that answer ``text`` (k and mode as given by a user: validated here)."""
        return self.searcher.search(text, k=self.parse_k(k), mode=parse_mode(mode), filters=filters)

    def similar(self, text: str, k=None, mode=None, filters: Filters | None = None,
                exclude_ids: list[str] | None = None) -> SearchResult:
        """Paragraphs that say the same as ``text``."""
        return self.searcher.similar(text, k=self.parse_k(k), mode=parse_mode(mode), filters=filters,
                                     exclude_ids=exclude_ids)

    def ask(self, question: str, previous: str | None = None, k=None, mode=None,
            filters: Filters | None = None, answer: AnswerKind | str | None = None) -> Reply:
        """A chat turn, answered: the search (a follow-up is rewritten with the previous
        question's key terms first) and the answer above its cards."""
        *_, last = self.ask_stream(question, previous, k, mode, filters, answer)
        return last

    def ask_stream(self, question: str, previous: str | None = None, k=None, mode=None,
                   filters: Filters | None = None, answer: AnswerKind | str | None = None) -> Iterator[Reply]:
        """``ask`` step by step: the reply after the search, then (for an LLM answer) after
        each generated piece, then with the checked answer. Each yield is the same Reply."""
        s = self.searcher
        limit = self.settings.retrieval.max_query_chars
        # checked before the rewrite, which tokenizes both: a 100k-character text is refused, not tokenized
        question = check_text(question, "问题", limit)
        previous = None if previous is None or previous == "" else check_text(previous, "上一个问题", limit)
        query = rewrite_followup(question, previous, s.index.tokenizer)
        t = time.perf_counter()
        res = s.search(query, k=self.parse_k(k), mode=parse_mode(mode), filters=filters)
        took = time.perf_counter() - t
        log.info("search %r -> %d hits, abstained=%s, support=%s, %.0f ms",
                 res.query, len(res.hits), res.abstained, res.support, took * 1000)
        reply = Reply(question, res, s.index.tokenizer.content_terms(res.query), s.index, took,
                      answer_kind=self.answer_kind(answer))
        extractive = ExtractiveAnswerer(s.index, self.settings.answer)
        if res.abstained or not res.hits:
            yield reply
            return
        if reply.answer_kind == AnswerKind.EXTRACTIVE:
            reply.answer = extractive.answer(res)
            if reply.answer and self.answer_kind(answer, check=False) == AnswerKind.LLM:
                reply.answer.note = LLM_HINT  # an LLM answer was asked for, but none is configured
            yield reply
            return
        yield from self._generate(reply, extractive)

    def _generate(self, reply: Reply, extractive: ExtractiveAnswerer) -> Iterator[Reply]:
        yield reply
        draft = Draft()
        try:
            llm = LLMAnswerer(self.generator(), extractive, self.settings.answer)
            for _ in llm.stream(reply.result, draft):
                reply.draft = draft.text
                yield reply
            reply.answer = llm.finish(reply.result, draft)
        except GeneratorError as e:
            log.warning("generation failed: %s", e)
            reply.answer = extractive.answer(reply.result)
            if reply.answer is not None:
                reply.answer.note, reply.answer.raw = f"模型生成失败（{e}），改为显示摘录回答", draft.text
        reply.draft = ""
        yield reply

    def answer_kind(self, requested: AnswerKind | str | None = None, check: bool = True) -> AnswerKind:
        """The answer kind to make: the request, else the setting; extractive when no LLM is configured."""
        if requested is None or requested == "":
            kind = self.settings.answer.answer_kind
        else:
            try:
                kind = AnswerKind(requested.strip().lower())
            except (AttributeError, ValueError):  # not a string, or not a kind
                raise QueryError(f"回答方式只能是 extractive 或 llm，收到 {shown(requested)} "
                                 f"(answer must be extractive or llm)") from None
        if check and kind == AnswerKind.LLM and not self.llm_configured:
            return AnswerKind.EXTRACTIVE
        return kind

    def generator_name(self) -> str:
        """The configured LLM's name for display ("" when none or it cannot be created)."""
        try:
            gen = self.generator()
        except GeneratorError:
            return ""
        return gen.name if gen else ""

    @property
    def llm_configured(self) -> bool:
        return self.settings.llm.llm_backend != LLMBackend.NONE

    def generator(self):
        """The configured generator, created once and reused (a local model stays loaded)."""
        with self._generator_lock:
            if self._generator is None:
                llm = self.settings.llm
                if llm.llm_backend == LLMBackend.LLAMA and llm.llm_gguf is None:
                    from .answer.models import current

                    llm = self.settings.replace(llm_gguf=current(self.settings.index.index_dir)).llm
                self._generator = open_generator(llm)
            return self._generator

    def similar_reply(self, text: str, k=None, mode=None, filters: Filters | None = None,
                      exclude_ids: list[str] | None = None) -> Reply:
        """``similar`` with what the UI needs to show it."""
        s = self.searcher
        t = time.perf_counter()
        res = s.similar(text, k=self.parse_k(k), mode=parse_mode(mode), filters=filters, exclude_ids=exclude_ids)
        took = time.perf_counter() - t
        log.info("similar (%d chars) -> %d hits, %.0f ms", len(res.query), len(res.hits), took * 1000)
        return Reply(text, res, s.index.tokenizer.content_terms(res.query), s.index, took)

    def passage(self, passage_id: str) -> Passage:
        """A passage of the current index by id; QueryError when the index no longer has it."""
        index = self.index
        i = index.position(passage_id or "")
        if i is None:
            raise QueryError("这条结果已不在当前索引中（语料已更新），请重新检索 "
                             "(the passage is no longer in the index; search again)")
        return index.passages[i]

    def parse_k(self, k) -> int:
        """A user's top-k (an int, a whole float or their text; empty = the ``top_k`` setting),
        checked against the range."""
        return parse_k(k, self.settings.retrieval.top_k)

    # --- the corpus --------------------------------------------------------------------
    def documents(self) -> list[dict]:
        """One row per indexed speech (see ``Index.documents``)."""
        return self.index.documents()

    def check_uploads(self, paths) -> tuple[list[Path], list[str]]:
        """(files to add, refusals "name：reason") by type and size, before anything is read."""
        ok, refused = [], []
        max_mb = self.settings.index.max_file_mb
        for raw in paths or ():
            # a path (gr.File type="filepath"), or a file object with its path in .name
            p = Path(raw if isinstance(raw, (str, os.PathLike)) else getattr(raw, "name", ""))
            if p.suffix.lower() not in SUPPORTED_SUFFIXES or not p.suffix:
                refused.append(f"{p.name}：不支持的文件类型 {p.suffix or '（无扩展名）'}，"
                               f"只接受 {' '.join(SUPPORTED_SUFFIXES)}")
                continue
            try:
                size = p.stat().st_size
            except OSError:
                refused.append(f"{p.name}：上传的文件不存在或无法读取，请重新上传")
                continue
            if size > max_mb * 1024 * 1024:
                refused.append(f"{p.name}：文件过大（{size / 1024 / 1024:.1f} MB），单个文件不能超过 {max_mb} MB")
                continue
            ok.append(p)
        return ok, refused

    def add_files(self, paths, progress: bool = False) -> ChangeReport:
        """Add files to the corpus, rebuild, and swap the new index in."""
        return self._change(add_files, paths, progress)

    def remove_files(self, names, progress: bool = False) -> ChangeReport:
        """Remove corpus files, rebuild, and swap the new index in."""
        return self._change(remove_files, names, progress)

    def _change(self, fn, items, progress: bool) -> ChangeReport:
        if not self.writing.acquire(timeout=1):
            raise IndexBusy("索引正忙：另一个上传或删除正在进行，请稍后再试 "
                            "(another change of the corpus is running; try again when it finishes)")
        try:
            report = fn(self.settings, self.embedder, [str(p) for p in items], progress=progress)
            if report.index is not None:
                self.swap(report.index)
        finally:
            self.writing.release()
        log.info("%s: changed %s, skipped %s (%.1fs)", fn.__name__, report.changed, report.skipped, report.seconds)
        return report


def parse_k(k, top_k: int) -> int:
    """A user's top-k (an int, a whole float or their text; empty = ``top_k``), between 1 and
    ``max(MAX_K, top_k)``; QueryError otherwise. Needs no index (the CLI checks before loading)."""
    if k is None or (isinstance(k, str) and not k.strip()):
        return top_k
    top = max(MAX_K, top_k)
    value = k if isinstance(k, int) and not isinstance(k, bool) else _whole_number(k)
    if value is None:
        raise QueryError(f"k 必须是整数，收到 {shown(k)} (k must be a whole number between 1 and {top})")
    if not 1 <= value <= top:
        raise QueryError(f"k 必须在 1 到 {top} 之间，收到 {shown(k)} (k must be between 1 and {top})")
    return value


def _whole_number(k) -> int | None:
    """A float or a string that is a whole number (not NaN, not infinite), else None."""
    if isinstance(k, bool) or not isinstance(k, (float, str)):
        return None
    try:
        f = float(k)
    except (ValueError, OverflowError):
        return None
    return int(f) if f.is_integer() else None


def parse_mode(mode) -> Mode | None:
    """A user's mode name (empty = the setting); QueryError for an unknown one or a non-string."""
    if mode is None or (isinstance(mode, str) and not mode.strip()):
        return None
    try:
        return Mode(mode.strip().lower())
    except (AttributeError, ValueError):
        raise QueryError(f"检索模式只能是 {'、'.join(m.value for m in Mode)}，收到 {shown(mode)} "
                         f"(mode must be one of {', '.join(m.value for m in Mode)})") from None
