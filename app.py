"""讲稿检索助手 — the web app (Gradio Blocks) over the retrieval library in ``assistant/``.

    python app.py [--host 127.0.0.1] [--port 7860] [--settings assistant.toml] [-v]

Settings, embedder and index are loaded once at start-up (the index is built on the first
run). The page has three tabs — 问答 (chat with cited result cards), 相似段落 (paste a
paragraph, find the ones that say the same) and 语料 (the indexed speeches) — and two
named API endpoints for ``gradio_client``: ``/search`` and ``/similar``.

Safety: every corpus string (passage text, title, citation, file name) and every user
string is HTML-escaped before it is put into HTML; highlighting is applied to the escaped
text. The server binds 127.0.0.1 unless told otherwise and uses basic auth when
``settings.auth`` ("user:password") is set.
"""
import argparse
import html
import logging
import os
import re
import sys
import time
from collections import OrderedDict

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from assistant.errors import AssistantError, QueryError  # noqa: E402
from assistant.search import NO_ANSWER, Filters, Searcher  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.types import Hit, Passage, SearchResult  # noqa: E402

log = logging.getLogger("app")

TITLE = "讲稿检索助手"
EXAMPLES = ["乡镇人大监督怎么做", "如何做好信访稳定工作", "6.25亿元"]
MODES = [("混合 hybrid", "hybrid"), ("语义 dense", "dense"), ("关键词 bm25", "bm25")]
MAX_K = 20
"""Largest top-k the slider and the API accept."""
CONTEXT_BEFORE = 2
CONTEXT_AFTER = 2
DUPLICATES_SHOWN = 20
# after a reply, show its start (the header and the best card), not its last card
SCROLL_TO_REPLY = """() => { setTimeout(() => {
  const replies = document.querySelectorAll('#chat .reply');
  if (replies.length) replies[replies.length - 1].scrollIntoView({block: 'start', behavior: 'smooth'});
}, 60); }"""
INTERNAL_ERROR = "内部错误，请稍后重试或查看服务器日志 (internal error; see the server log)"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ENTITY = r"&(?:[A-Za-z]+|#\d+|#[xX][0-9A-Fa-f]+);"
# a follow-up leans on the previous question: it opens with a connective or pronoun,
# refers back ("这些", "上述"), or ends in a bare "呢"
_FOLLOW_START = re.compile(r"^(?:那么?|那些|这些?|这个|它们?|其中|还有|另外|此外|以及|具体|比如|例如)")
_FOLLOW_REF = re.compile(r"这些|那些|上述|以上|它们|其中|该项|此项|这方面|那方面")
_FOLLOW_END = re.compile(r"呢[？?！!。]*$")

CSS = """
.card{border:1px solid #d9dde3;border-radius:8px;padding:10px 12px;margin:8px 0;background:#fff}
.card-head{display:flex;gap:8px;align-items:baseline;font-size:13px;color:#555;flex-wrap:wrap}
.card-rank{font-weight:bold;color:#1f4e9c}
.card-score{margin-left:auto;color:#777;font-variant-numeric:tabular-nums}
.card-text{margin:6px 0;line-height:1.7;font-size:15px;color:#222}
.card-text mark,.ctx mark{background:#ffe58a;padding:0 1px;border-radius:2px}
.citation{font-size:13px;color:#1f4e9c}
.card-section{color:#777}
.card summary{font-size:13px;color:#1f4e9c;cursor:pointer;margin-top:4px}
.dups ul{margin:4px 0 4px 18px;font-size:13px;color:#555}
.ctx{border-left:3px solid #c9d3e6;padding-left:8px;margin-top:6px}
.ctx-p{margin:4px 0;color:#555;line-height:1.6}
.ctx-hit{color:#111;background:#f3f7ff;border-left:3px solid #1f4e9c;padding-left:6px}
.ctx-h{font-weight:bold;color:#333;margin-top:6px}
.result-head{font-size:14px;color:#333;margin-bottom:4px}
.rewrite{font-size:13px;color:#8a5a00}
.notice{border:1px solid #e0c36c;background:#fffbea;border-radius:8px;padding:10px 12px}
.error{border:1px solid #e08a8a;background:#fff2f2;border-radius:8px;padding:10px 12px}
.group-head{font-weight:bold;margin-top:14px;color:#333}
"""


# --- rendering (pure functions: escaped HTML strings) ----------------------------------------

