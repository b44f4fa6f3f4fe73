"""Crash safety: SIGKILL build, add and remove at random moments; print kills survived / runs.

    python scripts/crash_harness.py                 # 30 runs (or $ASSISTANT_CRASH_RUNS)
    python scripts/crash_harness.py --runs 300 --seed 1234 --keep /tmp/crash
    python scripts/crash_harness.py --ops remove1 --runs 10 --json
    python scripts/crash_harness.py --ops add1 --runs 4 --at 0.8    # one moment, again
    python scripts/crash_harness.py --points        # every file-system change of every operation

Exit status 1 when a kill was not survived. See tests/crash.py for what is checked.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tests.crash import OPS, harness, run  # noqa: E402,F401 (run: for scripts/reliability.py)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=int(os.environ.get("ASSISTANT_CRASH_RUNS", 30)))
    p.add_argument("--seed", type=int, default=None, help="default: random, printed")
    p.add_argument("--workers", type=int, default=2, help="runs at a time")
    p.add_argument("--ops", default=None, help=f"comma list of {', '.join(OPS)} (default: all, in turn)")
    p.add_argument("--at", type=float, default=None, metavar="FRACTION",
                   help="kill every run at this share of the operation's duration (0-1) instead of at random")
    p.add_argument("--points", action="store_true",
                   help="instead of random moments: kill each operation before each of its file-system changes")
    p.add_argument("--keep", metavar="DIR", default=None, help="work in DIR and keep failed runs' folders")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    ops = args.ops.split(",") if args.ops else None
    unknown = [o for o in ops or [] if o not in OPS]
    if unknown:
        p.error(f"unknown operation(s) {unknown}: choose from {', '.join(OPS)}")
    report = harness(args.runs, args.seed, workers=args.workers, ops=ops,
                     root=Path(args.keep) if args.keep else None, keep=bool(args.keep), at=args.at,
                     points=args.points,
                     log=None if args.json else print)
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if args.json else "\n".join(report.lines()))
    return 0 if report.survived == report.runs else 1


if __name__ == "__main__":
    sys.exit(main())
