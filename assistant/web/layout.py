"""The page: components in tabs, and the events that bind them to the handlers.

Three tabs — 问答 (chat with cited result cards, streamed in), 相似段落 (paste a paragraph,
find the ones that say the same) and 语料 (the indexed speeches; upload and remove) — and
three named API endpoints, ``/search``, ``/similar`` and ``/ask``. Every handler is a plain function
of the query service (``handlers``), bound here with ``functools.partial``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from ..readers import SUPPORTED_SUFFIXES
from ..service import LLM_HINT, MAX_K, QueryService
from ..types import AnswerKind, Mode
from . import handlers as H
from . import render as R
from .assets import CONFIRM_REMOVE_JS, PICK_JS, SCROLL_TO_REPLY

TITLE = "讲稿检索助手"
EXAMPLES = ["乡镇人大监督怎么做", "如何做好信访稳定工作", "6.25亿元"]
MODE_LABELS = {Mode.HYBRID: "混合 hybrid", Mode.DENSE: "语义 dense", Mode.BM25: "关键词 bm25"}
_PRIVATE = {"api_visibility": "private"}


@dataclass
class Options:
    """The 检索设置与筛选 components every query handler reads."""

    k: gr.Slider
    mode: gr.Radio
    sources: gr.Dropdown
    docs: gr.Dropdown
    occasions: gr.Dropdown
    date_from: gr.Textbox
    date_to: gr.Textbox
    answer: gr.Radio
    """摘录回答 / 模型生成: read by the chat only."""

    def inputs(self) -> list:
        return [self.k, self.mode, self.sources, self.docs, self.occasions, self.date_from, self.date_to]


def build_app(service: QueryService) -> gr.Blocks:
    """The Gradio app over ``service`` (``demo.service`` is kept for callers)."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        demo.service = service
        gr.Markdown(f"# {TITLE}\n在政府讲话稿语料中检索答案段落，每条结果都附出处，可展开上下文核对、复制引用。")
        opts = _options(service)
        with gr.Tabs() as tabs:
            pick = _chat_tab(service, opts)
            _similar_tab(service, opts, pick, tabs)
            _corpus_tab(service, opts, demo)
        api = H.Api(service)
        gr.api(api.search, api_name="search")
        gr.api(api.similar, api_name="similar")
        gr.api(api.ask, api_name="ask")
    web = service.settings.web
    # searches run in parallel over the shared read-only index and model; changes take their own lock
    demo.queue(default_concurrency_limit=web.concurrency, max_size=web.max_queue)
    return demo


def _options(service: QueryService) -> Options:
    index, r = service.index, service.settings.retrieval
    with gr.Accordion("检索设置与筛选", open=False):
        with gr.Row():
            k = gr.Slider(1, MAX_K, value=min(r.top_k, MAX_K), step=1, label="返回条数 top-k")
            mode = gr.Radio([(label, m.value) for m, label in MODE_LABELS.items()], value=r.mode.value,
                            label="检索模式")
        with gr.Row():
            sources = gr.Dropdown(R.source_choices(index), multiselect=True, value=[], label="来源文件")
            docs = gr.Dropdown(R.doc_choices(index), multiselect=True, value=[], label="讲话")
            occasions = gr.Dropdown(R.occasion_choices(index), multiselect=True, value=[], label="场合",
                                    elem_id="occasions")
        with gr.Row():
            date_from = gr.Textbox(label="起始日期", placeholder="YYYY-MM-DD")
            date_to = gr.Textbox(label="截止日期", placeholder="YYYY-MM-DD")
            answer = _answer_choice(service)
    return Options(k, mode, sources, docs, occasions, date_from, date_to, answer)


def _answer_choice(service: QueryService) -> gr.Radio:
    """摘录回答 or 模型生成; without a configured LLM the choice is fixed and says how to get one."""
    on = service.llm_configured
    kind = service.answer_kind()
    return gr.Radio([("摘录回答", AnswerKind.EXTRACTIVE.value), ("模型生成", AnswerKind.LLM.value)],
                    value=kind.value, label="回答方式", interactive=on, elem_id="answer-kind",
                    info=None if on else LLM_HINT)


