"""Readers for .txt/.docx/.pdf/.html/.md: fixtures are written by the tests themselves."""
from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest

from assistant.errors import IngestError
from assistant.ingest import clean_lines, corpus_files, decode_bytes
from assistant.readers import MAX_FILE_BYTES, RawDoc, join_wrapped, read_raw, sniff

ROOT = Path(__file__).resolve().parent.parent


# --- docx -----------------------------------------------------------------------------------
def _write_docx(path: Path, core_title: str = "") -> Path:
    docx = pytest.importorskip("docx")
    from docx.enum.style import WD_STYLE_TYPE

    d = docx.Document()
    d.core_properties.title = core_title
    d.add_heading("在全镇安全生产工作会议上的讲话", 0)                 # Title
    d.add_paragraph("同志们：")
    d.add_heading("一、落实安全生产责任", 1)                            # Heading 1
    d.add_paragraph("各村要落实安全生产主体责任，党政同责、一岗双责。")
    d.add_heading("（一）排查隐患", 2)                                  # Heading 2
    d.add_paragraph("\u3000\u3000今年共排查隐患128处，整改率达到96.5%。")  # full-width indent
    d.add_paragraph("   ")                                              # empty: dropped
    cn = d.styles.add_style("标题 1", WD_STYLE_TYPE.PARAGRAPH)          # WPS-style name
    d.add_paragraph("二、做好信访稳定工作", style=cn)
    p = d.add_paragraph("信访稳定工作要做到早发现、早处理。")
    p.add_run().add_break()                                             # soft line break
    p.add_run("把矛盾解决在萌芽状态。")
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "责任单位"
    table.cell(0, 1).text = "镇安监站"
    d.add_paragraph("谢谢大家！")
    d.save(path)
    return path


def test_docx_paragraphs_headings_and_title(tmp_path):
    doc = read_raw(_write_docx(tmp_path / "speech.docx"))
    assert doc.kind == "docx"
    assert doc.lines == [
        "在全镇安全生产工作会议上的讲话",
        "同志们：",
        "一、落实安全生产责任",
        "各村要落实安全生产主体责任，党政同责、一岗双责。",
        "（一）排查隐患",
        "今年共排查隐患128处，整改率达到96.5%。",
        "二、做好信访稳定工作",
        "信访稳定工作要做到早发现、早处理。",
        "把矛盾解决在萌芽状态。",
        "责任单位",
        "镇安监站",
        "谢谢大家！",
    ]
    assert doc.headings == {0, 2, 4, 6}
    assert doc.pages == [None] * len(doc.lines)
    assert doc.title == "在全镇安全生产工作会议上的讲话"  # first Title paragraph


def test_docx_core_title_wins(tmp_path):
    doc = read_raw(_write_docx(tmp_path / "speech.docx", core_title="安全生产会议讲话"))
    assert doc.title == "安全生产会议讲话"


def test_docx_corrupt_and_not_word(tmp_path):
    rnd = random.Random(7)
    bad = tmp_path / "x.docx"
    bad.write_bytes(bytes(rnd.randrange(256) for _ in range(4000)))
    with pytest.raises(IngestError, match=r"^x\.docx: not a valid Word file \(corrupt or not \.docx\)"):
        read_raw(bad)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes/a.txt", "hello")
    (tmp_path / "y.docx").write_bytes(buf.getvalue())
    with pytest.raises(IngestError, match=r"^y\.docx: not a valid Word file .*word/document\.xml"):
        read_raw(tmp_path / "y.docx")
    (tmp_path / "y.zip").write_bytes(buf.getvalue())
    with pytest.raises(IngestError, match=r"^y\.zip: .*ZIP archive"):
        read_raw(tmp_path / "y.zip")

    good = _write_docx(tmp_path / "t.docx").read_bytes()
    (tmp_path / "cut.docx").write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.raises(IngestError, match=r"^cut\.docx: not a valid Word file"):
        read_raw(tmp_path / "cut.docx")


