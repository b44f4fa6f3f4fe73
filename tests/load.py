"""Load harness: concurrent loopback clients on the app's ``/search`` API while the corpus
changes, from the app and from the CLI in another process.

Every response is checked: well formed, no error, and consistent — the sources of its hits
are exactly speeches of the index version it reports (``index_version``), as recorded
when the service swapped that version in. Used by tests/test_load.py (short) and
scripts/reliability.py (the README figures).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QUERIES = ["人大监督怎么做", "安全生产责任", "信访稳定工作", "秸秆禁烧", "农村低保", "代表工作",
           "隐患整改率", "乡镇人大工作人员", "防汛抗旱怎么部署", "森林防火"]


@dataclass
class LoadReport:
    clients: int
    seconds: float
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    malformed: int = 0
    inconsistent: int = 0
    latencies: list[float] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    changes: list[str] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return float(np.percentile(self.latencies, 50)) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies, 99)) if self.latencies else float("nan")

    def line(self) -> str:
        return (f"{self.clients} clients, {self.seconds:.0f} s: {self.requests} requests, {len(self.errors)} errors, "
                f"{self.malformed} malformed, {self.inconsistent} inconsistent, p50 {self.p50 * 1000:.0f} ms, "
                f"p99 {self.p99 * 1000:.0f} ms, {len(self.versions)} index versions served; "
                f"changes: {', '.join(self.changes)}")


class VersionLog:
    """The speeches (sources) of every index version the service serves, recorded at swap time."""

    def __init__(self, service):
        self.sources: dict[str, set[str]] = {}
        self._record(service.index)
        original = service.swap

        def swap(index):
            self._record(index)
            original(index)

        service.swap = swap

    def _record(self, index) -> None:
        self.sources[index.version] = {p.citation.source for p in index.passages}


@dataclass
class Record:
    """One response as a client saw it."""

    seconds: float
    version: str | None = None
    sources: list[str] = field(default_factory=list)
    error: str | None = None
    malformed: bool = False


def _record(res, took: float) -> Record:
    ok = (isinstance(res, dict) and isinstance(res.get("hits"), list)
          and all(isinstance(h, dict) and isinstance(h.get("source"), str) for h in res["hits"])
          and (res.get("error") or isinstance(res.get("index_version"), str)))
    if not ok:
        return Record(took, malformed=True)
    if res.get("error"):
        return Record(took, error=str(res["error"])[:200])
    return Record(took, res["index_version"], [h["source"] for h in res["hits"]])


def _client(url: str, stop, seed: int) -> list[Record]:
    """One client: ``/search`` calls with random queries until ``stop`` is set."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as e:  # a client that cannot connect is an error of the run
        return [Record(0.0, error=f"connect: {e}")]
    rng, out = np.random.default_rng(seed), []
    while not stop.is_set():
        q = QUERIES[rng.integers(len(QUERIES))]
        t = time.perf_counter()
        try:
            res = client.predict(q, 5, None, api_name="/search")
        except Exception as e:
            out.append(Record(time.perf_counter() - t, error=f"{type(e).__name__}: {e}"[:200]))
            continue
        out.append(_record(res, time.perf_counter() - t))
    return out


def _process(url: str, stop, clients: int, seed: int) -> list[Record]:
    """``clients`` client threads in this (separate) process, so they do not share the server's GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(lambda i: _client(url, stop, seed * 1000 + i), range(clients)))
    return [r for part in parts for r in part]


def run_load(url: str, service, clients: int = 20, seconds: float = 60.0, changes=(), processes: int = 2) -> LoadReport:
    """``clients`` clients (in ``processes`` other processes) call ``/search`` for at least
    ``seconds`` while each of ``changes`` (callables returning a label) runs once, spread over
    the run, and until a second after the last change."""
    import multiprocessing as mp

    log = VersionLog(service)
    report = LoadReport(clients, seconds)
    ctx = mp.get_context("spawn")
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    with ctx.Manager() as manager, ctx.Pool(processes) as pool:
        stop = manager.Event()
        pending = [pool.apply_async(_process, (url, stop, n, i)) for i, n in enumerate(shares)]
        time.sleep(3)  # the clients' processes start
        start = time.time()
        for n, change in enumerate(changes):
            time.sleep(max(0.0, start + seconds * n / max(1, len(changes)) - time.time()))
            report.changes.append(change())
        time.sleep(max(1.0, start + seconds - time.time()))
        stop.set()
        records = [r for p in pending for r in p.get(timeout=300)]
        report.seconds = time.time() - start
    for r in records:
        report.requests += 1
        report.latencies.append(r.seconds)
        if r.malformed:
            report.malformed += 1
        elif r.error:
            report.errors.append(r.error)
        else:
            report.versions.add(r.version)
            known = log.sources.get(r.version)
            if known is None or not set(r.sources) <= known:
                report.inconsistent += 1
    return report


def cli_change(settings, verb: str, item: str, timeout: float = 120) -> str:
    """Run ``python -m assistant <verb> <item>`` in another process on the same corpus and index."""
    env = dict(os.environ, ASSISTANT_MODEL=str(settings.index.model),
               ASSISTANT_CORPUS_DIR=str(settings.index.corpus_dir), ASSISTANT_INDEX_DIR=str(settings.index.index_dir))
    if settings.index.model_dir:
        env["ASSISTANT_MODEL_DIR"] = str(settings.index.model_dir)
    for group, name in (("index", "short_paragraph_chars"),):
        env[f"ASSISTANT_{name.upper()}"] = str(getattr(getattr(settings, group), name))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assistant", verb, item], env=env, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"CLI {verb} failed: {out.stderr[-500:]}")
    return f"CLI {verb} {Path(item).name} ({time.perf_counter() - t:.1f} s)"


def wait_for(predicate, timeout: float = 30.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def single_client(url: str, requests: int = 40) -> float:
    """Median seconds of ``requests`` /search calls from one client alone (the baseline)."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    took = []
    for n in range(requests):
        t = time.perf_counter()
        client.predict(QUERIES[n % len(QUERIES)], 5, None, api_name="/search")
        took.append(time.perf_counter() - t)
    return float(np.median(took))
