"""Fuzz targets for the readers and the query path, driven by hypothesis (pytest not needed).

    run_fuzz(examples)  -> list[FuzzRow]   every target with ``examples`` inputs each, plus the
                                           single 10 MB-line inputs; one row per target
    format_table(rows)  -> str             the "fuzz inputs per target and failures" table
    TARGETS                                name -> Target(strategy, check)

A check takes one generated input and raises when the code under test misbehaves: an
exception other than the documented one (``IngestError`` for a file, ``AssistantError`` for a
query), a message that does not name the file or is not a short clear message, an API
answer that is an internal error or not valid JSON, a numpy RuntimeWarning, a call over its
time bound, or an index on disk that changed. ``tests/test_fuzz.py`` runs each target under
pytest (failing on the first bad input, shrunk); ``scripts/reliability.py`` prints the table.

Inputs are reproducible: hypothesis runs derandomized (the same inputs every run for the
same ``examples``). ``ASSISTANT_FUZZ_EXAMPLES`` sets how many per target (default 30),
``ASSISTANT_FUZZ_SEED`` draws other inputs (reproducibly, by that seed).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import tempfile
import threading
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, seed, settings, strategies as st

EXAMPLES = int(os.environ.get("ASSISTANT_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("ASSISTANT_FUZZ_SEED")
"""Unset: derandomized (the same inputs every run, for CI). A number: other inputs, reproducible by that number."""
"""Inputs per target (``ASSISTANT_FUZZ_EXAMPLES``); the default keeps test_fuzz.py near 60 s on 2 cores."""
READ_SECONDS = 10.0
"""Bound on reading one fuzzed file (they are small: milliseconds are normal)."""
BIG_READ_SECONDS = 90.0
"""Bound on reading one 10 MB line."""
QUERY_SECONDS = 10.0
"""Bound on one query (the fake embedder: milliseconds are normal; a 100k-character query is refused)."""
MESSAGE_CHARS = 600
"""A clear message is short: it never echoes a 100k-character input back."""


@dataclass
class FuzzRow:
    """One target's tally: how many inputs it ran, how many misbehaved, the first few of them."""

    target: str
    inputs: int = 0
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    how: str = ""
    """What the inputs are and what is checked, for the reliability table."""


class Hang(BaseException):
    """A call ran over its time bound (a BaseException: the readers' ``except Exception`` must not hide it)."""


@contextmanager
def bounded(seconds: float):
    """Raise ``Hang`` in the block after ``seconds`` (SIGALRM: main thread on POSIX; elsewhere unbounded)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- hostile text ------------------------------------------------------------------------------
CONTROL = [chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\u2028", "\u2029"]
EMOJI = ["😀", "👍🏽", "🇨🇳", "👨‍👩‍👧", "🀄", "\U0001f9d1\u200d\U0001f4bb"]
RTL = ["مرحبا بالعالم", "שלום", "\u202e", "\u202b", "\u200f", "\u061c", "ﷺ"]
ODD = ["\ufeff", "\u200b", "\u200d", "\u0301", "\ufffd", "\ue000", "\uffff", "𠀀", "〇", "々", "﹏"]
SURROGATES = ["\ud800", "\udfff", "\ud83d"]
HAN = "人大监督工作会议讲话落实责任安全生产信访稳定乡镇代表群众经济民生"
WORDS = ["乡镇人大", "监督", "信访稳定", "代表之家", "安全生产", "经济工作", "2021-03-05", "96.5%", "的", "吗",
         "《讲话》", "“三净”", "<script>alert(1)</script>", "&amp;", "' OR 1=1 --", "%s%n", "{0}", "\\", "../../etc"]


def hostile_text(max_size: int = 80, surrogates: bool = False) -> st.SearchStrategy[str]:
    """Short text mixing Chinese, ASCII, control characters, emoji, RTL marks (and lone surrogates)."""
    pieces = [st.sampled_from(WORDS), st.sampled_from(CONTROL), st.sampled_from(EMOJI),
              st.sampled_from(RTL), st.sampled_from(ODD), st.text(alphabet=HAN, max_size=6),
              st.characters(codec="utf-8"), st.text(max_size=4)]
    if surrogates:
        pieces.append(st.sampled_from(SURROGATES))
    return st.lists(st.one_of(*pieces), max_size=max_size // 4).map("".join)


def long_text() -> st.SearchStrategy[str]:
    """Queries of 1 000 to 100 000 characters."""
    return st.builds(lambda unit, n: (unit * (n // max(1, len(unit)) + 1))[:n],
                     st.sampled_from(["监督", "人大监督要采取哪些形式", "a", " ", "\x00", "😀", "，"]),
                     st.integers(1_000, 100_000))


def json_junk() -> st.SearchStrategy[Any]:
    """What a JSON client may send where a string or a number belongs."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.just(10**400),
                        st.floats(allow_nan=True, allow_infinity=True), hostile_text(20))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                        max_leaves=6)