# --- pdf ------------------------------------------------------------------------------------
HEADER = "某某县人民政府办公室"
P1 = "今天我们召开全县经济工作会议，主要任务是回顾总结去年的经济工作，分析当前形势，安排部署今年的重点任务。"
P2 = "过去一年，全县上下认真贯彻落实上级决策部署，统筹推进稳增长、促改革、调结构、惠民生各项工作，经济社会保持平稳健康发展。"
P3 = "要坚持问题导向，狠抓工作落实，确保全年目标任务圆满完成。"


def _wrap(text: str, width: int = 20) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]


def _cjk_canvas(path: Path, **kw):
    pytest.importorskip("reportlab")
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return canvas.Canvas(str(path), **kw)


def _write_speech_pdf(path: Path, **kw) -> tuple[Path, list[list[str]]]:
    """Two pages: running header, "- N -" footer, P1 broken inside a sentence, P2 broken
    across the page boundary."""
    p2 = _wrap(P2)
    pages = [
        ["在全县经济工作会议上的讲话", "同志们：", *_wrap(P1), *p2[:2]],
        [*p2[2:], "二、下一步工作安排", *_wrap(P3)],
    ]
    c = _cjk_canvas(path, **kw)
    c.setTitle("在全县经济工作会议上的讲话")
    for n, lines in enumerate(pages, 1):
        c.setFont("STSong-Light", 10)
        c.drawString(72, 800, HEADER)
        c.setFont("STSong-Light", 14)
        y = 740
        for line in lines:
            c.drawString(72, y, line)
            y -= 24
        c.setFont("STSong-Light", 10)
        c.drawCentredString(297, 40, f"- {n} -")
        c.showPage()
    c.save()
    return path, pages


def test_pdf_joins_lines_and_drops_headers_and_page_numbers(tmp_path):
    path, drawn = _write_speech_pdf(tmp_path / "speech.pdf")
    # the layout really breaks P1 mid-sentence and P2 across the page boundary
    assert drawn[0][2][-1] not in "。，、：" and drawn[0][-1][-1] not in "。，、："
    doc = read_raw(path)
    assert doc.kind == "pdf"
    assert doc.lines == ["在全县经济工作会议上的讲话", "同志们：", P1, P2, "二、下一步工作安排", P3]
    assert doc.pages == [1, 1, 1, 1, 2, 2]
    assert doc.headings == set()
    assert doc.title == "在全县经济工作会议上的讲话"
    assert doc.meta["page_count"] == 2
    assert all(" " not in line for line in doc.lines)
    assert not any(HEADER in line or "- 1 -" in line for line in doc.lines)


def test_pdf_header_missing_on_first_page_and_page_x_of_y_footer(tmp_path):
    c = _cjk_canvas(tmp_path / "three.pdf")
    bodies = [["在全县经济工作会议上的讲话", "（2023年1月5日）", "同志们："], _wrap(P1), _wrap(P3)]
    for n, lines in enumerate(bodies, 1):
        if n > 1:  # a cover page without the running header
            c.setFont("STSong-Light", 10)
            c.drawString(72, 800, "县政府办公室 2023年1月")
        c.setFont("STSong-Light", 14)
        for k, line in enumerate(lines):
            c.drawString(72, 740 - 24 * k, line)
        c.setFont("STSong-Light", 10)
        c.drawCentredString(297, 40, f"第 {n} 页 共 3 页")
        c.showPage()
    c.save()
    doc = read_raw(tmp_path / "three.pdf")
    assert doc.lines == ["在全县经济工作会议上的讲话", "（2023年1月5日）", "同志们：", P1, P3]
    assert doc.pages == [1, 1, 1, 2, 3]


def test_pdf_read_by_content_even_when_named_txt(tmp_path):
    path, _ = _write_speech_pdf(tmp_path / "speech.pdf")
    renamed = tmp_path / "speech.txt"
    renamed.write_bytes(path.read_bytes())
    assert sniff(renamed, renamed.read_bytes()) == "pdf"
    assert read_raw(renamed).lines[2] == P1


def test_pdf_without_text_layer(tmp_path):
    c = _cjk_canvas(tmp_path / "scan.pdf")
    c.rect(100, 100, 300, 400, fill=1)
    c.showPage()
    c.save()
    with pytest.raises(IngestError, match=r"^scan\.pdf: the PDF has no text layer \(scanned\?\); OCR is not supported"):
        read_raw(tmp_path / "scan.pdf")


