"""Query -> cited passages: dense (FAISS) + BM25 (jieba), fused, deduplicated, or an abstention."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from .abstain import absent_terms, collect, coverage, focus, idf_weights, support as support_score, thresholds
from .embed import Embedder
from .errors import QueryError
from .index import Index
from .settings import Settings
from .tokenize import to_simplified
from .types import Hit, SearchResult

log = logging.getLogger(__name__)

NO_ANSWER = "语料中没有找到与此问题直接相关的内容"
_WORDY = re.compile(r"[\w\u4e00-\u9fff]")


@dataclass
class Filters:
    """Restrict results to some speeches; empty fields do not filter."""

    sources: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None
    """Date bounds (YYYY-MM-DD). Speeches without a known date are excluded when a bound is set."""
    occasions: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)

    def active(self) -> bool:
        return bool(self.sources or self.doc_ids or self.date_from or self.date_to or self.occasions
                    or self.places or self.speakers)

    def allows(self, p) -> bool:
        c = p.citation
        if self.sources and c.source not in self.sources:
            return False
        if self.doc_ids and p.doc_id not in self.doc_ids:
            return False
        if self.date_from and (not c.date or c.date < self.date_from):
            return False
        if self.date_to and (not c.date or c.date > self.date_to):
            return False
        if self.occasions and c.occasion not in self.occasions:
            return False
        if self.places and c.place not in self.places:
            return False
        if self.speakers and c.speaker not in self.speakers:
            return False
        return True


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _bare(text: str) -> str:
    """Letters, digits and Han characters only (figures keep their decimal point and %)."""
    return re.sub(r"[^\w\u4e00-\u9fff.%％]|_", "", text).lower()


class Searcher:
    """Search and similar-paragraph lookup over one loaded index."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._squashed = [_squash(p.text) for p in index.passages]
        self._bare = [_bare(p.text) for p in index.passages]
        self._tau_z, self._tau_top = thresholds(index.manifest.get("calibration", {}),
                                                settings.abstain_null_quantile, settings.abstain_domain_quantile)

    # --- validation -----------------------------------------------------------------
    def _clean(self, text: str, what: str) -> str:
        """Validate a query or pasted paragraph; ``what`` is 问题 or 段落."""
        en = {"问题": "query", "段落": "paragraph"}.get(what, "text")
        if text is None or not str(text).strip():
            raise QueryError(f"{what}为空：请输入要检索的内容 (the {en} is empty)")
        text = str(text).strip()
        if len(text) > self.settings.max_query_chars:
            raise QueryError(f"{what}过长（{len(text)} 字），请缩短到 {self.settings.max_query_chars} 字以内 "
                             f"(the {en} is longer than {self.settings.max_query_chars} characters)")
        if not _WORDY.search(text):
            raise QueryError(f"{what}只含标点或符号，没有可检索的文字 (the {en} has no words to search for)")
        return to_simplified(text)

    # --- rankers --------------------------------------------------------------------
    def _mask(self, filters: Filters | None, exclude: set[int]) -> np.ndarray | None:
        if not (filters and filters.active()) and not exclude:
            return None
        allowed = np.array([(not filters or filters.allows(p)) and i not in exclude
                            for i, p in enumerate(self.index.passages)])
        return allowed

    def _faiss_top(self, fx, qvec: np.ndarray, n: int, allowed_ids: np.ndarray | None) -> np.ndarray:
        """Top-n row ids of a FAISS index (restricted to ``allowed_ids`` when given)."""
        import faiss

        if fx is None or not fx.ntotal or (allowed_ids is not None and not len(allowed_ids)):
            return np.zeros(0, np.int64)
        params = None
        if allowed_ids is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed_ids.astype(np.int64)))
            n = min(n, len(allowed_ids))
        _, idx = fx.search(qvec.reshape(1, -1).astype(np.float32), min(n, fx.ntotal), params=params)
        return idx[0][idx[0] >= 0]

    def _dense(self, qvec: np.ndarray, dense_all: np.ndarray, n: int, mask: np.ndarray | None) -> np.ndarray:
        """The dense ranker's top-n passages: candidates from FAISS over passage vectors and
        over sentence vectors, ordered by the mixed score ``dense_all``."""
        ix = self.index
        allowed = None if mask is None else np.flatnonzero(mask)
        cands = set(self._faiss_top(ix.faiss, qvec, n, allowed).tolist())
        if ix.sentence_weight and len(ix.sentence_owner):
            owner = ix.sentence_owner
            s_allowed = None if mask is None else np.flatnonzero(mask[owner])
            cands.update(owner[self._faiss_top(ix.sentence_faiss, qvec, n, s_allowed)].tolist())
        order = sorted(cands, key=lambda i: -dense_all[i])[:n]
        return np.array(order, dtype=np.int64)

    def _bm25(self, tokens: list[str], mask: np.ndarray | None) -> np.ndarray:
        vocab = self.index.bm25.vocab_dict
        toks = [t for t in tokens if t in vocab]
        if not toks:
            return np.zeros(len(self.index), dtype=np.float32)
        scores = np.asarray(self.index.bm25.get_scores(toks), dtype=np.float32)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        return scores

    def _lexical_match(self, idf: dict[str, float], b_order) -> float:
        """Share of the query's IDF-weighted words that BM25's best passage contains: how far
        the lexical ranker's evidence deserves trust for this query. A paraphrased question
        ("乡里的人大该配几个专门干事") shares few words with its answer, so BM25's top hits are
        noise there; an exact term or figure is matched in full."""
        if not len(b_order):
            return 0.0
        top = self.index.passages[int(b_order[0])]
        return coverage(idf, [top.context + top.text])

    def _zfuse(self, dense_all, bm, d_idx, b_order, mask, bm25_weight: float) -> dict[int, float]:
        """Weighted sum of each ranker's score standardized against this query's own score
        distribution over the corpus (its null distribution), over both rankers' candidates."""
        keep = np.ones(len(dense_all), bool) if mask is None else mask
        d_mu, d_sd = float(dense_all[keep].mean()), float(dense_all[keep].std()) or 1e-6
        pos = bm[keep][bm[keep] > 0]
        b_mu, b_sd = (float(pos.mean()), float(pos.std()) or 1.0) if len(pos) > 1 else (0.0, 1.0)
        out = {}
        for i in set(int(x) for x in d_idx) | set(int(x) for x in b_order):
            zd = (dense_all[i] - d_mu) / d_sd
            zb = (bm[i] - b_mu) / b_sd if bm[i] > 0 else 0.0
            out[i] = float(self.settings.dense_weight * zd + bm25_weight * max(zb, 0.0))
        return out

    def _phrase_matches(self, q: str, mask) -> list[int]:
        """Passages containing the whole query verbatim (punctuation and quotes ignored):
        the user typed an exact term or figure."""
        bare = _bare(q)
        if not 2 <= len(bare) <= 24:
            return []
        return [i for i, t in enumerate(self._bare) if bare in t and (mask is None or mask[i])]

    # --- public ---------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> SearchResult:
        """The passages that answer ``query``, best first, or an abstention."""
        q = self._clean(query, "问题")
        qvec = self.embedder.embed_queries([q])[0]
        return self._run(q, qvec, k, mode, filters, exclude=set(), abstain=self.settings.abstain,
                         bm25_weight=self.settings.bm25_weight)

    def similar(self, text: str, k: int | None = None, mode: str | None = None,
                filters: Filters | None = None, exclude_ids: list[str] | None = None) -> SearchResult:
        """Passages that say the same as ``text``, excluding ``text`` itself when it is from the corpus.

        ``exclude_ids`` names the query's own passages when the caller knows them (the app's
        相似段落 action); otherwise they are found by text."""
        t = self._clean(text, "段落")
        if exclude_ids is not None:
            exclude = {self.index.by_id[i] for i in exclude_ids if i in self.index.by_id}
        else:
            exclude = self._self_matches(t)
        qvec = self.embedder.embed_passages([t])[0]
        return self._run(t, qvec, k, mode, filters, exclude=exclude, abstain=False,
                         bm25_weight=self.settings.similar_bm25_weight)

    def _self_matches(self, text: str) -> set[int]:
        """The passages the pasted text was taken from: passages it contains or that contain it.

        When the same wording occurs in several speeches (a template), only the first speech's
        copy counts as the query itself; the other copies are exactly what the user looks for."""
        sq = _squash(text)
        if len(sq) < 8:
            return set()
        hits = [i for i, s in enumerate(self._squashed) if len(s) >= 8 and (s in sq or sq in s)]
        if not hits:
            return set()
        first_doc = self.index.passages[hits[0]].doc_id
        return {i for i in hits if self.index.passages[i].doc_id == first_doc}

    def _fuse(self, q: str, idf: dict, mode: str, dense_all, bm, d_idx, b_order, mask,
              bm25_weight: float) -> dict[int, float]:
        """Candidate -> score for the mode (dense cosine, BM25, or the fused hybrid score)."""
        if mode == "dense":
            return {int(i): float(dense_all[i]) for i in d_idx}
        if mode == "bm25":
            fused = {int(i): float(bm[i]) for i in b_order}
        elif self.settings.fusion == "rrf":
            fused, rk = {}, self.settings.rrf_k
            for r, i in enumerate(d_idx):
                fused[int(i)] = fused.get(int(i), 0.0) + self.settings.dense_weight / (rk + r + 1)
            for r, i in enumerate(b_order):
                fused[int(i)] = fused.get(int(i), 0.0) + bm25_weight / (rk + r + 1)
        else:
            wb = bm25_weight
            if self.settings.fusion == "adaptive":
                wb *= self._lexical_match(idf, b_order)
            fused = self._zfuse(dense_all, bm, d_idx, b_order, mask, wb)
        matches = self._phrase_matches(q, mask) if self.settings.phrase_boost else []
        if matches:
            lo, hi = min(fused.values(), default=0.0), max(fused.values(), default=1.0)
            lift = self.settings.phrase_boost * ((hi - lo) or 1.0)
            for i in matches:
                fused[i] = fused.get(i, lo) + lift
        return fused

    def _fold_templates(self, ranked: list[int], fused: dict, k: int, dense_all, bm, mask) -> list[Hit]:
        """The top ``k`` hits, one per template group; the group's other members become
        ``duplicates`` ("另见 N 处"), also those outside the candidate list."""
        allowed = (lambda j: True) if mask is None else (lambda j: bool(mask[j]))
        hits: list[Hit] = []
        by_group: dict[int, Hit] = {}
        for i in ranked:
            g = self.index.groups[i] if self.settings.dedupe else i
            if g in by_group:
                continue
            h = Hit(passage=self.index.passages[i], score=fused[i], dense=float(dense_all[i]), bm25=float(bm[i]))
            by_group[g] = h
            hits.append(h)
            if len(hits) == k:
                break
        if self.settings.dedupe:
            for g, h in by_group.items():
                h.duplicates = [self.index.passages[j] for j in self.index.members[g]
                                if self.index.passages[j].id != h.passage.id and allowed(j)]
        return hits

    def _run(self, q: str, qvec: np.ndarray, k: int | None, mode: str | None, filters: Filters | None,
             exclude: set[int], abstain: bool, bm25_weight: float) -> SearchResult:
        k = k or self.settings.top_k
        if k < 1:
            raise QueryError("k 必须至少为 1 (k must be at least 1)")
        mode = mode or self.settings.mode
        if mode not in ("dense", "bm25", "hybrid"):
            raise QueryError(f"unknown mode {mode!r}: use dense, bm25 or hybrid")
        mask = self._mask(filters, exclude)
        ncand = max(self.settings.candidates, k * 4)
        # every passage's dense score, not only FAISS's candidates: the query's own score
        # distribution is the null that z-fusion and abstention measure against
        dense_all = self.index.dense_scores(qvec.astype(np.float32))
        d_idx = self._dense(qvec, dense_all, ncand, mask)
        bm = self._bm25(self.index.tokenizer(q), mask)
        b_order = np.argsort(-bm, kind="stable")
        b_order = b_order[bm[b_order] > 0][:ncand]
        idf = idf_weights(self.index, self.index.tokenizer.content_terms(q))
        fused = self._fuse(q, idf, mode, dense_all, bm, d_idx, b_order, mask, bm25_weight)

        pool = list(dict.fromkeys([int(i) for i in d_idx[:5]] + [int(i) for i in b_order[:5]]))
        texts = [self.index.passages[i].context + self.index.passages[i].text for i in pool]
        ev = collect(idf, texts, dense_all, mask)
        st = self.settings
        support = support_score(ev, self._tau_z, self._tau_top, st.abstain_coverage,
                                st.abstain_domain_coverage, st.abstain_focus_ratio)
        if abstain and support >= 1.0 and len(q) <= st.abstain_focus_max_chars:
            # the focus test costs one embedding per missing word: only when the rest passed
            ev.focus, ev.focus_term = focus(q, qvec, absent_terms(list(idf), texts),
                                            lambda vecs: self.index.dense_scores(vecs)[pool],
                                            self.embedder.embed_queries, st.abstain_focus_importance)
            support = support_score(ev, self._tau_z, self._tau_top, st.abstain_coverage,
                                    st.abstain_domain_coverage, st.abstain_focus_ratio)
        if abstain and support < 1.0:
            reason = NO_ANSWER
            if ev.focus < st.abstain_focus_ratio:
                # say which part of the question the speeches lack: the user can rephrase or drop it
                reason += f"（最相关的段落都没有谈到「{ev.focus_term}」）"
            return SearchResult(query=q, hits=[], abstained=True, reason=reason, support=support, mode=mode,
                                evidence=ev.as_dict())
        hits = self._fold_templates(sorted(fused, key=lambda i: -fused[i]), fused, k, dense_all, bm, mask)
        return SearchResult(query=q, hits=hits, support=support, mode=mode, evidence=ev.as_dict())
