"""Rendering: pure functions from result types to escaped HTML strings.

Every corpus string (passage text, title, citation, file name) and every user string is
HTML-escaped before it is put into HTML; highlighting is applied to the escaped text, and
Gradio's sanitizer still runs over every chat message.
"""
from __future__ import annotations

import html
import re
from collections import OrderedDict

from ..search import NO_ANSWER, NO_MATCH
from ..types import Answer, AnswerKind, Hit, Passage, SearchResult

CONTEXT_LIMIT = 9
"""展开上下文 shows at most this many passages of the hit's section."""
DUPLICATES_SHOWN = 20
_ENTITY = r"&(?:[A-Za-z]+|#\d+|#[xX][0-9A-Fa-f]+);"


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
    return None if index is None else index.position(passage.id)


def render_duplicates(hit: Hit) -> str:
    """"另见 N 处": the template copies folded into this hit, with their citations."""
    if not hit.duplicates:
        return ""
    items = "".join(f"<li>{esc(d.citation.detailed())}</li>" for d in hit.duplicates[:DUPLICATES_SHOWN])
    more = len(hit.duplicates) - DUPLICATES_SHOWN
    if more > 0:
        items += f"<li>……另有 {more} 处</li>"
    return (f'<details class="dups"><summary>另见 {len(hit.duplicates)} 处（内容相同或相近的段落）</summary>'
            f"<ul>{items}</ul></details>")


def render_context(index, i: int, terms, limit: int = CONTEXT_LIMIT) -> str:
    """"展开上下文": the passages of passage ``i``'s top-level section (``Index.section``),
    sub-headings shown where they change, the hit marked."""
    ids = index.section(i, limit)
    hit = index.passages[i].citation
    parts, last_heading = [], None
    if hit.headings:
        parts.append(f'<div class="ctx-h">{esc(hit.headings[0])}</div>')
        last_heading = hit.headings[:1]
    for j in ids:
        p = index.passages[j]
        heading = p.citation.headings
        if heading and heading != last_heading:
            parts.append(f'<div class="ctx-h">{esc(" › ".join(heading[1:] or heading))}</div>')
        last_heading = heading
        label = p.citation.paragraph_label
        if j == i:
            parts.append(f'<div class="ctx-p ctx-hit"><b>▶ {esc(label)}（命中）</b> {highlight(p.text, terms)}</div>')
        else:
            parts.append(f'<div class="ctx-p"><b>{esc(label)}</b> {esc(p.text)}</div>')
    scope = "本节" if hit.headings else "同一部分"
    note = (f"{scope}中命中段落前后的 {len(ids)} 段" if len(ids) >= limit else f"{scope}的全部 {len(ids)} 段")
    note = f'<div class="ctx-note">{note}</div>'
    return (f'<details class="context"><summary>展开上下文</summary>'
            f'<div class="ctx">{note}{"".join(parts)}</div></details>')


def render_actions(hit: Hit) -> str:
    """复制引用 and 相似段落: the payload sits, escaped, in the button's value attribute."""
    return ('<div class="card-actions">'
            f'<button type="button" class="copy-cite" title="复制带出处的引文" value="{esc(hit.citation.quote(hit.passage.text))}">'
            '复制引用</button>'
            f'<button type="button" class="sim-hit" title="查找与这一段表达相近的段落" value="{esc(hit.passage.id)}">'
            '相似段落</button></div>')


def render_card(hit: Hit, terms, rank: int | None = None, index=None) -> str:
    """One result card: highlighted text, citation, score, actions, 另见 N 处, and
    展开上下文 (when ``index`` is given)."""
    c = hit.citation
    head = []
    if rank is not None:
        head.append(f'<span class="card-rank">[{rank}]</span>')
    head.append(f'<span class="card-title">{esc(c.speech)}</span>')
    if c.headings:
        head.append(f'<span class="card-section">{esc(c.headings[-1])}</span>')
    meta = " · ".join(x for x in (c.occasion, c.place, c.speaker) if x)
    if meta:
        head.append(f'<span class="card-meta">{esc(meta)}</span>')
    head.append(f'<span class="card-score">相关度 {hit.score:.4f}</span>')
    body = [f'<div class="card-head">{"".join(head)}</div>',
            f'<div class="card-text">{highlight(hit.passage.text, terms)}</div>',
            f'<div class="citation">出处：{esc(c.detailed())}</div>',
            render_actions(hit)]
    i = _passage_index(index, hit.passage)
    if i is not None:
        body.append(render_context(index, i, terms))
    body.append(render_duplicates(hit))
    return f'<div class="card">{"".join(body)}</div>'


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


