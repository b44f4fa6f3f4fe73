"""Evaluation on labelled queries: hit@1, hit@k, MRR@10 per type, abstention rates.

A line is ``{"id", "type", "query", "gold": [snippets]}``; a retrieved passage is a hit
when it contains a gold snippet after removing whitespace. ``similar`` queries run the
similar-paragraph lookup, every other type runs search; ``noanswer`` queries should abstain.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AssistantError
from .search import Searcher
from .text import squash
from .types import SearchResult

ANSWERABLE = ("semantic", "keyword", "similar")


def read_queries(path: str | Path) -> list[dict]:
    out = []
    # "\n" only: splitlines() would break a query at U+2028 or U+0085, which JSON leaves unescaped
    for n, line in enumerate(Path(path).read_text("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError as e:
            raise AssistantError(f"{path}:{n}: not a JSON line ({e})")
        for key in ("id", "type", "query"):
            if key not in d:
                raise AssistantError(f"{path}:{n}: missing field {key!r}")
        d.setdefault("gold", [])
        out.append(d)
    return out


def first_hit_rank(result: SearchResult, gold: list[str]) -> int | None:
    """1-based rank of the first hit containing a gold snippet (template copies count with their card)."""
    golds = [squash(g) for g in gold if g.strip()]
    for r, h in enumerate(result.hits, start=1):
        if any(g in squash(h.passage.text) for g in golds):
            return r
    return None


@dataclass
class TypeStats:
    n: int = 0
    hit1: int = 0
    hitk: int = 0
    rr: float = 0.0
    abstained: int = 0

    def row(self) -> dict:
        n = self.n or 1
        return {"n": self.n, "hit@1": self.hit1 / n, "hit@k": self.hitk / n, "mrr@10": self.rr / n,
                "abstained": self.abstained / n}


@dataclass
class Report:
    mode: str
    k: int
    by_type: dict[str, TypeStats] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        rows = {t: s.row() for t, s in sorted(self.by_type.items())}
        ans = TypeStats()
        for t in ANSWERABLE:
            s = self.by_type.get(t)
            if s:
                ans.n += s.n; ans.hit1 += s.hit1; ans.hitk += s.hitk; ans.rr += s.rr; ans.abstained += s.abstained
        if ans.n:
            rows["answerable"] = ans.row()
        return rows


def evaluate(searcher: Searcher, queries: list[dict], k: int, mode: str | None = None) -> Report:
    """Run every query and score it."""
    mode = mode or searcher.settings.retrieval.mode
    rep = Report(mode=mode, k=k)
    for q in queries:
        kind = q["type"]
        if kind == "similar":
            res = searcher.similar(q["query"], k=max(k, 10), mode=mode)
        else:
            res = searcher.search(q["query"], k=max(k, 10), mode=mode)
        st = rep.by_type.setdefault(kind, TypeStats())
        st.n += 1
        st.abstained += int(res.abstained)
        if kind != "noanswer":
            r = first_hit_rank(res, q.get("gold", []))
            if r is not None:
                st.hit1 += int(r == 1)
                st.hitk += int(r <= k)
                st.rr += 1.0 / r if r <= 10 else 0.0
        rep.records.append({"id": q["id"], "abstained": res.abstained, "support": res.support,
                            "hits": [{"text": h.passage.text, "score": float(h.score),
                                      "citation": str(h.citation)} for h in res.hits[:10]]})
    return rep


def format_table(reports: list[Report]) -> str:
    """A plain-text table: one row per (mode, type)."""
    lines = [f"{'mode':8} {'type':11} {'n':>3} {'hit@1':>6} {'hit@k':>6} {'MRR@10':>7} {'abstain':>8}"]
    for rep in reports:
        for t, row in rep.summary().items():
            lines.append(f"{rep.mode:8} {t:11} {row['n']:>3} {row['hit@1']:>6.3f} {row['hit@k']:>6.3f} "
                         f"{row['mrr@10']:>7.3f} {row['abstained']:>8.3f}")
    lines.append(f"(k={reports[0].k if reports else '?'}; 'abstain' on noanswer = correct abstentions, "
                 "on answerable types = false abstentions)")
    return "\n".join(lines)
