"""讲稿检索助手 — the web app (Gradio Blocks) over the retrieval library in ``assistant/``.

    python app.py [--host 127.0.0.1] [--port 7860] [--settings assistant.toml] [-v]

Settings, embedder and index are loaded once at start-up (the index is built on the first
run). The page has three tabs — 问答 (chat with cited result cards, streamed in: header first,
then the cards), 相似段落 (paste a paragraph, find the ones that say the same) and 语料
(the indexed speeches; upload and remove files, which updates the index and swaps in a new
searcher) — and two named API endpoints for ``gradio_client``: ``/search`` and ``/similar``.

Each card has three actions: 展开上下文 (the passage's section, hit marked), 相似段落 and
复制引用. The two buttons carry their payload in the ``value`` attribute (escaped), because
Gradio's chat sanitizer strips ``data-*`` and ``on*`` attributes; one delegated click
listener (``CARD_ACTIONS_JS``, installed at page load) copies the citation or fills a
hidden trigger that runs the similar search.

Safety: every corpus string (passage text, title, citation, file name) and every user
string is HTML-escaped before it is put into HTML; highlighting is applied to the escaped
text, and Gradio's sanitizer still runs over every chat message. The server binds
127.0.0.1 unless told otherwise and uses basic auth when ``settings.auth``
("user:password") is set. Uploads are limited to ``settings.max_upload_mb`` and the
supported types; editing the corpus is switched off on a non-loopback host without auth.
"""
import argparse
import html
import logging
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from assistant.conversation import is_follow_up, rewrite_followup  # noqa: E402,F401
from assistant.errors import AssistantError, IndexBusy, QueryError  # noqa: E402
from assistant.search import NO_ANSWER, Filters, Searcher  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.types import Citation, Hit, Passage, SearchResult  # noqa: E402

log = logging.getLogger("app")

TITLE = "讲稿检索助手"
EXAMPLES = ["乡镇人大监督怎么做", "如何做好信访稳定工作", "6.25亿元"]
MODES = [("混合 hybrid", "hybrid"), ("语义 dense", "dense"), ("关键词 bm25", "bm25")]
MAX_K = 20
"""Largest top-k the slider and the API accept."""
CONTEXT_LIMIT = 9
"""展开上下文 shows at most this many passages of the hit's section."""
DUPLICATES_SHOWN = 20
UPLOAD_SUFFIXES = (".txt", ".docx", ".pdf", ".html", ".htm", ".md")
UPLOAD_CEILING = 2
"""The server itself takes uploads up to this many times ``settings.max_upload_mb``."""
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# after a reply, show its start (the header and the best card), not its last card
SCROLL_TO_REPLY = """() => { setTimeout(() => {
  const replies = document.querySelectorAll('#chat .reply');
  if (replies.length) replies[replies.length - 1].scrollIntoView({block: 'start', behavior: 'smooth'});
}, 60); }"""
# One delegated listener for the buttons inside result cards (installed at page load).
# Gradio's chat sanitizer strips on* and data-* attributes, so each button carries its
# payload in its (escaped) value attribute: the formatted citation, or the passage id.
CARD_ACTIONS_JS = """() => {
  if (window.__assistantCards) return;
  window.__assistantCards = true;
  const copyText = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) {}
    // plain-http pages on another host have no navigator.clipboard: the old way
    const ta = document.createElement('textarea');
    ta.value = text; ta.setAttribute('readonly', ''); ta.style.position = 'fixed'; ta.style.opacity = '0';
    document.body.appendChild(ta); ta.select();
    let ok = false; try { ok = document.execCommand('copy'); } catch (e) {}
    ta.remove(); return ok;
  };
  document.addEventListener('click', async (event) => {
    const button = event.target.closest && event.target.closest('button.copy-cite, button.sim-hit');
    if (!button) return;
    event.preventDefault(); event.stopPropagation();
    if (button.classList.contains('copy-cite')) {
      const ok = await copyText(button.value);
      button.textContent = ok ? '✓ 已复制' : '复制失败，请手动选择文字';
      setTimeout(() => { button.textContent = '复制引用'; }, 1600);
    } else {
      window.__assistantPick = button.value;
      const trigger = document.querySelector('#similar-trigger');
      if (trigger) trigger.click();
    }
  }, true);
}"""
# the hidden trigger's event reads the passage id the card button left behind
PICK_JS = "(pid, ...rest) => [window.__assistantPick || pid, ...rest]"
# 删除 asks first; a cancelled dialog reaches the handler as confirmed=False
CONFIRM_REMOVE_JS = """(names, confirmed, ...rest) => [names,
  !!(names && names.length && window.confirm('确定从语料中删除以下文件并更新索引？\\n' + names.join('\\n'))), ...rest]"""
