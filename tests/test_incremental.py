"""Adding and removing files: only new passages are embedded, and the result equals a full rebuild."""
import json
import multiprocessing as mp
import shutil

import numpy as np
import pytest

from assistant.cli import main
from assistant.errors import IndexBusy
from assistant.build import build
from assistant.corpus import add_files, remove_files
from assistant.index import load
from assistant.lock import index_lock
from assistant.search import Searcher

from tests.speeches import SPEECH_D

NEW = SPEECH_D  # a 秸秆禁烧 speech the tiny corpus does not have


def _new_file(tmp_path, name="jinshao.txt", text=NEW):
    p = tmp_path / "incoming" / name
    p.parent.mkdir(exist_ok=True)
    p.write_text(text, "utf-8")
    return p


def _snapshot(index, searcher_settings, embedder):
    s = Searcher(index, embedder, searcher_settings)
    results = {q: [(h.passage.id, round(h.score, 5)) for h in s.search(q, k=5).hits]
               for q in ("秸秆禁烧责任怎么落实", "人大监督", "信访稳定", "96.5%")}
    return ([p.to_dict() for p in index.passages], index.groups, results)


def test_add_equals_full_rebuild_and_embeds_only_new(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    before = fake.calls
    rep = add_files(settings, fake, [_new_file(tmp_path)])
    assert rep.changed == ["jinshao.txt"] and rep.skipped == []
    new_passages = [p for p in rep.index.passages if p.citation.source == "jinshao.txt"]
    assert 0 < fake.calls - before <= len(new_passages)
    incremental = _snapshot(rep.index, settings, fake)

    # the same corpus indexed from nothing
    fresh = settings.replace(index_dir=tmp_path / "fresh-index")
    full = build(fresh, fake, progress=False)
    assert _snapshot(full, settings, fake) == incremental
    assert full.manifest["corpus_hash"] == rep.index.manifest["corpus_hash"]
    assert full.manifest["counts"] == rep.index.manifest["counts"]
    assert rep.index.manifest["files"]["jinshao.txt"]


def test_remove_equals_full_rebuild(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    rep = remove_files(settings, fake, ["b.txt"])
    assert rep.changed == ["b.txt"] and not (settings.index.corpus_dir / "b.txt").exists()
    assert not any(p.citation.source == "b.txt" for p in rep.index.passages)
    full = build(settings.replace(index_dir=tmp_path / "fresh"), fake, progress=False)
    assert _snapshot(full, settings, fake) == _snapshot(rep.index, settings, fake)


def test_bad_files_skipped_with_reason_rest_added(settings, fake, tmp_path):
    before = build(settings, fake, progress=False)
    bad_bin = tmp_path / "incoming" / "scan.pdf"
    bad_bin.parent.mkdir(exist_ok=True)
    bad_bin.write_bytes(b"%PDF-1.4\n%broken\x00\x01\x02")
    empty = tmp_path / "incoming" / "empty.txt"
    empty.write_bytes(b"")
    weird = tmp_path / "incoming" / "data.bin"
    weird.write_bytes(bytes(range(256)) * 4)
    good = _new_file(tmp_path)
    rep = add_files(settings, fake, [bad_bin, empty, weird, tmp_path / "missing.txt", good])
    assert rep.changed == ["jinshao.txt"]
    reasons = "\n".join(rep.skipped)
    for name in ("scan.pdf", "empty.txt", "data.bin", "missing.txt"):
        assert name in reasons
    assert sorted(p.name for p in settings.index.corpus_dir.iterdir()) == ["a.txt", "b.txt", "c.txt", "jinshao.txt"]
    assert len(rep.index.passages) > len(before.passages)


def test_nothing_readable_leaves_index_untouched(settings, fake, tmp_path):
    before = build(settings, fake, progress=False)
    junk = tmp_path / "junk.docx"
    junk.write_bytes(b"not a zip at all")
    rep = add_files(settings, fake, [junk])
    assert rep.changed == [] and rep.index is None and "junk.docx" in rep.skipped[0]
    assert load(settings, fake).path == before.path


def test_name_clash_refused(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    clash = _new_file(tmp_path, name="a.txt")
    rep = add_files(settings, fake, [clash])
    assert rep.changed == [] and "already in the corpus" in rep.skipped[0]
    assert "人大" in (settings.index.corpus_dir / "a.txt").read_text("utf-8")


def _hold_lock(settings, ready, release):
    with index_lock(settings):
        ready.set()
        release.wait(20)


def test_second_writer_gets_busy(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(settings, ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        with pytest.raises(IndexBusy, match="busy|正忙"):
            with index_lock(settings, timeout=0.5):
                pass
    finally:
        release.set()
        proc.join(10)
    # once the other writer is done, adding works
    assert add_files(settings, fake, [_new_file(tmp_path)]).changed == ["jinshao.txt"]


def test_documents(settings, fake):
    rows = build(settings, fake, progress=False).documents()
    by_source = {r["source"]: r for r in rows if r["number"] is None}
    assert by_source["a.txt"]["date"] == "2023-04-01" and by_source["a.txt"]["passages"] >= 2
    assert {r["number"] for r in rows if r["source"] == "c.txt"} == {1, 2}


def test_cli_add_list_remove(settings, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ASSISTANT_MODEL", "fake")
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(settings.index.corpus_dir))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(settings.index.index_dir))
    assert main(["add", str(_new_file(tmp_path)), str(tmp_path / "nope.txt")]) == 0
    out = capsys.readouterr()
    assert "added: jinshao.txt" in out.out and "nope.txt" in out.err
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["source"] == "jinshao.txt" and r["occasion"] for r in rows)
    assert main(["remove", "jinshao.txt"]) == 0
    assert "removed: jinshao.txt" in capsys.readouterr().out
    assert main(["remove", "jinshao.txt"]) == 2


# --- a change is one transaction with the index -------------------------------------------

def test_failed_build_leaves_corpus_and_index_as_they_were(settings, fake, tmp_path, monkeypatch):
    import assistant.build as build_mod

    before = build(settings, fake, progress=False)
    files = sorted(p.name for p in settings.index.corpus_dir.iterdir())

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(build_mod, "_switch_current", boom)
    with pytest.raises(OSError):
        add_files(settings, fake, [_new_file(tmp_path)])
    assert sorted(p.name for p in settings.index.corpus_dir.iterdir()) == files  # no .pending left either
    assert load(settings, fake).path == before.path


def _killed_after(monkeypatch, stage):
    """Make a change stop as a kill would at ``stage``: nothing after it runs, nothing is cleaned up."""
    import assistant.build as build_mod
    import assistant.corpus as corpus_mod

    class Killed(BaseException):
        pass

    monkeypatch.setattr(corpus_mod, "_finish", lambda plan, settings: None)
    if stage == "before-switch":
        monkeypatch.setattr(build_mod, "_switch_current", lambda *a: (_ for _ in ()).throw(Killed()))
    return Killed


@pytest.mark.parametrize("stage", ["before-switch", "after-switch"])
def test_a_killed_add_is_discarded_or_completed(settings, fake, tmp_path, monkeypatch, stage):
    from assistant.corpus import recover

    before = build(settings, fake, progress=False)
    killed = _killed_after(monkeypatch, stage)
    try:
        add_files(settings, fake, [_new_file(tmp_path)])
    except killed:
        pass
    assert (settings.index.corpus_dir / ".pending").is_dir()  # the stage a kill leaves
    assert not (settings.index.corpus_dir / "jinshao.txt").exists()
    monkeypatch.undo()
    recover(settings)
    assert not (settings.index.corpus_dir / ".pending").exists()
    index = load(settings, fake)
    in_index = any(p.citation.source == "jinshao.txt" for p in index.passages)
    assert in_index == (settings.index.corpus_dir / "jinshao.txt").exists() == (stage == "after-switch")
    assert (index.path == before.path) == (stage == "before-switch")


def test_a_killed_remove_is_completed_by_the_next_load(settings, fake, monkeypatch):
    from assistant.service import QueryService

    build(settings, fake, progress=False)
    _killed_after(monkeypatch, "after-switch")
    remove_files(settings, fake, ["b.txt"])
    assert (settings.index.corpus_dir / "b.txt").exists()  # the index no longer has it; the folder still does
    monkeypatch.undo()
    svc = QueryService.open(settings, progress=False)  # a read: recovers (moves only), never builds
    assert not (settings.index.corpus_dir / "b.txt").exists() and svc.notice is None


def test_remove_takes_the_path_given_to_add_a_name_or_a_speech_id(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    src = _new_file(tmp_path)
    add_files(settings, fake, [src])
    assert remove_files(settings, fake, [str(src)]).changed == ["jinshao.txt"]  # the path add was given
    assert remove_files(settings, fake, ["a"]).changed == ["a.txt"]  # speech id
    rep = remove_files(settings, fake, ["c#1", "nope.txt"])
    assert rep.changed == [] and "one of 2 in the file c.txt" in rep.skipped[0] and "nope.txt" in rep.skipped[1]
    assert sorted(p.name for p in settings.index.corpus_dir.iterdir()) == ["b.txt", "c.txt"]


def test_a_speech_over_the_passage_limit_is_refused(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    small = settings.replace(max_passages_per_document=10)
    long_text = NEW + "".join(f"第{i}条，各村要落实第{i}项措施，做到责任到人、任务到岗。\n" for i in range(40))
    rep = add_files(small, fake, [_new_file(tmp_path, text=long_text)])
    assert rep.changed == [] and "over the limit of 10" in rep.skipped[0] and "max_passages_per_document" in rep.skipped[0]
    assert not (settings.index.corpus_dir / "jinshao.txt").exists()


def test_reads_never_build(settings, fake, tmp_path):
    from assistant.errors import IndexMissing
    from assistant.service import QueryService

    with pytest.raises(IndexMissing, match="python -m assistant build"):
        QueryService.open(settings, progress=False)
    built = build(settings, fake, progress=False)
    shutil.copy(_new_file(tmp_path), settings.index.corpus_dir / "jinshao.txt")  # by hand
    svc = QueryService.open(settings, progress=False)
    assert svc.index.path == built.path and "jinshao.txt" in svc.notice and "python -m assistant build" in svc.notice


@pytest.mark.parametrize("name,stored", [("normal.txt", "normal.txt"), ("a\x01b\x7f.txt", "ab.txt"),
                                         ("..\\..\\evil.txt", "evil.txt"), ("讲话 稿.txt", "讲话 稿.txt")])
def test_safe_names(name, stored):
    from assistant.corpus import safe_name

    assert safe_name(name) == stored


@pytest.mark.parametrize("name", ["..", ".hidden.txt", "CON.txt", "nul", "lpt1.txt", "\x00\x01", "长" * 80 + ".txt"])
def test_unsafe_names_refused(name):
    from assistant.corpus import safe_name
    from assistant.errors import IngestError

    with pytest.raises(IngestError, match="rename it"):
        safe_name(name)


def test_an_uploaded_file_lands_under_the_corpus_with_a_clean_name(settings, fake, tmp_path):
    build(settings, fake, progress=False)
    src = _new_file(tmp_path, name="jin\x1bshao\x07.txt")
    rep = add_files(settings, fake, [src])
    assert rep.changed == ["jinshao.txt"] and (settings.index.corpus_dir / "jinshao.txt").is_file()
    assert not list(tmp_path.glob("*.txt"))  # nothing written outside the corpus folder
