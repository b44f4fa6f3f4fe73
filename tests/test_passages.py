"""Passages read on demand from passages.jsonl (an index above ``resident_passages``)."""
import json
import threading

import pytest

from assistant import passages as P
from assistant.build import build
from assistant.index import load
from assistant.search import Searcher
from assistant.types import Citation, Passage


def _passage(i: int, text: str) -> Passage:
    return Passage(id=f"p{i}", doc_id=f"d{i % 3}", text=text, position=i,
                   citation=Citation(title="讲话", number=1, headings=("一、",), paragraph=i, source="a.txt"))


def _write(path, ps, trailing=True):
    body = "\n".join(json.dumps(p.to_dict(), ensure_ascii=False) for p in ps)
    path.write_text(body + ("\n" if trailing else ""), "utf-8")


TEXTS = ["乡镇人大要加强监督\u2028执法检查", "信访工作\u0085依法办理\x1c", "短", "防汛抗旱" * 50, "最后一段"]


@pytest.mark.parametrize("trailing", [True, False])
@pytest.mark.parametrize("block", [7, 64, 1 << 22])
def test_file_reads_every_passage_as_written(tmp_path, monkeypatch, trailing, block):
    monkeypatch.setattr(P, "_BLOCK", block)  # lines across block boundaries
    ps = [_passage(i, t) for i, t in enumerate(TEXTS)]
    _write(tmp_path / "p.jsonl", ps, trailing)
    f = P.PassageFile(tmp_path / "p.jsonl", cache=2)
    assert len(f) == len(ps)
    assert [f[i] for i in range(len(f))] == ps
    assert list(f) == ps
    assert f[-1] == ps[-1] and f[1:3] == ps[1:3] and f[3] == ps[3]  # again, partly from the cache
    with pytest.raises(IndexError):
        f[len(ps)]
    assert P.read_passages(tmp_path / "p.jsonl", resident=len(ps)) == ps  # small: a plain list
    assert isinstance(P.read_passages(tmp_path / "p.jsonl", resident=len(ps) - 1), P.PassageFile)
    assert list(P.texts_of(f)) == TEXTS and P.texts_of(f)[2] == "短"


def test_file_stays_readable_after_its_build_is_removed(tmp_path):
    ps = [_passage(i, t) for i, t in enumerate(TEXTS)]
    _write(tmp_path / "p.jsonl", ps)
    f = P.PassageFile(tmp_path / "p.jsonl", cache=1)
    (tmp_path / "p.jsonl").unlink()  # a newer build pruned this one while a request still uses it
    assert f[4] == ps[4] and f[0] == ps[0]


def test_threads_share_one_file(tmp_path):
    ps = [_passage(i, f"第{i}段内容") for i in range(500)]
    _write(tmp_path / "p.jsonl", ps)
    f = P.PassageFile(tmp_path / "p.jsonl", cache=16)
    bad = []

    def read(seed):
        for k in range(2000):
            i = (seed * 7919 + k * 104729) % len(ps)
            if f[i] != ps[i]:
                bad.append(i)

    threads = [threading.Thread(target=read, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_index_on_disk_answers_like_the_index_in_memory(settings, fake):
    build(settings, fake, progress=False)
    memory = load(settings, fake)
    lazy_settings = settings.replace(index={"resident_passages": 0})
    lazy = load(lazy_settings, fake)
    assert isinstance(lazy.passages, P.PassageFile) and isinstance(memory.passages, list)
    assert list(lazy.passages) == memory.passages
    a, b = Searcher(memory, fake, settings), Searcher(lazy, fake, lazy_settings)
    for q in ("人大代表怎样监督政府工作", "防汛", "信访"):
        want, got = a.search(q), b.search(q)
        assert [h.passage for h in got.hits] == [h.passage for h in want.hits] and want.hits
    text = memory.passages[3].text
    assert [h.passage.id for h in b.similar(text).hits] == [h.passage.id for h in a.similar(text).hits]
    assert lazy.documents() == memory.documents() and lazy.section(2) == memory.section(2)