def render_no_match(result: SearchResult) -> str:
    """The filters match no speech: nothing was searched (not the corpus lacking an answer)."""
    return f'<div class="notice no-match">🔎 {esc(result.reason or NO_MATCH)}。</div>'


def render_header(result: SearchResult, question: str | None = None, seconds: float | None = None) -> str:
    """Reply header: the rewritten query (when a follow-up was rewritten) and the support counts."""
    out = []
    if question is not None and question != result.query:
        out.append(f'<div class="rewrite">结合上文改写为：「{esc(result.query)}」</div>')
    if not result.abstained and not result.no_match:
        docs, paras = support_counts(result)
        took = f" · 用时 {seconds * 1000:.0f} ms" if seconds is not None else ""
        out.append(f'<div class="result-head">共 {docs} 篇讲话、{paras} 个段落支持此回答'
                   f"（显示 {len(result.hits)} 条，模式 {esc(result.mode)}{took}）</div>")
    return "".join(out)


def reply_html(body: str, done: bool = True) -> str:
    """A chat reply; ``done`` marks the last streamed version (the browser test waits for it)."""
    return f'<div class="reply{" done" if done else ""}">{body}</div>'


PENDING = '<div class="pending">正在检索……</div>'


def stream_result(result: SearchResult, terms, index=None, question: str | None = None,
                  seconds: float | None = None, answer: Answer | None = None):
    """The reply to a question as it should appear, step by step: the header (with the
    answer), then with the first card, then the whole reply (the last one is marked done)."""
    head = render_header(result, question, seconds)
    if result.abstained:
        yield reply_html(head + render_abstention(result))
        return
    if result.no_match:
        yield reply_html(head + render_no_match(result))
        return
    if not result.hits:
        yield reply_html(head + '<div class="notice">没有找到结果，请放宽筛选条件。</div>')
        return
    head += render_answer(answer) if answer is not None else ""
    yield reply_html(head, done=False)
    cards = [render_card(h, terms, n, index) for n, h in enumerate(result.hits[:1], start=1)]
    if len(result.hits) > 1:
        yield reply_html(head + "".join(cards), done=False)
        cards += [render_card(h, terms, n, index) for n, h in enumerate(result.hits[1:], start=2)]
    yield reply_html(head + "".join(cards))


def render_cards(result: SearchResult, terms, index=None) -> str:
    return "".join(render_card(h, terms, n, index) for n, h in enumerate(result.hits, start=1))


def _cite(ref: int | None) -> str:
    # a button, not a link: Gradio's sanitizer keeps value, and the page's listener scrolls to card [n]
    return f'<button type="button" class="cite" value="{ref}" title="查看第 {ref} 条结果">[{ref}]</button>' if ref else ""


FLAG_TEXT = {"no_citation": "没有标注出处", "bad_citation": "标注了不存在的出处", "unsupported": "所引段落中找不到依据",
             "quote_not_found": "引号内的文字不在所引段落中"}


def render_answer(answer: Answer) -> str:
    """The answer above the cards: each sentence with its [n] button; flagged sentences
    marked with why; the note (a fallback, the model's no-answer) below."""
    kind = "摘录回答" if answer.kind == AnswerKind.EXTRACTIVE else f"模型生成（{esc(answer.model)}）"
    parts = []
    for s in answer.sentences:
        if s.supported:
            parts.append(f"{esc(s.text)}{_cite(s.ref)}")
        else:
            why = "；".join(FLAG_TEXT.get(f, f) for f in s.flags)
            parts.append(f'<span class="flagged" title="{esc(why)}">⚠ {esc(s.text)}</span>{_cite(s.ref)}'
                         f'<span class="flag-why">（{esc(why)}）</span>')
    note = f'<div class="answer-note">{esc(answer.note)}</div>' if answer.note else ""
    return (f'<div class="answer"><div class="answer-head">{kind}</div>'
            f'<div class="answer-text">{"".join(parts)}</div>{note}</div>')