# --- seed files --------------------------------------------------------------------------------
SPEECH = ["在全镇安全生产工作会议上的讲话", "时间：2023年4月1日", "同志们：", "一、落实安全生产责任",
          "各村要落实安全生产主体责任，党政同责、一岗双责，发现隐患立即整改。",
          "（一）排查隐患", "今年共排查隐患128处，整改率达到96.5%。",
          "二、做好信访稳定工作", "信访稳定工作要做到早发现、早处理，把矛盾解决在萌芽状态。", "谢谢大家！"]


def seed_docx() -> bytes:
    """A Word file with a title, headings, body paragraphs and a table."""
    import docx

    d = docx.Document()
    d.core_properties.title = SPEECH[0]
    d.add_heading(SPEECH[0], 0)
    for line in SPEECH[1:]:
        if line[:2] in ("一、", "二、"):
            d.add_heading(line, 1)
        else:
            d.add_paragraph(line)
    t = d.add_table(rows=1, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "责任单位", "镇安监站"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def seed_pdf() -> bytes:
    """A two-page Chinese PDF (reportlab's CID font); an ASCII one without reportlab."""
    try:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont
        from reportlab.pdfgen import canvas
    except ImportError:
        return _ascii_pdf(["Speech at the town safety meeting", "Every village must act."])
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setTitle(SPEECH[0])
    for page in (SPEECH[:5], SPEECH[5:]):
        c.setFont("STSong-Light", 12)
        for k, line in enumerate(page):
            c.drawString(72, 760 - 22 * k, line)
        c.drawCentredString(297, 40, "- 1 -")
        c.showPage()
    c.save()
    return buf.getvalue()


def _ascii_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with a correct xref table."""
    text = "BT /F1 12 Tf 72 760 Td " + " ".join(f"({s}) Tj 0 -20 Td" for s in lines) + " ET"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>",
            f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    return out + f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


def seed_html() -> bytes:
    body = "".join(f"<h2>{s}</h2>" if s[:2] in ("一、", "二、") else f"<p>{s}</p>" for s in SPEECH[1:])
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{SPEECH[0]}_某某镇人民政府</title>'
            f'<meta name="PubDate" content="2023-04-01"></head><body><div class="nav">首页 | 新闻</div>'
            f'<div class="article"><h1>{SPEECH[0]}</h1>{body}</div>'
            f'<div class="footer">版权所有 某某镇人民政府</div></body></html>').encode()


def seed_md() -> bytes:
    lines = ["---", f"title: {SPEECH[0]}", "date: 2023-04-01", "---", f"# {SPEECH[0]}"]
    for s in SPEECH[1:]:
        lines += [f"## {s}" if s[:2] in ("一、", "二、") else f"{s[:6]}**{s[6:10]}**{s[10:]}", ""]
    lines += ["| 单位 | 责任 |", "| --- | --- |", "| 镇安监站 | 监管 |", "", "```", "code", "```"]
    return "\n".join(lines).encode()


def seed_files() -> dict[str, bytes]:
    """File name -> bytes of one valid file per reader (and a GBK text file)."""
    txt = "\n".join(SPEECH)
    return {"speech.txt": txt.encode(), "speech_gbk.txt": txt.encode("gbk"), "speech.docx": seed_docx(),
            "speech.pdf": seed_pdf(), "speech.html": seed_html(), "speech.md": seed_md()}


# --- file strategies -----------------------------------------------------------------------------
EXTENSIONS = [".txt", ".docx", ".pdf", ".html", ".htm", ".md", ".markdown", "", ".doc", ".json", ".TXT"]
MAGIC = [b"", b"", b"%PDF-1.7\n", b"PK\x03\x04", b"PK\x05\x06", b"<html>", b"<!DOCTYPE html>", b"\xff\xfe",
         b"\xfe\xff", b"\xef\xbb\xbf", b"{\\rtf1", b"---\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x1f\x8b"]


def random_files() -> st.SearchStrategy[tuple[str, bytes]]:
    """Random bytes (behind a format's magic number, sometimes) under every extension."""
    return st.tuples(st.sampled_from(EXTENSIONS).map(lambda e: f"fuzz{e}"),
                     st.builds(bytes.__add__, st.sampled_from(MAGIC), st.binary(max_size=3000)))


@st.composite
def byte_mutations(draw, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, inserted, deleted or a chunk repeated."""
    b = bytearray(data)
    for op in draw(st.lists(st.sampled_from(["truncate", "flip", "insert", "delete", "repeat"]),
                            min_size=1, max_size=4)):
        pos = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "truncate":
            del b[pos:]
        elif op == "flip" and b:
            for k in range(draw(st.integers(1, 16))):
                if pos + k < len(b):
                    b[pos + k] ^= draw(st.integers(1, 255))
        elif op == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del b[pos:pos + draw(st.integers(1, 256))]
        elif op == "repeat":
            b[pos:pos] = b[pos:pos + draw(st.integers(1, 512))] * draw(st.integers(2, 8))
    return bytes(b)


def mutated_files(seeds: dict[str, bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    """A valid file of each format, damaged byte-wise (its own name, or another extension)."""
    return st.sampled_from(sorted(seeds)).flatmap(
        lambda name: st.tuples(st.one_of(st.just(name), st.sampled_from(EXTENSIONS).map(lambda e: f"fuzz{e}")),
                               byte_mutations(seeds[name])))


def _zip_entries(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i, z.read(i.filename)) for i in z.infolist()]


def _rezip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def _patch_entry(archive: bytes, name: str, how: str, value: int) -> bytes:
    """Damage one entry of a ZIP in place: its compressed bytes, its method or its declared size."""
    b = bytearray(archive)
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    local = info.header_offset
    name_len, extra_len = (int.from_bytes(b[local + k:local + k + 2], "little") for k in (26, 28))
    start = local + 30 + name_len + extra_len
    central = archive.find(b"PK\x01\x02")
    while central >= 0 and archive[central + 46:central + 46 + len(name.encode())] != name.encode():
        central = archive.find(b"PK\x01\x02", central + 4)
    if central < 0:
        return archive
    if how == "stream" and info.compress_size:
        for k in range(8):
            b[start + (value + k) % info.compress_size] ^= 0xA5
    elif how == "method":
        b[local + 8:local + 10] = b[central + 10:central + 12] = (value % 100).to_bytes(2, "little")
    elif how == "size":
        b[central + 24:central + 28] = (0xFFFFFF00 - value % 1000).to_bytes(4, "little")
    return bytes(b)


@st.composite
def corrupt_docx(draw, data: bytes) -> tuple[str, bytes]:
    """A .docx with one entry dropped, replaced, truncated, made ill-formed XML, or damaged
    inside the archive (compressed stream, compression method, declared size)."""
    entries = [(i.filename, d) for i, d in _zip_entries(data)]
    names = [n for n, _ in entries]
    target = draw(st.one_of(st.just("word/document.xml"), st.sampled_from(names)))
    op = draw(st.sampled_from(["drop", "garbage", "truncate", "xml", "stream", "method", "size", "unclosed"]))
    out = []
    for n, d in entries:
        if n == target and op == "drop":
            continue
        if n == target and op == "garbage":
            d = draw(st.binary(max_size=500))
        elif n == target and op == "truncate":
            d = d[:draw(st.integers(0, max(0, len(d) - 1)))]
        elif n == target and op == "xml":
            d = d.replace(b"<w:", draw(st.sampled_from([b"<", b"<w:w:", b"<\x00", b"&bogus;<w:"])), 3)
        elif n == target and op == "unclosed":
            d = d + b"<w:p><w:r><w:t>" + "未闭合".encode() * draw(st.integers(1, 50))
        out.append((n, d))
    archive = _rezip(out)
    if op in ("stream", "method", "size") and target in names:
        archive = _patch_entry(archive, target, op, draw(st.integers(0, 2**16)))
    return "fuzz.docx", archive


PDF_OPS = ["xref_digits", "no_startxref", "startxref", "no_trailer", "no_eof", "stream", "length", "objnum", "cut_tail"]


@st.composite
def corrupt_pdf(draw, data: bytes) -> tuple[str, bytes]:
    """A PDF with its cross-reference table, trailer, stream lengths or object numbers damaged."""
    b = data
    for op in draw(st.lists(st.sampled_from(PDF_OPS), min_size=1, max_size=3)):
        if op == "xref_digits" and b"xref" in b:
            at = b.rfind(b"xref")
            region = bytearray(b[at:at + 400])
            for _ in range(draw(st.integers(1, 20))):
                k = draw(st.integers(0, len(region) - 1))
                if chr(region[k]).isdigit():
                    region[k] = ord(str(draw(st.integers(0, 9))))
            b = b[:at] + bytes(region) + b[at + 400:]
        elif op == "no_startxref":
            b = b.replace(b"startxref", b"startxrex")
        elif op == "startxref":
            b = re.sub(rb"startxref\s+\d+", b"startxref\n%d" % draw(st.integers(-5, 2 * len(b))), b)
        elif op == "no_trailer":
            b = b.replace(b"trailer", b"").replace(b"/Root", b"/Rot")
        elif op == "no_eof":
            b = b.replace(b"%%EOF", b"")
        elif op == "stream":
            b = draw(byte_mutations(b))
        elif op == "length":
            b = re.sub(rb"/Length \d+", b"/Length %d" % draw(st.integers(-1, 10**9)), b)
        elif op == "objnum":
            b = re.sub(rb"\n(\d+) 0 obj", lambda m: b"\n%d 0 obj" % (int(m.group(1)) * 7 % 13), b, count=2)
        elif op == "cut_tail":
            b = b[:max(0, len(b) - draw(st.integers(1, 2000)))]
    return "fuzz.pdf", b


HTML_TAGS = ["p", "div", "span", "b", "a", "br", "h1", "h2", "li", "ul", "table", "tr", "td", "script", "style",
             "nav", "section", "article", "img", "title", "meta", "head", "body", "html", "iframe", "svg", "x-y",
             "!--", "![CDATA[", "?xml"]
CHARSETS = ["utf-8", "gbk", "gb2312", "big5", "utf-16", "idna", "punycode", "utf-7", "rot13", "hex", "bogus", "latin-1"]


def html_nodes() -> st.SearchStrategy[str]:
    """Tag soup: random (often unclosed or mismatched) tags around hostile text."""
    text = hostile_text(40)
    tag = st.tuples(st.sampled_from(HTML_TAGS), st.sampled_from(["", ' class="nav"', ' class="content"',
                                                                 " id=main", ' style="x', " onload=alert(1)"]))
    return st.recursive(text, lambda inner: st.builds(
        lambda t, kids, close: f"<{t[0]}{t[1]}>" + "".join(kids) + (f"</{t[0]}>" if close else ""),
        tag, st.lists(inner, max_size=4), st.booleans()), max_leaves=30)


@st.composite
def html_pages(draw) -> tuple[str, bytes]:
    """A page of tag soup, possibly nested thousands deep, declaring a charset (right, wrong or bogus)."""
    charset = draw(st.sampled_from(CHARSETS))
    depth = draw(st.sampled_from([0, 0, 10, 300, 3000]))
    opener = draw(st.sampled_from(["<div>", "<span>", "<b>", "<table><tr><td>", "<li>", "<p>"]))
    body = opener * depth + draw(html_nodes()) + "。".join(SPEECH[3:5])
    page = f'<html><head><meta charset="{charset}"><title>{draw(hostile_text(20))}</title></head><body>{body}'
    if draw(st.booleans()):
        page += "</body></html>"
    enc = draw(st.sampled_from(["utf-8", "gbk", "utf-16"]))
    return draw(st.sampled_from(["fuzz.html", "fuzz.htm", "fuzz.txt"])), page.encode(enc, "replace")


@st.composite
def mixed_text_files(draw) -> tuple[str, bytes]:
    """Lines in different encodings (UTF-8, GBK, Big5, …) in one file, with control
    characters, emoji, RTL text, NUL and CESU surrogates, under a text extension."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        text = draw(st.one_of(hostile_text(60, surrogates=True), st.sampled_from(SPEECH)))
        enc = draw(st.sampled_from(["utf-8", "utf-8", "gbk", "gb18030", "big5", "utf-16-le", "latin-1", "cesu"]))
        lines.append(text.encode("utf-8", "surrogatepass") if enc == "cesu" else text.encode(enc, "replace"))
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b"\x0b", b"\x00"]))
    bom = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xff\xfe"]))
    return draw(st.sampled_from(["fuzz.txt", "fuzz.md", "fuzz.html", "fuzz"])), bom + eol.join(lines)