def esc(value) -> str:
    """HTML-escape any value (quotes too), for text and attribute positions alike."""
    return html.escape("" if value is None else str(value), quote=True)


def highlight_terms(terms) -> list[str]:
    """Distinct terms worth marking, longest first: no single characters, no 1-2 digit numbers."""
    out = []
    for t in terms or ():
        t = str(t).strip()
        if len(t) < 2 or (t.isdigit() and len(t) < 3) or t in out:
            continue
        out.append(t)
    return sorted(out, key=len, reverse=True)


def highlight(text: str, terms) -> str:
    """``text`` escaped, with whole occurrences of ``terms`` wrapped in ``<mark>``.

    Escaping comes first; the terms are matched (escaped themselves) in the escaped text,
    longest first, and character entities such as ``&lt;`` are skipped so a mark never
    splits one."""
    safe = esc(text)
    terms = highlight_terms(terms)
    if terms:
        alts = "|".join(re.escape(esc(t)) for t in terms)
        pattern = re.compile(f"({_ENTITY})|({alts})", re.IGNORECASE)
        safe = pattern.sub(lambda m: m.group(1) or f"<mark>{m.group(2)}</mark>", safe)
    return safe.replace("</mark><mark>", "").replace("\n", "<br>")


def _passage_index(index, passage: Passage) -> int | None:
    return None if index is None else index.by_id.get(passage.id)


def render_duplicates(hit: Hit) -> str:
    """"另见 N 处": the template copies folded into this hit, with their citations."""
    if not hit.duplicates:
        return ""
    items = "".join(f"<li>{esc(d.citation)}</li>" for d in hit.duplicates[:DUPLICATES_SHOWN])
    more = len(hit.duplicates) - DUPLICATES_SHOWN
    if more > 0:
        items += f"<li>……另有 {more} 处</li>"
    return (f'<details class="dups"><summary>另见 {len(hit.duplicates)} 处（内容相同或相近的段落）</summary>'
            f"<ul>{items}</ul></details>")


def render_context(index, i: int, terms, before: int = CONTEXT_BEFORE, after: int = CONTEXT_AFTER) -> str:
    """"展开上下文": the passages around passage ``i`` in its speech, the hit marked."""
    parts, last_heading = [], None
    for j in index.neighbours(i, before, after):
        p = index.passages[j]
        heading = " ".join(p.citation.headings)
        if heading and heading != last_heading:
            parts.append(f'<div class="ctx-h">{esc(heading)}</div>')
        last_heading = heading
        label = f"第{p.citation.paragraph}段"
        if j == i:
            parts.append(f'<div class="ctx-p ctx-hit"><b>▶ {esc(label)}（命中）</b> {highlight(p.text, terms)}</div>')
        else:
            parts.append(f'<div class="ctx-p"><b>{esc(label)}</b> {esc(p.text)}</div>')
    return (f'<details class="context"><summary>展开上下文</summary>'
            f'<div class="ctx">{"".join(parts)}</div></details>')


def render_card(hit: Hit, terms, rank: int | None = None, index=None) -> str:
    """One result card: highlighted text, citation, score, 另见 N 处, 展开上下文 (when ``index`` is given)."""
    head = []
    if rank is not None:
        head.append(f'<span class="card-rank">[{rank}]</span>')
    head.append(f'<span class="card-title">《{esc(hit.citation.title)}》'
                + (f" 篇{esc(hit.citation.number)}" if hit.citation.number else "") + "</span>")
    if hit.citation.headings:
        head.append(f'<span class="card-section">{esc(hit.citation.headings[-1])}</span>')
    head.append(f'<span class="card-score">相关度 {hit.score:.4f}</span>')
    body = [f'<div class="card-head">{"".join(head)}</div>',
            f'<div class="card-text">{highlight(hit.passage.text, terms)}</div>',
            f'<div class="citation">出处：{esc(hit.citation)}</div>',
            render_duplicates(hit)]
    i = _passage_index(index, hit.passage)
    if i is not None:
        body.append(render_context(index, i, terms))
    return f'<div class="card" data-id="{esc(hit.passage.id)}">{"".join(body)}</div>'


def support_counts(result: SearchResult) -> tuple[int, int]:
    """(speeches, paragraphs) behind the hits, template copies included."""
    passages = [p for h in result.hits for p in [h.passage, *h.duplicates]]
    return len({p.doc_id for p in passages}), len({p.id for p in passages})