def test_pdf_encrypted_and_corrupt(tmp_path):
    path, _ = _write_speech_pdf(tmp_path / "locked.pdf", encrypt="secret")
    with pytest.raises(IngestError, match=r"^locked\.pdf: encrypted PDF"):
        read_raw(path)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n" + b"garbage " * 50)
    with pytest.raises(IngestError, match=r"^broken\.pdf: "):
        read_raw(tmp_path / "broken.pdf")


def test_join_wrapped_rules():
    assert join_wrapped("主要任务是", "总结工作") == "主要任务是总结工作"
    assert join_wrapped("completed the", "plan") == "completed the plan"
    assert join_wrapped("增长", "8%") == "增长8%"
    assert join_wrapped("GDP", "增长") == "GDP增长"
    assert join_wrapped("inter-", "national") == "international"
    assert join_wrapped("2015", "2016") == "2015 2016"
    assert join_wrapped("一-", "二") == "一-二"  # a hyphen between Han characters stays


# --- txt ------------------------------------------------------------------------------------
TEXT_SC = "在全镇干部大会上的讲话\n同志们：\n今天我们召开全镇干部大会，总结上半年工作，部署下半年任务。\n"
TEXT_TC = "在全鎮幹部大會上的講話\n同志們：\n今天我們召開全鎮幹部大會，總結上半年工作，部署下半年任務。各村要落實責任。\n"


@pytest.mark.parametrize("name,data,text", [
    ("gbk.txt", TEXT_SC.encode("gbk"), TEXT_SC),
    ("big5.txt", TEXT_TC.encode("big5"), TEXT_TC),
    ("utf16.txt", TEXT_SC.encode("utf-16"), TEXT_SC),
    ("bom.txt", b"\xef\xbb\xbf" + TEXT_SC.replace("\n", "\r\n").encode("utf-8"), TEXT_SC),
])
def test_txt_encodings(tmp_path, name, data, text):
    (tmp_path / name).write_bytes(data)
    doc = read_raw(tmp_path / name)
    assert doc.kind == "txt"
    assert doc.lines == text.strip().split("\n")
    assert doc.headings == set() and doc.title is None


def test_txt_lines_feed_clean_lines_unchanged():
    """Integration contract: clean_lines("\\n".join(raw.lines)) == clean_lines(file text)."""
    for path in corpus_files(ROOT / "corpus"):
        raw = read_raw(path)
        assert raw.kind == "txt"
        assert clean_lines("\n".join(raw.lines)) == clean_lines(decode_bytes(path.read_bytes(), path.name))