BIG_LINE = "在全镇工作会议上的讲话，我们要落实责任。" * 180_000  # 10.3 MB of UTF-8 on one line


def big_line_files() -> list[tuple[str, bytes]]:
    """One 10 MB line per text format (one input each, not a hypothesis case)."""
    data = BIG_LINE.encode()
    return [("big.txt", data), ("big.md", b"# " + data),
            ("big.html", b"<html><body><p>" + data + b"</p></body></html>"),
            ("big_markup.md", ("*人大 [监督](" * 700_000).encode())]


# --- the shared world ----------------------------------------------------------------------------
class FuzzWorld:
    """What the targets share, made once: the seed files, a scratch folder, and a tiny index
    (fake embedder, tests/app_corpus.py) with the query service and the API over it."""

    def __init__(self, folder: Path | None = None):
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="assistant-fuzz-")
        self.folder = Path(folder or self._tmp.name)
        self.scratch = self.folder / "scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.seeds = seed_files()
        self._service = self._api = self._editable = None
        self.known: dict[str, list[str]] = {}

    @property
    def service(self):
        if self._service is None:
            self._service = self._open_service()
        return self._service

    @property
    def api(self):
        if self._api is None:
            from assistant.web.handlers import Api

            self._api = Api(self.service)
        return self._api

    @property
    def editable(self):
        """A service of its own for corpus changes (the query targets' index must not change)."""
        if self._editable is None:
            self._editable = _open_service(self.folder / "edit")
        return self._editable

    def _open_service(self):
        svc = _open_service(self.folder)
        cols = svc.index.fields.values
        self.known = {f: sorted(cols[f]) for f in ("source", "doc_id", "occasion", "place", "speaker")}
        return svc

    def index_hash(self, service=None) -> str:
        """sha256 over every file of the index folder (names and bytes)."""
        return folder_hash((service or self.service).settings.index.index_dir)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _open_service(folder: Path):
    """A QueryService over tests/app_corpus.py in ``folder``/corpus, indexed in ``folder``/index (fake embedder)."""
    from assistant.build import build
    from assistant.embed import FakeEmbedder
    from assistant.service import QueryService
    from assistant.settings import Settings
    from tests.app_corpus import CORPUS

    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, "utf-8")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ASSISTANT_")}
    try:  # the machine's ASSISTANT_* variables must not change the fuzzed settings
        s = Settings.load(model="fake", corpus_dir=corpus, index_dir=folder / "index")
    finally:
        os.environ.update(saved)
    fake = FakeEmbedder()
    return QueryService(s, fake, build(s, fake, progress=False))


