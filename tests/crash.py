"""Crash-safety harness: SIGKILL ``build``, ``add`` and ``remove`` at random moments.

Every run starts from a copy of one template (corpus a, b, c and its index), starts an
operation as ``python -m assistant …`` and kills its process group with SIGKILL at a moment
drawn uniformly within the operation's measured duration. Then:

1. the index loads (``assistant.index.load``: nothing is built) and answers a fixed set of
   queries exactly as before the operation or as after it, never in between, and the
   corpus folder's files are those of that same state (before a first build: no index);
2. ``python -m assistant search`` on a copy of what the kill left answers the same and
   writes nothing (reads never build);
3. the next operation succeeds without manual cleanup and gives its expected state: the
   interrupted operation again when the kill left the "before" state (or something else),
   its inverse (add <-> remove) when the operation had already taken effect.

Leftovers (``.partial`` builds, temp files) that survive the next operation are reported
as warnings. ``run(runs, seed)`` returns the figures; ``scripts/crash_harness.py`` prints them.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .speeches import SPEECH_A, SPEECH_B, SPEECH_C, SPEECH_D, SPEECH_E

REPO = Path(__file__).resolve().parent.parent
_NO_PLACES = str.maketrans({"镇": "村", "乡": "村", "县": "省", "市": "省", "区": "片"})
"""The fixture speeches without place-name suffixes: a text with one makes every build load
jieba's part-of-speech dictionary (about 2 s a process), which would triple each run."""
BASE = {n: t.translate(_NO_PLACES) for n, t in (("a.txt", SPEECH_A), ("b.txt", SPEECH_B), ("c.txt", SPEECH_C))}
"""The template corpus."""
INCOMING = {**{n: t.translate(_NO_PLACES) for n, t in (("d.txt", SPEECH_D), ("e.txt", SPEECH_E))},
            "b.txt": BASE["b.txt"], "c.txt": BASE["c.txt"]}
"""Files outside the corpus that ``add`` takes (b and c: to add removed files back)."""
QUERIES = ("人大监督", "安全生产责任怎么落实", "信访稳定", "秸秆综合利用率", "秸秆禁烧责任", "防汛值班", "96.5%")
TOP_K = 5
ENV = {"ASSISTANT_MODEL": "fake", "ASSISTANT_ABSTENTION__ENABLED": "false",
       "ASSISTANT_SHORT_PARAGRAPH_CHARS": "12"}
"""Settings of every process (as the tests' ``settings`` fixture): the fast hashed embedder."""
OP_TIMEOUT = 120.0
_SNAPSHOT = threading.Lock()


@dataclass(frozen=True)
class Op:
    """One write operation: its CLI words (``{in}`` stands for the incoming folder), the
    operation that undoes it, and whether it starts without an index (a first build)."""

    name: str
    argv: tuple[str, ...]
    inverse: str
    fresh: bool = False


OPS = {o.name: o for o in (
    Op("build", ("build", "--force"), "build"),
    Op("build-new", ("build",), "build-new", fresh=True),
    Op("add1", ("add", "{in}/d.txt"), "remove1d"),
    Op("add2", ("add", "{in}/d.txt", "{in}/e.txt"), "remove2de"),
    Op("remove1", ("remove", "c.txt"), "add1c"),
    Op("remove2", ("remove", "b.txt", "c.txt"), "add2bc"),
)}
INVERSES = {o.name: o for o in (
    Op("remove1d", ("remove", "d.txt"), "add1"),
    Op("remove2de", ("remove", "d.txt", "e.txt"), "add2"),
    Op("add1c", ("add", "{in}/c.txt"), "remove1"),
    Op("add2bc", ("add", "{in}/b.txt", "{in}/c.txt"), "remove2"),
)}


MISSING = "(no index)"
"""The answers of a workspace without an index (before a first build)."""


@dataclass(frozen=True)
class State:
    """What a user can observe: the index's answers and documents, and the corpus files."""

    answers: str
    """JSON: passage ids and rounded scores for each query, then ``list``'s rows."""
    corpus: tuple[tuple[str, str], ...]
    """(file name, sha256) of every corpus file, as the index sees the folder."""

    def files(self) -> list[str]:
        return [name for name, _ in self.corpus]