# --- html -----------------------------------------------------------------------------------
PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="{charset}">
<title>在全县乡镇人大工作会议上的讲话_汉阴县人民政府</title>
<meta name="PubDate" content="2021-04-12 09:30">
<style>.x{{color:red}}</style><script>var s = "同志们好这是脚本里的中文";</script></head>
<body>
<header><h1 class="logo">汉阴县人民政府门户网站</h1></header>
<nav><ul><li><a href="/">首页</a></li><li><a href="/zwgk">政务公开</a></li><li><a href="/bsfw">办事服务</a></li></ul></nav>
<div class="main">
<div class="sidebar"><h3>相关链接</h3><ul>
<li><a href="/a1">县委召开全县经济工作会议部署明年重点工作任务</a></li>
<li><a href="/a2">全县安全生产工作会议召开强调压实安全生产责任</a></li>
<li><a href="/a3">县政府召开常务会议研究部署乡村振兴重点工作</a></li></ul></div>
<div class="article">
<h1>在全县乡镇人大工作会议上的讲话</h1>
<div class="info">发布时间：2021-04-12　来源：县人大常委会　<span>字号：大 中 小</span></div>
<div class="content">
<p>同志们：</p>
<p>　　这次全县乡镇人大工作会议，是县人大常委会换届后召开的第一次乡镇人大工作会议，
主要任务是总结交流经验，安排部署下阶段工作。</p>
<h2>一、充分肯定乡镇人大工作取得的成绩</h2>
<p>多年来，各乡镇人大在党委的正确领导下，认真履行宪法和法律赋予的职责。<br>各乡镇人大为全县经济社会发展做出了重要贡献。</p>
<h2>二、准确把握新时期乡镇人大工作的任务</h2>
<p>要坚持党的领导，坚持围绕中心、服务大局，<strong>依法履职</strong>，不断增强监督实效。</p>
</div></div></div>
<footer><p>版权所有：汉阴县人民政府　主办单位：县政府办公室</p><p>陕ICP备12345678号　网站标识码6109210001</p></footer>
</body></html>
"""
ARTICLE = [
    "在全县乡镇人大工作会议上的讲话",
    "同志们：",
    "这次全县乡镇人大工作会议，是县人大常委会换届后召开的第一次乡镇人大工作会议，主要任务是总结交流经验，安排部署下阶段工作。",
    "一、充分肯定乡镇人大工作取得的成绩",
    "多年来，各乡镇人大在党委的正确领导下，认真履行宪法和法律赋予的职责。",
    "各乡镇人大为全县经济社会发展做出了重要贡献。",
    "二、准确把握新时期乡镇人大工作的任务",
    "要坚持党的领导，坚持围绕中心、服务大局，依法履职，不断增强监督实效。",
]


def _check_article(doc: RawDoc) -> None:
    assert doc.kind == "html"
    assert doc.lines == ARTICLE
    assert doc.headings == {0, 3, 6}
    assert doc.title == "在全县乡镇人大工作会议上的讲话"
    assert doc.meta["date"] == "2021-04-12"


def test_html_article_only(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE.format(charset="utf-8"), "utf-8")
    _check_article(read_raw(path))


def test_html_declared_gbk(tmp_path):
    path = tmp_path / "page.htm"
    path.write_bytes(PAGE.format(charset="gb2312").encode("gbk"))
    _check_article(read_raw(path))


def test_html_heuristic_without_readability(tmp_path, monkeypatch):
    import assistant.readers as readers

    monkeypatch.setattr(readers, "_readability_body", lambda text: None)
    path = tmp_path / "page.html"
    path.write_text(PAGE.format(charset="utf-8"), "utf-8")
    doc = read_raw(path)
    _check_article(doc)
    assert doc.meta["extractor"] == "heuristic"


TABLE_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>在全镇安全生产大会上的讲话 - 某某镇人民政府</title></head>
<body><table width="100%"><tr><td class="top">某某镇人民政府 | 首页 | 政务公开 | 新闻中心</td></tr></table>
<table><tr><td width="200" valign="top"><div class="list"><b>最新动态</b><br>
<a href="1.html">我镇召开全镇安全生产工作会议全面部署今年重点任务</a><br>
<a href="2.html">镇党委理论学习中心组开展集中学习研讨交流活动</a><br>
<a href="3.html">镇领导深入村组调研指导乡村振兴和人居环境整治</a><br>
<a href="4.html">全镇防汛抗旱工作部署会召开要求压实各方责任</a><br>
</div></td><td valign="top">
<div id="zoom" class="TRS_Editor">
<div>同志们：</div>
<div>　　今天召开全镇安全生产大会，主要任务是贯彻落实上级会议精神，安排部署今年的安全生产工作任务。</div>
<div>　　一、提高认识，切实增强做好安全生产工作的责任感</div>
<div>　　安全生产事关人民群众生命财产安全。各村、各单位要牢固树立安全发展理念。</div>
二、突出重点，扎实开展隐患排查整治<br/>
　　要聚焦道路交通、建筑施工、消防等重点行业领域，全面排查整治各类安全隐患。<br/>
</div>
<div class="bottom">【打印本页】【关闭窗口】</div>
</td></tr></table>
<div class="copyright">版权所有 某某镇人民政府 备案号：苏ICP备00000000号</div>
</body></html>"""


