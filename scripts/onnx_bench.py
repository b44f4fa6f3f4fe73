"""Query-embedding speed and fidelity: sentence-transformers (torch fp32) vs ONNX fp32 vs ONNX int8.

    python scripts/onnx_bench.py [--model-dir DIR] [--out DIR] [--queries N]

Exports the model into --out (a fresh temp folder by default, so the export + quantize
time is measured; an --out that already holds a valid export is reused and its recorded
times are shown), then prints one table. Everything runs on one thread (torch and
onnxruntime), like the app's query path. Cold starts are measured in fresh processes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

EVAL_FILES = [ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT / "eval" / "extra.jsonl", ROOT / "eval" / "extra2.jsonl"]

COLD_ONNX = """
import sys, time
t0 = time.perf_counter()
from assistant.embed.onnx import OnnxQueryEncoder
t1 = time.perf_counter()
enc = OnnxQueryEncoder(sys.argv[1], sys.argv[2], threads=1)
t2 = time.perf_counter()
enc.embed_queries([sys.argv[3]])
t3 = time.perf_counter()
assert 'torch' not in sys.modules and 'transformers' not in sys.modules
print(t1 - t0, t2 - t1, t3 - t2)
"""

COLD_ST = """
import sys, time
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
import torch
torch.set_num_threads(1)
t1 = time.perf_counter()
m = SentenceTransformer(sys.argv[1], device="cpu")
t2 = time.perf_counter()
m.encode([sys.argv[3]], prompt_name="query", normalize_embeddings=True, show_progress_bar=False)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""

EXPORT = """
import sys, time, json
t0 = time.perf_counter()
from assistant.embed.onnx import export
p = export(sys.argv[1], sys.argv[2], log=lambda s: None)
print(json.dumps({"wall": time.perf_counter() - t0, "path": str(p)}))
"""


def queries() -> list[str]:
    out = []
    for f in EVAL_FILES:
        if f.is_file():
            out += [json.loads(line)["query"] for line in f.read_text("utf-8").splitlines() if line.strip()]
    if not out:
        sys.exit("no eval queries found")
    return out


def default_model_dir() -> Path:
    from assistant.embed.e5convert import ensure_model
    from assistant.settings import Settings

    return Path(ensure_model(Settings.load().model_dir, progress=False))


def run_py(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode:
        sys.exit(r.stderr)
    return r.stdout.strip().splitlines()[-1]


def median_ms(fn, items, reps: int = 1) -> float:
    fn(items[0])  # warm-up
    ts = []
    for _ in range(reps):
        for it in items:
            t = time.perf_counter()
            fn(it)
            ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--out", type=Path, help="export folder (default: a fresh temp folder)")
    ap.add_argument("--queries", type=int, default=50, help="eval queries timed one by one")
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args()

    from assistant.embed import onnx as oe

    model_dir = args.model_dir or default_model_dir()
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="onnx_bench_")
        args.out = Path(tmp.name)
    # export in a fresh process: its wall time includes importing torch and loading the model
    exp = json.loads(run_py(EXPORT, str(model_dir), str(args.out)))
    meta = json.loads(oe.meta_path(args.out).read_text("utf-8"))
    int8, fp32 = oe.int8_path(args.out), oe.fp32_path(args.out)

    qs = queries()
    timed = qs[:args.queries]
    short8 = sorted(qs, key=len)[:8]

    cold_onnx = [list(map(float, run_py(COLD_ONNX, str(model_dir), str(int8), qs[0]).split()))
                 for _ in range(args.cold_runs)]
    cold_st = [list(map(float, run_py(COLD_ST, str(model_dir), str(int8), qs[0]).split()))
               for _ in range(args.cold_runs)]

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    st = SentenceTransformer(str(model_dir), device="cpu")

    def st_encode(texts):
        return st.encode(texts, prompt_name="query", normalize_embeddings=True, convert_to_numpy=True,
                         batch_size=32, show_progress_bar=False)

    encs = {"onnx fp32": oe.OnnxQueryEncoder(model_dir, fp32, threads=1),
            "onnx int8": oe.OnnxQueryEncoder(model_dir, int8, threads=1)}
    ref = np.concatenate([st_encode([q]) for q in qs])
    rows = [("sentence-transformers torch fp32", st_encode, None)]
    rows += [(name, e.embed_queries, e) for name, e in encs.items()]

    print(f"model: {model_dir}")
    print(f"queries: {len(qs)} eval queries ({len(timed)} timed one by one, median of 1 run each); "
          f"batch: the 8 shortest, median of 20 runs; 1 thread; CPU cores: {os.cpu_count()}")
    print(f"versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    print(f"quantization: {json.dumps(meta['quantization'])}\n")
    print(f"| {'encoder':34} | {'1 query, median':>15} | {'batch of 8':>10} | {'cos vs ST min':>13} | {'cos mean':>8} |")
    print(f"|{'-' * 36}|{'-' * 17}|{'-' * 12}|{'-' * 15}|{'-' * 10}|")
    for name, fn, enc in rows:
        one = median_ms(lambda q: fn([q]), timed)
        b8 = median_ms(lambda _: fn(short8), list(range(20)))
        if enc is None:
            cmin = cmean = "1 (ref)"
        else:
            cos = (np.concatenate([enc.embed_queries([q]) for q in qs]) * ref).sum(1)
            cmin, cmean = f"{cos.min():.5f}", f"{cos.mean():.5f}"
        print(f"| {name:34} | {one:12.1f} ms | {b8:7.1f} ms | {cmin:>13} | {cmean:>8} |")

    def med(runs, i):
        return statistics.median(r[i] for r in runs)

    print(f"\n| {'cold start, fresh process (median of ' + str(args.cold_runs) + ')':46} | {'import':>8} | "
          f"{'load':>8} | {'1st query':>9} | {'total':>8} |")
    print(f"|{'-' * 48}|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 10}|")
    for name, runs in (("onnx int8 (onnxruntime + tokenizers)", cold_onnx),
                       ("sentence-transformers (torch)", cold_st)):
        tot = statistics.median(sum(r) for r in runs)
        print(f"| {name:46} | {med(runs, 0):6.2f} s | {med(runs, 1):6.2f} s | {med(runs, 2) * 1000:6.0f} ms |"
              f" {tot:6.2f} s |")

    sec = meta.get("seconds", {})
    print(f"\nexport (torch.onnx.export + check): {sec.get('export', float('nan')):.1f} s; "
          f"quantize_dynamic: {sec.get('quantize', float('nan')):.1f} s; "
          f"export() call wall time in a fresh process: {exp['wall']:.1f} s"
          + (" (cache hit)" if exp["wall"] < 5 else ""))
    weights = sum(p.stat().st_size for p in Path(model_dir).glob("*.safetensors"))
    print(f"sizes: model.safetensors {weights / 1e6:.0f} MB, {fp32.name} {fp32.stat().st_size / 1e6:.0f} MB, "
          f"{int8.name} {int8.stat().st_size / 1e6:.0f} MB")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
