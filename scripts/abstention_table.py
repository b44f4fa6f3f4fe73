"""What each abstention signal catches and what it costs, per query set (a markdown table).

    python scripts/abstention_table.py            # the sets the thresholds were fitted on
    python scripts/abstention_table.py --frozen   # and eval/frozen6.jsonl, never used for fitting

eval/frozen.jsonl … frozen5.jsonl were the held-out sets of the first five rounds (each
reported once, then fitted on); eval/frozen6.jsonl is the held-out set of the sixth.

Rows add one test at a time: the calibrated domain and distinctiveness tests, then the
answer-type judge (the default: these two), then the focus test (off by default since the
fifth round; ``abstention.focus_max_chars = 80`` turns it on). "caught" = noanswer
questions abstained on; "false" = answerable questions (similar paragraphs included)
wrongly abstained on.
"""
from __future__ import annotations

import argparse
import logging

from assistant.evaluate import read_queries
from assistant.service import QueryService
from assistant.settings import ROOT, Settings

FIT = {"dev": ROOT.parent / "shared" / "eval" / "dev.jsonl", "extra": ROOT / "eval" / "extra.jsonl",
       "extra2": ROOT / "eval" / "extra2.jsonl", "extra3": ROOT / "eval" / "extra3.jsonl",
       "frozen": ROOT / "eval" / "frozen.jsonl", "frozen2": ROOT / "eval" / "frozen2.jsonl",
       "frozen3": ROOT / "eval" / "frozen3.jsonl", "frozen4": ROOT / "eval" / "frozen4.jsonl",
       "frozen5": ROOT / "eval" / "frozen5.jsonl"}
FROZEN = {"frozen6": ROOT / "eval" / "frozen6.jsonl"}
CONFIGS = {
    "domain + distinctive": {"focus_max_chars": 0, "answer_type": False},
    "+ answer type (default)": {"focus_max_chars": 0},
    "+ focus (opt-in)": {"focus_max_chars": 80},
}


def rates(svc: QueryService, queries: list[dict]) -> tuple[int, int, int, int]:
    caught = na = false = ans = 0
    for q in queries:
        fn = svc.similar if q["type"] == "similar" else svc.search
        res = fn(q["query"], k=10)
        if q["type"] == "noanswer":
            na += 1
            caught += res.abstained
        else:
            ans += 1
            false += res.abstained
    return caught, na, false, ans


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frozen", action="store_true", help="also report eval/frozen6.jsonl (run once, at the end)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = QueryService.prepared(Settings.load(), progress=False)
    sets = {**FIT, **(FROZEN if args.frozen else {})}
    print("| set | signals | noanswer caught | false abstention |")
    print("|---|---|---|---|")
    totals: dict[str, list[int]] = {}
    for name, path in sets.items():
        queries = read_queries(path)
        for label, over in CONFIGS.items():
            svc = QueryService(base.settings.replace(abstention=over), base.embedder, base.index)
            c, na, f, ans = rates(svc, queries)
            if name in FIT:
                t = totals.setdefault(label, [0, 0, 0, 0])
                for k, v in enumerate((c, na, f, ans)):
                    t[k] += v
            tag = f"**{name}** (frozen, not fitted)" if name in FROZEN else name
            print(f"| {tag} | {label} | {c}/{na} ({c / max(na, 1):.0%}) | {f}/{ans} ({f / max(ans, 1):.1%}) |")
    for label, (c, na, f, ans) in totals.items():
        print(f"| all fitted sets | {label} | {c}/{na} ({c / max(na, 1):.0%}) | {f}/{ans} ({f / max(ans, 1):.1%}) |")


if __name__ == "__main__":
    main()