@dataclass
class Workspace:
    """One corpus + index (and the incoming files) under ``root``."""

    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    def env(self) -> dict:
        """The environment of a CLI process on this workspace (no other ASSISTANT_* leaks in)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
        env.update(ENV, ASSISTANT_CORPUS_DIR=str(self.corpus), ASSISTANT_INDEX_DIR=str(self.index),
                   ASSISTANT_SETTINGS=str(self.root / "no-settings.toml"))
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
        return env

    def settings(self):
        """The same settings in this process (defaults + ENV; no TOML, no environment)."""
        from assistant.settings import Settings

        return Settings().replace(corpus_dir=self.corpus, index_dir=self.index, model="fake",
                                  short_paragraph_chars=12, abstention={"enabled": False})

    def argv(self, words: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "assistant", *(w.replace("{in}", str(self.incoming)) for w in words)]

    def clone(self, dest: Path, op: Op | None = None) -> "Workspace":
        """A copy of this workspace, without its index (and caches) for a first-build ``op``."""
        shutil.copytree(self.root, dest, symlinks=True)
        ws = Workspace(dest)
        if op is not None and op.fresh:
            shutil.rmtree(ws.index)
        return ws


@dataclass
class Outcome:
    """A finished (or killed) CLI process."""

    returncode: int
    seconds: float
    killed: bool
    stdout: str
    stderr: str

    def last_log(self) -> str:
        """The last line the process logged: where it was when it ended."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else "(nothing logged yet)"