def render_error(message: str) -> str:
    return f'<div class="error">⚠️ {esc(message)}</div>'


def render_abstention(result: SearchResult) -> str:
    reason = result.reason or NO_ANSWER
    support = "" if result.support is None else f"（支持度 {result.support:.2f}）"
    return (f'<div class="notice">🔍 {esc(reason)}{esc(support)}。'
            f"可以换一种说法，或在“检索设置与筛选”中放宽筛选条件。</div>")


def render_header(result: SearchResult, question: str | None = None, seconds: float | None = None) -> str:
    """Reply header: the rewritten query (when a follow-up was rewritten) and the support counts."""
    out = []
    if question is not None and question != result.query:
        out.append(f'<div class="rewrite">结合上文改写为：「{esc(result.query)}」</div>')
    if not result.abstained:
        docs, paras = support_counts(result)
        took = f" · 用时 {seconds * 1000:.0f} ms" if seconds is not None else ""
        out.append(f'<div class="result-head">共 {docs} 篇讲话、{paras} 个段落支持此回答'
                   f"（显示 {len(result.hits)} 条，模式 {esc(result.mode)}{took}）</div>")
    return "".join(out)


def render_result(result: SearchResult, terms, index=None, question: str | None = None,
                  seconds: float | None = None) -> str:
    """The whole reply to a question: header, then cards or the abstention message."""
    head = render_header(result, question, seconds)
    if result.abstained:
        return f'<div class="reply">{head}{render_abstention(result)}</div>'
    if not result.hits:
        return f'<div class="reply">{head}<div class="notice">没有找到结果，请放宽筛选条件。</div></div>'
    cards = "".join(render_card(h, terms, n, index) for n, h in enumerate(result.hits, start=1))
    return f'<div class="reply">{head}{cards}</div>'


def group_by_speech(hits: list[Hit]) -> "OrderedDict[str, list[Hit]]":
    groups: OrderedDict[str, list[Hit]] = OrderedDict()
    for h in hits:
        groups.setdefault(h.passage.doc_id, []).append(h)
    return groups


def render_similar(result: SearchResult, terms, index=None) -> str:
    """Similar paragraphs grouped by speech (speeches in order of their best hit)."""
    if not result.hits:
        return '<div class="notice">没有找到相似的段落。</div>'
    out = [f'<div class="result-head">找到 {len(result.hits)} 个相似段落，来自 '
           f"{len(group_by_speech(result.hits))} 篇讲话（模式 {esc(result.mode)}）</div>"]
    n = 0
    for hits in group_by_speech(result.hits).values():
        c = hits[0].citation
        head = f"《{esc(c.title)}》" + (f" 篇{esc(c.number)}" if c.number else "")
        meta = " · ".join(esc(x) for x in (c.date, c.source) if x)
        out.append(f'<div class="group"><div class="group-head">{head} <small>{meta}</small></div>')
        for h in hits:
            n += 1
            out.append(render_card(h, terms, n, index))
        out.append("</div>")
    return f'<div class="reply similar">{"".join(out)}</div>'


# --- conversation ----------------------------------------------------------------------------

def is_follow_up(question: str) -> bool:
    q = question.strip()
    return bool(_FOLLOW_START.match(q) or _FOLLOW_REF.search(q) or _FOLLOW_END.search(q))


def carried_terms(previous: str, question: str, tokenizer) -> list[str]:
    """Key terms of the previous question that the follow-up does not repeat (a term inside a
    longer kept term is dropped: "乡镇人大" covers "乡镇" and "人大")."""
    terms = [t for t in tokenizer.content_terms(previous) if t not in question]
    return [t for t in terms if not any(t != o and t in o for o in terms)]


def rewrite_followup(question: str, previous: str | None, tokenizer) -> str:
    """The query to retrieve with: a follow-up gets the previous question's key terms prepended."""
    question = (question or "").strip()
    if not previous or not question or not is_follow_up(question):
        return question
    terms = carried_terms(previous, question, tokenizer)
    return f"{' '.join(terms)} {question}" if terms else question


# --- inputs ----------------------------------------------------------------------------------

