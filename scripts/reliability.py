"""Reliability figures in one table: fuzzing, kill -9, integrity faults, load.

    python scripts/reliability.py                  # the README's figures
    python scripts/reliability.py --quick          # a short version of every part (as CI runs)
    python scripts/reliability.py --only load,integrity

Parts:
  fuzz       hypothesis inputs per target (readers, query path, API) and failures (tests.fuzz)
  crash      build / add / remove killed with SIGKILL at random moments: kills survived / runs (tests.crash)
  integrity  bytes flipped and files truncated in a build, and cache entries damaged:
             faults injected / detected (a damaged cache entry must be recomputed, never used)
  load       20 loopback clients on /search for 60 s while a speech is added and another removed,
             from the app and from the CLI: requests, errors, malformed, inconsistent, p50 / p99,
             beside the single-client latency of the same server (tests.load)

The load part runs on the real model when an index of the seed corpus exists under
``index/`` (python -m assistant build), otherwise on the fake embedder.
Exit status 1 when any part shows a failure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.build import build
from assistant.cache import JsonCache
from assistant.embed import FakeEmbedder
from assistant.errors import IndexError_
from assistant.index import load
from assistant.settings import Settings

from tests.speeches import SPEECHES

PARTS = ("fuzz", "crash", "integrity", "load")


@dataclass
class Row:
    """One line of the table, with whether it shows a failure."""

    part: str
    figure: str
    how: str
    ok: bool = True


def integrity(faults: int, seed: int = 0) -> list[Row]:
    """Flip one byte (or truncate) at random places of random build files; count refusals."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _tiny(Path(tmp))
        fake = FakeEmbedder()
        built = build(settings, fake, progress=False)
        base = built.path
        names = sorted(json.loads((base / "manifest.json").read_text())["build_files"]) + ["manifest.json"]
        detected = 0
        for n in range(faults):
            name = rng.choice(names)
            path = base / name
            original = path.read_bytes()
            data = bytearray(original)
            if n % 5 == 4 and len(data) > 1:
                data = data[: rng.randrange(len(data))]  # truncated
            else:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(data))
            try:
                load(settings, fake)
            except IndexError_:
                detected += 1
            path.write_bytes(original)
        cache_faults, recomputed = _cache_faults(Path(tmp), faults // 4 or 1, rng)
    return [Row("integrity: index faults injected / detected", f"{faults} / {detected}",
                "one flipped bit or a truncation in a random file of a build, then a load", detected == faults),
            Row("integrity: cache entries damaged / recomputed", f"{cache_faults} / {recomputed}",
                "a value changed inside valid JSON of the chunk cache", recomputed == cache_faults)]


def _cache_faults(tmp: Path, faults: int, rng: random.Random) -> tuple[int, int]:
    path = tmp / "cache.json"
    values = [[rng.randrange(1000) for _ in range(5)] for _ in range(faults)]
    keys = [f"k{i}" for i in range(faults)]
    cache = JsonCache(path)
    cache.get_many(keys, lambda pos: [values[i] for i in pos])
    cache.save()
    text = path.read_text()
    for v in values:  # each entry's first number changed: still valid JSON
        text = text.replace(json.dumps(v), json.dumps([v[0] + 1] + v[1:]), 1)
    path.write_text(text)
    recomputed = []
    JsonCache(path).get_many(keys, lambda pos: recomputed.extend(pos) or [values[i] for i in pos])
    return faults, len(recomputed)


def _tiny(tmp: Path, **extra) -> Settings:
    corpus = tmp / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in list(SPEECHES.items())[:3]:
        (corpus / name).write_text(text, "utf-8")
    return Settings.load(model="fake", corpus_dir=corpus, index_dir=tmp / "index", short_paragraph_chars=12,
                         **extra)


def load_test(seconds: float, clients: int) -> list[Row]:
    """The live-change load test on a copy of the seed index (real model) or a tiny corpus (fake)."""
    from assistant.service import QueryService
    from assistant.web import build_app, serve

    from tests.app_corpus import free_port
    from tests.load import cli_change, run_load, single_client

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings, kind = _load_settings(tmp)
        service = QueryService.prepared(settings, progress=False)
        demo = build_app(service)
        port = free_port()
        serve(demo, settings, host="127.0.0.1", port=port, block=False)
        service.watch()
        url = f"http://127.0.0.1:{port}/"
        incoming = tmp / "incoming"
        incoming.mkdir()
        names = [n for n in SPEECHES if not (settings.index.corpus_dir / n).exists()][:2]
        for n in names:
            (incoming / n).write_text(SPEECHES[n], "utf-8")
        alone = single_client(url, 40)
        changes = [lambda: (service.add_files([incoming / names[0]]), "app add")[1],
                   lambda: cli_change(settings, "add", str(incoming / names[1])),
                   lambda: (service.remove_files([names[0]]), "app remove")[1],
                   lambda: cli_change(settings, "remove", names[1])]
        report = run_load(url, service, clients=clients, seconds=seconds, changes=changes)
        demo.close()
    bad = len(report.errors) + report.malformed + report.inconsistent
    return [Row("load: clients / requests / errors+malformed+inconsistent",
                f"{report.clients} / {report.requests} / {bad}",
                f"{report.seconds:.0f} s, {kind}, {len(report.versions)} index versions served; "
                f"{', '.join(report.changes)}", bad == 0),
            Row("load: reply p50 / p99 under load", f"{report.p50 * 1000:.0f} / {report.p99 * 1000:.0f} ms",
                f"one client alone: p50 {alone * 1000:.0f} ms (concurrency {settings.web.concurrency}, "
                f"{os.cpu_count()} cores)")]


def _load_settings(tmp: Path) -> tuple[Settings, str]:
    """A copy of the project's seed index when it is built (real model), else a tiny fake corpus."""
    base = Settings.load()
    try:
        load(base)
    except IndexError_:
        return _tiny(tmp, reload_seconds=1.0), "fake embedder, tiny corpus"
    shutil.copytree(base.index.corpus_dir, tmp / "corpus")
    index = tmp / "index"
    shutil.copytree(Path(base.index.index_dir) / "cache", index / "cache")
    settings = Settings.load(corpus_dir=tmp / "corpus", index_dir=index, model_dir=base.index.model_folder,
                             reload_seconds=1.0)
    return settings, "real model, seed corpus"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a short version of every part")
    p.add_argument("--only", default=None, help=f"comma list of {', '.join(PARTS)}")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    parts = args.only.split(",") if args.only else list(PARTS)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    rows: list[Row] = []
    t0 = time.time()
    if "fuzz" in parts:
        rows += fuzz_rows(50 if args.quick else 500)
    if "crash" in parts:
        rows += crash_rows(12 if args.quick else 60, seed)
    if "integrity" in parts:
        rows += integrity(40 if args.quick else 400, seed)
    if "load" in parts:
        rows += load_test(15 if args.quick else 60, 20)
    print(f"reliability ({platform.node()}, {os.cpu_count()} cores, seed {seed}, {time.time() - t0:.0f} s)\n")
    print("| part | figure | how |\n|---|---|---|")
    for r in rows:
        print(f"| {r.part} | {r.figure} | {r.how} |")
    return 0 if all(r.ok for r in rows) else 1


def fuzz_rows(examples: int) -> list[Row]:
    try:
        from tests.fuzz import run_fuzz
    except ImportError:
        return [Row("fuzz", "not run", "tests/fuzz.py (the hypothesis targets) is not in this tree yet")]

    return [Row(f"fuzz: {row.target}", f"{row.inputs} inputs / {row.failures} failures", row.how, not row.failures)
            for row in run_fuzz(examples)]


def crash_rows(runs: int, seed: int) -> list[Row]:
    from tests.crash import OPS, harness

    report = harness(runs, seed)
    return [Row(f"kill -9: {name}", f"{fig.survived} / {fig.runs} survived",
                f"SIGKILL at a random moment of `{' '.join(OPS[name].argv)}`; then a read and the next operation",
                fig.survived == fig.runs)
            for name, fig in report.per_op.items()]


if __name__ == "__main__":
    sys.exit(main())