def render_draft(draft: str, model: str = "") -> str:
    """A generated answer while it streams (not yet checked)."""
    body = esc(draft) if draft else "正在生成回答……"
    return (f'<div class="answer drafting"><div class="answer-head">模型生成中（{esc(model)}），'
            f'完成后核对出处</div><div class="answer-text">{body}</div></div>')


def render_result(result: SearchResult, terms, index=None, question: str | None = None,
                  seconds: float | None = None) -> str:
    """The whole reply to a question: header, then cards or the abstention message."""
    *_, last = stream_result(result, terms, index, question, seconds)
    return last


def group_by_speech(hits: list[Hit]) -> "OrderedDict[str, list[Hit]]":
    groups: OrderedDict[str, list[Hit]] = OrderedDict()
    for h in hits:
        groups.setdefault(h.passage.doc_id, []).append(h)
    return groups


def render_similar(result: SearchResult, terms, index=None) -> str:
    """Similar paragraphs grouped by speech (speeches in order of their best hit), each card
    with its citation."""
    if result.no_match:
        return render_no_match(result)
    if not result.hits:
        return '<div class="notice">没有找到相似的段落。</div>'
    out = [f'<div class="result-head">找到 {len(result.hits)} 个相似段落，来自 '
           f"{len(group_by_speech(result.hits))} 篇讲话（模式 {esc(result.mode)}）</div>"]
    n = 0
    for hits in group_by_speech(result.hits).values():
        c = hits[0].citation
        meta = " · ".join(esc(x) for x in (c.occasion, c.date, c.source) if x)
        out.append(f'<div class="group"><div class="group-head">{esc(c.speech)} <small>{meta}</small></div>')
        for h in hits:
            n += 1
            out.append(render_card(h, terms, n, index))
        out.append("</div>")
    return f'<div class="reply similar">{"".join(out)}</div>'


# --- the corpus tab ------------------------------------------------------------------------

CORPUS_HEADERS = ["doc_id", "标题", "篇", "日期", "场合", "地点", "来源文件", "段落数"]


def corpus_rows(index) -> list[list]:
    """The document list (``Index.documents``) as table rows."""
    return [[d["doc_id"], d["title"], f"篇{d['number']}" if d["number"] else "", d["date"] or "",
             d["occasion"] or "", d["place"] or "", d["source"], d["passages"]]
            for d in index.documents()]


def corpus_summary(index, notice: str | None = None) -> str:
    """The corpus tab's first line (and the service's notice when the folder changed since the build)."""
    m = index.manifest
    counts = m.get("counts", {})
    line = (f"共 **{counts.get('documents', len(index.documents()))}** 篇讲话、**{counts.get('passages', len(index))}** 个段落；"
            f"模型 `{esc(m.get('model', {}).get('name', '?'))}`，索引构建于 {esc(m.get('built_at', '?'))}"
            f"（版本 `{esc(index.version)}`）。")
    return line + (f"\n\n⚠️ {esc(notice)}" if notice else "")


def doc_choices(index) -> list[tuple[str, str]]:
    """(label, doc_id) per speech for the 讲话 filter."""
    return [(d["title"] + (f" 篇{d['number']}" if d["number"] else "") + f"（{d['doc_id']}）", d["doc_id"])
            for d in index.documents()]


def source_choices(index) -> list[str]:
    return sorted({d["source"] for d in index.documents()})


def occasion_choices(index) -> list[str]:
    return sorted({d["occasion"] for d in index.documents() if d["occasion"]})


def _list_html(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul>"


def render_change(verb: str, changed: list[str], refused: list[str], seconds: float | None = None) -> str:
    """The outcome of an upload or removal: what changed, and every refused file with its reason."""
    out = []
    if changed:
        took = f"，索引已更新（{seconds:.1f} 秒）" if seconds is not None else ""
        out.append(f'<div class="ok">✓ 已{esc(verb)} {len(changed)} 个文件{took}：{_list_html(changed)}</div>')
    if refused:
        out.append(f'<div class="error">⚠️ {len(refused)} 个文件未{esc(verb)}：{_list_html(refused)}</div>')
    if not out:
        out.append('<div class="notice">没有文件被更改。</div>')
    return "".join(out)