def folder_hash(root: Path) -> str:
    """sha256 over every file below ``root`` (relative names and bytes)."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# --- checks --------------------------------------------------------------------------------------
class Misbehaved(AssertionError):
    """The code under test broke its contract for this input."""


def clear_message(msg: str, name: str | None = None) -> None:
    """An error message a user can act on: short, no traceback, naming the file when there is one."""
    if not msg or not msg.strip():
        raise Misbehaved("empty error message")
    if len(msg) > MESSAGE_CHARS:
        raise Misbehaved(f"a {len(msg)}-character error message: {msg[:120]!r}…")
    if "Traceback" in msg:
        raise Misbehaved(f"a traceback in the message: {msg[:200]!r}")
    try:
        msg.encode("utf-8")
    except UnicodeEncodeError:
        raise Misbehaved(f"the message is not valid UTF-8 (a lone surrogate): {msg[:120]!r}") from None
    if name is not None and name not in msg:
        raise Misbehaved(f"the message does not name {name!r}: {msg[:200]!r}")


def valid_documents(docs, name: str) -> None:
    """read_file's result: speeches with a title and non-empty paragraphs, all of it UTF-8-encodable."""
    from assistant.types import Document

    if not docs or not all(isinstance(d, Document) for d in docs):
        raise Misbehaved(f"read_file returned {docs!r:.200} for {name}")
    for d in docs:
        if not isinstance(d.title, str) or not d.paragraphs or not all(isinstance(p, str) and p.strip()
                                                                      for p in d.paragraphs):
            raise Misbehaved(f"a malformed speech from {name}: {d.title!r:.80}")
        json.dumps([d.title, d.paragraphs, d.meta], ensure_ascii=False).encode("utf-8")  # lone surrogates fail