def test_html_table_layout_with_div_and_br_paragraphs(tmp_path):
    path = tmp_path / "old_site.html"
    path.write_text(TABLE_PAGE, "utf-8")
    doc = read_raw(path)
    assert doc.lines == [
        "同志们：",
        "今天召开全镇安全生产大会，主要任务是贯彻落实上级会议精神，安排部署今年的安全生产工作任务。",
        "一、提高认识，切实增强做好安全生产工作的责任感",
        "安全生产事关人民群众生命财产安全。各村、各单位要牢固树立安全发展理念。",
        "二、突出重点，扎实开展隐患排查整治",
        "要聚焦道路交通、建筑施工、消防等重点行业领域，全面排查整治各类安全隐患。",
    ]
    assert doc.headings == set()  # no heading markup on this page
    assert doc.title == "在全镇安全生产大会上的讲话"


def test_html_without_article(tmp_path):
    path = tmp_path / "menu.html"
    path.write_text('<!doctype html><html><body><nav><a href="/">首页</a></nav></body></html>', "utf-8")
    with pytest.raises(IngestError, match=r"^menu\.html: no article text found"):
        read_raw(path)


def test_html_sniffed_behind_bom_and_whitespace(tmp_path):
    path = tmp_path / "saved.txt"
    path.write_bytes(b"\xef\xbb\xbf \n\t" + PAGE.format(charset="utf-8").encode("utf-8"))
    assert sniff(path, path.read_bytes()) == "html"
    assert read_raw(path).lines == ARTICLE


# --- markdown -------------------------------------------------------------------------------
MD = """---
date: 2023-04-01
---
# 在全镇安全生产会议上的讲话

同志们：

## 一、落实**安全生产**责任

各村要落实[安全生产](http://example.cn/a)主体责任，
**党政同责**、*一岗双责*。Work
safety matters.

- 排查隐患`128`处
* 整改率达到96.5%
+ 隐患\\*全部\\*整改

1. 第一项任务

> 安全生产，人人有责。

![现场照片](photo.png)

二、做好信访稳定工作
--------

信访工作要做到早发现、早处理。
"""


def test_markdown(tmp_path):
    path = tmp_path / "speech.md"
    path.write_text(MD, "utf-8")
    doc = read_raw(path)
    assert doc.kind == "md"
    assert doc.lines == [
        "在全镇安全生产会议上的讲话",
        "同志们：",
        "一、落实安全生产责任",
        "各村要落实安全生产主体责任，党政同责、一岗双责。Work safety matters.",
        "排查隐患128处",
        "整改率达到96.5%",
        "隐患*全部*整改",
        "1. 第一项任务",
        "安全生产，人人有责。",
        "二、做好信访稳定工作",
        "信访工作要做到早发现、早处理。",
    ]
    assert doc.headings == {0, 2, 9}
    assert doc.title == "在全镇安全生产会议上的讲话"
    assert doc.meta["date"] == "2023-04-01"


# --- sniffing, limits -----------------------------------------------------------------------
def test_unknown_binary_and_known_binaries(tmp_path):
    rnd = random.Random(3)
    (tmp_path / "blob.bin").write_bytes(bytes(rnd.randrange(256) for _ in range(3000)))
    with pytest.raises(IngestError, match=r"^blob\.bin: unsupported or binary file"):
        read_raw(tmp_path / "blob.bin")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(IngestError, match=r"^old\.doc: .*save it as \.docx"):
        read_raw(tmp_path / "old.doc")
    (tmp_path / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(IngestError, match=r"^scan\.png: an image"):
        read_raw(tmp_path / "scan.png")
    (tmp_path / "empty.txt").write_bytes(b" \n ")
    with pytest.raises(IngestError, match=r"^empty\.txt: the file is empty"):
        read_raw(tmp_path / "empty.txt")


def test_sniff_kinds(tmp_path):
    assert sniff(tmp_path / "a.md", "# 标题\n正文".encode()) == "md"
    assert sniff(tmp_path / "a.txt", "# 标题\n正文".encode()) == "txt"
    assert sniff(tmp_path / "a.html", b"<div><p>\xe6\xad\xa3\xe6\x96\x87</p></div>") == "html"
    assert sniff(tmp_path / "a.txt", b"<!-- saved from url=(0014)about:internet -->\n<HTML><body>x</body></HTML>") == "html"


def test_size_limit_checked_before_reading(tmp_path):
    big = tmp_path / "huge.pdf"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 2**20)  # sparse: nothing is written or read
    with pytest.raises(IngestError, match=r"^huge\.pdf: 21\.0 MB is over the 20 MB limit \(setting max_file_mb"):
        read_raw(big)
    with pytest.raises(IngestError, match=r"over the 0\.5 MB limit"):
        read_raw(big, max_bytes=2**19)


