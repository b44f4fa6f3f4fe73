"""What flows through the search pipeline: one query's state, filled in stage by stage."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..types import Hit, Mode


@dataclass
class Verdict:
    """The abstention judge's decision: whether the corpus supports an answer, and why."""

    abstained: bool
    support: float
    """Calibrated evidence in units of the thresholds: below 1 means abstain."""
    reason: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass
class QueryState:
    """One query on its way through the stages; each reads what earlier ones left.

    Passage positions (ints) identify passages throughout; ``mask`` marks the passages a
    query may return (filters, the pasted paragraph's own passages excluded)."""

    text: str
    vector: np.ndarray
    k: int
    mode: Mode
    bm25_weight: float
    abstain: bool
    mask: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (and "embed"), for the benchmark and the logs."""
    # retrieve
    dense: dict[int, float] = field(default_factory=dict)
    """Dense score of each passage scored so far (the candidates of both rankers): only
    candidates are scored, never the whole corpus."""
    dense_top: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """The dense ranker's candidates, best first."""
    dense_null: tuple[float, float] = (0.0, 1.0)
    """Mean and standard deviation of the query's dense scores over the null sample of
    allowed passages: what z-fusion and abstention measure against."""
    dense_best: float = 0.0
    """The best dense score among the candidates and the null sample."""
    bm25_all: np.ndarray | None = None
    bm25_top: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """The lexical ranker's candidates (positive score), best first."""
    bm25_null: tuple[float, float] = (0.0, 1.0)
    """Mean and standard deviation of the positive BM25 scores over the null sample."""
    terms: dict[str, float] = field(default_factory=dict)
    """The query's content terms and their IDF weights (shared by fusion and abstention)."""
    null: np.ndarray | None = None
    """The allowed passages of the null sample (ids), chosen once per query."""
    # fuse
    fused: dict[int, float] = field(default_factory=dict)
    """Candidate -> fused score; later stages (a reranker) may rewrite it."""
    # judge
    verdict: Verdict | None = None
    # fold
    hits: list[Hit] = field(default_factory=list)

    def ranked(self) -> list[int]:
        """Candidates by fused score, best first."""
        return sorted(self.fused, key=lambda i: -self.fused[i])


class Stage(Protocol):
    """A step of the pipeline: reads and extends the state (a judge may end the query by
    setting an abstaining ``verdict``)."""

    def __call__(self, state: QueryState) -> None: ...