def check_file(world: FuzzWorld, case: tuple[str, bytes], seconds: float = READ_SECONDS,
               keep: bool = True) -> None:
    """read_file on one file: speeches, or an IngestError naming the file, within ``seconds``
    (the file is deleted afterwards unless ``keep``)."""
    from assistant.errors import IngestError
    from assistant.ingest import read_file

    name, data = case
    path = world.scratch / name
    path.write_bytes(data)
    try:
        with bounded(seconds):
            docs = read_file(path)
    except IngestError as e:
        clear_message(str(e), name)
        return
    finally:
        if not keep:
            path.unlink()
    valid_documents(docs, name)


def check_big_file(world: FuzzWorld, case: tuple[str, bytes]) -> None:
    """The same for a 10 MB line, with a bound of its own (and not left on disk)."""
    check_file(world, case, BIG_READ_SECONDS, keep=False)


def corpus_folders(seeds: dict[str, bytes]) -> st.SearchStrategy:
    """(good seed names, bad files): a corpus folder mixing readable and broken files."""
    bad = st.one_of(random_files(), mutated_files(seeds), mixed_text_files(), html_pages())
    return st.tuples(st.lists(st.sampled_from(sorted(seeds)), min_size=1, max_size=3, unique=True),
                     st.lists(bad, max_size=6))


def check_corpus(world: FuzzWorld, case) -> None:
    """load_corpus over good and bad files: every good file read, every other file one message naming it."""
    import shutil

    from assistant.ingest import load_corpus

    good, bad = case
    folder = world.scratch / "corpus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name in good:
        (folder / name).write_bytes(world.seeds[name])
    for i, (name, data) in enumerate(bad):
        (folder / f"bad{i}_{name}").write_bytes(data)
    with bounded(READ_SECONDS * (1 + len(bad))):
        docs, skipped = load_corpus(folder)
    read = {d.source for d in docs}
    if not set(good) <= read:
        raise Misbehaved(f"good files not read: {sorted(set(good) - read)}; skipped: {skipped}")
    names = sorted(p.name for p in folder.iterdir())
    for name in names:
        said = [m for m in skipped if m.startswith(name + ":")]
        if (name in read) == bool(said) or len(said) > 1:
            raise Misbehaved(f"{name}: read={name in read}, messages={said}")
        for m in said:
            clear_message(m, name)
    if len(skipped) != len([n for n in names if n not in read]):
        raise Misbehaved(f"{len(skipped)} messages for {len(names) - len(read)} unread files: {skipped}")