# --- through ingest and the chunker: formats become cited passages ----------------------

def test_docx_to_cited_passages(tmp_path):
    from assistant.chunk import chunk_document
    from assistant.ingest import read_file

    (doc,) = read_file(_write_docx(tmp_path / "anquan.docx"))
    assert doc.title == "在全镇安全生产工作会议上的讲话"
    assert doc.meta["format"] == "docx" and doc.meta.get("occasion") == "全镇安全生产工作会议"
    ps = chunk_document(doc, lambda t: len(t) + 2, 320, short_chars=12)
    by_text = {p.text: p for p in ps}
    hidden = by_text["今年共排查隐患128处，整改率达到96.5%。"]
    assert hidden.citation.labels == ("一、", "（一）")
    assert hidden.citation.headings == ("一、落实安全生产责任", "（一）排查隐患")
    assert not any(p.text.startswith("一、落实") for p in ps)  # headings are context, not passages


def test_pdf_to_cited_passages_with_pages(tmp_path):
    from assistant.chunk import chunk_document
    from assistant.ingest import read_file

    path, _ = _write_speech_pdf(tmp_path / "jingji.pdf")
    (doc,) = read_file(path)
    assert doc.title == "在全县经济工作会议上的讲话" and doc.meta["format"] == "pdf"
    ps = chunk_document(doc, lambda t: len(t) + 2, 320, short_chars=12)
    p3 = next(p for p in ps if p.text == P3)
    assert p3.citation.page == 2 and "第2页" in str(p3.citation)
    assert p3.citation.labels == ("二、",)
    p1 = next(p for p in ps if P1 in p.text)
    assert p1.citation.page == 1


# --- hostile input (found by tests/test_fuzz.py) ------------------------------------------------

def _zip_bytes(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for n, data in entries.items():
            z.writestr(n, data)
    return buf.getvalue()


def test_docx_with_a_damaged_deflate_stream(tmp_path):
    # was: zlib.error escaped from the sniffer
    data = bytearray(_zip_bytes({"[Content_Types].xml": b"x" * 1000, "word/document.xml": b"y" * 1000}))
    start = data.find(b"[Content_Types].xml") + len("[Content_Types].xml")
    for k in range(start, start + 6):
        data[k] ^= 0x55
    with pytest.raises(IngestError, match=r"^bad\.docx: not a valid Word file"):
        read_raw(tmp_path / "bad.docx", bytes(data))


def test_docx_with_an_unknown_compression_method(tmp_path):
    # was: NotImplementedError escaped from the sniffer
    data = bytearray(_zip_bytes({"[Content_Types].xml": b"x" * 100}, zipfile.ZIP_STORED))
    data[8] = 99
    data[data.find(b"PK\x01\x02") + 10] = 99
    with pytest.raises(IngestError, match=r"^odd\.docx: not a valid Word file"):
        read_raw(tmp_path / "odd.docx", bytes(data))


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    from assistant import readers

    data = _zip_bytes({"[Content_Types].xml": b"<x/>", "word/document.xml": b"\x00" * (2 * 2**20)})
    assert len(data) < 50_000
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "MAX_UNZIPPED_BYTES", 2**20)
        with pytest.raises(IngestError, match=r"^bomb\.docx: the archive unpacks to 2 MB, over the 1 MB .*ZIP bomb"):
            read_raw(tmp_path / "bomb.docx", data)


@pytest.mark.parametrize("unit", ["*a ", "**a ", "_a ", "__a ", "~~a ", "[", "![a](", "[a](", "<a", "<http://",
                                  "[^", "\\*"])
