"""Template folding: one card per group of near-identical passages, the rest as "另见 N 处"."""
from __future__ import annotations

from ..index import Index
from ..types import Hit
from .fuse import score_dense
from .state import QueryState


class TemplateFolder:
    """The top ``k`` hits, one per template group; the group's other members (those the
    mask allows, also outside the candidates) become the hit's ``duplicates``."""

    def __init__(self, index: Index, dedupe: bool):
        self.index = index
        self.dedupe = dedupe

    def __call__(self, state: QueryState) -> None:
        ix = self.index
        score_dense(ix, state, state.fused)
        hits: list[Hit] = []
        by_group: dict[int, Hit] = {}
        for i in state.ranked():
            g = ix.groups[i] if self.dedupe else i
            if g in by_group:
                continue
            h = Hit(passage=ix.passages[i], score=state.fused[i], dense=state.dense[i],
                    bm25=float(state.bm25_all[i]))
            by_group[g] = h
            hits.append(h)
            if len(hits) == state.k:
                break
        if self.dedupe:
            mask = state.mask
            for g, h in by_group.items():
                h.duplicates = [ix.passages[j] for j in ix.members.get(g, ())
                                if ix.passages[j].id != h.passage.id and (mask is None or bool(mask[j]))]
        state.hits = hits
