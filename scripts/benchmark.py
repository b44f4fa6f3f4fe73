"""The figures the README quotes, in one table: start-up, per-stage query latency against
an anchor measured in the same run, build and add, and synthetic-scale rows.

    python scripts/benchmark.py                    # seeds: everything except the scale rows
    python scripts/benchmark.py --scale 100000,1000000
    python scripts/benchmark.py --quick            # no cold build

The anchor is one query embedding through sentence-transformers on torch, timed in the same
process: on a shared machine absolute figures drift, the ratio to it much less. Cold starts
are whole processes (``python -m assistant search``, ``python app.py`` until its API answers).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.evaluate import read_queries
from assistant.service import QueryService
from assistant.settings import ROOT, Settings

STAGES = {"embed": "embed", "DenseRetriever": "dense", "LexicalRetriever": "BM25", "Fuse": "fusion",
          "AbstentionJudge": "abstention", "AnswerTypeJudge": "answer type", "TemplateFolder": "dedupe"}


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"p50 {1000 * statistics.median(xs):.1f} ms, p95 {1000 * xs[int(0.95 * (len(xs) - 1))]:.1f} ms"


def queries() -> list[dict]:
    return [q for f in (ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT / "eval" / "extra.jsonl",
                        ROOT / "eval" / "extra2.jsonl") for q in read_queries(f)]


def warm(svc: QueryService, rows: list, repeat: int) -> None:
    """Warm search and similar latency by stage, and the torch anchor."""
    qs = queries()
    search = [q["query"] for q in qs if q["type"] != "similar"]
    similar = [q["query"] for q in qs if q["type"] == "similar"]
    for q in search[:3]:
        svc.search(q)
    total, stages, sim = [], {}, []
    for _ in range(repeat):
        for q in search:
            t = time.perf_counter()
            r = svc.search(q)
            total.append(time.perf_counter() - t)
            for k, v in r.timings.items():
                stages.setdefault(k, []).append(v)
        for q in similar:
            t = time.perf_counter()
            svc.similar(q)
            sim.append(time.perf_counter() - t)
    torch_emb = svc.embedder.torch_model() if hasattr(svc.embedder, "torch_model") else svc.embedder
    anchor = []
    for q in search[:40]:
        t = time.perf_counter()
        torch_emb.embed_queries([q])
        anchor.append(time.perf_counter() - t)
    a = statistics.median(anchor)
    rows.append(("anchor: one query embedding, sentence-transformers on torch", ms(anchor)))
    rows.append((f"warm search, hybrid, k=5, abstention on ({len(search)} queries × {repeat})",
                 f"{ms(total)} = {statistics.median(total) / a:.2f} × anchor"))
    for k, label in STAGES.items():
        if k in stages:
            rows.append((f"  stage: {label}", ms(stages[k])))
    rows.append((f"warm similar ({len(similar)} paragraphs × {repeat})", f"{ms(sim)} = {statistics.median(sim) / a:.2f} × anchor"))


def cold_cli(rows: list, runs: int = 3) -> None:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "assistant", "search", "乡镇人大监督怎么做", "--k", "3"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    rows.append(("cold start: python -m assistant search (whole process)",
                 f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, {runs} runs)"))


def cold_app(rows: list) -> None:
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                r = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("乡镇人大监督怎么做", api_name="/search")
                break
            except Exception:
                if proc.poll() is not None or time.perf_counter() - t > 300:
                    raise
                time.sleep(0.2)
        rows.append(("cold start: python app.py until its /search API answers", f"{time.perf_counter() - t:.1f} s"
                     f" ({len(r['hits'])} hits)"))
    finally:
        proc.terminate()
        proc.wait(20)


def build_and_add(base: Settings, svc: QueryService, rows: list, cold: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(base.index.corpus_dir, corpus)
        settings = base.replace(index_dir=Path(tmp) / "index", model_dir=base.index.model_folder, corpus_dir=corpus)
        if cold:
            from assistant.build import build, lexical_text, passage_sentences

            t = time.perf_counter()
            index = build(settings, svc.embedder, progress=False)
            dt = time.perf_counter() - t
            texts = [lexical_text(p) for p in index.passages] + passage_sentences(index.passages)[0]
            tokens = sum(svc.embedder.count_tokens(x) for x in texts)
            rows.append(("index build, cold (no caches)", f"{dt:.1f} s: {len(index)} passages + "
                         f"{len(index.sentence_owner)} sentence vectors, {tokens / dt:.0f} tokens/s"))
        files = _speeches(Path(tmp))
        env = dict(os.environ, ASSISTANT_INDEX_DIR=str(settings.index.index_dir), ASSISTANT_CORPUS_DIR=str(corpus),
                   ASSISTANT_MODEL_DIR=str(base.index.model_folder))
        subprocess.run([sys.executable, "-m", "assistant", "build"], env=env, check=True, capture_output=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "assistant", "add", *map(str, files)], env=env, check=True,
                       capture_output=True)
        rows.append(("add three small speeches: python -m assistant add (whole process)",
                     f"{time.perf_counter() - t:.1f} s"))
        warm_svc = QueryService.prepared(settings, progress=False)
        warm_svc.remove_files([f.name for f in files])
        t = time.perf_counter()
        warm_svc.add_files(files)
        rows.append(("add the same three in the app (warm service)", f"{time.perf_counter() - t:.1f} s"))


def _speeches(tmp: Path) -> list[Path]:
    out = []
    for k in range(3):
        paras = [f"{n}、关于第{n}项重点工作。全镇上下要围绕第{n}项任务，细化措施，压实责任，确保按期完成，"
                 f"各村各单位要在月底前报送第{n}项工作的进展情况和存在的问题。" for n in range(1, 6)]
        p = tmp / f"bench_{k}.txt"
        p.write_text(f"在全镇重点工作推进会上的讲话（{k}）\n时间:2024-01-1{k} 09:00:00\n" + "\n".join(paras) + "\n", "utf-8")
        out.append(p)
    return out


def scale(n: int, rows: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = str(ROOT / "scripts" / "scale_bench.py")
        b = json.loads(subprocess.run([sys.executable, script, "build", str(n), tmp], check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1])
        s = json.loads(subprocess.run([sys.executable, script, "serve", str(n), tmp], check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1])
    rows.append((f"scale {n:,} passages + {b['sentences']:,} sentence vectors ({' / '.join(b['index'])})",
                 f"query {s['p50_ms']} ms p50 / {s['p95_ms']} ms p95 (embedding included); recall@10 vs exact "
                 f"{s['recall@10']['passages']} passages, {s['recall@10']['sentences']} sentences; "
                 f"serving peak RSS {s['serve_peak_mb'] / 1024:.2f} GB (after the queries: "
                 f"{s['serve_rss_mb'].get('RssAnon', 0) / 1024:.2f} GB own, {s['serve_rss_mb'].get('RssFile', 0) / 1024:.2f} GB "
                 f"mapped files), index load {s['load_s']} s; "
                 f"build {b['build_s']} s (vectors {b['vectors_s']} s, BM25 {b['bm25_s']} s, bigrams {b['phrase_s']} s), "
                 f"build peak RSS {b['build_peak_mb'] / 1024:.2f} GB"))
    rows.append((f"  stages at {n:,}", ", ".join(f"{STAGES.get(k, k)} {v} ms" for k, v in s["stages_ms"].items())))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the cold build")
    ap.add_argument("--scale", default="", help="comma list of synthetic sizes, e.g. 100000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows: list[tuple[str, str]] = [("machine", f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
                                               f"load average {os.getloadavg()[0]:.1f} at start")]
    base = Settings.load()
    QueryService.prepared(base, progress=False)  # builds when the index is missing or stale: not timed
    t = time.perf_counter()
    svc = QueryService.open(base, progress=False)
    rows.append(("model + index load in this process (query encoder " + str(base.index.query_encoder) + ")",
                 f"{time.perf_counter() - t:.1f} s"))
    t = time.perf_counter()
    svc.embedder.embed_passages(["同志们：今天召开全镇工作会议。"])
    rows.append(("document encoder load + first passage (only builds need it)", f"{time.perf_counter() - t:.1f} s"))
    warm(svc, rows, args.repeat)
    cold_cli(rows)
    cold_app(rows)
    build_and_add(base, svc, rows, cold=not args.quick)
    for n in [int(x) for x in args.scale.split(",") if x]:
        scale(n, rows)
    width = max(len(k) for k, _ in rows)
    print("| what | figure |\n|---|---|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")


if __name__ == "__main__":
    main()