def test_markdown_inline_markup_is_linear_on_a_long_line(tmp_path, unit):
    # was: "(.+?)" spans retried from every marker: 90 KB of "*a " took 37 s, 10 MB hours
    import time

    t = time.perf_counter()
    doc = read_raw(tmp_path / "x.md", ("人大监督" + unit * (300_000 // len(unit))).encode())
    assert time.perf_counter() - t < 5
    assert doc.lines and doc.lines[0].startswith("人大监督")


def test_markdown_inline_markup_still_removed():
    from assistant.readers import md_inline

    s = r"**粗体** *斜体* _下划_ ~~删除~~ `代码` [链接](http://x) ![图](p.png) \*星号\* <b>x</b> <http://a.b>"
    assert md_inline(s) == "粗体 斜体 下划 删除 代码 链接 *星号* x http://a.b"
    assert md_inline("\\" + "\\*" * 5000) == "\\" + "*" * 5000  # thousands of escapes, no private-use leftovers


def test_wrapped_joins_like_join_wrapped():
    from assistant.readers import Wrapped

    rnd = random.Random(5)
    pieces = ["主要任务是", "总结工作", "completed the", "plan", "inter-", "national", "2015", "2016", "-", "a", "增长",
              "8%", "GDP", ""]
    for _ in range(300):
        seq = [rnd.choice(pieces) for _ in range(rnd.randint(1, 8))]
        folded = ""
        w = Wrapped()
        for p in seq:
            folded = join_wrapped(folded, p)
            w.add(p)
        assert w.text == folded, seq


def test_markdown_paragraph_of_many_lines_is_linear(tmp_path):
    # was: each line was joined onto the growing paragraph, copying it: 80 000 lines took minutes
    import time

    line = "这是一行很长很长的没有标点的文字内容用来测试拼接的性能问题" * 2
    t = time.perf_counter()
    doc = read_raw(tmp_path / "long.md", ((line + "\n") * 80_000).encode())
    assert time.perf_counter() - t < 10
    assert doc.lines == [line * 80_000]


def test_html_text_node_over_10_mb(tmp_path):
    # was: libxml2 dropped the text node, and the page had "no article text"
    line = "在全镇工作会议上的讲话，我们要落实责任。" * 180_000
    assert len(line.encode()) > 10 * 2**20
    doc = read_raw(tmp_path / "big.html", f"<html><body><p>{line}</p></body></html>".encode())
    assert doc.lines == [line]


def test_html_nested_thousands_deep(tmp_path):
    # the tree is walked without recursion: 2 000 levels (libxml2's limit with huge_tree) do not overflow
    text = "乡镇人大要通过执法检查、视察等形式加强监督。"
    page = "<html><body>" + "<div><span>" * 1000 + f"<p>{text}</p>" + "</span></div>" * 1000 + "</body></html>"
    doc = read_raw(tmp_path / "deep.html", page.encode())
    assert text in doc.lines


def test_html_deep_inline_nesting_is_linear(tmp_path):
    # was: each element's own text was collected from its whole subtree anew: 1 500 nested <span>s took 16 s
    import time

    text = "乡镇人大要通过执法检查、视察等形式加强监督。"
    page = "<html><body><div>" + "<span>" * 2000 + text + "</span>" * 2000 + "</div></body></html>"
    t = time.perf_counter()
    doc = read_raw(tmp_path / "spans.html", page.encode())
    assert time.perf_counter() - t < 5
    assert doc.lines == [text]


def test_html_deeper_than_the_parser_goes(tmp_path):
    # libxml2 stops at 2 048 levels and drops the rest: said, not "no article text"
    page = "<html><body>" + "<b>" * 3000 + "乡镇人大要通过执法检查、视察等形式加强监督。"
    with pytest.raises(IngestError, match=r"^deep\.html: the page nests its elements over 2 000 levels deep"):
        read_raw(tmp_path / "deep.html", page.encode())


def test_html_control_characters_in_a_tail(tmp_path):
    # was: ValueError ("All strings must be XML compatible") when the chrome before the tail was dropped
    page = ("<html><body><div><nav>菜单</nav>\x15尾巴\x0b文字</div>"
            + "<p>乡镇人大要通过执法检查、\x01视察等形式加强监督。</p>" * 3 + "</body></html>")
    doc = read_raw(tmp_path / "ctrl.html", page.encode())
    assert "乡镇人大要通过执法检查、视察等形式加强监督。" in doc.lines
    assert not any(c in "".join(doc.lines) for c in "\x01\x15\x0b")