def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，;；\n]", value) if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def parse_filters(sources=None, doc_ids=None, date_from=None, date_to=None) -> Filters | None:
    """Filters from UI/API values (lists or comma-separated strings); None when nothing filters."""
    dates = []
    for name, d in (("起始日期", date_from), ("截止日期", date_to)):
        d = str(d or "").strip()
        if d and not _DATE.match(d):
            raise QueryError(f"{name}格式应为 YYYY-MM-DD，例如 2021-03-05 (dates must look like 2021-03-05)")
        dates.append(d or None)
    f = Filters(sources=_as_list(sources), doc_ids=_as_list(doc_ids), date_from=dates[0], date_to=dates[1])
    return f if f.active() else None


def parse_k(k, default: int) -> int:
    if k is None or k == "":
        return default
    try:
        k = int(float(k))
    except (TypeError, ValueError):
        raise QueryError(f"k 必须是整数 (k must be an integer, not {k!r})")
    top = max(MAX_K, default)
    if not 1 <= k <= top:
        raise QueryError(f"k 必须在 1 到 {top} 之间 (k must be between 1 and {top})")
    return k


def parse_mode(mode) -> str | None:
    mode = (mode or "").strip().lower()
    if not mode:
        return None
    if mode not in ("hybrid", "dense", "bm25"):
        raise QueryError(f"检索模式只能是 hybrid、dense 或 bm25 (unknown mode {mode!r})")
    return mode


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise AssistantError("auth 设置应为 \"用户名:密码\" (settings.auth must look like user:password)")
    return user, password


# --- corpus tab ------------------------------------------------------------------------------

CORPUS_HEADERS = ["doc_id", "标题", "篇", "日期", "来源文件", "段落数"]


def corpus_rows(index) -> list[list]:
    rows = []
    for doc_id, ids in index.docs.items():
        c = index.passages[ids[0]].citation
        rows.append([doc_id, c.title, f"篇{c.number}" if c.number else "", c.date or "", c.source, len(ids)])
    return rows


def corpus_summary(index) -> str:
    m = index.manifest
    counts = m.get("counts", {})
    return (f"共 **{counts.get('documents', len(index.docs))}** 篇讲话、**{counts.get('passages', len(index))}** 个段落；"
            f"模型 `{esc(m.get('model', {}).get('name', '?'))}`，索引构建于 {esc(m.get('built_at', '?'))}。")


def doc_choices(index) -> list[tuple[str, str]]:
    out = []
    for doc_id, ids in index.docs.items():
        c = index.passages[ids[0]].citation
        out.append((f"{c.title}" + (f" 篇{c.number}" if c.number else "") + f"（{doc_id}）", doc_id))
    return out


def source_choices(index) -> list[str]:
    return sorted({p.citation.source for p in index.passages})


# --- app -------------------------------------------------------------------------------------

def load_searcher(settings: Settings) -> Searcher:
    """Embedder + index (built when missing or stale), once, with progress logged."""
    from assistant.embed import load_embedder
    from assistant.index import ensure

    t = time.perf_counter()
    log.info("loading embedder %r", settings.model)
    embedder = load_embedder(settings)
    log.info("embedder ready (%.1fs); loading the index from %s (it is built if missing or stale)",
             time.perf_counter() - t, settings.index_dir)
    index = ensure(settings, embedder)
    counts = index.manifest.get("counts", {})
    log.info("index ready: %s speeches, %s passages (%.1fs total)",
             counts.get("documents"), counts.get("passages"), time.perf_counter() - t)
    return Searcher(index, embedder, settings)


def _error_dict(query, mode, message: str) -> dict:
    return {"query": query, "mode": mode, "abstained": False, "reason": "", "support": None,
            "hits": [], "error": message}


def run_api(searcher: Searcher, kind: str, text, k=None, mode=None, sources="", doc_ids="",
            date_from="", date_to="") -> dict:
    """``SearchResult.to_dict()`` for an API call, or a dict with an ``error`` message."""
    try:
        fn = searcher.search if kind == "search" else searcher.similar
        res = fn(text if isinstance(text, str) else ("" if text is None else str(text)),
                 k=parse_k(k, searcher.settings.top_k), mode=parse_mode(mode),
                 filters=parse_filters(sources, doc_ids, date_from, date_to))
        return res.to_dict()
    except AssistantError as e:
        return _error_dict(text, mode, str(e))
    except Exception:
        log.exception("%s failed for %r", kind, text)
        return _error_dict(text, mode, INTERNAL_ERROR)


