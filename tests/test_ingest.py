"""Ingestion of each seed quirk, and the text decoder's refusals."""
import re

import pytest

from assistant.errors import IngestError
from assistant.ingest import clean_lines, decode_bytes, load_corpus, read_file, split_documents

from .conftest import SEEDS


@pytest.fixture(scope="module")
def seed_docs():
    docs, skipped = load_corpus(SEEDS)
    assert skipped == []
    return {d.id: d for d in docs}


def _all_paragraphs(docs):
    return [p for d in docs.values() for p in d.paragraphs]


def test_collection_file_splits_into_18_numbered_speeches(seed_docs):
    multi = [d for d in seed_docs.values() if d.source.startswith("001_")]
    assert [d.number for d in multi] == list(range(1, 19))
    assert {d.title for d in multi} == {"乡镇人大工作会议讲话"}
    assert all(d.paragraphs for d in multi)
    # the collection title repeated inside 篇1 is not content
    assert not any("精选18篇" in p for d in multi for p in d.paragraphs)


def test_titles_and_dates(seed_docs):
    assert seed_docs["000_d1cad726720dc7e5"].title == "乡镇大讨论活动总结大会讲话"
    assert seed_docs["000_d1cad726720dc7e5"].date == "2022-03-30"
    assert seed_docs["002_f7a936884b4b7943"].date == "2022-06-13"
    assert seed_docs["003_638f7869403ae52e"].title == "在全镇党员干部大会上的讲话范文稿"
    assert seed_docs["003_638f7869403ae52e"].date == "2021-05-08"
    assert seed_docs["004_258bf248aa43ca4b"].title == "镇科学发展观活动经验交流材料"
    # the title line repeated under the header is dropped
    assert seed_docs["004_258bf248aa43ca4b"].paragraphs[0].startswith("尊敬的杨书记")


@pytest.mark.parametrize("junk", ["当前位置", "本文档由用户上传", "网站客服", "不代表本站观点", "上一篇",
                                  "下一篇", "阅读(3.03W)", "当前文档由用户上传", "KB", "相关文档", "11页"])
def test_boilerplate_removed(seed_docs, junk):
    assert not any(junk in p for p in _all_paragraphs(seed_docs))


def test_content_next_to_boilerplate_is_kept(seed_docs):
    paras = _all_paragraphs(seed_docs)
    assert any(p.startswith("今年以来,全镇上下认真贯彻落实党的十六大") for p in paras)
    assert any("我的讲话完了,谢谢大家!" in p for p in paras)
    assert any("1—9月全镇实现工业产值6.25亿元" in p for p in paras)


def test_space_separated_paragraphs_are_split(seed_docs):
    d = seed_docs["003_638f7869403ae52e"]
    assert len(d.paragraphs) >= 15
    assert d.paragraphs[0] == "同志们:"
    assert any(p.startswith("一、优环境、促发展,必须统一思想,提高政治站位") for p in d.paragraphs)
    assert not any(re.search(r" {2,}", p) for p in d.paragraphs)


def test_question_mark_artifacts_stripped(seed_docs):
    paras = _all_paragraphs(seed_docs)
    assert not any(p.startswith(("?", "？")) for p in paras)
    assert not any("。?" in p for p in paras)
    # "…做了研究。?上午,…" became two paragraphs
    assert any(p.startswith("上午,市委书记、市人大会主任曹学成同志") for p in paras)


def test_line_broken_mid_sentence_is_joined(seed_docs):
    d = seed_docs["001_3f4ca205cb476b0e#2"]
    assert any("始终注意把人大工作置于党委领导之下。" in p for p in d.paragraphs)


def test_headings_are_not_joined_to_the_next_line(seed_docs):
    d = seed_docs["000_d1cad726720dc7e5"]
    assert "一、我镇发展的长处、优势" in d.paragraphs


def test_real_question_marks_survive():
    lines, _ = clean_lines("标题\n他们经常问:什么时候来占我们的土地?因此我们要做好工作。\n")
    assert lines[1] == "他们经常问:什么时候来占我们的土地?因此我们要做好工作。"


def test_single_speech_without_title_line_uses_file_name():
    docs = split_documents(["这是一段很长的讲话正文,没有单独的标题行,直接从正文开始,一直说到结束。"], {}, "x.txt")
    assert docs[0].title == "x"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030", "big5"])
def test_decoding_chinese_encodings(encoding):
    text = "同志们：今天我们召开全镇人大工作会议，研究部署监督工作。" * 3
    if encoding == "big5":
        text = "同志們：今天我們召開全鎮人大工作會議，研究部署監督工作。" * 3
    assert decode_bytes(text.encode(encoding), "x.txt") == text


def test_decoding_refuses_binary_and_empty():
    with pytest.raises(IngestError, match="binary"):
        decode_bytes(b"\x00\x01\x02PK\x00" * 50, "x.txt")
    with pytest.raises(IngestError, match="empty"):
        decode_bytes(b"  \n ", "x.txt")


def test_read_file_errors_name_the_file(tmp_path):
    p = tmp_path / "notes.xyz"
    p.write_text("hello")
    with pytest.raises(IngestError, match="notes.xyz.*unsupported"):
        read_file(p)
    p = tmp_path / "junk.txt"
    p.write_text("当前位置:首页>讲话稿>\n网站客服QQ:123\n")
    with pytest.raises(IngestError, match="junk.txt.*no speech text"):
        read_file(p)


def test_bad_file_is_skipped_rest_loaded(tiny_corpus):
    (tiny_corpus / "broken.txt").write_bytes(b"\x00\x00\x00\x00binary")
    docs, skipped = load_corpus(tiny_corpus)
    assert len(skipped) == 1 and "broken.txt" in skipped[0]
    assert {d.source for d in docs} == {"a.txt", "b.txt", "c.txt"}


# --- hostile input (found by tests/test_fuzz.py) ------------------------------------------------

@pytest.mark.parametrize("data", [b"\xff\xfeabc", b"\xff\xfe" + "中".encode("utf-16-le") + b"\x00\xd8"],
                         ids=["odd-length", "lone-surrogate"])
def test_damaged_utf16_is_an_ingest_error(data):
    # was: UnicodeDecodeError escaped from decode_bytes and stopped the whole batch
    with pytest.raises(IngestError, match=r"^x\.txt: damaged UTF-16 text .*save it again as UTF-8"):
        decode_bytes(data, "x.txt")


def test_scraped_lines_are_joined_in_linear_time(tmp_path):
    # was: each broken line was appended to the growing line (a copy each time): 10 MB took 35 s
    import time

    line = "这是一行很长很长的没有标点的文字内容用来测试拼接的性能问题" * 2
    p = tmp_path / "long.txt"
    p.write_text("标题\n" + (line + "\n") * 80_000, "utf-8")
    t = time.perf_counter()
    (doc,) = read_file(p)
    assert time.perf_counter() - t < 15
    assert doc.paragraphs == [line * 80_000]


def test_a_10_mb_single_line(tmp_path):
    # was: place names were POS-tagged over the whole 10 MB paragraph (the 50 000-character budget
    # was only checked between paragraphs): 124 s
    import time

    line = "在全镇工作会议上的讲话，我们要落实责任。" * 180_000
    p = tmp_path / "one_line.txt"
    p.write_text(line, "utf-8")
    t = time.perf_counter()
    (doc,) = read_file(p)
    assert time.perf_counter() - t < 30
    assert "".join(doc.paragraphs) == line