INTERNAL_ERROR = "内部错误，请稍后重试或查看服务器日志 (internal error; see the server log)"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ENTITY = r"&(?:[A-Za-z]+|#\d+|#[xX][0-9A-Fa-f]+);"

CSS = """
.card{border:1px solid #d9dde3;border-radius:8px;padding:10px 12px;margin:8px 0;background:#fff}
.card-head{display:flex;gap:8px;align-items:baseline;font-size:13px;color:#555;flex-wrap:wrap}
.card-rank{font-weight:bold;color:#1f4e9c}
.card-meta{color:#888}
.card-score{margin-left:auto;color:#777;font-variant-numeric:tabular-nums}
.card-text{margin:6px 0;line-height:1.7;font-size:15px;color:#222}
.card-text mark,.ctx mark{background:#ffe58a;padding:0 1px;border-radius:2px}
.citation{font-size:13px;color:#1f4e9c}
.card-section{color:#777}
.card-actions{display:flex;gap:8px;flex-wrap:wrap;margin-top:6px}
.card-actions button{font-size:12px;padding:2px 10px;border:1px solid #c9d3e6;border-radius:12px;
  background:#f5f8fe;color:#1f4e9c;cursor:pointer;line-height:1.6;font-weight:normal}
.card-actions button:hover{background:#e6eefc}
.card summary{font-size:13px;color:#1f4e9c;cursor:pointer;margin-top:4px}
.dups ul{margin:4px 0 4px 18px;font-size:13px;color:#555}
.ctx{border-left:3px solid #c9d3e6;padding-left:8px;margin-top:6px}
.ctx-p{margin:4px 0;color:#555;line-height:1.6}
.ctx-hit{color:#111;background:#f3f7ff;border-left:3px solid #1f4e9c;padding-left:6px}
.ctx-h{font-weight:bold;color:#333;margin-top:6px}
.ctx-note{font-size:12px;color:#888}
.result-head{font-size:14px;color:#333;margin-bottom:4px}
.rewrite{font-size:13px;color:#8a5a00}
.pending{color:#777;font-size:14px}
.notice{border:1px solid #e0c36c;background:#fffbea;border-radius:8px;padding:10px 12px}
.error{border:1px solid #e08a8a;background:#fff2f2;border-radius:8px;padding:10px 12px}
.ok{border:1px solid #8ac79a;background:#f1fbf3;border-radius:8px;padding:10px 12px}
.ok ul,.error ul,.notice ul{margin:4px 0 0 18px}
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


def _paragraph_label(c: Citation) -> str:
    label = f"第{c.paragraph}段"
    if c.part and c.parts and c.parts > 1:
        label += f"（{c.part}/{c.parts}）"
    return label


def _file_label(c: Citation) -> str:
    return c.source + (f" 第{c.page}页" if c.page else "")


def citation_text(c: Citation) -> str:
    """The citation on a card: 《title》 篇N · heading path · 第N段 · date · file (page)."""
    bits = [c.speech]
    if c.headings:
        bits.append(" › ".join(c.headings))
    bits.append(_paragraph_label(c))
    if c.date:
        bits.append(c.date)
    bits.append(_file_label(c))
    return " · ".join(bits)


def copy_citation(passage: Passage) -> str:
    """What 复制引用 puts on the clipboard:
    《title》篇N，heading path，第N段（date，file）：“passage text”."""
    c = passage.citation
    bits = [f"《{c.title}》" + (f"篇{c.number}" if c.number else "")]
    if c.headings:
        bits.append(" › ".join(c.headings))
    bits.append(_paragraph_label(c))
    where = "，".join(x for x in (c.date, _file_label(c)) if x)
    return "，".join(bits) + f"（{where}）：“{passage.text.strip()}”"


def render_duplicates(hit: Hit) -> str:
    """"另见 N 处": the template copies folded into this hit, with their citations."""
    if not hit.duplicates:
        return ""
    items = "".join(f"<li>{esc(citation_text(d.citation))}</li>" for d in hit.duplicates[:DUPLICATES_SHOWN])
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
        label = _paragraph_label(p.citation)
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
            f'<button type="button" class="copy-cite" title="复制带出处的引文" value="{esc(copy_citation(hit.passage))}">'
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
            f'<div class="citation">出处：{esc(citation_text(c))}</div>',
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


def reply_html(body: str, done: bool = True) -> str:
    """A chat reply; ``done`` marks the last streamed version (the browser test waits for it)."""
    return f'<div class="reply{" done" if done else ""}">{body}</div>'


PENDING = '<div class="pending">正在检索……</div>'


def stream_result(result: SearchResult, terms, index=None, question: str | None = None,
                  seconds: float | None = None):
    """The reply to a question as it should appear, step by step: the header, then the
    header with the first card, then the whole reply (the last one is marked done)."""
    head = render_header(result, question, seconds)
    if result.abstained:
        yield reply_html(head + render_abstention(result))
        return
    if not result.hits:
        yield reply_html(head + '<div class="notice">没有找到结果，请放宽筛选条件。</div>')
        return
    yield reply_html(head, done=False)
    cards = [render_card(h, terms, n, index) for n, h in enumerate(result.hits[:1], start=1)]
    if len(result.hits) > 1:
        yield reply_html(head + "".join(cards), done=False)
        cards += [render_card(h, terms, n, index) for n, h in enumerate(result.hits[1:], start=2)]
    yield reply_html(head + "".join(cards))


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


# --- inputs ----------------------------------------------------------------------------------

def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，;；\n]", value) if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def parse_filters(sources=None, doc_ids=None, date_from=None, date_to=None, occasions=None,
                  places=None, speakers=None) -> Filters | None:
    """Filters from UI/API values (lists or comma-separated strings); None when nothing filters."""
    dates = []
    for name, d in (("起始日期", date_from), ("截止日期", date_to)):
        d = str(d or "").strip()
        if d and not _DATE.match(d):
            raise QueryError(f"{name}格式应为 YYYY-MM-DD，例如 2021-03-05 (dates must look like 2021-03-05)")
        dates.append(d or None)
    if dates[0] and dates[1] and dates[0] > dates[1]:
        raise QueryError("起始日期晚于截止日期 (date_from is after date_to)")
    f = Filters(sources=_as_list(sources), doc_ids=_as_list(doc_ids), date_from=dates[0], date_to=dates[1],
                occasions=_as_list(occasions), places=_as_list(places), speakers=_as_list(speakers))
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

CORPUS_HEADERS = ["doc_id", "标题", "篇", "日期", "场合", "地点", "来源文件", "段落数"]


def corpus_rows(index) -> list[list]:
    """The document list (``list_documents``) as table rows."""
    from assistant.index import list_documents

    return [[d["doc_id"], d["title"], f"篇{d['number']}" if d["number"] else "", d["date"] or "",
             d["occasion"] or "", d["place"] or "", d["source"], d["passages"]]
            for d in list_documents(index)]


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


def occasion_choices(index) -> list[str]:
    return sorted({p.citation.occasion for p in index.passages if p.citation.occasion})


def corpus_editable(settings: Settings) -> bool:
    """Uploads and removals only where nobody else can reach them unauthenticated."""
    return settings.host in LOOPBACK or bool(settings.auth)


def check_uploads(paths, max_mb: int) -> tuple[list[Path], list[str]]:
    """(files to hand to the library, refusals "name：reason") by type and size, before any reading."""
    ok, refused = [], []
    for raw in paths or ():
        # a path (gr.File type="filepath"), or a file object with its path in .name
        p = Path(raw if isinstance(raw, (str, os.PathLike)) else getattr(raw, "name", ""))
        if p.suffix.lower() not in UPLOAD_SUFFIXES:
            refused.append(f"{p.name}：不支持的文件类型 {p.suffix or '（无扩展名）'}，"
                           f"只接受 {' '.join(UPLOAD_SUFFIXES)}")
            continue
        try:
            size = p.stat().st_size
        except OSError:
            refused.append(f"{p.name}：上传的文件不存在或无法读取，请重新上传")
            continue
        if size > max_mb * 1024 * 1024:
            refused.append(f"{p.name}：文件过大（{size / 1024 / 1024:.1f} MB），单个文件不能超过 {max_mb} MB")
            continue
        ok.append(p)
    return ok, refused


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


# --- the live searcher -----------------------------------------------------------------------

class Live:
    """The searcher every handler uses. A corpus change builds a new index; the new searcher
    is swapped in here, under a lock, so requests already running finish on the old one."""

    def __init__(self, searcher: Searcher):
        self._searcher = searcher
        self._lock = threading.Lock()
        self.writing = threading.Lock()
        """Held for the whole of an upload or removal: one corpus change at a time."""

    def get(self) -> Searcher:
        with self._lock:
            return self._searcher

    def swap(self, searcher: Searcher) -> None:
        with self._lock:
            self._searcher = searcher


def change_corpus(live: Live, settings: Settings, kind: str, items, progress=None) -> str:
    """Add (``kind="add"``: uploaded paths) or remove (``"remove"``: corpus file names) files,
    swap in a searcher over the new index, and return the outcome as HTML."""
    from assistant.index import add_files, remove_files

    def step(frac, desc):
        if progress is not None:
            progress(frac, desc=desc)

    verb = "加入" if kind == "add" else "删除"
    if not corpus_editable(settings):
        return render_error("此服务对外开放且未设置密码（settings.auth），语料编辑已关闭")
    items = list(items or [])
    if not items:
        return render_error("请先选择要上传的文件" if kind == "add" else "请先选择要删除的文件")
    refused: list[str] = []
    if kind == "add":
        step(0.05, "检查文件类型和大小")
        items, refused = check_uploads(items, settings.max_upload_mb)
        if not items:
            return render_change(verb, [], refused)
    try:
        if not live.writing.acquire(timeout=1):
            raise IndexBusy("索引正忙：另一个上传或删除正在进行，请稍后再试")
        try:
            step(0.2, "解析文件并更新索引（只为新段落计算向量）……" if kind == "add" else "删除文件并更新索引……")
            old = live.get()
            fn = add_files if kind == "add" else remove_files
            report = fn(settings, old.embedder, [str(p) for p in items], progress=False)
            if report.index is not None:
                step(0.9, "切换到新索引")
                live.swap(Searcher(report.index, old.embedder, settings))
        finally:
            live.writing.release()
    except AssistantError as e:  # IndexBusy included: its message says what to do
        return render_error(str(e))
    except Exception:
        log.exception("%s failed for %s", kind, items)
        return render_error(INTERNAL_ERROR)
    log.info("%s: changed %s, skipped %s (%.1fs)", kind, report.changed, refused + report.skipped, report.seconds)
    step(1.0, "完成")
    return render_change(verb, report.changed, refused + report.skipped, report.seconds)


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
            "evidence": {}, "hits": [], "error": message}


def run_api(searcher: Searcher, kind: str, text, k=None, mode=None, sources="", doc_ids="",
            date_from="", date_to="", occasions="", places="", speakers="") -> dict:
    """``SearchResult.to_dict()`` for an API call, or a dict with an ``error`` message."""
    try:
        fn = searcher.search if kind == "search" else searcher.similar
        res = fn(text if isinstance(text, str) else ("" if text is None else str(text)),
                 k=parse_k(k, searcher.settings.top_k), mode=parse_mode(mode),
                 filters=parse_filters(sources, doc_ids, date_from, date_to, occasions, places, speakers))
        return res.to_dict()
    except AssistantError as e:
        return _error_dict(text, mode, str(e))
    except Exception:
        log.exception("%s failed for %r", kind, text)
        return _error_dict(text, mode, INTERNAL_ERROR)


def _keep(values, choices) -> list:
    allowed = {c[1] if isinstance(c, tuple) else c for c in choices}
    return [v for v in values or [] if v in allowed]


def build_app(settings: Settings | None = None, searcher: Searcher | None = None) -> gr.Blocks:
    """The Gradio app; loads settings, embedder and index unless a ready ``searcher`` is given.
    ``demo.live`` is the holder of the current searcher."""
    if searcher is None:
        settings = settings or Settings.load()
        searcher = load_searcher(settings)
    settings = settings or searcher.settings
    live = Live(searcher)
    editable = corpus_editable(settings)

    # ---- handlers (each takes the current searcher from ``live`` once, at its start) ----
    def ask(message, history, last_query, k, mode, sources, doc_ids, occasions, date_from, date_to):
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            yield history, "", last_query
            return
        history.append({"role": "user", "content": esc(message)})
        yield [*history, {"role": "assistant", "content": reply_html(PENDING, done=False)}], "", last_query
        s = live.get()
        query = message
        try:
            query = rewrite_followup(message, last_query, s.index.tokenizer)
            filters = parse_filters(sources, doc_ids, date_from, date_to, occasions)
            t = time.perf_counter()
            res = s.search(query, k=parse_k(k, settings.top_k), mode=parse_mode(mode), filters=filters)
            took = time.perf_counter() - t
            log.info("search %r -> %d hits, abstained=%s, support=%s, %.0f ms",
                     res.query, len(res.hits), res.abstained, res.support, took * 1000)
            terms = s.index.tokenizer.content_terms(res.query)
            for reply in stream_result(res, terms, s.index, question=message, seconds=took):
                yield [*history, {"role": "assistant", "content": reply}], "", res.query
            return
        except AssistantError as e:
            reply = reply_html(render_error(str(e)))
        except Exception:
            log.exception("search failed for %r", query)
            reply = reply_html(render_error(INTERNAL_ERROR))
        yield [*history, {"role": "assistant", "content": reply}], "", last_query

    def ask_example(evt: gr.SelectData, history, last_query, *opts):
        value = evt.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from ask(text, history, last_query, *opts)

    def find_similar(text, k, mode, sources, doc_ids, occasions, date_from, date_to):
        s = live.get()
        try:
            t = time.perf_counter()
            res = s.similar(text, k=parse_k(k, settings.top_k), mode=parse_mode(mode),
                            filters=parse_filters(sources, doc_ids, date_from, date_to, occasions))
            log.info("similar (%d chars) -> %d hits, %.0f ms", len(text or ""), len(res.hits),
                     (time.perf_counter() - t) * 1000)
            return render_similar(res, s.index.tokenizer.content_terms(res.query), s.index)
        except AssistantError as e:
            return render_error(str(e))
        except Exception:
            log.exception("similar failed")
            return render_error(INTERNAL_ERROR)

    def similar_to_hit(passage_id, *opts):
        index = live.get().index
        i = index.by_id.get(passage_id or "")
        if i is None:
            return (gr.Tabs(selected="similar"), gr.update(),
                    render_error("这条结果已不在当前索引中（语料已更新），请重新检索"))
        text = index.passages[i].text
        return gr.Tabs(selected="similar"), text, find_similar(text, *opts)

    def clear():
        return [], "", None

    def corpus_view(sources, doc_ids, occasions, removing):
        index = live.get().index
        srcs, docs, occs = source_choices(index), doc_choices(index), occasion_choices(index)
        return (corpus_summary(index), corpus_rows(index),
                gr.update(choices=srcs, value=_keep(sources, srcs)),
                gr.update(choices=docs, value=_keep(doc_ids, docs)),
                gr.update(choices=occs, value=_keep(occasions, occs)),
                gr.update(choices=srcs, value=_keep(removing, srcs)))

    def upload(files, sources, doc_ids, occasions, removing, progress=gr.Progress()):
        status = change_corpus(live, settings, "add", files, progress)
        return (status, *corpus_view(sources, doc_ids, occasions, removing), None)

    def remove(names, confirmed, sources, doc_ids, occasions, removing):
        if names and not confirmed:
            status = '<div class="notice">已取消删除。</div>'
        else:
            status = change_corpus(live, settings, "remove", names)
        return (status, *corpus_view(sources, doc_ids, occasions, []))

    def api_search(query: str, k: int = settings.top_k, mode: str = settings.mode, sources: str = "",
                   doc_ids: str = "", date_from: str = "", date_to: str = "", occasions: str = "",
                   places: str = "", speakers: str = "") -> dict:
        """Passages that answer ``query``: SearchResult.to_dict(), or a dict with an "error" field.
        sources / doc_ids / occasions / places / speakers are comma-separated; dates are YYYY-MM-DD."""
        return run_api(live.get(), "search", query, k, mode, sources, doc_ids, date_from, date_to, occasions,
                       places, speakers)

    def api_similar(text: str, k: int = settings.top_k, mode: str = settings.mode, sources: str = "",
                    doc_ids: str = "", date_from: str = "", date_to: str = "", occasions: str = "",
                    places: str = "", speakers: str = "") -> dict:
        """Paragraphs that say the same as ``text`` (same shape as /search)."""
        return run_api(live.get(), "similar", text, k, mode, sources, doc_ids, date_from, date_to, occasions,
                       places, speakers)

    # ---- layout ----
    index = searcher.index
    private = {"api_visibility": "private"}
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        demo.live = live
        gr.Markdown(f"# {TITLE}\n在政府讲话稿语料中检索答案段落，每条结果都附出处，可展开上下文核对、复制引用。")
        with gr.Accordion("检索设置与筛选", open=False):
            with gr.Row():
                k_in = gr.Slider(1, MAX_K, value=min(settings.top_k, MAX_K), step=1, label="返回条数 top-k")
                mode_in = gr.Radio(MODES, value=settings.mode, label="检索模式")
            with gr.Row():
                sources_in = gr.Dropdown(source_choices(index), multiselect=True, value=[], label="来源文件")
                docs_in = gr.Dropdown(doc_choices(index), multiselect=True, value=[], label="讲话")
                occ_in = gr.Dropdown(occasion_choices(index), multiselect=True, value=[], label="场合",
                                     elem_id="occasions")
            with gr.Row():
                from_in = gr.Textbox(label="起始日期", placeholder="YYYY-MM-DD")
                to_in = gr.Textbox(label="截止日期", placeholder="YYYY-MM-DD")
        opts = [k_in, mode_in, sources_in, docs_in, occ_in, from_in, to_in]

        with gr.Tabs() as tabs:
            with gr.Tab("问答", id="chat"):
                last_query = gr.State(None)
                chatbot = gr.Chatbot(
                    label="对话", show_label=False, height=620, autoscroll=False, elem_id="chat",
                    latex_delimiters=[], feedback_options=None,
                    placeholder="**请输入问题**，例如下方的示例问题。追问（如“那具体有哪些形式？”）会结合上一个问题检索。"
                                "每条结果可展开上下文、查找相似段落、复制引用。",
                    examples=[{"text": q} for q in EXAMPLES])
                with gr.Row():
                    question = gr.Textbox(placeholder="输入问题后按回车，例如：乡镇人大监督怎么做", show_label=False,
                                          scale=8, elem_id="question", autofocus=True, submit_btn=True)
                    new_topic = gr.Button("新话题", scale=1)
                # the cards' 相似段落 buttons click this (see CARD_ACTIONS_JS)
                pick_id = gr.Textbox(visible="hidden", elem_id="similar-pick")
                pick_btn = gr.Button("相似段落", visible="hidden", elem_id="similar-trigger")
            with gr.Tab("相似段落", id="similar"):
                sim_text = gr.Textbox(lines=6, label="粘贴一段文字", elem_id="similar-text",
                                      placeholder="粘贴讲话稿中的一段话，查找语料中表达相同或相近内容的段落")
                sim_btn = gr.Button("查找相似段落", variant="primary", elem_id="similar-btn")
                sim_out = gr.HTML(elem_id="similar-out")
            with gr.Tab("语料", id="corpus"):
                summary = gr.Markdown(corpus_summary(index))
                table = gr.Dataframe(value=corpus_rows(index), headers=CORPUS_HEADERS, datatype="str",
                                     interactive=False, wrap=True, elem_id="corpus-table",
                                     column_widths=["13%", "25%", "5%", "10%", "16%", "9%", "15%", "7%"])
                with gr.Accordion("添加或删除讲话稿", open=True, visible=editable):
                    with gr.Row():
                        with gr.Column(scale=3):
                            files_in = gr.File(file_count="multiple", type="filepath", elem_id="upload",
                                               label=f"上传讲话稿（{' '.join(UPLOAD_SUFFIXES)}，"
                                                     f"每个不超过 {settings.max_upload_mb} MB）")
                            add_btn = gr.Button("加入语料并更新索引", variant="primary", elem_id="upload-btn")
                        with gr.Column(scale=2):
                            remove_in = gr.Dropdown(source_choices(index), multiselect=True, value=[],
                                                    label="选择要删除的来源文件", elem_id="remove-pick")
                            confirmed = gr.Checkbox(False, visible="hidden")
                            remove_btn = gr.Button("从语料中删除并更新索引", variant="stop", elem_id="remove-btn")
                if not editable:
                    gr.Markdown("此服务对外开放且未设置密码（settings.auth），语料编辑已关闭。")
                status = gr.HTML(elem_id="corpus-status")

        chat_io = [chatbot, last_query, *opts]
        chat_out = [chatbot, question, last_query]
        question.submit(ask, [question, *chat_io], chat_out, **private).then(None, js=SCROLL_TO_REPLY, **private)
        chatbot.example_select(ask_example, chat_io, chat_out, **private).then(None, js=SCROLL_TO_REPLY, **private)
        new_topic.click(clear, None, chat_out, **private)
        sim_btn.click(find_similar, [sim_text, *opts], sim_out, **private)
        sim_text.submit(find_similar, [sim_text, *opts], sim_out, **private)
        pick_btn.click(similar_to_hit, [pick_id, *opts], [tabs, sim_text, sim_out], js=PICK_JS, **private)

        view = [summary, table, sources_in, docs_in, occ_in, remove_in]
        view_in = [sources_in, docs_in, occ_in, remove_in]
        add_btn.click(upload, [files_in, *view_in], [status, *view, files_in], **private)
        remove_btn.click(remove, [remove_in, confirmed, *view_in], [status, *view], js=CONFIRM_REMOVE_JS,
                         **private)
        # a page opened after a corpus change shows the current corpus, not the one at start-up
        demo.load(corpus_view, view_in, view, **private)

        gr.api(api_search, api_name="search")
        gr.api(api_similar, api_name="similar")
    return demo


def serve(demo: gr.Blocks, settings: Settings, host: str | None = None, port: int | None = None,
          block: bool = True):
    """Launch on ``host:port`` (settings: 127.0.0.1:7860), with basic auth when configured.
    With ``block=False`` it returns once the server is up (tests).

    Gradio refuses uploads above ``UPLOAD_CEILING`` × ``max_upload_mb`` outright (its own
    English message); files between the two limits reach the upload handler, which refuses
    them with a Chinese message naming the limit."""
    return demo.launch(server_name=host or settings.host, server_port=port or settings.port,
                       auth=parse_auth(settings.auth), share=False, prevent_thread_lock=not block,
                       show_error=False, max_file_size=f"{UPLOAD_CEILING * settings.max_upload_mb}mb", css=CSS,
                       js=CARD_ACTIONS_JS, footer_links=["api"], quiet=not block)


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