def upload_batches(seeds: dict[str, bytes]) -> st.SearchStrategy:
    """(bad files, a good seed or None): a batch of uploads, mostly broken."""
    bad = st.one_of(random_files(), mutated_files(seeds), mixed_text_files(), html_pages())
    return st.tuples(st.lists(bad, min_size=1, max_size=4),
                     st.one_of(st.none(), st.none(), st.none(), st.sampled_from(sorted(seeds))))


def check_upload(world: FuzzWorld, case) -> None:
    """QueryService.add_files with broken files (and perhaps a good one): every refused file is one
    message naming it, the batch goes on, and the index and corpus change only by the files added."""
    svc = world.editable
    bad, good = case
    folder = world.scratch / "upload"
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    paths = []
    for i, (name, data) in enumerate(bad):
        paths.append(folder / f"up{i}_{name}")
        paths[-1].write_bytes(data)
    if good:
        paths.append(folder / f"good_{good}")
        paths[-1].write_bytes(world.seeds[good])
    corpus, index = svc.settings.index.corpus_dir, svc.settings.index.index_dir
    before = (folder_hash(corpus), folder_hash(index))
    with bounded(READ_SECONDS * (2 + len(paths))):
        report = svc.add_files(paths)
    if good and f"good_{good}" not in report.changed:
        raise Misbehaved(f"the good file was not added: {report.skipped}")
    for p in paths:
        said = [m for m in report.skipped if m.startswith(p.name + ":")]
        if (p.name in report.changed) == bool(said):
            raise Misbehaved(f"{p.name}: added={p.name in report.changed}, messages={said}")
        for m in said:
            clear_message(m, p.name)
    if report.changed:  # undo: the next input starts from the same corpus
        svc.remove_files(report.changed)
    elif (folder_hash(corpus), folder_hash(index)) != before:
        raise Misbehaved("nothing was added, yet the corpus or the index changed on disk")


# --- the query path ------------------------------------------------------------------------------
@contextmanager
def strict_query():
    """A query within QUERY_SECONDS and without numpy RuntimeWarnings (they become errors)."""
    with bounded(QUERY_SECONDS), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def strict_json(value) -> None:
    """What a client receives must be strict JSON in UTF-8: no NaN, no lone surrogate."""
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


def valid_result(res) -> None:
    """A SearchResult that serializes to strict JSON; an abstention or an empty filter has no hits."""
    from assistant.types import SearchResult

    if not isinstance(res, SearchResult):
        raise Misbehaved(f"not a SearchResult: {res!r:.200}")
    strict_json(res.to_dict())
    if (res.abstained or not res.hits) and res.hits:
        raise Misbehaved("an abstention with hits")


DATES = ["", "2021-03-05", "2023-01-10", "2022-13-45", "2021-02-29", "2020-02-29", "0000-00-00", "9999-12-31",
         "2021-3-5", "2021/03/05", " 2023-01-10 ", "２０２１-０３-０５", "2021-03-05T00:00", "20210305"]


def filter_values(world: FuzzWorld, unknown_keys: bool) -> st.SearchStrategy[dict]:
    """Filter arguments as a UI, the API or a hostile client may send them (known and unknown
    values, impossible dates, wrong JSON types; with ``unknown_keys``, keys no filter has)."""
    world.service  # noqa: B018  (fills world.known)

    def names(f: str):
        known = world.known[f] + ["nope.txt", "", " "]
        return st.one_of(st.sampled_from(known), st.lists(st.sampled_from(known), max_size=3),
                         st.just(",".join(world.known[f])), json_junk())

    date = st.one_of(st.sampled_from(DATES), hostile_text(12), json_junk())
    fields = {"sources": names("source"), "doc_ids": names("doc_id"), "occasions": names("occasion"),
              "places": names("place"), "speakers": names("speaker"), "date_from": date, "date_to": date}
    base = st.fixed_dictionaries({}, optional=fields)
    if not unknown_keys:
        return base
    extra = st.dictionaries(st.sampled_from(["source", "date", "year", "k", "mode"]), json_junk(), max_size=1)
    return st.builds(lambda a, b: {**a, **b}, base, st.one_of(st.just({}), st.just({}), extra))


def query_texts(surrogates: bool = True) -> st.SearchStrategy:
    return st.one_of(hostile_text(80, surrogates), long_text(), st.sampled_from(WORDS), json_junk())


def ks() -> st.SearchStrategy:
    return st.one_of(st.none(), st.integers(-3, 25),
                     st.sampled_from(["3", " 5 ", "3.0", "2.5", "1e999", "nan", "", "x"]), json_junk())


def modes() -> st.SearchStrategy:
    return st.one_of(st.none(), st.sampled_from(["dense", "bm25", "hybrid", "HYBRID", " bm25 ", "", "foo"]),
                     json_junk())


def answers() -> st.SearchStrategy:
    return st.one_of(st.none(), st.sampled_from(["extractive", "llm", "LLM", "", "x"]), json_junk())


def service_cases(world: FuzzWorld, kind: str) -> st.SearchStrategy:
    return st.tuples(st.just(kind), query_texts(), ks(), modes(), filter_values(world, unknown_keys=True),
                     st.one_of(st.none(), query_texts()), answers())


