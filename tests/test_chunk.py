"""Heading paths, short-paragraph folding and the token budget of every passage."""
import pytest

from assistant.chunk import chunk_document, embed_text, heading_level, sentences, structure
from assistant.ingest import Document, load_corpus

from .conftest import SEEDS


def count(text):  # a stand-in tokenizer: one token per character plus specials
    return len(text) + 2


@pytest.mark.parametrize("text,level", [
    ("一、充分认识", 1), ("（三）加强领导", 2), ("(三)加强领导", 2), ("4、线损", 3), ("4.线损", 3),
    ("（2）做好", 4), ("第一,坚持", 5), ("首先,要依法", 5), ("二是抓普法", 6), ("三要加强", 6),
    ("2015年工作", None), ("3.5亿元", None), ("同志们:", None),
])
def test_heading_levels(text, level):
    got = heading_level(text)
    assert (got[0] if got else None) == level


def test_heading_path_tolerates_skipped_levels_and_folds_short_lines():
    doc = Document(id="d", title="测试讲话", source="d.txt", paragraphs=[
        "同志们:",
        "今天召开会议,研究部署今年的重点工作,大家要认真领会会议精神。",
        "一、总体要求",
        "（1）跳过了（一）这一级的段落。它依然要挂在一、下面,并且带上自己的编号。",
        "（二）工作措施",
        "要加强领导,落实责任,确保各项措施落到实处,取得实实在在的成效。",
        "二、保障措施",
        "各部门要密切配合,形成工作合力,共同推进各项任务顺利完成。",
    ])
    units = structure(doc, short_chars=10)
    assert units[0].text.startswith("同志们:今天召开会议")  # greeting folded into the next body
    assert units[0].paragraph == 1
    assert units[1].labels == ("一、", "（1）")
    assert units[2].labels == ("一、", "（二）")
    assert units[2].headings == ("一、总体要求", "（二）工作措施")
    assert units[3].labels == ("二、",)
    assert units[3].paragraph == 8
    # headings are not passages of their own
    assert all(u.text not in ("一、总体要求", "（二）工作措施") for u in units)


def test_long_paragraph_split_at_sentence_ends_with_overlap():
    sent = [f"这是第{i}句话,讲的是第{i}项工作的具体要求和落实办法。" for i in range(40)]
    doc = Document(id="d", title="长段落", source="d.txt", paragraphs=["".join(sent)])
    ps = chunk_document(doc, count, max_tokens=120, overlap=1)
    assert len(ps) > 3
    for p in ps:
        assert count(embed_text(p.context, p.text)) <= 120
        assert p.text.endswith("。")
    # consecutive chunks share one sentence
    assert sentences(ps[0].text)[-1] == sentences(ps[1].text)[0]
    assert [p.citation.part for p in ps] == list(range(1, len(ps) + 1))
    assert len({p.id for p in ps}) == len(ps)
    # nothing lost
    joined = ps[0].text + "".join("".join(sentences(p.text)[1:]) for p in ps[1:])
    assert joined == "".join(sent)


def test_sentence_longer_than_window_is_still_cut():
    doc = Document(id="d", title="t", source="d.txt", paragraphs=["很长" * 300 + "。"])
    ps = chunk_document(doc, count, max_tokens=100)
    assert all(count(embed_text(p.context, p.text)) <= 100 for p in ps)
    assert "".join(p.text for p in ps) == "很长" * 300 + "。"


def test_every_seed_passage_fits_and_cites():
    docs, _ = load_corpus(SEEDS)
    for d in docs:
        for p in chunk_document(d, count, max_tokens=320):
            assert count(embed_text(p.context, p.text)) <= 320
            assert p.citation.source.endswith(".txt") and p.citation.paragraph >= 1
            assert str(p.citation).startswith(f"《{d.title}》")


def test_collection_title_not_in_context():
    docs, _ = load_corpus(SEEDS)
    d = next(d for d in docs if d.number == 2)
    ps = chunk_document(d, count, max_tokens=320)
    assert not any("乡镇人大工作会议讲话" in p.context for p in ps)
    assert any("三、突出重点,注重实效" in p.context for p in ps)
    c = next(p for p in ps if p.text.startswith("(一)在讲求监督的力度上")).citation
    assert str(c).startswith("《乡镇人大工作会议讲话》 篇2 · 三、(一) · 第")


def test_one_line_points_are_passages_not_lost_headings():
    doc = Document(id="d", title="营销工作会议讲话", source="d.txt", paragraphs=[
        "三、主要任务",
        "1、电量:计划完成82亿千瓦时,增长8.79%,力争实现两位数增长。",
        "2、售电均价",
        "3、线损率",
        "要继续加大普查稽查力度,加强计量装置改造,把线损率降下来,确保全年线损指标控制在计划以内。",
        "四、保障措施",
    ])
    units = structure(doc, short_chars=10)
    texts = [u.text for u in units]
    # a lead with its content and a heading with nothing under it are one-line points of
    # section 三、: they keep their words, together, cited by that section
    assert texts[0] == "1、电量:计划完成82亿千瓦时,增长8.79%,力争实现两位数增长。2、售电均价"
    assert units[0].labels == ("三、",) and units[0].paragraph == 2
    assert "3、线损率" not in texts          # a real heading: context of the body below
    assert units[1].labels == ("三、", "3、")
    assert texts[-1] == "四、保障措施"      # the last heading, empty, is kept too
    assert [u.paragraph for u in units] == [2, 5, 6]


def test_points_of_different_sections_are_not_merged():
    doc = Document(id="d", title="t", source="d.txt", paragraphs=[
        "一、指标", "1、电量:完成82亿千瓦时。", "2、线损:完成3.52%。",
        "二、任务", "1、电量:计划增长8%。",
    ])
    texts = [u.text for u in structure(doc, short_chars=10)]
    assert texts == ["1、电量:完成82亿千瓦时。2、线损:完成3.52%。", "1、电量:计划增长8%。"]