def _chat_tab(service: QueryService, opts: Options) -> tuple[gr.Textbox, gr.Button]:
    """The chat; returns the hidden (passage id, trigger) pair the cards' 相似段落 buttons fill."""
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
        # the cards' 相似段落 buttons click this (see assets.CARD_ACTIONS_JS)
        pick_id = gr.Textbox(visible="hidden", elem_id="similar-pick")
        pick_btn = gr.Button("相似段落", visible="hidden", elem_id="similar-trigger")
    chat_in = [chatbot, last_query, opts.answer, *opts.inputs()]
    chat_out = [chatbot, question, last_query]
    question.submit(partial(H.ask, service), [question, *chat_in], chat_out, **_PRIVATE) \
        .then(None, js=SCROLL_TO_REPLY, **_PRIVATE)
    chatbot.example_select(_on_example(service), chat_in, chat_out, **_PRIVATE) \
        .then(None, js=SCROLL_TO_REPLY, **_PRIVATE)
    new_topic.click(H.clear, None, chat_out, **_PRIVATE)
    return pick_id, pick_btn


def _on_example(service: QueryService):
    """``H.ask_example`` bound to ``service``. Gradio finds the event-data argument by its type
    hint, which a ``partial`` hides, so this one handler gets a real signature."""
    def on_example(evt: gr.SelectData, *args):
        yield from H.ask_example(service, evt, *args)

    return on_example


def _similar_tab(service: QueryService, opts: Options, pick: tuple, tabs: gr.Tabs) -> None:
    """The 相似段落 tab; a card's button (``pick``) switches to it and shows that passage's matches."""
    with gr.Tab("相似段落", id="similar"):
        text = gr.Textbox(lines=6, label="粘贴一段文字", elem_id="similar-text",
                          placeholder="粘贴讲话稿中的一段话，查找语料中表达相同或相近内容的段落")
        button = gr.Button("查找相似段落", variant="primary", elem_id="similar-btn")
        out = gr.HTML(elem_id="similar-out")
    find = partial(H.find_similar, service)
    button.click(find, [text, *opts.inputs()], out, **_PRIVATE)
    text.submit(find, [text, *opts.inputs()], out, **_PRIVATE)
    pick_id, pick_btn = pick
    pick_btn.click(partial(H.similar_to_hit, service), [pick_id, *opts.inputs()], [tabs, text, out],
                   js=PICK_JS, **_PRIVATE)


def _corpus_tab(service: QueryService, opts: Options, demo: gr.Blocks) -> None:
    index, max_mb = service.index, service.settings.index.max_file_mb
    with gr.Tab("语料", id="corpus"):
        summary = gr.Markdown(R.corpus_summary(index, service.notice))
        table = gr.Dataframe(value=R.corpus_rows(index), headers=R.CORPUS_HEADERS, datatype="str",
                             interactive=False, wrap=True, elem_id="corpus-table",
                             column_widths=["13%", "25%", "5%", "10%", "16%", "9%", "15%", "7%"])
        with gr.Accordion("添加或删除讲话稿", open=True, visible=H.corpus_editable(service)):
            with gr.Row():
                with gr.Column(scale=3):
                    files = gr.File(file_count="multiple", type="filepath", elem_id="upload",
                                    label=f"上传讲话稿（{' '.join(SUPPORTED_SUFFIXES)}，每个不超过 {max_mb} MB）")
                    add_btn = gr.Button("加入语料并更新索引", variant="primary", elem_id="upload-btn")
                with gr.Column(scale=2):
                    removing = gr.Dropdown(R.source_choices(index), multiselect=True, value=[],
                                           label="选择要删除的来源文件", elem_id="remove-pick")
                    confirmed = gr.Checkbox(False, visible="hidden")
                    remove_btn = gr.Button("从语料中删除并更新索引", variant="stop", elem_id="remove-btn")
        if not H.corpus_editable(service):
            gr.Markdown("此服务对外开放且未设置密码（settings.auth），语料编辑已关闭。")
        status = gr.HTML(elem_id="corpus-status")
    view = [summary, table, opts.sources, opts.docs, opts.occasions, removing]
    view_in = [opts.sources, opts.docs, opts.occasions, removing]
    add_btn.click(partial(H.upload, service), [files, *view_in], [status, *view, files], **_PRIVATE)
    remove_btn.click(partial(H.remove, service), [removing, confirmed, *view_in], [status, *view],
                     js=CONFIRM_REMOVE_JS, **_PRIVATE)
    # a page opened after a corpus change shows the current corpus, not the one at start-up
    demo.load(partial(H.corpus_view, service), view_in, view, **_PRIVATE)