def build_app(settings: Settings | None = None, searcher: Searcher | None = None) -> gr.Blocks:
    """The Gradio app; loads settings, embedder and index unless a ready ``searcher`` is given."""
    if searcher is None:
        settings = settings or Settings.load()
        searcher = load_searcher(settings)
    settings = settings or searcher.settings
    index = searcher.index
    tok = index.tokenizer

    # ---- handlers (closures over the one loaded searcher) ----
    def ask(message, history, last_query, k, mode, sources, doc_ids, date_from, date_to):
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            return history, "", last_query, gr.update()
        query, new_last, picks = message, last_query, gr.update()  # an error leaves the picks as they were
        try:
            query = rewrite_followup(message, last_query, tok)
            filters = parse_filters(sources, doc_ids, date_from, date_to)
            t = time.perf_counter()
            res = searcher.search(query, k=parse_k(k, settings.top_k), mode=parse_mode(mode), filters=filters)
            took = time.perf_counter() - t
            log.info("search %r -> %d hits, abstained=%s, support=%s, %.0f ms",
                     res.query, len(res.hits), res.abstained, res.support, took * 1000)
            reply = render_result(res, tok.content_terms(res.query), index, question=message, seconds=took)
            new_last = res.query
            picks = gr.update(choices=[(f"[{n}] {h.citation}", h.passage.id) for n, h in enumerate(res.hits, 1)],
                              value=res.hits[0].passage.id if res.hits else None)
        except AssistantError as e:
            reply = f'<div class="reply">{render_error(str(e))}</div>'
        except Exception:
            log.exception("search failed for %r", query)
            reply = f'<div class="reply">{render_error(INTERNAL_ERROR)}</div>'
        history += [{"role": "user", "content": esc(message)}, {"role": "assistant", "content": reply}]
        return history, "", new_last, picks

    def ask_example(evt: gr.SelectData, history, last_query, k, mode, sources, doc_ids, date_from, date_to):
        value = evt.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        return ask(text, history, last_query, k, mode, sources, doc_ids, date_from, date_to)

    def find_similar(text, k, mode, sources, doc_ids, date_from, date_to):
        try:
            t = time.perf_counter()
            res = searcher.similar(text, k=parse_k(k, settings.top_k), mode=parse_mode(mode),
                                   filters=parse_filters(sources, doc_ids, date_from, date_to))
            log.info("similar (%d chars) -> %d hits, %.0f ms", len(text or ""), len(res.hits),
                     (time.perf_counter() - t) * 1000)
            return render_similar(res, tok.content_terms(res.query), index)
        except AssistantError as e:
            return render_error(str(e))
        except Exception:
            log.exception("similar failed")
            return render_error(INTERNAL_ERROR)

    def similar_to_hit(passage_id, k, mode, sources, doc_ids, date_from, date_to):
        i = index.by_id.get(passage_id or "")
        if i is None:
            return gr.update(), gr.update(), render_error("请先选择一条检索结果 (pick a result first)")
        text = index.passages[i].text
        return gr.Tabs(selected="similar"), text, find_similar(text, k, mode, sources, doc_ids, date_from, date_to)

    def clear():
        return [], "", None, gr.update(choices=[], value=None)

    def api_search(query: str, k: int = settings.top_k, mode: str = settings.mode, sources: str = "",
                   doc_ids: str = "", date_from: str = "", date_to: str = "") -> dict:
        """Passages that answer ``query``: SearchResult.to_dict(), or a dict with an "error" field.
        sources / doc_ids are comma-separated; dates are YYYY-MM-DD."""
        return run_api(searcher, "search", query, k, mode, sources, doc_ids, date_from, date_to)

    def api_similar(text: str, k: int = settings.top_k, mode: str = settings.mode, sources: str = "",
                    doc_ids: str = "", date_from: str = "", date_to: str = "") -> dict:
        """Paragraphs that say the same as ``text`` (same shape as /search)."""
        return run_api(searcher, "similar", text, k, mode, sources, doc_ids, date_from, date_to)

    # ---- layout ----
    private = {"api_visibility": "private"}
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n在政府讲话稿语料中检索答案段落，每条结果都附出处，可展开上下文核对。")
        with gr.Accordion("检索设置与筛选", open=False):
            with gr.Row():
                k_in = gr.Slider(1, MAX_K, value=min(settings.top_k, MAX_K), step=1, label="返回条数 top-k")
                mode_in = gr.Radio(MODES, value=settings.mode, label="检索模式")
            with gr.Row():
                sources_in = gr.Dropdown(source_choices(index), multiselect=True, value=[], label="来源文件")
                docs_in = gr.Dropdown(doc_choices(index), multiselect=True, value=[], label="讲话")
            with gr.Row():
                from_in = gr.Textbox(label="起始日期", placeholder="YYYY-MM-DD")
                to_in = gr.Textbox(label="截止日期", placeholder="YYYY-MM-DD")
        opts = [k_in, mode_in, sources_in, docs_in, from_in, to_in]

        with gr.Tabs() as tabs:
            with gr.Tab("问答", id="chat"):
                last_query = gr.State(None)
                chatbot = gr.Chatbot(
                    label="对话", show_label=False, height=620, autoscroll=False, elem_id="chat", latex_delimiters=[], feedback_options=None,
                    placeholder="**请输入问题**，例如下方的示例问题。追问（如“那具体有哪些形式？”）会结合上一个问题检索。",
                    examples=[{"text": q} for q in EXAMPLES])
                with gr.Row():
                    question = gr.Textbox(placeholder="输入问题后按回车，例如：乡镇人大监督怎么做", show_label=False,
                                          scale=8, elem_id="question", autofocus=True, submit_btn=True)
                    new_topic = gr.Button("新话题", scale=1)
                with gr.Row():
                    pick = gr.Dropdown([], label="对某条结果查找相似段落", scale=8)
                    pick_btn = gr.Button("相似段落", scale=1, elem_id="similar-of-hit")
            with gr.Tab("相似段落", id="similar"):
                sim_text = gr.Textbox(lines=6, label="粘贴一段文字", elem_id="similar-text",
                                      placeholder="粘贴讲话稿中的一段话，查找语料中表达相同或相近内容的段落")
                sim_btn = gr.Button("查找相似段落", variant="primary", elem_id="similar-btn")
                sim_out = gr.HTML(elem_id="similar-out")
            with gr.Tab("语料", id="corpus"):
                gr.Markdown(corpus_summary(index))
                gr.Dataframe(value=corpus_rows(index), headers=CORPUS_HEADERS, datatype="str",
                             interactive=False, wrap=True)

        chat_io = [chatbot, last_query, *opts]
        question.submit(ask, [question, *chat_io], [chatbot, question, last_query, pick],
                        **private).then(None, js=SCROLL_TO_REPLY, **private)
        chatbot.example_select(ask_example, chat_io, [chatbot, question, last_query, pick],
                               **private).then(None, js=SCROLL_TO_REPLY, **private)
        new_topic.click(clear, None, [chatbot, question, last_query, pick], **private)
        sim_btn.click(find_similar, [sim_text, *opts], sim_out, **private)
        sim_text.submit(find_similar, [sim_text, *opts], sim_out, **private)
        pick_btn.click(similar_to_hit, [pick, *opts], [tabs, sim_text, sim_out], **private)

        gr.api(api_search, api_name="search")
        gr.api(api_similar, api_name="similar")
    return demo