def check_service(world: FuzzWorld, case) -> None:
    """QueryService.search/similar/ask: a result, or an AssistantError with a clear message."""
    from assistant.errors import AssistantError
    from assistant.search import Filters

    kind, text, k, mode, fvals, previous, answer = case
    svc = world.service
    try:
        with strict_query():
            filters = Filters.parse(**fvals)
            if kind == "ask":
                valid_result(svc.ask(text, previous, k=k, mode=mode, filters=filters, answer=answer).result)
            else:
                valid_result(getattr(svc, kind)(text, k=k, mode=mode, filters=filters))
    except AssistantError as e:
        clear_message(str(e))


def api_cases(world: FuzzWorld, kind: str) -> st.SearchStrategy:
    world.api  # noqa: B018  (gradio is imported here, not inside a hypothesis run: it changes the recursion limit)
    first = {"search": "query", "similar": "text", "ask": "question"}[kind]
    args = {first: query_texts(), "k": ks(), "mode": modes()}
    if kind == "ask":
        args.update(answer=answers(), previous=st.one_of(st.just(""), query_texts()))
    return st.builds(lambda a, f: (kind, {**a, **f}), st.fixed_dictionaries(args), filter_values(world, False))


def check_api(world: FuzzWorld, case) -> None:
    """An API endpoint: a dict that is strict JSON; an "error" is a clear message, never the internal error."""
    from assistant.web.handlers import INTERNAL_ERROR

    kind, args = case
    with strict_query():
        out = getattr(world.api, kind)(**args)
    if not isinstance(out, dict):
        raise Misbehaved(f"/{kind} returned {type(out).__name__}")
    strict_json(out)
    if out.get("error"):
        if out["error"] == INTERNAL_ERROR:
            raise Misbehaved(f"/{kind} hit an unhandled exception (see the log)")
        clear_message(out["error"])
    elif kind != "ask" and out.get("hits") is None:
        raise Misbehaved(f"/{kind} without hits or error")


def chat_cases(world: FuzzWorld) -> st.SearchStrategy:
    """The chat box and the 相似段落 tab with what their components send (and worse)."""
    world.api  # noqa: B018  (imports gradio up front, as in api_cases)
    f = filter_values(world, False)
    return st.tuples(st.sampled_from(["chat", "similar"]), query_texts(), st.one_of(st.none(), query_texts()),
                     answers(), ks(), modes(), f)


def check_chat(world: FuzzWorld, case) -> None:
    """The chat handler's every streamed step and the similar tab's HTML: never the internal error."""
    from assistant.web import handlers as H

    kind, text, last, answer, k, mode, fv = case
    filters = [fv.get(n) for n in ("sources", "doc_ids", "occasions", "date_from", "date_to")]
    with strict_query():
        if kind == "chat":
            steps = list(H.ask(world.service, text, [], last, answer, k, mode, *filters))
            pages = [str(m["content"]) for history, _, _ in steps for m in history]
        else:
            pages = [H.find_similar(world.service, text, k, mode, *filters)]
    if any(H.INTERNAL_ERROR in p for p in pages):
        raise Misbehaved(f"{kind}: an unhandled exception (see the log)")


# --- the registry and the runner ---------------------------------------------------------------
@dataclass
class Target:
    """A fuzz target: ``strategy(world)`` makes its inputs, ``check(world, input)`` raises on misbehaviour;
    ``index`` targets also check that the index on disk is unchanged after the run."""

    strategy: Callable[[FuzzWorld], st.SearchStrategy]
    check: Callable[[FuzzWorld, Any], None]
    how: str
    """What the inputs are (the contract is the check's)."""
    index: bool = False
    share: float = 1.0
    """Inputs relative to ``examples`` (slow targets run fewer)."""


