"""Search: a query -> cited passages or an abstention, as a pipeline of stages.

    state.py     QueryState (what flows between stages), Verdict, the Stage protocol
    filters.py   Filters on speech metadata and the mask of allowed passages
    retrieve.py  DenseRetriever, LexicalRetriever: candidates from the stores
    fuse.py      Fuse: one score per candidate (rrf / zscore / adaptive) + verbatim lift
    judge.py     AbstentionJudge: calibrated evidence, computed once, and the verdict
    fold.py      TemplateFolder: one card per template group ("另见 N 处")
    pipeline.py  Searcher: validation, embedding, the stages in order
"""
from .filters import NO_MATCH, Filters
from .judge import NO_ANSWER, Evidence
from .pipeline import Searcher, check_text
from .state import QueryState, Stage, Verdict

__all__ = ["Filters", "NO_ANSWER", "NO_MATCH", "check_text", "Evidence", "Searcher", "QueryState", "Stage", "Verdict"]
