"""Crash safety: build, add and remove killed (SIGKILL) at random moments leave the index and
the corpus as before or as after the operation, and the next operation just works.

``ASSISTANT_CRASH_RUNS`` sets the number of kills (default 30), ``ASSISTANT_CRASH_SEED`` the
seed (default random; it is in the failure message). See tests/crash.py.
"""
import os
import shutil
import signal

import pytest

from tests.crash import OPS, RunResult, harness, judge, make_template, measure, start

RUNS = int(os.environ.get("ASSISTANT_CRASH_RUNS", 30))
SEED = int(os.environ["ASSISTANT_CRASH_SEED"]) if os.environ.get("ASSISTANT_CRASH_SEED") else None


def test_kills_are_survived(tmp_path):
    report = harness(RUNS, SEED, root=tmp_path / "crash", keep=True)
    print("\n".join(report.lines()))
    assert report.runs == RUNS
    if report.survived != report.runs:
        pytest.fail("\n".join(report.lines()), pytrace=False)


def test_the_harness_sees_a_state_in_between(tmp_path):
    """The checks themselves: a corpus changed under the old index, and a current link to
    an unfinished build, are failures."""
    template = make_template(tmp_path / "template")
    base = measure(template, OPS["add1"], tmp_path / "measure")

    half = template.clone(tmp_path / "half")
    shutil.copy(half.incoming / "d.txt", half.corpus / "d.txt")  # copied in, index not switched
    res = RunResult(0, "add1", 0.0, 0.0, True, "")
    judge(half, base, res)
    assert (res.index, res.corpus) == ("before", "after")
    assert [f.kind for f in res.failures] == ["in-between"]

    broken = template.clone(tmp_path / "broken")  # current names a build without its passages
    shutil.copytree((broken.index / "current").resolve(), broken.index / "builds" / "x.partial")
    (broken.index / "builds" / "x.partial" / "passages.jsonl").unlink()
    (broken.index / "current").unlink()
    (broken.index / "current").symlink_to("builds/x.partial")
    res = RunResult(0, "add1", 0.0, 0.0, True, "")
    judge(broken, base, res)
    assert [f.kind for f in res.failures] == ["load"] and res.index.startswith("load error")


def test_a_crash_point_kills_before_that_change(tmp_path):
    """``tests.crash_point`` counts an operation's file-system changes and dies before the one asked for."""
    template = make_template(tmp_path / "template")
    base = measure(template, OPS["remove1"], tmp_path / "measure", points=True)
    assert base.points > 5
    ws = template.clone(tmp_path / "last")
    out = start(ws, OPS["remove1"].argv, point=base.points)
    assert out.killed and out.returncode == -signal.SIGKILL
    assert out.last_log().startswith(f"crash point {base.points}: before ")