_READ = "; read_file: speeches, or an IngestError naming the file, within 10 s"
_QUERY = "; a result or an AssistantError with a short message, no RuntimeWarning, index unchanged"
TARGETS: dict[str, Target] = {
    "readers: random bytes": Target(
        lambda w: random_files(), check_file,
        "random bytes, some behind a format's magic number, under every extension" + _READ),
    "readers: mutated files": Target(
        lambda w: mutated_files(w.seeds), check_file,
        "valid txt/GBK/docx/pdf/html/md truncated, bytes flipped, inserted, deleted, repeated" + _READ),
    "readers: corrupt docx entries": Target(
        lambda w: corrupt_docx(w.seeds["speech.docx"]), check_file,
        "a ZIP entry dropped, replaced, truncated, ill-formed XML, damaged stream, bad method or size" + _READ),
    "readers: damaged pdf xref": Target(
        lambda w: corrupt_pdf(w.seeds["speech.pdf"]), check_file,
        "xref digits, startxref, trailer, %%EOF, /Length, object numbers, streams damaged" + _READ),
    "readers: html tag soup": Target(
        lambda w: html_pages(), check_file,
        "unclosed and mismatched tags nested up to 3 000 deep, bogus charsets, hostile text" + _READ),
    "readers: mixed encodings": Target(
        lambda w: mixed_text_files(), check_file,
        "UTF-8/GBK/Big5/UTF-16/CESU lines in one file, control characters, emoji, RTL, NUL" + _READ),
    "load_corpus: good + bad": Target(
        lambda w: corpus_folders(w.seeds), check_corpus,
        "a folder of valid files and broken ones; every good file read, every other one message", share=0.3),
    "add_files: upload batches": Target(
        lambda w: upload_batches(w.seeds), check_upload,
        "uploads, mostly broken; each refused with its name, the batch goes on, index and corpus "
        "change only by the files added", share=0.4),
    "QueryService.search": Target(
        lambda w: service_cases(w, "search"), check_service,
        "hostile text (100k chars, controls, lone surrogates), wrong-typed k/mode/filters, unknown filters"
        + _QUERY, index=True),
    "QueryService.similar": Target(
        lambda w: service_cases(w, "similar"), check_service, "as for search" + _QUERY, index=True),
    "QueryService.ask": Target(
        lambda w: service_cases(w, "ask"), check_service,
        "as for search, with a previous question and an answer kind" + _QUERY, index=True),
    "API /search": Target(
        lambda w: api_cases(w, "search"), check_api,
        "every argument of any JSON type; strict UTF-8 JSON back, an error never the internal one", index=True),
    "API /similar": Target(lambda w: api_cases(w, "similar"), check_api, "as for /search", index=True),
    "API /ask": Target(lambda w: api_cases(w, "ask"), check_api, "as for /search, with answer and previous",
                       index=True),
    "chat + similar handlers": Target(
        chat_cases, check_chat, "what the chat box and the similar tab send, and worse; never the internal error",
        index=True, share=0.5),
}


def _describe(value, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def run_target(name: str, examples: int, world: FuzzWorld, fail_fast: bool = False) -> FuzzRow:
    """Run one target on ``examples`` × its share of inputs. ``fail_fast`` (pytest): raise on the
    first misbehaving input, shrunk by hypothesis; otherwise count and go on."""
    target = TARGETS[name]
    row = FuzzRow(name, how=target.how)
    before = world.index_hash() if target.index else None

    @settings(max_examples=max(1, round(examples * target.share)), deadline=None, derandomize=SEED is None,
              database=None, suppress_health_check=list(HealthCheck), print_blob=False,
              phases=tuple(Phase) if fail_fast else (Phase.explicit, Phase.generate))
    @given(target.strategy(world))
    def one(value):
        row.inputs += 1
        try:
            target.check(world, value)
        except (Exception, Hang) as e:
            if fail_fast:
                raise
            row.failures += 1
            if len(row.examples) < 3:
                row.examples.append(f"{type(e).__name__}: {str(e)[:200]} <- {_describe(value)}")

    (one if SEED is None else seed(int(SEED))(one))()
    if before is not None and world.index_hash() != before:
        row.failures += 1
        row.examples.append("the index folder changed on disk")
        if fail_fast:
            raise Misbehaved(f"{name}: the index folder changed on disk")
    return row


def run_big_lines(world: FuzzWorld, fail_fast: bool = False) -> FuzzRow:
    """The 10 MB single lines, one input each."""
    row = FuzzRow("readers: 10 MB single line",
                  how="one 10 MB line each of .txt, .md, .html and of markdown markup; read within 90 s")
    for case in big_line_files():
        row.inputs += 1
        try:
            check_big_file(world, case)
        except (Exception, Hang) as e:
            if fail_fast:
                raise
            row.failures += 1
            row.examples.append(f"{case[0]}: {type(e).__name__}: {str(e)[:200]}")
    return row


def run_fuzz(examples: int = EXAMPLES, names: list[str] | None = None, big_lines: bool = True) -> list[FuzzRow]:
    """Every target (or ``names``) with ``examples`` inputs each, and the 10 MB lines; one row per target."""
    world = FuzzWorld()
    try:
        rows = [run_target(n, examples, world) for n in (names or TARGETS)]
        if big_lines:
            rows.append(run_big_lines(world))
        return rows
    finally:
        world.close()


def format_table(rows: list[FuzzRow]) -> str:
    """| target | inputs | failures | as a Markdown table, with the first failing inputs below it."""
    out = ["| target | inputs | failures |", "| --- | ---: | ---: |"]
    out += [f"| {r.target} | {r.inputs} | {r.failures} |" for r in rows]
    out.append(f"| **total** | {sum(r.inputs for r in rows)} | {sum(r.failures for r in rows)} |")
    for r in rows:
        out += [f"- {r.target}: {e}" for e in r.examples]
    return "\n".join(out)


if __name__ == "__main__":  # python -m tests.fuzz [examples]
    import logging
    import sys

    logging.disable(logging.WARNING)
    print(format_table(run_fuzz(int(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES)))