def start(ws: Workspace, words: tuple[str, ...], kill_at: float | None = None, point: int | None = None) -> Outcome:
    """Run ``python -m assistant WORDS`` on ``ws``; with ``kill_at``, SIGKILL its process
    group that many seconds after it started (unless it has finished); with ``point``, it
    kills itself just before its ``point``-th file-system change (``tests.crash_point``)."""
    stem = ws.root / f".cli.{threading.get_ident()}.{time.monotonic_ns()}"
    argv = ws.argv(words)
    if point is not None:
        argv[1:3] = ["-m", "tests.crash_point", str(point)]
    with open(f"{stem}.out", "wb") as out, open(f"{stem}.err", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ws.root, env=ws.env(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        killed = False
        try:
            proc.wait(timeout=OP_TIMEOUT if kill_at is None else kill_at)
        except subprocess.TimeoutExpired:
            killed = kill_at is not None
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        killed = killed or (point is not None and proc.returncode == -signal.SIGKILL)
        seconds = time.perf_counter() - t0
    texts = [Path(f"{stem}.{x}").read_text("utf-8", errors="replace") for x in ("out", "err")]
    for x in ("out", "err"):
        Path(f"{stem}.{x}").unlink()
    return Outcome(proc.returncode, seconds, killed, *texts)


def observe(ws: Workspace) -> State:
    """The state of ``ws``: its current index loaded (never built) and queried, and its corpus.

    Loading is what every entry point does (``QueryService.open``, add, remove): first
    ``recover`` (finish or discard a change a kill left staged: moves only), then ``load``.
    ``MISSING`` answers when there is no index at all; raises whatever else loading raises."""
    from assistant.corpus import recover
    from assistant.embed import FakeEmbedder
    from assistant.errors import IndexMissing
    from assistant.index import load
    from assistant.search import Searcher

    settings = ws.settings()
    recover(settings, wait=False)
    corpus = corpus_files(ws)
    with _SNAPSHOT:  # one at a time: the harness's threads share this interpreter
        embedder = FakeEmbedder()
        try:
            index = load(settings, embedder)
        except IndexMissing:
            return State(MISSING, corpus)
        searcher = Searcher(index, embedder, settings)
        results = {q: [[h.passage.id, round(h.score, 4)] for h in searcher.search(q, k=TOP_K).hits]
                   for q in QUERIES}
        answers = json.dumps({"search": results, "list": index.documents()}, ensure_ascii=False, sort_keys=True)
    return State(answers, corpus)


def corpus_files(ws: Workspace) -> tuple[tuple[str, str], ...]:
    """(name, sha256) of the corpus files the index is built from (hidden files are not)."""
    from assistant.ingest import corpus_files as listed, file_hash

    return tuple((str(p.relative_to(ws.corpus)), file_hash(p)) for p in listed(ws.corpus))


def would_build(ws: Workspace) -> str | None:
    """Why a read with build-when-stale (today's ``search``, ``list``, the app) would rebuild now."""
    from assistant.embed import FakeEmbedder
    from assistant.index import read_manifest, staleness

    manifest = read_manifest(ws.settings())
    return "no index" if manifest is None else staleness(manifest, ws.settings(), FakeEmbedder())


def leftovers(ws: Workspace) -> list[str]:
    """Files a finished operation should not have left: other builds, ``.partial`` folders, temp files."""
    out = []
    current = (ws.index / "current").resolve()
    for d in sorted((ws.index / "builds").iterdir()) if (ws.index / "builds").is_dir() else []:
        if d.name != ".lock" and d.resolve() != current:
            out.append(f"index/builds/{d.name}")
    for root, label in ((ws.index, "index"), (ws.corpus, "corpus")):
        for p in sorted(root.rglob("*")) if root.is_dir() else []:
            rel = p.relative_to(root)
            if rel.parts[0] == "builds":
                continue
            if any(tag in p.name for tag in (".partial", ".part", ".tmp", ".current.")):
                out.append(f"{label}/{rel}")
    return out


def make_template(root: Path) -> Workspace:
    """Corpus a, b, c with its index built, and the incoming files; raises if the build fails."""
    ws = Workspace(Path(root))
    for folder, files in ((ws.corpus, BASE), (ws.incoming, INCOMING)):
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, "utf-8")
    out = start(ws, ("build",))
    if out.returncode != 0:
        raise RuntimeError(f"template build failed ({out.returncode}): {out.stderr[-2000:]}")
    return ws


# --- one run ---------------------------------------------------------------------------

@dataclass
class Baseline:
    """An operation run to completion on a copy of the template: its duration and result."""

    op: Op
    before: State
    after: State
    seconds: float
    points: int = 0
    """Its file-system changes (counted in ``points`` mode only)."""


@dataclass(frozen=True)
class Kill:
    """When a run kills its operation: at ``fraction`` of its measured duration, or (with
    ``point``) just before its ``point``-th file-system change."""

    fraction: float = 0.0
    point: int | None = None


@dataclass
class Failure:
    """One way a run broke the requirement: ``kind`` is ``load`` (no index loads), ``neither``
    (answers of neither state), ``in-between`` (the index of one state, the corpus files of
    another), ``read-failed`` / ``read-wrote`` / ``read-differs`` (``python -m assistant search``
    on what the kill left fails, changes the index or the corpus, or answers otherwise than
    the index loaded in the harness), ``next-failed`` (the next operation exits non-zero) or
    ``next-wrong`` (it gives the wrong state)."""

    kind: str
    detail: str


@dataclass
class RunResult:
    """What one killed operation left behind and what the next one did."""

    run: int
    op: str
    kill_at: float
    """Seconds after the process started."""
    fraction: float
    """``kill_at`` as a share of the operation's measured duration."""
    killed: bool
    """False when the process had already finished at ``kill_at``."""
    last_log: str
    point: int | None = None
    """The file-system change the process was killed before (``points`` mode)."""
    points: int = 0
    index: str = ""
    """The state the index answered as: before, after, neither, or the load error."""
    corpus: str = ""
    """The state the corpus files are in: before, after or neither."""
    next_op: str = ""
    failures: list[Failure] = field(default_factory=list)
    left_by_kill: list[str] = field(default_factory=list)
    left_after_next: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.failures

    @property
    def state_survived(self) -> bool:
        """Survived the issue's checks (state after the kill, next operation) if not the read's."""
        return all(f.kind.startswith("read-") for f in self.failures)

    def summary(self) -> str:
        head = (f"run {self.run} {self.op}: killed before change {self.point}/{self.points}" if self.point else
                f"run {self.run} {self.op}: killed at {self.kill_at:.3f}s ({self.fraction:.0%})" if self.killed else
                f"run {self.run} {self.op}: finished before the kill at {self.kill_at:.3f}s")
        return (f"{head}; last log: {self.last_log!r}; index={self.index} corpus={self.corpus}; "
                f"next: {self.next_op}")


def describe(state: State) -> str:
    """The speeches the index lists and the corpus files, e.g. ``index a,b,c · corpus a,b``."""
    if state.answers == MISSING:
        return f"no index · corpus has {','.join(state.files())}"
    rows = json.loads(state.answers)["list"]
    return (f"index lists {','.join(sorted({r['source'] for r in rows}))} · "
            f"corpus has {','.join(state.files())}")


def _match(value, before, after) -> str:
    return "before" if value == before else "after" if value == after else "neither"


def judge(ws: Workspace, base: Baseline, res: RunResult) -> None:
    """Check the state a kill left: it loads and is ``before`` or ``after``, index and corpus alike."""
    try:
        state = observe(ws)  # the corpus as loading leaves it (a staged change finished or discarded)
    except Exception as e:  # noqa: BLE001 -- any failure to load is the finding
        corpus = corpus_files(ws)
        res.index = f"load error: {type(e).__name__}: {e}"
        res.failures.append(Failure("load", f"{res.index} (corpus has {','.join(n for n, _ in corpus)})"))
        return
    corpus = state.corpus
    res.corpus = _match(corpus, base.before.corpus, base.after.corpus)
    res.index = _match(state.answers, base.before.answers, base.after.answers)
    if res.index != "neither" and corpus == getattr(base, res.index).corpus:
        res.corpus = res.index  # a build leaves the corpus alone: its before and after files agree
    if res.index == "neither":
        res.failures.append(Failure("neither", f"{describe(state)}; before: {describe(base.before)}; "
                                               f"after: {describe(base.after)}"))
    elif res.corpus != res.index:
        why = would_build(ws)
        res.failures.append(Failure("in-between", f"index answers as {res.index}, corpus files are {res.corpus}: "
                                                  f"{describe(state)}" +
                                    (f"; a read that builds when stale would rebuild ({why})" if why else "")))


def _disk(ws: Workspace) -> tuple:
    """What a read must not change: the current build, the build folders, the corpus files."""
    link = ws.index / "current"
    builds = sorted(os.listdir(ws.index / "builds")) if (ws.index / "builds").is_dir() else []
    return (os.readlink(link) if link.is_symlink() else None, builds, corpus_files(ws))


def read_check(ws: Workspace, res: RunResult) -> None:
    """``python -m assistant search`` on (a copy of) what the kill left: it answers as the
    index loaded here does and writes nothing (reads never build; without an index it fails)."""
    try:
        answers = observe(ws).answers
    except Exception:  # noqa: BLE001 -- already reported by judge
        answers = None
    seen = json.loads(answers)["search"][QUERIES[0]] if answers not in (None, MISSING) else None
    disk = _disk(ws)
    out = start(ws, ("search", QUERIES[0], "--json", "--k", str(TOP_K)))
    if _disk(ws) != disk:
        res.failures.append(Failure("read-wrote", f"`search` changed the index or corpus "
                                                  f"(current {disk[0]} -> {_disk(ws)[0]}): {out.last_log()}"))
    if answers == MISSING:
        return
    if out.returncode != 0:
        res.failures.append(Failure("read-failed", f"`search` exited {out.returncode}: {_tail(ws, out)}"))
        return
    hits = [[h["id"], h["score"]] for h in json.loads(out.stdout)["hits"]]
    if seen is not None and not (len(hits) == len(seen) and all(
            a[0] == b[0] and abs(a[1] - b[1]) < 2e-4 for a, b in zip(hits, seen))):
        res.failures.append(Failure("read-differs", f"`search {QUERIES[0]}` gave {hits}, the index loaded "
                                                    f"here {seen}"))


def _tail(ws: Workspace, out: Outcome) -> str:
    """The last lines a process wrote to stderr, the run's folder shortened to ``<run>``."""
    return " | ".join(out.stderr.strip().splitlines()[-2:]).replace(str(ws.root), "<run>")


def follow_up(ws: Workspace, base: Baseline, res: RunResult) -> None:
    """The next operation: the inverse when the killed one took effect, else the same again;
    it must succeed and give the state it promises."""
    undo = res.index == "after" and res.corpus == "after" and base.op.inverse != base.op.name
    op = INVERSES[base.op.inverse] if undo else base.op
    expected = base.before if undo else base.after
    res.next_op = " ".join(op.argv).replace("{in}/", "")
    out = start(ws, op.argv)
    if out.returncode != 0:
        res.failures.append(Failure("next-failed", f"`{res.next_op}` exited {out.returncode}: {_tail(ws, out)}"))
    try:
        state = observe(ws)
    except Exception as e:  # noqa: BLE001
        res.failures.append(Failure("next-wrong", f"after `{res.next_op}` no index loads: {type(e).__name__}: {e}"))
        return
    if state != expected:
        res.failures.append(Failure("next-wrong", f"after `{res.next_op}`: {describe(state)}, "
                                                  f"expected {describe(expected)}"))
    res.left_after_next = leftovers(ws)


def crash_run(template: Workspace, base: Baseline, run: int, kill: Kill, dest: Path) -> RunResult:
    """Copy the template, kill ``base.op`` as ``kill`` says, judge, follow up."""
    ws = template.clone(dest, base.op)
    kill_at = kill.fraction * base.seconds
    if kill.point is None:
        out = start(ws, base.op.argv, kill_at)
    else:
        out = start(ws, base.op.argv, point=kill.point)
    res = RunResult(run, base.op.name, kill_at, kill.fraction, out.killed, out.last_log(), kill.point, base.points)
    res.left_by_kill = leftovers(ws)
    judge(ws, base, res)
    read = ws.clone(dest.with_name(dest.name + "-read"))  # the next operation sees what the kill left
    read_check(read, res)
    shutil.rmtree(read.root, ignore_errors=True)
    follow_up(ws, base, res)
    return res


def measure(template: Workspace, op: Op, dest: Path, points: bool = False) -> Baseline:
    """Run ``op`` to completion on a copy: its duration and the after state; its inverse must
    then give the before state back (else the harness, not the index, is wrong). With
    ``points``, also count its file-system changes (on another copy)."""
    if points:
        counted = start(template.clone(dest.with_name(dest.name + "-points"), op), op.argv, point=0)
        shutil.rmtree(dest.with_name(dest.name + "-points"), ignore_errors=True)
        last = counted.stderr.strip().splitlines()[-1]
        if counted.returncode != 0 or not last.startswith("crash points: "):
            raise RuntimeError(f"counting {op.name}'s changes failed: {counted.stderr[-2000:]}")
    ws = template.clone(dest, op)
    before = observe(ws)
    out = start(ws, op.argv)
    if out.returncode != 0:
        raise RuntimeError(f"{op.name} failed on a fresh copy ({out.returncode}): {out.stderr[-2000:]}")
    base = Baseline(op, before, observe(ws), out.seconds, int(last.split()[-1]) if points else 0)
    if op.inverse != op.name:
        back = start(ws, INVERSES[op.inverse].argv)
        if back.returncode != 0 or observe(ws) != before:
            raise RuntimeError(f"{op.inverse} after {op.name} does not give the template's state back: "
                               f"{back.stderr[-2000:]}")
    shutil.rmtree(dest, ignore_errors=True)
    return base


# --- many runs ---------------------------------------------------------------------------

@dataclass
class OpFigure:
    """Kills survived / runs for one operation (``killed``: runs whose process was still
    running; ``state_survived``: survived when the CLI read's checks are left out)."""

    runs: int = 0
    survived: int = 0
    killed: int = 0
    state_survived: int = 0


@dataclass
class Report:
    """The figures of one harness session and every failed run."""

    seed: int
    runs: int = 0
    survived: int = 0
    per_op: dict[str, OpFigure] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    failures: list[RunResult] = field(default_factory=list)
    litter: list[RunResult] = field(default_factory=list)
    """Runs after whose next operation files were left behind (not counted as failures)."""
    seconds: float = 0.0

    def add(self, res: RunResult) -> None:
        fig = self.per_op.setdefault(res.op, OpFigure())
        fig.runs += 1
        fig.killed += res.killed
        fig.survived += res.survived
        fig.state_survived += res.state_survived
        self.runs += 1
        self.survived += res.survived
        if not res.survived:
            self.failures.append(res)
        if res.left_after_next:
            self.litter.append(res)

    def to_dict(self) -> dict:
        return {"runs": self.runs, "survived": self.survived, "seed": self.seed,
                "per_op": {k: asdict(v) for k, v in self.per_op.items()},
                "durations": self.durations, "seconds": round(self.seconds, 1),
                "failures": [asdict(r) for r in self.failures],
                "litter": [{"run": r.run, "op": r.op, "point": r.point, "last_log": r.last_log,
                            "left_after_next": r.left_after_next} for r in self.litter]}

    def lines(self) -> list[str]:
        """The figure per operation, then one paragraph per failed run."""
        out = [f"crash harness, seed {self.seed}: kills survived / runs = {self.survived}/{self.runs} "
               f"({self.seconds:.0f}s)"]
        for name, fig in self.per_op.items():
            out.append(f"  {name:9} {fig.survived:3}/{fig.runs:<3} (without the read checks {fig.state_survived}/"
                       f"{fig.runs}; killed while running {fig.killed}; duration "
                       f"{self.durations.get(name, 0):.2f}s; `{' '.join(OPS[name].argv)}`)")
        kinds: dict[str, int] = {}
        for res in self.failures:
            for kind in dict.fromkeys(f.kind for f in res.failures):
                kinds[kind] = kinds.get(kind, 0) + 1
        if kinds:
            out.append("  failed runs by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        for res in self.failures:
            out.append("FAILED " + res.summary())
            out += [f"    {f.kind}: {f.detail}" for f in res.failures]
            if res.left_by_kill:
                out.append(f"    left by the kill: {res.left_by_kill}")
        for res in self.litter:
            where = f"killed before change {res.point}" if res.point else f"killed at {res.fraction:.0%}"
            out.append(f"litter after run {res.run} {res.op} ({where}: {res.last_log!r}) and `{res.next_op}`: "
                       f"{res.left_after_next}")
        return out


def harness(runs: int = 30, seed: int | None = None, workers: int = 2, ops: list[str] | None = None,
            root: Path | None = None, keep: bool = False, at: float | None = None, points: bool = False,
            log=None) -> Report:
    """``runs`` kills, the operations in turn, at uniformly random moments drawn from ``seed``
    (or all at the fraction ``at`` of each operation's duration, to reproduce one moment).
    With ``points``, instead one kill before each file-system change of each operation.

    ``keep`` keeps the workspaces of failed runs (under ``root``, a temp folder by default)."""
    _check_import()
    seed = random.SystemRandom().randrange(2 ** 32) if seed is None else seed
    names = ops or list(OPS)
    report, t0 = Report(seed), time.perf_counter()
    root = Path(root or tempfile.mkdtemp(prefix="crash-"))
    say = log or (lambda s: None)
    say(f"crash harness: seed {seed}, {'every change' if points else f'{runs} runs'} of {', '.join(names)} in {root}")
    try:
        template = make_template(root / "template")
        with ThreadPoolExecutor(max(1, workers)) as pool:
            bases = dict(zip(names, pool.map(lambda n: measure(template, OPS[n], root / f"measure-{n}", points),
                                             names)))
            report.durations = {n: round(b.seconds, 3) for n, b in bases.items()}
            plan = _plan(bases, names, runs, seed, at, points)

            def one(item: tuple[int, str, Kill]) -> RunResult:
                i, name, kill = item
                dest = root / f"run-{i:04d}-{name}"
                res = crash_run(template, bases[name], i, kill, dest)
                if res.survived or not keep:
                    shutil.rmtree(dest, ignore_errors=True)
                return res

            for res in pool.map(one, plan):
                report.add(res)
                if not res.survived:
                    say("FAILED " + res.summary())
    finally:
        if not (keep and report.failures):
            shutil.rmtree(root, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


def _plan(bases: dict[str, Baseline], names: list[str], runs: int, seed: int, at: float | None,
          points: bool) -> list[tuple[int, str, Kill]]:
    """(run number, operation, kill) of every run: the operations in turn at random moments,
    or each operation before each of its changes."""
    if points:
        kills = [(name, Kill(point=n)) for name in names for n in range(1, bases[name].points + 1)]
    else:
        rng = random.Random(seed)
        kills = [(names[i % len(names)], Kill(rng.random() if at is None else at)) for i in range(runs)]
    return [(i, name, kill) for i, (name, kill) in enumerate(kills)]


def _check_import() -> None:
    """The harness checks in this process what the CLI processes (run from ``REPO``) wrote:
    both must be the same ``assistant``."""
    import assistant

    if Path(assistant.__file__).resolve().parent != REPO / "assistant":
        raise RuntimeError(f"assistant is imported from {assistant.__file__}, not {REPO}: "
                           f"run with PYTHONPATH={REPO}")


def run(runs: int = 30, seed: int | None = None, **options) -> dict:
    """``harness`` as a plain dict: ``runs``, ``survived``, ``failures`` (one dict per failed run), …"""
    return harness(runs, seed, **options).to_dict()
