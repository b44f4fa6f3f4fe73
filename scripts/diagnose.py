"""Per-query diagnostics for retrieval work: gold rank per mode and the abstention evidence.

    python scripts/diagnose.py ../shared/eval/dev.jsonl
"""
import logging
import sys

from assistant.evaluate import first_hit_rank, read_queries
from assistant.service import QueryService
from assistant.settings import Settings


def main(path: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    s = QueryService.prepared(Settings.load(abstention={"enabled": False}), progress=False).searcher
    for q in read_queries(path):
        fn = s.similar if q["type"] == "similar" else s.search
        ranks = {mode: (first_hit_rank(fn(q["query"], k=20, mode=mode), q["gold"]) if q["gold"] else "-")
                 for mode in ("dense", "bm25", "hybrid")}
        res = fn(q["query"], k=20)
        ev = " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.evidence.items())
        print(f"{q['id']:5} {q['type']:9} support={res.support:.3f} {ev} ranks={ranks} {q['query'][:30]}")


if __name__ == "__main__":
    main(sys.argv[1])
