"""Tests of the web UI (assistant.web) and the query service under it: the render helpers
(escaping, highlighting, abstention, the copy-citation attribute, the section context,
streaming), the chat path through the service (follow-up rewrite, filters, k/mode parsing),
uploads and removals through the handlers, and the named API endpoints through
``gradio_client`` against the app served on a free loopback port over a tiny temporary
corpus with the fake embedder."""
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

from assistant.errors import AssistantError, QueryError
from assistant.search import NO_ANSWER, Filters
from assistant.service import QueryService, parse_mode
from assistant.settings import Settings
from assistant.types import Citation, Hit, Passage, SearchResult
from assistant.web import build_app, serve
from assistant.web import handlers as H
from assistant.web import render as R
from assistant.web.server import parse_auth

from tests.app_corpus import CORPUS, IMG, SCRIPT, UPLOAD, free_port


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def tiny_settings(tmp: Path, **extra) -> Settings:
    """Fake embedder (like ASSISTANT_MODEL=fake), temporary corpus and index."""
    return Settings.load(model="fake", corpus_dir=write_corpus(tmp / "corpus"), index_dir=tmp / "index", **extra)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return QueryService.prepared(tiny_settings(tmp_path_factory.mktemp("app")))


@pytest.fixture(scope="module")
def server(service):
    demo = build_app(service)
    port = free_port()
    serve(demo, service.settings, host="127.0.0.1", port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


def make_hit(text=SCRIPT, title=IMG, source=IMG + ".txt", dup_title=SCRIPT) -> Hit:
    c = Citation(title=title, source=source, paragraph=3, number=2, headings=("一、" + IMG,), labels=("一、",),
                 date="2021-03-05")
    p = Passage(id="x:3", doc_id="x", text=text, citation=c, position=2)
    d = Passage(id="y:1", doc_id="y", text=text,
                citation=Citation(title=dup_title, source="<b>y</b>.txt", paragraph=1), position=0)
    return Hit(passage=p, score=0.0325, duplicates=[d])


# --- render helpers --------------------------------------------------------------------------

def test_highlight_escapes_before_marking():
    out = R.highlight(f"{SCRIPT}乡镇人大监督要突出重点，人民群众", ["乡镇人大", "监督", "人", "lt"])
    assert "<script" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<mark>乡镇人大监督</mark>" in out  # adjacent terms join into one mark
    assert out.count("<mark>") == 1  # the single character 人 (in 人民) is not a term to mark
    assert "&<mark>" not in out  # entities are never split by a mark ("lt")


def test_highlight_whole_terms_only():
    out = R.highlight("做好信访稳定工作，信访工作", ["信访稳定", "信访", "稳"])
    assert out == "做好<mark>信访稳定</mark>工作，<mark>信访</mark>工作"
    assert R.highlight("<b>", []) == "&lt;b&gt;"
    assert R.highlight_terms(["6.25亿元", "25", "6", "亿元", "人大"]) == ["6.25亿元", "亿元", "人大"]


def test_render_card_escapes_text_title_file_name_and_duplicates():
    out = R.render_card(make_hit(), ["脚本"], rank=1)
    for raw in (SCRIPT, IMG, "<b>y</b>", "<img"):
        assert raw not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "另见 1 处" in out and "<details" in out
    assert "相关度 0.0325" in out and "[1]" in out


def test_render_similar_groups_and_escapes():
    res = SearchResult(query="q", hits=[make_hit(), make_hit(text="第二段")])
    out = R.render_similar(res, [])
    assert out.count('class="group"') == 1 and out.count('class="card"') == 2
    assert "<img" not in out and "<script" not in out


def test_abstention_and_error_messages():
    res = SearchResult(query="火星", hits=[], abstained=True, reason=NO_ANSWER, support=0.1)
    out = R.render_result(res, ["火星"])
    assert NO_ANSWER in out and 'class="card"' not in out
    assert R.render_error(f"bad {SCRIPT}") == '<div class="error">⚠️ bad &lt;script&gt;alert(1)&lt;/script&gt;</div>'


def test_header_counts_speeches_and_paragraphs_and_shows_rewrite():
    res = SearchResult(query="乡镇人大 监督 那具体有哪些形式？", hits=[make_hit()])
    assert R.support_counts(res) == (2, 2)
    head = R.render_header(res, question="那具体有哪些形式？")
    assert "结合上文改写为" in head and "乡镇人大 监督 那具体有哪些形式？" in head
    assert "共 2 篇讲话、2 个段落" in head
    assert "改写" not in R.render_header(res, question=res.query)


def test_context_is_the_section_with_the_hit_marked(service):
    index = service.index
    i = index.by_id["01_renda:4"]
    out = R.render_context(index, i, ["监督"])
    assert "展开上下文" in out and out.count("ctx-hit") == 1
    assert "一、加强乡镇人大监督工作" in out and "第4段（命中）" in out and "第5段" in out
    # only section 一: not the opening paragraph, not section 二
    assert "今天召开" not in out and "代表之家" not in out and "二、发挥人大代表作用" not in out
    assert "<mark>监督</mark>" in out and "本节的全部 2 段" in out


def test_context_is_limited_around_the_hit(service):
    index = service.index
    out = R.render_context(index, index.by_id["02_xinfang:5"], [], limit=1)
    assert out.count('class="ctx-p') == 1 and "ctx-hit" in out and "&lt;script&gt;" in out


def test_copy_citation_format():
    c = Citation(title="乡镇人大工作会议讲话", source="01_renda.txt", paragraph=5, number=2,
                 headings=("一、加强乡镇人大监督工作", "（一）坚持依法监督"), date="2021-03-05", page=3)
    p = Passage(id="d:5", doc_id="d", text="监督工作要依法进行。\n", citation=c, position=4)
    assert c.quote(p.text) == ("《乡镇人大工作会议讲话》篇2，一、加强乡镇人大监督工作 › （一）坚持依法监督，"
                                    "第5段（2021-03-05，01_renda.txt 第3页）：“监督工作要依法进行。”")
    bare = Passage(id="e:1", doc_id="e", text="正文", citation=Citation(title="讲话", source="e.txt", paragraph=1),
                   position=0)
    assert bare.citation.quote(bare.text) == "《讲话》，第1段（e.txt）：“正文”"
    assert c.detailed() == ("《乡镇人大工作会议讲话》 篇2 · 一、加强乡镇人大监督工作 › （一）坚持依法监督 · "
                                    "第5段 · 2021-03-05 · 01_renda.txt 第3页")


class _Buttons(HTMLParser):
    def __init__(self):
        super().__init__()
        self.buttons = []

    def handle_starttag(self, tag, attrs):
        if tag == "button":
            self.buttons.append(dict(attrs))


def test_copy_citation_attribute_is_escaped():
    nasty = f'他说："要\'落实\'" & {SCRIPT} {IMG}'
    hit = make_hit(text=nasty)
    out = R.render_card(hit, ["落实"], rank=1)
    for raw in (SCRIPT, IMG, '"要', "'落实'"):
        assert raw not in out
    parser = _Buttons()
    parser.feed(out)
    buttons = {b["class"]: b for b in parser.buttons}
    # the attribute holds exactly the citation: the quotes cannot end it early, no markup leaks
    assert buttons["copy-cite"]["value"] == hit.citation.quote(hit.passage.text)
    assert nasty in buttons["copy-cite"]["value"] and IMG in buttons["copy-cite"]["value"]
    assert buttons["sim-hit"]["value"] == "x:3"
    assert set(buttons["copy-cite"]) == {"type", "class", "title", "value"}  # no on* handler of ours


def test_reply_streams_header_then_cards(service):
    res = service.search("乡镇人大监督怎么做", k=3)
    steps = list(R.stream_result(res, ["监督"], service.index, question="乡镇人大监督怎么做"))
    assert len(steps) == 3
    assert "个段落支持此回答" in steps[0] and 'class="card"' not in steps[0] and "done" not in steps[0]
    assert steps[1].count('class="card"') == 1 and 'class="reply done"' not in steps[1]
    assert steps[2].count('class="card"') == 3 and steps[2].startswith('<div class="reply done">')
    assert R.render_result(res, ["监督"], service.index) == steps[2]
    abstained = SearchResult(query="火星", hits=[], abstained=True, reason=NO_ANSWER)
    assert [s.startswith('<div class="reply done">') for s in R.stream_result(abstained, [])] == [True]


def test_chat_turn_rewrites_a_followup_through_the_service(service):
    first = service.ask("乡镇人大监督怎么做")
    assert first.result.query == "乡镇人大监督怎么做" and first.result.hits and "监督" in first.terms
    follow = service.ask("那具体有哪些形式？", first.result.query)
    assert follow.question == "那具体有哪些形式？" and follow.result.query == "乡镇人大 监督 那具体有哪些形式？"
    assert follow.index is service.index
    assert service.ask("如何做好信访稳定工作", first.result.query).result.query == "如何做好信访稳定工作"


def test_chat_handler_streams_and_keeps_the_last_query(service):
    steps = list(H.ask(service, "那具体有哪些形式？", [], "乡镇人大监督怎么做", "extractive", 3, "hybrid", [], [], [], "", ""))
    history, box, last = steps[-1]
    assert box == "" and last == "乡镇人大 监督 那具体有哪些形式？"
    assert history[0] == {"role": "user", "content": "那具体有哪些形式？"}
    assert "结合上文改写为" in history[-1]["content"] and 'class="reply done"' in history[-1]["content"]
    # a bad filter is a message in the chat, the previous question is kept
    *_, (history, _, last) = H.ask(service, "监督", [], "旧问题", None, 3, "hybrid", [], [], [], "2021/1/1", "")
    assert "YYYY-MM-DD" in history[-1]["content"] and last == "旧问题"


def test_input_parsing(service):
    assert Filters.parse() is None
    f = Filters.parse(["a.txt"], "d1, d2", "2021-01-01", "")
    assert f.sources == ["a.txt"] and f.doc_ids == ["d1", "d2"] and f.date_from == "2021-01-01"
    assert Filters.parse(occasions=["乡镇人大工作会议"]).occasions == ["乡镇人大工作会议"]
    with pytest.raises(QueryError):
        Filters.parse(date_to="2021/1/1")
    with pytest.raises(QueryError):
        Filters.parse(date_from="2022-01-01", date_to="2021-01-01")
    with pytest.raises(QueryError):
        service.parse_k(0)
    assert service.parse_k(None) == service.settings.retrieval.top_k and service.parse_k("3") == 3
    with pytest.raises(QueryError):
        parse_mode("foo")
    assert parse_mode("BM25") == "bm25" and parse_mode("") is None
    assert parse_auth("u:p:w") == ("u", "p:w") and parse_auth(None) is None
    with pytest.raises(AssistantError):
        parse_auth("nopassword")


def test_corpus_rows_and_choices(service):
    index = service.index
    rows = {r[0]: r for r in R.corpus_rows(index)}
    assert rows["01_renda"][1:] == ["乡镇人大工作会议讲话", "", "2021-03-05", "乡镇人大工作会议", "", "01_renda.txt", 5]
    assert len(rows) == 3 and len(R.CORPUS_HEADERS) == 8
    assert "乡镇人大工作会议" in R.occasion_choices(index)
    assert "02_xinfang.txt" in R.source_choices(index)


def test_occasion_filter(service):
    f = Filters.parse(occasions="全县信访稳定工作会议")
    res = service.search("做好工作", k=10, filters=f)
    assert res.hits and {h.citation.occasion for h in res.hits} == {"全县信访稳定工作会议"}


# --- uploads and removals (the handler core, over a corpus of their own) -----------------------

GOOD = UPLOAD


@pytest.fixture(scope="module")
def editable(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edit")
    settings = tiny_settings(tmp, max_file_mb=1)
    return QueryService.prepared(settings), settings, tmp


def test_check_uploads_type_and_size(editable, tmp_path):
    files = {"a.txt": b"x", "b.DOCX": b"x", "c.exe": b"MZ", "noext": b"x", "big.md": b"x" * (1024 * 1024 + 1)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    ok, refused = editable[0].check_uploads([tmp_path / n for n in files] + [tmp_path / "gone.txt"])
    assert [p.name for p in ok] == ["a.txt", "b.DOCX"]
    text = "\n".join(refused)
    assert "c.exe：不支持的文件类型 .exe" in text and "noext：不支持的文件类型" in text
    assert "big.md：文件过大（1.0 MB），单个文件不能超过 1 MB" in text and "gone.txt：" in text


def test_upload_good_and_bad_then_remove(editable):
    service, settings, tmp = editable
    up = tmp / "upload"
    up.mkdir()
    (up / "04_anquan.txt").write_text(GOOD, encoding="gb18030")  # any Chinese encoding
    (up / "05_binary.txt").write_bytes(bytes(range(256)) * 8)
    (up / f"06_{IMG}.exe").write_bytes(b"MZ\x90\x00")
    (up / "07_big.txt").write_bytes(b"x" * (1024 * 1024 + 10))
    before = service.searcher
    out = H.change_corpus(service, "add", sorted(up.iterdir()))
    assert "已加入 1 个文件" in out and "04_anquan.txt" in out
    assert "3 个文件未加入" in out and "05_binary.txt" in out and "07_big.txt：文件过大" in out
    assert "不支持的文件类型 .exe" in out and "<img" not in out and "&lt;img" in out
    now = service.searcher
    assert now is not before and now.index is not before.index  # a new searcher was swapped in
    assert "04_anquan.txt" in R.source_choices(now.index)
    assert "05_binary.txt" not in R.source_choices(now.index)
    assert now.search("安全生产隐患排查", k=3).hits[0].citation.source == "04_anquan.txt"
    assert before.search("乡镇人大监督", k=1).hits  # the old searcher still answers

    out = H.change_corpus(service, "remove", ["04_anquan.txt", "nope.txt"])
    assert "已删除 1 个文件" in out and "nope.txt" in out
    assert "04_anquan.txt" not in R.source_choices(service.index)
    assert not (settings.index.corpus_dir / "04_anquan.txt").exists()


def test_upload_refusals_and_busy(editable, tmp_path):
    service, settings, _ = editable
    assert "请先选择要上传的文件" in H.change_corpus(service, "add", [])
    assert "请先选择要删除的文件" in H.change_corpus(service, "remove", None)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf at all")
    out = H.change_corpus(service, "add", [bad])
    assert "未加入" in out and "bad.pdf" in out and "已加入" not in out
    good = tmp_path / "08_good.txt"
    good.write_text(GOOD, encoding="utf-8")
    held = threading.Event()
    release = threading.Event()

    def hold():
        with service.writing:
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        assert "索引正忙" in H.change_corpus(service, "add", [good])
    finally:
        release.set()
        t.join()
    assert not (settings.index.corpus_dir / "08_good.txt").exists()


def test_editing_is_off_when_exposed_without_auth(editable, tmp_path):
    service, settings, _ = editable
    assert H.corpus_editable(service)

    def on(s):
        return QueryService(s, service.embedder, service.index)

    exposed = settings.replace(host="0.0.0.0")
    assert not H.corpus_editable(on(exposed)) and H.corpus_editable(on(exposed.replace(auth="a:b")))
    out = H.change_corpus(on(exposed), "remove", ["01_renda.txt"])
    assert "语料编辑已关闭" in out and (settings.index.corpus_dir / "01_renda.txt").exists()


# --- the served app through gradio_client ------------------------------------------------------

def test_api_lists_named_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert {"/search", "/similar"} <= set(api["named_endpoints"])


def test_api_search(client):
    r = client.predict("乡镇人大监督怎么做", 3, "hybrid", api_name="/search")
    assert r["abstained"] is False and "error" not in r and "evidence" in r
    assert 1 <= len(r["hits"]) <= 3
    top = r["hits"][0]
    assert "监督" in top["text"] and isinstance(top["score"], float)
    assert top["citation"].startswith("《乡镇人大工作会议讲话》") and "01_renda.txt" in top["citation"]
    assert any(h["duplicates"] for h in client.predict("代表之家 代表联络站", 5, "hybrid", api_name="/search")["hits"])


def test_api_defaults_and_modes(client):
    for mode in ("dense", "bm25", "hybrid"):
        r = client.predict("如何做好信访稳定工作", api_name="/search", mode=mode)
        assert r["mode"] == mode and r["hits"] and "信访" in r["hits"][0]["text"]


def test_api_abstains(client):
    r = client.predict("火星探测计划", 5, "hybrid", api_name="/search")
    assert r["abstained"] is True and r["reason"] == NO_ANSWER and r["hits"] == []


def test_api_filters(client):
    r = client.predict("做好工作", 10, "hybrid", api_name="/search", sources="02_xinfang.txt")
    assert r["hits"] and {h["source"] for h in r["hits"]} == {"02_xinfang.txt"}
    r = client.predict("做好工作", 10, "hybrid", api_name="/search", date_from="2023-01-01")
    assert r["hits"] and {h["date"] for h in r["hits"]} == {"2023-01-10"}
    r = client.predict("发挥人大代表作用", 10, "hybrid", api_name="/search", doc_ids="01_renda")
    assert r["hits"] and all(h["id"].startswith("01_renda:") for h in r["hits"])
    r = client.predict("做好工作", 10, "hybrid", api_name="/search", occasions="全县信访稳定工作会议")
    assert r["hits"] and {h["occasion"] for h in r["hits"]} == {"全县信访稳定工作会议"}
    r = client.predict("代表之家", 10, "hybrid", api_name="/similar", occasions="乡镇人大工作会议,全县信访稳定工作会议")
    assert r["hits"] and {h["occasion"] for h in r["hits"]} <= {"乡镇人大工作会议", "全县信访稳定工作会议"}


def test_api_similar(client):
    text = "乡镇人大监督要突出重点，采取听取和审议专项工作报告、开展执法检查、组织代表视察和专题调研等形式"
    r = client.predict(text, 3, "hybrid", api_name="/similar")
    assert "error" not in r and r["abstained"] is False and 1 <= len(r["hits"]) <= 3
    assert "01_renda:4" not in [h["id"] for h in r["hits"]]  # the pasted paragraph itself is excluded
    assert all({"text", "score", "citation"} <= set(h) for h in r["hits"])


def test_api_script_passage_is_returned_as_data(client):
    r = client.predict("包含脚本标签的文字", 5, "bm25", api_name="/search")
    assert any(SCRIPT in h["text"] for h in r["hits"])


@pytest.mark.parametrize("args, kwargs, needle", [
    (("",), {}, "为空"),
    (("   ",), {}, "为空"),
    (("？？？",), {}, "标点"),
    (("监督", 0), {}, "k"),
    (("监督", 5, "foo"), {}, "mode"),
    (("监督",), {"date_from": "2021/01/01"}, "YYYY-MM-DD"),
])
def test_api_invalid_input_returns_error(client, args, kwargs, needle):
    r = client.predict(*args, api_name="/search", **kwargs)
    assert needle in r["error"] and r["hits"] == []
    assert "Traceback" not in r["error"]
    assert "为空" in client.predict("", api_name="/similar")["error"]


def test_basic_auth(service):
    import httpx
    from gradio_client import Client

    settings = service.settings.replace(auth="alice:s3cret")
    demo = build_app(QueryService(settings, service.embedder, service.index))
    port = free_port()
    serve(demo, settings, host="127.0.0.1", port=port, block=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert httpx.get(url + "config").status_code in (401, 403)
        r = Client(url, auth=("alice", "s3cret"), verbose=False).predict("乡镇人大监督怎么做", api_name="/search")
        assert r["hits"]
    finally:
        demo.close()


# --- hostile input (found by tests/test_fuzz.py) ------------------------------------------------

@pytest.mark.parametrize("k", [10**400, float("inf"), "1e999", float("nan"), True, 2.5, "2.5", [3], {}],
                         ids=["huge-int", "inf", "1e999", "nan", "bool", "float", "float-text", "list", "dict"])
def test_k_of_the_wrong_kind_is_a_query_error(service, k):
    # was: OverflowError for the first three (an internal error at the API), 2.5 became 2, True became 1
    with pytest.raises(QueryError, match="k 必须"):
        service.parse_k(k)


def test_k_mode_and_answer_parsing_accept_what_clients_send(service):
    assert service.parse_k(3.0) == service.parse_k("3.0") == service.parse_k(" 3 ") == 3
    for junk in ({}, ["bm25"], 5, "x" * 100_000):
        with pytest.raises(QueryError, match="检索模式只能是") as e:
            parse_mode(junk)
        assert len(str(e.value)) < 200  # a 100k-character mode is not echoed back
    with pytest.raises(QueryError, match="回答方式只能是"):
        service.answer_kind({"kind": "llm"})


def test_previous_question_is_checked_before_the_rewrite(service):
    # was: the follow-up was rewritten (tokenizing both texts) before any length check
    with pytest.raises(QueryError, match="上一个问题过长"):
        service.ask("那具体有哪些形式？", "监督" * 50_000)
    with pytest.raises(QueryError, match="上一个问题应为文字"):
        service.ask("那具体有哪些形式？", ["乡镇人大监督怎么做"])
    assert service.ask("那具体有哪些形式？", "").result.query == "那具体有哪些形式？"


def test_similar_reply_of_a_number(service):
    # was: TypeError (len() of an int) in the log line after the search
    assert service.similar_reply(2023).result.query == "2023"


def _strict(out: dict) -> dict:
    import json

    json.dumps(out, allow_nan=False, ensure_ascii=False).encode("utf-8")
    return out


@pytest.mark.parametrize("call, needle", [
    (lambda api: api.search("监督", 3, float("nan")), "检索模式"),     # was: NaN echoed, not valid JSON
    (lambda api: api.search("监督", "1e999"), "k 必须"),              # was: internal error
    (lambda api: api.search("监督", sources=[{"a": 1}]), "sources"),  # was: internal error
    (lambda api: api.ask({"a": 1}), "应为文字"),                     # was: "{'a': 1}" searched
    (lambda api: api.search("监督", date_from="2022-13-45"), "不是日历上存在的日期"),  # was: accepted
    (lambda api: api.search("监督", sources="nope.txt"), "01_renda.txt"),  # was: the no-answer message
    (lambda api: api.similar("监督", mode="x" * 100_000), "检索模式"),
    (lambda api: api.search("人" * 100_000 + "\ud800"), "过长"),
], ids=["nan-mode", "inf-k", "dict-source", "dict-question", "impossible-date", "unknown-source", "huge-mode",
        "huge-query"])
def test_api_wrong_types_get_clear_errors(service, call, needle):
    out = _strict(call(H.Api(service)))
    assert needle in out["error"] and out["error"] != H.INTERNAL_ERROR and len(out["error"]) < 600
    assert out["hits"] == [] and out["outcome"] == "error"
    assert out["query"] is None or len(out["query"]) <= H.ECHOED_CHARS


def test_api_lone_surrogates_are_searched_without_them(service):
    # was: UnicodeEncodeError in the tokenizer: an internal error
    out = _strict(H.Api(service).search("乡镇人大\ud800监督"))
    assert "error" not in out and out["hits"] and out["query"] == "乡镇人大监督"


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_no_match_is_shown_as_such(service):
    # was: the corpus-has-no-answer message (and numpy warnings with the real model)
    from assistant.search import NO_MATCH

    out = _strict(H.Api(service).search("监督", sources="01_renda.txt", date_from="2023-01-01"))
    assert out["outcome"] == "no_match" and out["reason"] == NO_MATCH and out["abstained"] is False
    *_, (history, _, _) = H.ask(service, "监督", [], None, None, 3, "hybrid", ["01_renda.txt"], [], [], "2023-01-01", "")
    reply = history[-1]["content"]
    assert "筛选条件没有匹配的讲话" in reply and NO_ANSWER not in reply and "支持此回答" not in reply
    html = H.find_similar(service, "乡镇人大监督要突出重点", 3, "hybrid", ["01_renda.txt"], [], [], "2023-01-01", "")
    assert "筛选条件没有匹配的讲话" in html and "没有找到相似的段落" not in html


def test_result_outcome_follows_abstained():
    from assistant.types import Outcome

    assert SearchResult(query="q", hits=[], abstained=True).outcome == Outcome.ABSTAINED
    assert SearchResult(query="q", hits=[]).outcome == Outcome.ANSWERED
    r = SearchResult(query="q", hits=[], outcome="no_match")
    assert r.no_match and not r.abstained
