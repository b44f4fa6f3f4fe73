"""The searcher: validates a query, embeds it, and runs it through the stages.

    DenseRetriever + LexicalRetriever → Fuse → AbstentionJudge → AnswerTypeJudge → TemplateFolder
    → SearchResult

Each stage is a callable over one ``QueryState`` (``assistant.search.state``). A new stage
— a reranker after ``Fuse``, an answerability judge beside ``AbstentionJudge``, another
fusion — is one class with ``__call__(state)`` and one line in ``Searcher.stages``.
"""
from __future__ import annotations

import logging
import re
import time

import numpy as np

from ..embed import Embedder
from ..errors import QueryError, shown
from ..index import Index
from ..settings import Settings
from ..system import single_threaded_blas
from ..text import squash
from ..tokenize import to_simplified
from ..types import Mode, Outcome, SearchResult
from .filters import NO_MATCH, Filters, filter_mask
from .fold import TemplateFolder
from .fuse import Fuse
from .answer_type import AnswerTypeJudge
from .judge import AbstentionJudge
from .retrieve import DenseRetriever, LexicalRetriever
from .state import QueryState, Stage

log = logging.getLogger(__name__)

_WORDY = re.compile(r"[\w\u4e00-\u9fff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def check_text(text, what: str, limit: int) -> str:
    """A query or pasted paragraph (``what``: 问题, 段落, 上一个问题) as typed, checked: text (a
    number is taken as text), not blank, at most ``limit`` characters, with something to
    search for. Lone surrogates are dropped and control characters become spaces (neither
    can be embedded, shown or sent as JSON). Needs no index: a CLI checks before loading one."""
    en = {"问题": "query", "段落": "paragraph", "上一个问题": "previous question"}.get(what, "text")
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(text)
    elif text is not None and not isinstance(text, str):
        raise QueryError(f"{what}应为文字，收到的是 {type(text).__name__} (the {en} must be a string)")
    text = _CONTROL.sub(" ", _SURROGATE.sub("", text or "")).strip()
    if not text:
        raise QueryError(f"{what}为空：请输入要检索的内容 (the {en} is empty)")
    if len(text) > limit:
        raise QueryError(f"{what}过长（{len(text)} 字），请缩短到 {limit} 字以内 "
                         f"(the {en} is longer than {limit} characters; setting max_query_chars)")
    if not _WORDY.search(text):
        raise QueryError(f"{what}只含标点或符号，没有可检索的文字 (the {en} has no words to search for)")
    return text


def no_match(text: str, mode: Mode) -> SearchResult:
    """The result of a query whose filters match no passage."""
    return SearchResult(query=text, hits=[], mode=mode, outcome=Outcome.NO_MATCH, reason=NO_MATCH)


def exclude_from(mask: np.ndarray | None, n: int, exclude: set[int]) -> np.ndarray | None:
    """``mask`` (None: all of ``n`` passages) without the passages ``exclude`` names."""
    if not exclude:
        return mask
    mask = np.ones(n, bool) if mask is None else mask.copy()
    mask[np.fromiter(exclude, np.int64)] = False
    return mask


class Searcher:
    """Search and similar-paragraph lookup over one loaded index (read-only, shareable)."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings):
        single_threaded_blas()
        self.index = index
        self.embedder = embedder
        self.settings = settings
        r = settings.retrieval
        self.stages: list[Stage] = [
            DenseRetriever(index, r.candidates),
            LexicalRetriever(index, r.candidates),
            Fuse(index, r),
            AbstentionJudge(index, settings.abstention, embedder.embed_queries,
                            reuse_query=getattr(embedder, "batch_invariant", False)),
            AnswerTypeJudge(index, settings.abstention),
            TemplateFolder(index, r.dedupe),
        ]

    # --- public ---------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> SearchResult:
        """The passages that answer ``query``, best first, an abstention, or (``Outcome.NO_MATCH``)
        the news that the filters match no speech."""
        q = self.clean(query, "问题")
        k, mode = self._k_mode(k, mode)
        mask = filter_mask(self.index, filters)
        if mask is not None and not mask.any():
            return no_match(q, mode)  # nothing to search: no embedding, no statistics over zero passages
        t = time.perf_counter()
        vector = self.embedder.embed_queries([q])[0]
        state = QueryState(text=q, vector=vector, k=k, mode=mode, timings={"embed": time.perf_counter() - t},
                           bm25_weight=self.settings.retrieval.bm25_weight,
                           abstain=self.settings.abstention.enabled, mask=mask)
        return self.run(state)

    def similar(self, text: str, k: int | None = None, mode: str | None = None,
                filters: Filters | None = None, exclude_ids: list[str] | None = None) -> SearchResult:
        """Passages that say the same as ``text``, excluding ``text`` itself when it is from the corpus.

        ``exclude_ids`` names the query's own passages when the caller knows them (the app's
        相似段落 action); otherwise they are found by text."""
        t = self.clean(text, "段落")
        k, mode = self._k_mode(k, mode)
        allowed = filter_mask(self.index, filters)
        if allowed is not None and not allowed.any():
            return no_match(t, mode)
        t0 = time.perf_counter()
        vector = self.embedder.embed_lookup([t])[0]
        if exclude_ids is not None:
            exclude = {self.index.position(i) for i in exclude_ids} - {None}
        else:
            exclude = self._self_matches(t, vector)
        state = QueryState(text=t, vector=vector, k=k, mode=mode, timings={"embed": time.perf_counter() - t0},
                           bm25_weight=self.settings.retrieval.similar_bm25_weight, abstain=False,
                           mask=exclude_from(allowed, len(self.index), exclude))
        return self.run(state)

    def run(self, state: QueryState) -> SearchResult:
        """Run the stages over ``state``; an abstaining verdict ends the query without hits."""
        start, limit = time.perf_counter(), self.settings.web.request_timeout
        for stage in self.stages:
            t = time.perf_counter()
            stage(state)
            name = type(stage).__name__
            state.timings[name] = state.timings.get(name, 0.0) + time.perf_counter() - t
            if state.verdict is not None and state.verdict.abstained:
                break
            if time.perf_counter() - start > limit:  # each stage is bounded; a stuck machine is not
                raise QueryError(f"检索超时（超过 {limit:g} 秒），请稍后再试或缩短问题 "
                                 f"(the search took over {limit:g} s: setting request_timeout)")
        v = state.verdict
        return SearchResult(query=state.text, hits=[] if v and v.abstained else state.hits,
                            abstained=bool(v and v.abstained), reason=v.reason if v else "",
                            support=v.support if v else None, mode=state.mode,
                            evidence=v.evidence if v else {}, vector=state.vector, timings=state.timings,
                            index_version=self.index.version)

    # --- validation -----------------------------------------------------------------
    def clean(self, text: str, what: str) -> str:
        """Validate a query or pasted paragraph (``what``: 问题 or 段落); the text to search with."""
        return to_simplified(check_text(text, what, self.settings.retrieval.max_query_chars))

    def _k_mode(self, k, mode) -> tuple[int, Mode]:
        k = k or self.settings.retrieval.top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise QueryError(f"k 必须是至少为 1 的整数，收到 {shown(k)} (k must be a whole number of at least 1)")
        try:
            return k, Mode(mode or self.settings.retrieval.mode)
        except ValueError:
            raise QueryError(f"检索模式只能是 dense、bm25 或 hybrid，收到 {shown(mode)} "
                             f"(unknown mode: use dense, bm25 or hybrid)") from None

    def _self_matches(self, text: str, vector) -> set[int]:
        """The passages the pasted text was taken from: passages it contains or that contain it.

        Candidates are the passages holding it verbatim (the phrase index) and its nearest
        passages by either ranker (a passage it contains is among them); only those are
        compared. When the same wording occurs in several speeches (a template), only the
        first speech's copy counts as the query itself; the other copies are exactly what
        the user looks for."""
        sq = squash(text)
        if len(sq) < 8:
            return set()
        ix = self.index
        cands = set(ix.phrase_index().containing(text))
        cands.update(ix.lexical.search(ix.tokenizer(text), 50, text=text).row(0).tolist())
        cands.update(ix.dense.search(vector.reshape(1, -1), 50).row(0).tolist())
        hits = sorted(i for i in cands if len(s := squash(ix.passages[i].text)) >= 8 and (s in sq or sq in s))
        if not hits:
            return set()
        first_doc = ix.passages[hits[0]].doc_id
        return {i for i in hits if ix.passages[i].doc_id == first_doc}