def serve(demo: gr.Blocks, settings: Settings, host: str | None = None, port: int | None = None,
          block: bool = True):
    """Launch on ``host:port`` (settings: 127.0.0.1:7860), with basic auth when configured.
    With ``block=False`` it returns once the server is up (tests)."""
    return demo.launch(server_name=host or settings.host, server_port=port or settings.port,
                       auth=parse_auth(settings.auth), share=False, prevent_thread_lock=not block,
                       show_error=False, max_file_size=f"{settings.max_upload_mb}mb", css=CSS,
                       footer_links=["api"], quiet=not block)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=f"{TITLE}: web app")
    p.add_argument("--host", help="address to bind (default: settings.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: settings.port, 7860)")
    p.add_argument("--settings", help="a TOML settings file (default: assistant.toml or $ASSISTANT_SETTINGS)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    try:
        settings = Settings.load(args.settings, host=args.host, port=args.port)
    except (ValueError, FileNotFoundError) as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else getattr(logging, settings.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("sentence_transformers", "httpx", "httpcore", "jieba", "filelock", "datasketch",
                  "faiss.loader", "bm25s", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        parse_auth(settings.auth)
        demo = build_app(settings)
    except AssistantError as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.auth:
        log.warning("serving on %s without auth: anyone on the network can use the app", settings.host)
    log.info("serving %s on http://%s:%d", TITLE, settings.host, settings.port)
    serve(demo, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
