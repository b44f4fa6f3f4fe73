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

    s = Searcher(searcher.index, searcher.embedder, searcher.settings.replace(abstention={"enabled": True, "focus_max_chars": 80}))
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


# --- hostile input (found by tests/test_fuzz.py) ------------------------------------------------

def test_query_text_is_checked_before_anything_else(searcher):
    from assistant.search import check_text

    with pytest.raises(QueryError, match="应为文字.*must be a string"):
        searcher.search({"a": 1})  # was: its repr "{'a': 1}" was searched
    with pytest.raises(QueryError, match="应为文字"):
        searcher.similar(["信访"])
    assert check_text(2023, "问题", 100) == "2023"  # a number from a JSON client is text
    # was: UnicodeEncodeError from the tokenizer and the phrase index; now dropped, control characters become spaces
    assert check_text("\ud800信访\x00稳定\u2028", "问题", 100) == "信访 稳定"
    assert searcher.search("\ud83d信访稳定\x00").hits
    with pytest.raises(QueryError, match="为空"):
        check_text("\ud800\x01\x02", "问题", 100)
    with pytest.raises(QueryError, match=r"过长（100000 字）.*max_query_chars"):
        check_text("人" * 100_000, "问题", 4000)


@pytest.mark.parametrize("kwargs,msg", [
    ({"date_from": "2022-13-45"}, "不是日历上存在的日期"),         # was accepted
    ({"date_to": "2021-02-29"}, "不是日历上存在的日期"),
    ({"date_from": "２０２１-０３-０５"}, "YYYY-MM-DD"),             # full-width digits matched \d
    ({"date_from": "2021-03-05\n"}, None),                          # stripped: fine
    ({"date_from": ["2021-03-05"]}, "应为 YYYY-MM-DD 格式的文字"),
    ({"date_from": "2023-02-01", "date_to": "2023-01-01"}, "晚于截止日期"),
    ({"date": "2021-03-05"}, r"未知的筛选条件 'date'.*date_from"),    # was: TypeError
    ({"sources": {"a.txt": 1}}, "应为逗号分隔的文字或文字列表"),
    ({"sources": [["a.txt"]]}, "应为逗号分隔的文字或文字列表"),
    ({"speakers": True}, "应为逗号分隔的文字或文字列表"),
], ids=["month-13", "feb-29", "fullwidth", "newline", "list-date", "order", "unknown-key", "dict", "nested",
        "bool"])
def test_filter_values_are_validated(kwargs, msg):
    if msg is None:
        assert Filters.parse(**kwargs).date_from == "2021-03-05"
        return
    with pytest.raises(QueryError, match=msg):
        Filters.parse(**kwargs)


def test_filter_names_take_numbers_and_skip_nulls():
    # was: sources=123 raised TypeError ('int' object is not iterable)
    assert Filters.parse(sources=123).sources == ["123"]
    assert Filters.parse(doc_ids=["a", None, " ", 7]).doc_ids == ["a", "7"]


def test_unknown_filter_value_names_the_known_ones(searcher):
    # was: an unknown source silently matched nothing
    with pytest.raises(QueryError, match=r"索引中没有来源文件 'nope\.txt'；可选：a\.txt、b\.txt、c\.txt"):
        searcher.search("安全生产", filters=Filters(sources=["nope.txt"]))
    with pytest.raises(QueryError, match="讲话人"):
        searcher.similar("安全生产责任要落实到人", filters=Filters(speakers=["张三"]))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_a_filter_matching_nothing_says_so(searcher, mode):
    from assistant.search import NO_ANSWER, NO_MATCH
    from assistant.types import Outcome

    # a.txt is dated 2023-04-01: both filters are valid, together they match no speech
    nothing = Filters(sources=["a.txt"], date_from="2023-05-01")
    for res in (searcher.search("人大监督", mode=mode, filters=nothing),
                searcher.similar("人大监督是宪法和法律赋予乡镇人大的重要职权", mode=mode, filters=nothing)):
        assert res.outcome == Outcome.NO_MATCH and res.no_match and not res.abstained
        assert res.hits == [] and res.reason == NO_MATCH and NO_ANSWER not in res.reason
        assert res.to_dict()["outcome"] == "no_match"
    assert searcher.search("人大监督", mode=mode, filters=Filters(sources=["a.txt"])).outcome == Outcome.ANSWERED
