"""Per-query diagnostics for retrieval work: gold rank per mode and the abstention evidence.

    python scripts/diagnose.py ../shared/eval/dev.jsonl
"""
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.embed import load_embedder  # noqa: E402
from assistant.evaluate import first_hit_rank, read_queries  # noqa: E402
from assistant.index import ensure  # noqa: E402
from assistant.search import Searcher  # noqa: E402
from assistant.settings import Settings  # noqa: E402

logging.basicConfig(level=logging.WARNING)
settings = Settings.load(abstain=False)
emb = load_embedder(settings, progress=False)
s = Searcher(ensure(settings, emb), emb, settings)
for q in read_queries(sys.argv[1]):
    ranks = {}
    for mode in ("dense", "bm25", "hybrid"):
        fn = s.similar if q["type"] == "similar" else s.search
        res = fn(q["query"], k=20, mode=mode)
        ranks[mode] = first_hit_rank(res, q["gold"]) if q["gold"] else "-"
    res = (s.similar if q["type"] == "similar" else s.search)(q["query"], k=20)
    print(f"{q['id']:5} {q['type']:9} support={res.support:.3f} {' '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}' for k, v in res.evidence.items())} ranks={ranks} {q['query'][:30]}")
