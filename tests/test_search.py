"""Search, similar, dedupe, filters and query validation on the tiny corpus with the fake embedder."""
import pytest

from assistant.errors import QueryError
from assistant.search import Filters


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_finds_the_supervision_paragraph(searcher, mode):
    res = searcher.search("人大监督要采取哪些形式", k=3, mode=mode)
    assert not res.abstained
    assert "执法检查、视察" in res.hits[0].passage.text
    assert res.hits[0].citation.title == "在全镇人大工作会议上的讲话"
    assert res.hits[0].score >= res.hits[-1].score


def test_keyword_figure(searcher):
    res = searcher.search("96.5%", k=3, mode="bm25")
    assert "96.5%" in res.hits[0].passage.text


def test_results_carry_citations(searcher):
    h = searcher.search("专兼职人大工作人员", k=1).hits[0]
    c = str(h.citation)
    assert c.startswith("《在全镇人大工作会议上的讲话》 · 二、 · 第")
    assert "2023-04-01" in c and "a.txt" in c
    d = h.to_dict()
    assert {"text", "score", "citation", "duplicates"} <= set(d)


def test_template_duplicates_are_folded(searcher):
    res = searcher.search("乡镇人大在各级党委的正确领导下认真履行宪法和法律赋予的职责", k=5, mode="hybrid")
    texts = [h.passage.text for h in res.hits]
    assert sum("多年来,我县乡镇人大" in t or "多年来，我县乡镇人大" in t for t in texts) == 1
    top = next(h for h in res.hits if "多年来" in h.passage.text)
    assert len(top.duplicates) == 1
    assert top.duplicates[0].citation.number != top.citation.number


def test_similar_excludes_the_query_paragraph(searcher):
    para = "农村低保工作要做到应保尽保，对无申请能力的，村委会要代为申请。"
    res = searcher.similar(para, k=3)
    assert res.hits
    assert all(h.passage.text != para for h in res.hits)
    assert all(para not in h.passage.text for h in res.hits)


def test_similar_finds_template_copy_in_other_speech(searcher):
    para = "多年来，我县乡镇人大在各级党委的正确领导下，紧紧围绕经济建设中心，认真履行宪法和法律赋予的各项职责，各项工作都取得了显著成绩。"
    res = searcher.similar(para, k=3)
    # the same wording stands in 篇1 and 篇2: 篇1 is taken as the query itself, 篇2 is the answer
    top = res.hits[0]
    assert para in top.passage.text and top.citation.number == 2
    assert all(h.citation.number != 1 or "多年来" not in h.passage.text for h in res.hits)
    # the caller can name the query's own passage exactly
    own = next(p.id for p in searcher.index.passages if para in p.text and p.citation.number == 2)
    res = searcher.similar(para, k=3, exclude_ids=[own])
    assert res.hits[0].citation.number == 1 and para in res.hits[0].passage.text


def test_filters(searcher):
    res = searcher.search("安全生产", k=5, filters=Filters(sources=["a.txt"]))
    assert res.hits and all(h.citation.source == "a.txt" for h in res.hits)
    res = searcher.search("安全生产", k=5, filters=Filters(date_from="2023-05-01"))
    assert res.hits and all(h.citation.date >= "2023-05-01" for h in res.hits)


@pytest.mark.parametrize("bad,msg", [("", "为空"), ("   \n\t", "为空"), ("？！。，、", "标点"),
                                     ("人大" * 3000, "过长")], ids=["empty", "blank", "punct", "huge"])
def test_bad_queries_get_clear_errors(searcher, bad, msg):
    with pytest.raises(QueryError, match=msg):
        searcher.search(bad)
    with pytest.raises(QueryError, match=msg):
        searcher.similar(bad)


def test_odd_but_valid_queries(searcher):
    for q in ("的了吗", "How to supervise 人大?", "人大監督怎麼做", "安全生產責任"):
        res = searcher.search(q, k=3)
        assert res.abstained or res.hits
    trad = searcher.search("安全生產責任", k=1, mode="bm25")
    assert "安全生产" in trad.hits[0].passage.text


def test_questions_and_pasted_paragraphs_weigh_bm25_by_their_own_settings(searcher):
    from assistant.search import Searcher

    seen = []
    s = Searcher(searcher.index, searcher.embedder,
                 searcher.settings.replace(bm25_weight=0.25, similar_bm25_weight=0.75))
    # a stage of our own, inserted before fusion, sees the weight the query carries
    s.stages.insert(2, lambda state: seen.append(state.bm25_weight))
    s.search("人大监督要采取哪些形式")
    s.similar("乡镇人大要依法开展执法检查、视察等监督活动,确保法律法规在本行政区域内得到遵守和执行。")
    assert seen == [0.25, 0.75]


def test_filters_apply_to_sentence_candidates_too(searcher):
    # every candidate of the dense ranker, passage- or sentence-proposed, obeys the filter
    only_b = Filters(sources=["b.txt"])
    res = searcher.search("人大监督要采取哪些形式", k=10, mode="dense", filters=only_b)
    assert res.hits and all(h.citation.source == "b.txt" for h in res.hits)


def test_focus_test_skips_long_texts(searcher):
    """Each missing word of the question costs one more query embedding: a long pasted text
    (where one word hardly moves the embedding) does not pay for it."""
    from assistant.search import Searcher

    s = Searcher(searcher.index, searcher.embedder, searcher.settings.replace(abstention={"enabled": True}))
    emb = searcher.embedder
    short = "人大监督要采取哪些形式和罢免程序"
    before = emb.calls
    res = s.search(short)
    assert not res.abstained and emb.calls - before > 1   # the variants of the question were embedded
    long = short + "，" + "乡镇人大要依法开展执法检查和视察活动" * 6
    assert len(long) > s.settings.abstention.focus_max_chars
    before = emb.calls
    res = s.search(long)
    assert emb.calls - before == 1 and res.evidence["focus"] == 1.0
