"""Figures for the answers: extractive latency and coverage, and for a local LLM its load
time, time to first token, tokens/s, the citation check's verdicts and its no-info rate.

    python scripts/answer_bench.py                       # extractive only, all eval questions
    python scripts/answer_bench.py --model 0.5b --n 12   # plus the 0.5B GGUF on 12 + 12 questions

The LLM runs on ``--n`` answerable and ``--n`` unanswerable questions of eval/extra3.jsonl
(a set used for fitting, not the frozen one), in a fixed order.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

from assistant.answer.models import setup
from assistant.evaluate import first_hit_rank, read_queries
from assistant.service import QueryService
from assistant.settings import ROOT, Settings
from assistant.text import squash

SETS = [ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT / "eval" / "extra.jsonl",
        ROOT / "eval" / "extra2.jsonl", ROOT / "eval" / "extra3.jsonl"]


def contains_gold(answer, gold: list[str]) -> bool:
    text = squash(answer.text)
    sents = [squash(s.text) for s in answer.sentences]
    return any(g[:10] in text or any(len(s) >= 8 and s in g for s in sents) for g in map(squash, gold))


def extractive(svc: QueryService) -> None:
    lat, n, hit, with_gold = [], 0, 0, 0
    for path in SETS:
        for q in read_queries(path):
            if q["type"] not in ("semantic", "keyword"):
                continue
            reply = svc.ask(q["query"])
            if reply.answer is None:
                continue
            lat.append(reply.answer.seconds * 1000)
            rank = first_hit_rank(reply.result, q["gold"])
            n += 1
            with_gold += bool(rank and rank <= 3)
            hit += contains_gold(reply.answer, q["gold"])
    lat.sort()
    print(f"extractive answer, on top of retrieval: p50 {statistics.median(lat):.1f} ms, "
          f"p95 {lat[int(0.95 * (len(lat) - 1))]:.1f} ms, max {lat[-1]:.1f} ms ({len(lat)} questions)")
    print(f"extractive answer holds a gold snippet: {hit}/{n} questions "
          f"({hit}/{with_gold} of those whose gold passage is among the top 3 cards)")


def llm(svc: QueryService, n: int) -> None:
    qs = read_queries(ROOT / "eval" / "extra3.jsonl")
    picked = [q for q in qs if q["type"] == "semantic"][:n] + [q for q in qs if q["type"] == "noanswer"][:n]
    gen = svc.generator()
    t = time.perf_counter()
    llm = gen.load()
    print(f"LLM {gen.name}: load {time.perf_counter() - t:.1f} s")
    firsts, rates, prompt_toks = [], [], []
    stats = {"answerable": [0, 0, 0, 0], "noanswer": [0, 0, 0, 0]}  # asked, shown, fell back, said no-info
    sentences = [0, 0]
    for q in picked:
        reply = svc.ask(q["query"], answer="llm")
        a = reply.answer
        if a is None:  # retrieval abstained: nothing was generated
            continue
        kind = "noanswer" if q["type"] == "noanswer" else "answerable"
        s = stats[kind]
        s[0] += 1
        s[1] += a.kind == "llm" and not a.no_answer
        s[2] += a.kind == "extractive"
        s[3] += a.no_answer
        if a.first_token_seconds is not None:
            firsts.append(a.first_token_seconds)
            out = len(llm.tokenize(a.raw.encode("utf-8"), add_bos=False)) if a.raw else 0
            if a.seconds > a.first_token_seconds and out > 1:
                rates.append((out - 1) / (a.seconds - a.first_token_seconds))
        if a.kind == "llm" and not a.no_answer:
            sentences[0] += len(a.sentences)
            sentences[1] += sum(x.supported for x in a.sentences)
    print(f"time to first token: median {statistics.median(firsts):.1f} s (prompt: 3 passages); "
          f"generation {statistics.median(rates):.1f} tokens/s")
    for kind, (asked, shown, fell, noinfo) in stats.items():
        print(f"{kind}: {asked} generated; shown {shown}, replaced by the extractive answer {fell}, "
              f"said the passages do not answer {noinfo}")
    if sentences[0]:
        print(f"sentences of shown LLM answers supported by their citation: {sentences[1]}/{sentences[0]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["0.5b", "1.5b"], help="also measure this local GGUF")
    ap.add_argument("--n", type=int, default=12, help="answerable and unanswerable questions for the LLM")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.load()
    if args.model:
        gguf = setup(args.model, settings.index.index_dir)
        settings = settings.replace(llm_backend="llama", llm_gguf=str(gguf))
    svc = QueryService.prepared(settings, progress=False)
    extractive(svc)
    if args.model:
        llm(svc, args.n)


if __name__ == "__main__":
    main()
