"""Fuzzing the readers and the query path (the targets: tests/fuzz.py).

Each target runs ``ASSISTANT_FUZZ_EXAMPLES`` derandomized inputs (default 30: about 30 s on
two cores); the first input that breaks a contract fails the test, shrunk by hypothesis.
``ASSISTANT_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py`` fuzzes harder;
``ASSISTANT_FUZZ_SEED=N`` draws other inputs.
"""
import pytest

pytest.importorskip("hypothesis")

from tests.fuzz import (EXAMPLES, TARGETS, FuzzRow, FuzzWorld, format_table, run_big_lines,  # noqa: E402
                                run_fuzz, run_target)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = FuzzWorld(tmp_path_factory.mktemp("fuzz"))
    yield w
    w.close()


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz_target(world, name):
    row = run_target(name, EXAMPLES, world, fail_fast=True)
    assert row.inputs >= 1 and row.failures == 0, row.examples


def test_10_mb_single_lines(world):
    row = run_big_lines(world, fail_fast=True)
    assert row.inputs == 4 and row.failures == 0


def test_seed_files_are_read(world, tmp_path):
    """The seeds are good files: a damaged copy of one then tests the reader past its sniffing."""
    from assistant.ingest import read_file

    for name, data in world.seeds.items():
        (tmp_path / name).write_bytes(data)
        docs = read_file(tmp_path / name)
        assert docs and docs[0].paragraphs, name


def test_run_fuzz_rows_for_the_reliability_table():
    rows = run_fuzz(3, names=["readers: random bytes", "API /search"], big_lines=False)
    assert [r.target for r in rows] == ["readers: random bytes", "API /search"]
    assert all(isinstance(r, FuzzRow) and r.inputs == 3 and r.failures == 0 for r in rows)
    table = format_table(rows)
    assert "| readers: random bytes | 3 | 0 |" in table and "| **total** | 6 | 0 |" in table
