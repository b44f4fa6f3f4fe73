"""One reader per file format: .txt, .docx, .pdf, .html and .md -> RawDoc.

`read_raw(path)` sniffs the content (content wins over the extension), dispatches to
the matching reader and returns a `RawDoc`: paragraphs in reading order plus heading
flags, PDF page numbers, a title and whatever metadata the format carries. Cleaning of
scraped .txt pages (site chrome, broken lines, multi-speech files) stays in
`assistant.ingest`; the structured formats are cleaned here because their structure
(styles, pages, markup) is only visible here.

Every failure raises IngestError with the file name and a reason the user can act on.
This module depends on nothing of ingest's (shared text helpers live in
`assistant.text`, heading markers in `assistant.headings`).
"""
from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import IngestError
from .headings import HEADING_START
from .settings import IndexSettings
from .text import SENTENCE_END as SENT_END
from .text import decode_bytes

log = logging.getLogger(__name__)

MAX_FILE_BYTES = IndexSettings.max_file_mb * 1024 * 1024
"""The default size limit (settings: ``max_file_mb``)."""
KINDS = ("txt", "docx", "pdf", "html", "md")
TEXT_SUFFIXES = {".txt", ".text", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml", ".shtml"}
MD_SUFFIXES = {".md", ".markdown"}
#: Every file name ending the readers accept (uploads, `add` and the corpus folder alike), in display order.
SUPPORTED_SUFFIXES = (".txt", ".text", ".docx", ".pdf", ".html", ".htm", ".xhtml", ".shtml", ".md", ".markdown")
#: How error messages name the supported types.
SUPPORTED_LABEL = ".txt .docx .pdf .html/.htm .md"


@dataclass
class RawDoc:
    """A file's text before speech splitting.

    lines     paragraphs in reading order, stripped and non-empty (headings included)
    headings  indices into lines that are headings (from styles / markup, not guessed)
    pages     1-based page per line for PDF, None elsewhere; same length as lines
    title     the document's own title if it states one, else None
    meta      anything else found (page_count, date, author, ...)
    kind      "txt" | "docx" | "pdf" | "html" | "md"
    """

    lines: list[str]
    headings: set[int] = field(default_factory=set)
    pages: list[int | None] = field(default_factory=list)
    title: str | None = None
    meta: dict = field(default_factory=dict)
    kind: str = "txt"

    def __post_init__(self) -> None:
        if not self.pages:
            self.pages = [None] * len(self.lines)
        if len(self.pages) != len(self.lines):
            raise ValueError("pages and lines differ in length")


# --- character classes ----------------------------------------------------------------------
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014-\u2026"
_CJK = f"[{_HAN}{_CJK_PUNCT}]"
_HAN_RE = re.compile(f"[{_HAN}]")
_LATIN_DIGIT = re.compile(r"[A-Za-z0-9]")
_SPACE_BETWEEN_CJK = re.compile(f"(?<={_CJK})[ \\t\\u3000\\u00a0]+(?={_CJK})")


def _han_count(s: str) -> int:
    return len(_HAN_RE.findall(s))


def _joint(tail: str, b: str) -> tuple[int, str]:
    """How ``b`` continues a text ending in ``tail`` (its last two characters):
    (characters to drop from the text's end, separator)."""
    if (tail.endswith("-") and len(tail) >= 2 and tail[-2].isascii() and tail[-2].isalpha()
            and b[0].isascii() and b[0].isalpha()):
        return 1, ""
    if _LATIN_DIGIT.match(tail[-1]) and _LATIN_DIGIT.match(b[0]):
        return 0, " "
    return 0, ""


def join_wrapped(a: str, b: str) -> str:
    """Join two pieces of one paragraph that a layout broke apart.

    No space between Han characters; one space between two Latin/digit runs; a hyphen
    that split a Latin word is removed."""
    if not a:
        return b
    if not b:
        return a
    drop, sep = _joint(a[-2:], b)
    return a[:len(a) - drop] + sep + b


class Wrapped:
    """Pieces of one paragraph joined as repeated ``join_wrapped`` would, in linear time:
    joining onto the growing text copies it each time, quadratic for a paragraph of
    thousands of lines."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.tail = ""
        """The joined text's last two characters."""

    def add(self, b: str) -> None:
        if not b:
            return
        drop, sep = _joint(self.tail, b) if self.tail else (0, "")
        if drop:
            self.parts[-1] = self.parts[-1][:-drop]
        self.parts.append(sep + b)
        self.tail = (self.tail[:len(self.tail) - drop] + sep + b)[-2:]

    @property
    def text(self) -> str:
        return "".join(self.parts)


# --- sniffing -------------------------------------------------------------------------------
_BINARY_SIGNATURES = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Word 97-2003 .doc / WPS (or other Office) file; "
                                          "save it as .docx and try again"),
    (b"\x89PNG", "an image (PNG); OCR is not supported"),
    (b"\xff\xd8\xff", "an image (JPEG); OCR is not supported"),
    (b"GIF8", "an image (GIF); OCR is not supported"),
    (b"II*\x00", "an image (TIFF); OCR is not supported"),
    (b"MM\x00*", "an image (TIFF); OCR is not supported"),
    (b"{\\rtf", "an RTF document; save it as .docx and try again"),
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
    (b"Rar!", "a RAR archive; unpack it first"),
    (b"7z\xbc\xaf", "a 7-Zip archive; unpack it first"),
)
_LEADING_MARKUP_NOISE = re.compile(r"^(?:\s|<\?xml[^>]*\?>|<!--.*?-->)*", re.S)


def _zip_kind(name: str, suffix: str, data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            _check_unzipped_size(name, z)
            names = set(z.namelist())
            ctypes = z.read("[Content_Types].xml").decode("utf-8", "replace") \
                if "[Content_Types].xml" in names else ""
            mimetype = z.read("mimetype").decode("ascii", "replace") if "mimetype" in names else ""
    # a damaged entry fails in zlib/bz2/lzma (zlib.error, EOFError), an unknown compression
    # method with NotImplementedError, an encrypted one with RuntimeError
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, KeyError, EOFError,
            zlib.error, NotImplementedError, RuntimeError):
        if suffix == ".docx":
            raise IngestError(f"{name}: not a valid Word file (corrupt or not .docx)") from None
        raise IngestError(f"{name}: a damaged ZIP archive; unsupported or binary file") from None
    if ("word/document.xml" in names or any(re.fullmatch(r"word/document\d*\.xml", n) for n in names)
            or "wordprocessingml.document.main" in ctypes):
        return "docx"
    if suffix == ".docx":
        raise IngestError(f"{name}: not a valid Word file (corrupt or not .docx): "
                          f"the ZIP archive has no word/document.xml")
    if "opendocument.text" in mimetype:
        raise IngestError(f"{name}: an OpenDocument .odt file is not supported; save it as .docx")
    if "spreadsheetml" in ctypes or "presentationml" in ctypes:
        raise IngestError(f"{name}: an Excel/PowerPoint file is not supported; "
                          f"supported: {SUPPORTED_LABEL}")
    raise IngestError(f"{name}: a ZIP archive, not a document; unpack it first "
                      f"(unsupported or binary file)")


MAX_UNZIPPED_BYTES = 256 * 2**20
"""What the entries of a .docx may unpack to in all: a small file that unpacks to gigabytes is a ZIP bomb."""


def _check_unzipped_size(name: str, z: zipfile.ZipFile) -> None:
    # zipfile never returns more than an entry's declared size, so the declared sizes bound the memory
    total = sum(max(0, i.file_size) for i in z.infolist())
    if total > MAX_UNZIPPED_BYTES:
        raise IngestError(f"{name}: the archive unpacks to {total / 2**20:.0f} MB, over the "
                          f"{MAX_UNZIPPED_BYTES // 2**20} MB a Word file may hold (a ZIP bomb?); not read")


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with BOM
        return False
    if b"\x00" in head:
        return True
    if not head:
        return False
    ctrl = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B))
    return ctrl / len(head) > 0.05


def _text_head(data: bytes) -> str:
    """The start of a text file as text, good enough to look for markup."""
    head = data[:4096]
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(enc, "ignore")
    return head.decode("latin-1")  # only ASCII markup is looked for


def sniff(path: Path, data: bytes) -> str:
    """The kind of a file from its content, then its extension.

    %PDF- -> pdf; a ZIP holding word/document.xml -> docx; text starting with
    <!doctype html or <html -> html; .md/.markdown text -> md; other text -> txt.
    Unknown binary data raises IngestError."""
    path = Path(path)
    name, suffix = path.name, path.suffix.lower()
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _zip_kind(name, suffix, data)
    for sig, what in _BINARY_SIGNATURES:
        if data.startswith(sig):
            raise IngestError(f"{name}: {what}")
    if _looks_binary(data[:8192]):
        if suffix == ".docx":
            raise IngestError(f"{name}: not a valid Word file (corrupt or not .docx)")
        if suffix == ".pdf":
            raise IngestError(f"{name}: not a valid PDF file (corrupt, no %PDF- header)")
        raise IngestError(f"{name}: unsupported or binary file")
    head = _LEADING_MARKUP_NOISE.sub("", _text_head(data), count=1).lower()
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    if suffix in HTML_SUFFIXES and head.startswith("<"):
        return "html"
    if suffix in MD_SUFFIXES:
        return "md"
    return "txt"


def read_raw(path: Path, data: bytes | None = None, max_bytes: int | None = None) -> RawDoc:
    """Read one file (or its bytes) into a RawDoc. Raises IngestError naming the file."""
    limit = MAX_FILE_BYTES if max_bytes is None else int(max_bytes)
    path = Path(path)
    name = path.name
    if data is None:
        try:
            size = path.stat().st_size
        except OSError as e:
            raise IngestError(f"{name}: cannot read ({e.strerror or e})") from None
        _check_size(name, size, limit)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise IngestError(f"{name}: cannot read ({e.strerror or e})") from None
    _check_size(name, len(data), limit)
    if not data.strip():
        raise IngestError(f"{name}: the file is empty")
    kind = sniff(path, data)
    reader = {"txt": _read_txt, "docx": _read_docx, "pdf": _read_pdf,
              "html": _read_html, "md": _read_md}[kind]
    doc = reader(name, data)
    if not doc.lines:
        raise IngestError(f"{name}: no text found in the {kind} file")
    return doc


def _check_size(name: str, size: int, limit: int) -> None:
    if size > limit:
        raise IngestError(f"{name}: {size / 2**20:.1f} MB is over the {limit / 2**20:g} MB limit "
                          f"(setting max_file_mb; split the file or raise the limit)")


def _split_text_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return [s for s in (line.strip() for line in text.split("\n")) if s]


# --- txt ------------------------------------------------------------------------------------
def _read_txt(name: str, data: bytes) -> RawDoc:
    """Raw lines only; scraped-page cleaning is ingest.clean_lines' job
    (clean_lines("\\n".join(lines)) gives what clean_lines(text) gave)."""
    return RawDoc(lines=_split_text_lines(decode_bytes(data, name)), kind="txt")


# --- docx -----------------------------------------------------------------------------------
_DOCX_HEADING = re.compile(r"^(?:heading|标题)\s*(\d)$")
_DOCX_TITLE = {"title", "标题", "subtitle", "副标题"}
_JUNK_TITLE = re.compile(r"^(?:untitled|无标题.*|文档\s*\d*|document\s*\d*|新建.*文档.*|microsoft word.*)$", re.I)


_JUNK_AUTHOR = re.compile(r"^\s*(?:anonymous|unknown|admin|administrator|user|微软用户|python-docx|"
                         r"\S*\.(?:com|cn))?\s*$", re.I)


def _clean_title(t: str | None) -> str | None:
    if not t:
        return None
    t = re.sub(r"^Microsoft Word\s*-\s*", "", str(t).strip(), flags=re.I)
    t = re.sub(r"\.(?:docx?|wps|pdf|txt)$", "", t, flags=re.I).strip()
    if not t or _JUNK_TITLE.match(t):
        return None
    return t


def _docx_heading_level(p) -> int | None:
    """0 for Title/Subtitle, N for Heading N / 标题 N or an outline level, None for body."""
    from docx.oxml.ns import qn

    style = p.style
    for _ in range(6):  # a custom style based on Heading 1 is a heading too
        if style is None:
            break
        sname = (style.name or "").strip().lower()
        if sname in _DOCX_TITLE:
            return 0
        m = _DOCX_HEADING.match(sname)
        if m:
            return int(m.group(1))
        style = style.base_style
    ppr = p._p.pPr
    if ppr is not None:
        lvl = ppr.find(qn("w:outlineLvl"))
        if lvl is not None:
            try:
                v = int(lvl.get(qn("w:val")))
            except (TypeError, ValueError):
                v = 9
            if 0 <= v <= 8:
                return v + 1
    return None


def _docx_blocks(container, seen_cells: set):
    """Paragraphs of a document/cell in body order, descending into tables."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for block in container.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block
        elif isinstance(block, Table):
            for row in block.rows:
                for cell in row.cells:
                    if id(cell._tc) in seen_cells:  # a merged cell repeats across the span
                        continue
                    seen_cells.add(id(cell._tc))
                    yield from _docx_blocks(cell, seen_cells)


def _read_docx(name: str, data: bytes) -> RawDoc:
    try:
        import docx
    except ImportError:
        raise IngestError(f"{name}: reading .docx needs python-docx (pip install python-docx)") from None
    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:  # PackageNotFoundError, KeyError, ValueError, XMLSyntaxError...
        log.debug("docx open failed for %s: %r", name, e)
        raise IngestError(f"{name}: not a valid Word file (corrupt or not .docx)") from None
    lines: list[str] = []
    headings: set[int] = set()
    first_title = first_h1 = None
    try:
        for p in _docx_blocks(d, set()):
            text = p.text.replace("\t", " ")
            level = _docx_heading_level(p)
            if level is not None:
                text = re.sub(r"\s*\n\s*", " ", text).strip()
                pieces = [text] if text else []
            else:
                pieces = [s.strip() for s in text.split("\n") if s.strip()]
            for piece in pieces:
                if level is not None:
                    headings.add(len(lines))
                    if level == 0 and first_title is None:
                        first_title = piece
                    if level == 1 and first_h1 is None:
                        first_h1 = piece
                lines.append(piece)
    except Exception as e:
        log.debug("docx walk failed for %s: %r", name, e)
        raise IngestError(f"{name}: not a valid Word file (corrupt or not .docx)") from None
    meta: dict = {}
    title = None
    try:
        cp = d.core_properties
        title = _clean_title(cp.title)
        if cp.author and not _JUNK_AUTHOR.match(cp.author):
            meta["author"] = cp.author
        if cp.created:
            meta["created"] = cp.created.date().isoformat()
    except Exception:  # broken docProps/core.xml is not worth failing the file
        pass
    return RawDoc(lines=lines, headings=headings, title=title or first_title or first_h1,
                  meta=meta, kind="docx")


# --- pdf ------------------------------------------------------------------------------------
_PAGE_NO = re.compile(
    r"^(?:[-—–－~～·•\s]*\d{1,4}[-—–－~～·•\s]*"
    r"|第\s*\d{1,4}\s*页(?:\s*[/,，、]?\s*共\s*\d{1,4}\s*页)?"
    r"|共\s*\d{1,4}\s*页\s*[/,，、]?\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*/\s*\d{1,4}"
    r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)$", re.I)
_EDGE = 2  # lines at the top and at the bottom of a page that may be running headers/footers


def _page_key(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", line))


def _strip_running(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers and lines repeated at the top/bottom of most pages."""
    n = len(pages)
    counts: Counter = Counter()
    for lines in pages:
        counts.update({_page_key(s) for s in lines[:_EDGE] + lines[-_EDGE:]})
    running = {k for k, c in counts.items() if n >= 2 and c >= 2 and c > n / 2}

    def chrome(s: str) -> bool:
        return bool(_PAGE_NO.match(s)) or _page_key(s) in running

    out = []
    for lines in pages:
        lines = list(lines)
        for _ in range(_EDGE):
            if lines and chrome(lines[0]):
                lines.pop(0)
        for _ in range(_EDGE):
            if lines and chrome(lines[-1]):
                lines.pop()
        out.append(lines)
    return out


def _width(s: str) -> int:
    """Printed width in half-em units: Han and full-width characters count 2."""
    return sum(1 if ord(c) < 0x2E80 else 2 for c in s)


# lines that stand alone under a title: "（2022年3月30日）", "——在…上的讲话"
_STANDALONE = re.compile(r"^(?:[（(][^（）()]{1,30}[)）]|——.*)$")


def _join_pdf_lines(items: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Join lines the layout broke: the previous line is about full width, does not end a
    sentence, and the next line does not open a heading/numbered item."""
    widths = sorted(_width(s) for s, _ in items)
    if not widths:
        return []
    full = widths[min(len(widths) - 1, int(len(widths) * 0.9))]
    out: list[list] = []  # [Wrapped, page, width of its last physical line]
    for text, page in items:
        if out:
            prev = out[-1]
            if (prev[2] >= 0.8 * full and prev[0].tail[-1] not in SENT_END
                    and not HEADING_START.match(text) and not _STANDALONE.match(text)
                    and not prev[0].parts[0].startswith("——")):
                prev[0].add(text)
                prev[2] = _width(text)  # the joined line's last physical line decides
                continue
        w = Wrapped()
        w.add(text)
        out.append([w, page, _width(text)])
    return [(w.text, p) for w, p, _ in out]


def _garbled(text: str) -> bool:
    """Extracted text made of replacement/private-use characters: fonts without a
    Unicode mapping, as bad as no text layer."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return False
    bad = sum(1 for c in chars if c == "\ufffd" or "\ue000" <= c <= "\uf8ff")
    return bad / len(chars) > 0.3 or text.count("(cid:") > 20


def _open_pdf(name: str, data: bytes):
    """A pypdf reader for the bytes, decrypted when only an owner password is set."""
    try:
        from pypdf import PdfReader
    except ImportError:
        raise IngestError(f"{name}: reading .pdf needs pypdf (pip install pypdf)") from None
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except Exception as e:
        log.debug("pdf open failed for %s: %r", name, e)
        raise IngestError(f"{name}: not a valid PDF file (corrupt or truncated)") from None
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")  # owner-password-only PDFs open with an empty password
        except Exception:
            ok = 0
        if not ok:
            raise IngestError(f"{name}: encrypted PDF; remove the password (e.g. print it to a "
                              f"new PDF) and try again")
    return reader


def _pdf_page_lines(name: str, reader, i: int) -> list[str]:
    """The non-empty lines of page i (0-based), spaces between Chinese characters removed;
    a page whose text cannot be extracted is logged and comes back empty."""
    try:
        text = reader.pages[i].extract_text() or ""
    except Exception as e:
        log.warning("%s: cannot extract the text of page %d (%r)", name, i + 1, e)
        text = ""
    lines = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = _SPACE_BETWEEN_CJK.sub("", raw.replace("\u00a0", " ")).strip()
        if line:
            lines.append(line)
    return lines


def _check_text_layer(name: str, pages: list[list[str]]) -> None:
    """Raise IngestError when the PDF has no text layer or an unreadable one."""
    if not any(pages):
        raise IngestError(f"{name}: the PDF has no text layer (scanned?); OCR is not supported")
    all_text = "\n".join("\n".join(p) for p in pages)
    if _garbled(all_text):
        raise IngestError(f"{name}: the PDF's text layer is unreadable (fonts without a Unicode "
                          f"mapping); OCR is not supported")


def _pdf_info(reader, meta: dict) -> str | None:
    """The title from the PDF's /Info dictionary; its author and creation date go into meta."""
    title = None
    try:
        info = reader.metadata
        if info is not None:
            title = _clean_title(info.title)
            if info.author and not _JUNK_AUTHOR.match(str(info.author)):
                meta["author"] = str(info.author)
            if info.creation_date:
                meta["created"] = info.creation_date.date().isoformat()
    except Exception:  # broken /Info dictionaries are common and harmless
        pass
    return title


def _read_pdf(name: str, data: bytes) -> RawDoc:
    reader = _open_pdf(name, data)
    try:
        n_pages = len(reader.pages)
    except Exception:
        raise IngestError(f"{name}: not a valid PDF file (corrupt or truncated)") from None
    pages = [_pdf_page_lines(name, reader, i) for i in range(n_pages)]
    _check_text_layer(name, pages)
    pages = _strip_running(pages)
    items = [(line, i + 1) for i, lines in enumerate(pages) for line in lines]
    joined = _join_pdf_lines(items)
    meta: dict = {"page_count": n_pages}
    empty = [i + 1 for i, p in enumerate(pages) if not p]
    if empty:
        meta["empty_pages"] = empty
    title = _pdf_info(reader, meta)
    return RawDoc(lines=[t for t, _ in joined], headings=set(), pages=[p for _, p in joined],
                  title=title, meta=meta, kind="pdf")


# --- html -----------------------------------------------------------------------------------
_HTML_BLOCK = {"p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6",
               "li", "ul", "ol", "dl", "dt", "dd", "table", "tbody", "thead", "tfoot", "tr",
               "td", "th", "blockquote", "pre", "center", "form", "header", "footer", "nav",
               "aside", "figure", "figcaption", "hr", "address", "caption", "body", "html"}
_HTML_SKIP = {"script", "style", "noscript", "template", "head", "title", "select", "option",
              "button", "iframe", "svg", "object", "embed", "input", "textarea", "map", "audio",
              "video", "canvas"}
_HTML_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_HTML_CHROME_TAGS = ("nav", "header", "footer", "aside", "form", "script", "style", "noscript",
                     "iframe", "select", "button")
_CHROME_ATTR = re.compile(r"(?:^|[\s_-])(?:nav|navbar|menu|header|footer|foot|sidebar|side|"
                          r"breadcrumbs?|crumbs?|share|copyright|topbar|toolbar|related|"
                          r"recommend|comments?|links|friendlink|banner)(?:$|[\s_-])", re.I)
_HTML_CHROME_LINE = re.compile(
    r"版权所有|ICP\s*备|ICP\s*证|网站标识码|公网安备|网站地图|技术支持\s*[:：]|主办单位\s*[:：]|"
    r"承办单位\s*[:：]|联系我们\s*$|^【?\s*(?:打印|关闭|打印本页|关闭窗口|返回顶部|收藏|我要纠错)\s*】?$|"
    r"字号\s*[:：]?\s*[【\[]?\s*大\s*中\s*小|【\s*(?:打印|关闭)\s*】|^分享到\s*[:：]?|"
    r"^(?:上一篇|下一篇)\s*[:：]|^(?:当前位置|您现在的位置|您的位置|所在位置)\s*[:：]")
_HTML_INFO_LINE = re.compile(
    r"^(?:发布时间|发布日期|时间|日期|来源|信息来源|文章来源|作者|编辑|责任编辑|浏览次数|"
    r"阅读次数|点击数|点击量|访问量)\s*[:：]")
_DATE_IN_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_META_DATE_NAMES = {"pubdate", "publishdate", "publish_date", "article:published_time",
                    "datepublished", "og:release_date", "firstpublishedtime", "maketime",
                    "dc.date", "dcterms.date", "dc.date.issued", "date"}
_TITLE_SEP = re.compile(r"\s*(?:_|\||｜|—{1,2}|–| - )\s*")


def _iso_date(s: str) -> str | None:
    m = _DATE_IN_TEXT.search(s or "")
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups())
    if not (1900 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def _decode_html(data: bytes, name: str) -> str:
    """The declared <meta charset> if it decodes cleanly, else the generic text decoding."""
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_-]+)""", data[:4096], re.I)
        if m:
            enc = m.group(1).decode("ascii").lower()
            enc = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
                   "big5": "big5hkscs"}.get(enc, enc)
            try:
                return data.decode(enc)
            except (LookupError, UnicodeDecodeError):
                pass
    return decode_bytes(data, name)


def _norm_ws(s: str) -> str:
    """HTML whitespace: a line break between Chinese characters disappears (as browsers
    render it); other runs collapse to one space."""
    def rep(m: re.Match) -> str:
        run = m.group(0)
        a = s[m.start() - 1] if m.start() > 0 else ""
        b = s[m.end()] if m.end() < len(s) else ""
        if "\n" in run and a and b and re.match(_CJK, a) and re.match(_CJK, b):
            return ""
        return " "
    return re.sub(r"[ \t\r\n\f\u00a0\u3000\u2002\u2003\u200b]+", rep, s).strip()


def _html_blocks(root) -> list[tuple[str, bool]]:
    """Text blocks of an element tree: block tags and <br> end a paragraph.

    The tree is walked with a stack, not recursion: a hostile page nests thousands deep."""
    out: list[tuple[str, bool]] = []
    buf: list[str] = []
    headings = 0  # open heading elements around the text being collected

    def flush() -> None:
        text = _norm_ws("".join(buf))
        buf.clear()
        if text:
            out.append((text, headings > 0))

    stack = [(root, False)]
    while stack:
        el, closing = stack.pop()
        tag = el.tag.lower() if isinstance(el.tag, str) else None
        if closing:  # after its children
            if tag in _HTML_BLOCK:
                flush()
                headings -= tag in _HTML_HEADINGS
        elif tag is None or tag in _HTML_SKIP or tag == "br":  # comments, PIs, scripts: only the tail
            if tag == "br":
                flush()
        else:
            if tag in _HTML_BLOCK:
                flush()
                headings += tag in _HTML_HEADINGS
            if el.text and tag != "img":
                buf.append(el.text)
            stack.append((el, True))
            stack.extend((child, False) for child in reversed(el))
            continue
        if el.tail:
            buf.append(el.tail)
    flush()
    return out


def _drop_chrome(root) -> None:
    for el in list(root.iter(*_HTML_CHROME_TAGS)):
        if el.getparent() is not None:
            el.drop_tree()
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or el.tag.lower() in ("html", "body"):
            continue
        attrs = f"{el.get('class') or ''} {el.get('id') or ''}"
        if attrs.strip() and _CHROME_ATTR.search(attrs) and el.getparent() is not None:
            el.drop_tree()


def _is_block(el) -> bool:
    return isinstance(el.tag, str) and el.tag.lower() in _HTML_BLOCK


def _own_han_counts(root) -> dict:
    """Element -> Han characters of its own text: its text outside block-level children
    (inline children included), links excluded, i.e. what it shows as its own paragraph(s).
    One bottom-up pass: counting each element's subtree anew is quadratic in the nesting depth."""
    counts: dict = {}
    for el in reversed(list(root.iter())):  # children before their parents
        if not isinstance(el.tag, str):
            continue
        n = _han_count(el.text or "")
        for child in el:
            if (not _is_block(child) and isinstance(child.tag, str)
                    and child.tag.lower() != "a" and child.tag.lower() not in _HTML_SKIP):
                n += counts[child]
            n += _han_count(child.tail or "")
        counts[el] = n
    return counts


def _heuristic_body(root):
    """The element holding the article, by readability-style scoring on Chinese text:
    each element's own non-link text scores for the element that holds it (a leaf
    paragraph scores for its parent), half of it for the next level up."""
    import copy

    body = copy.deepcopy(root)
    _drop_chrome(body)
    scores: Counter = Counter()
    nodes = {}
    own = _own_han_counts(body)
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag.lower() in _HTML_SKIP | {"html"}:
            continue
        n = own[el]
        if n < 10:
            continue
        # text beside block children (<br>-separated) belongs to el; a leaf paragraph's
        # text belongs to the element holding the paragraphs
        leaf = not any(_is_block(c) for c in el) and el.tag.lower() not in ("body", "td")
        holder = el.getparent() if leaf else el
        if holder is None:
            continue
        for weight, node in ((1.0, holder), (0.5, holder.getparent())):
            if node is not None:
                scores[id(node)] += n * weight
                nodes[id(node)] = node
    if not scores:
        return body
    return nodes[max(scores, key=lambda k: scores[k])]


def _readability_body(text: str):
    try:
        from readability import Document as Readable
    except ImportError:
        return None
    import lxml.html

    try:
        summary = Readable(text).summary(html_partial=True)
        frag = lxml.html.fragment_fromstring(summary, create_parent="div")
    except Exception as e:  # readability raises on odd pages; the heuristic takes over
        log.debug("readability failed: %r", e)
        return None
    return frag


def _html_title(root) -> tuple[str | None, bool]:
    """(title, from_h1): the article's <h1> (outside site chrome, and matching <title> when
    the page has one), else the ArticleTitle meta tag, else <title> without the site name."""
    import copy

    page_title = None
    t = root.find(".//title")
    if t is not None and t.text_content().strip():
        parts = [p for p in _TITLE_SEP.split(_norm_ws(t.text_content())) if p]
        if parts:
            page_title = parts[0] if _han_count(parts[0]) >= 4 else max(parts, key=_han_count)
    body = root.find("body")
    if body is not None:
        b = copy.deepcopy(body)
        _drop_chrome(b)
        h1s = [_norm_ws(h.text_content()) for h in b.iter("h1")]
        h1s = [h for h in h1s if _han_count(h) >= 2]
        if page_title:
            key = re.sub(r"\s", "", page_title)
            h1s = [h for h in h1s if re.sub(r"\s", "", h) in key or key in re.sub(r"\s", "", h)]
        if h1s:
            return h1s[0], True
    for m in root.iter("meta"):
        if (m.get("name") or "").lower() == "articletitle" and (m.get("content") or "").strip():
            return m.get("content").strip(), False
    return page_title, False


def _html_date(root, lines: list[str]) -> str | None:
    for m in root.iter("meta"):
        key = (m.get("name") or m.get("property") or m.get("itemprop") or "").lower()
        if key in _META_DATE_NAMES:
            d = _iso_date(m.get("content") or "")
            if d:
                return d
    body = root.find("body")
    # the article's own lines first: a sidebar may list other articles' dates
    text_lines = lines + ([s for s, _ in _html_blocks(body)] if body is not None else [])
    for s in text_lines:
        if len(s) < 120 and re.search(r"(?:发布时间|发布日期|时间|日期)\s*[:：]", s):
            d = _iso_date(s)
            if d:
                return d
    return None


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _parse_html(name: str, text: str):
    """The page's element tree; IngestError when libxml2 cannot parse it, or stopped at its
    nesting limit (the rest of the page would be lost without a word)."""
    import lxml.html

    # huge_tree: without it libxml2 drops a text node over 10 MB (a page on one line)
    parser = lxml.html.HTMLParser(huge_tree=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except Exception as e:
        log.debug("html parse failed for %s: %r", name, e)
        raise IngestError(f"{name}: not a readable HTML page") from None
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        raise IngestError(f"{name}: the page nests its elements over 2 000 levels deep (damaged or "
                          f"hostile HTML); not read")
    return root


def _read_html(name: str, data: bytes) -> RawDoc:
    try:
        import lxml.html
    except ImportError:
        raise IngestError(f"{name}: reading .html needs lxml (pip install lxml)") from None

    text = _decode_html(data, name)
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    # characters XML forbids parse, but lxml refuses them when a tree edit (drop_tree moving a
    # tail) sets them again: ValueError mid-read. They show nothing in a page anyway.
    text = _XML_FORBIDDEN.sub("", text.replace("\x0b", " ").replace("\x0c", " "))
    root = _parse_html(name, text)
    title, title_from_h1 = _html_title(root)
    # readability first; it misreads some table layouts of Chinese sites, so when the
    # heuristic finds clearly more article text, the heuristic wins
    frag = _readability_body(text)
    blocks = _html_blocks(frag) if frag is not None else []
    heur = _html_blocks(_heuristic_body(root))
    extractor = "readability"
    if sum(_han_count(s) for s, _ in blocks) < 0.7 * sum(_han_count(s) for s, _ in heur):
        blocks, extractor = heur, "heuristic"
    meta: dict = {"extractor": extractor}
    date = _html_date(root, [s for s, _ in blocks])
    if date:
        meta["date"] = date
    lines: list[str] = []
    headings: set[int] = set()
    for s, is_head in blocks:
        if _HTML_CHROME_LINE.search(s) or (_HTML_INFO_LINE.match(s) and len(s) < 120):
            continue
        if is_head:
            headings.add(len(lines))
        lines.append(s)
    if title and title_from_h1:
        key = re.sub(r"\s", "", title)
        at = next((i for i, s in enumerate(lines[:3]) if re.sub(r"\s", "", s) == key), None)
        if at is None:
            lines.insert(0, title)
            headings = {0} | {i + 1 for i in headings}
        else:
            headings.add(at)
    if sum(_han_count(s) for s in lines) < 10 and sum(len(s) for s in lines) < 40:
        raise IngestError(f"{name}: no article text found in the HTML page")
    return RawDoc(lines=lines, headings=headings, title=title, meta=meta, kind="html")


# --- markdown -------------------------------------------------------------------------------
# "#标题" without the space is a heading too: Chinese writers often drop it
_MD_ATX = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?)|(?=[\u4e00-\u9fff])(.*?))?\s*#*\s*$")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_MD_HR = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_MD_BULLET = re.compile(r"^\s*[-*+]\s+")
_MD_ORDERED = re.compile(r"^\s*\d{1,3}[.)]\s+")
_MD_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_MD_LINKDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
_MD_ESCAPABLE = "\\`*_{}[]()#+-.!>~|"


_MD_PROTECT = {c: chr(0xE000 + i) for i, c in enumerate(_MD_ESCAPABLE)}
_MD_RESTORE = str.maketrans({v: k for k, v in _MD_PROTECT.items()})
# Every span below excludes its own delimiters, so a match attempt never runs past the
# next delimiter: linear time on a 10 MB line ("(.+?)" took minutes on "*a *a *a …").
_MD_INLINE = [(re.compile(p), r) for p, r in (
    (r"!\[[^\[\]]*\]\([^()]*\)", ""),                    # images
    (r"!\[[^\[\]]*\]\[[^\[\]]*\]", ""),
    (r"\[\^[^\[\]]+\]", ""),                              # footnote references
    (r"\[([^\[\]]+)\]\([^()]*\)", r"\1"),                # links keep their text
    (r"\[([^\[\]]+)\]\[[^\[\]]*\]", r"\1"),
    (r"<((?:https?|ftp)://[^<>\s]+)>", r"\1"),
    (r"(?<!`)`+([^`]+)`+", r"\1"),                        # code spans
    (r"</?[A-Za-z][^<>]*>", ""),                           # inline HTML
    (r"\*\*(?=\S)((?:[^*]|\*(?!\*))+?)(?<=\S)\*\*", r"\1"),  # strong
    (r"__(?=\S)((?:[^_]|_(?!_))+?)(?<=\S)__", r"\1"),
    (r"(?<!\*)\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?!\*)", r"\1"),  # emphasis
    (r"(?<![A-Za-z0-9_])_(?=\S)([^_]+?)(?<=\S)_(?![A-Za-z0-9_])", r"\1"),
    (r"~~(?=\S)((?:[^~]|~(?!~))+?)(?<=\S)~~", r"\1"),      # strikethrough
)]


def md_inline(s: str) -> str:
    """Markdown inline markup -> plain text: links keep their text, images go, emphasis,
    code and inline HTML lose their markers, escapes are resolved."""
    # an escaped character stands in as a private-use character while the markup is removed
    s = re.sub(r"\\([\\`*_{}\[\]()#+\-.!>~|])", lambda m: _MD_PROTECT[m.group(1)], s)
    for pattern, repl in _MD_INLINE:
        s = pattern.sub(repl, s)
    return re.sub(r"[ \t]{2,}", " ", s.translate(_MD_RESTORE)).strip()


def _front_matter(text: str) -> tuple[dict, str]:
    m = re.match(r"^---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|$)", text, re.S)
    if not m:
        return {}, text
    meta = {}
    for line in m.group(1).split("\n"):
        kv = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$", line)
        if kv and kv.group(2):
            meta[kv.group(1).lower()] = kv.group(2).strip("'\"")
    return meta, text[m.end():]


class _MdBlocks:
    """Markdown body -> paragraphs and headings, fed one source line at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.headings: set[int] = set()
        self.first_h1: str | None = None
        self.para: list[str] = []
        self.raw_para: list[str] = []  # the source lines of para, for setext headings
        self.in_fence = False

    def flush(self) -> None:
        """End the open paragraph: its pieces joined as one wrapped line."""
        if self.para:
            w = Wrapped()
            for piece in self.para:
                w.add(piece)
            joined = w.text.strip()
            if joined:
                self.lines.append(joined)
        self.para.clear()
        self.raw_para.clear()

    def add_heading(self, text: str, level: int) -> None:
        """A heading line (markup removed); the first level-1 one is remembered as a title."""
        self.flush()
        text = md_inline(text)
        if text:
            self.headings.add(len(self.lines))
            self.lines.append(text)
            if level == 1 and self.first_h1 is None:
                self.first_h1 = text

    def _heading(self, line: str) -> bool:
        """Take an ATX (#) heading, or a setext underline under a one-line paragraph."""
        m = _MD_ATX.match(line)
        if m:
            self.add_heading(m.group(2) or m.group(3) or "", len(m.group(1)))
            return True
        s = _MD_SETEXT.match(line)
        if s and len(self.raw_para) == 1:
            level = 1 if s.group(1).startswith("=") else 2
            pending = self.raw_para[0]
            self.para.clear()
            self.raw_para.clear()
            self.add_heading(pending, level)
            return True
        return False

    def _table_row(self, line: str) -> None:
        """A table row becomes one line of its non-empty cells."""
        self.flush()
        cells = [md_inline(c) for c in line.strip().strip("|").split("|")]
        row = " ".join(c for c in cells if c)
        if row:
            self.lines.append(row)

    def _text(self, line: str) -> None:
        """Body text: list items start a new paragraph, other lines continue the open one."""
        if _MD_BULLET.match(line):
            self.flush()
            line = _MD_BULLET.sub("", line)
        elif _MD_ORDERED.match(line):
            self.flush()  # the number is kept: it is what a reader sees
        piece = md_inline(line)
        if piece:
            self.para.append(piece)
            self.raw_para.append(line.strip())

    def feed(self, raw: str) -> None:
        """One source line: fences, quotes, blank lines, headings, rules, tables or text."""
        if _MD_FENCE.match(raw):
            self.flush()
            self.in_fence = not self.in_fence
            return
        if self.in_fence:
            if raw.strip():
                self.lines.append(raw.strip())
            return
        line = _MD_QUOTE.sub("", raw) if _MD_QUOTE.match(raw) else raw
        if not line.strip():
            self.flush()
        elif self._heading(line):
            pass
        elif _MD_HR.match(line) or _MD_LINKDEF.match(line) or _MD_TABLE_SEP.match(line) and "|" in line:
            self.flush()
        elif line.strip().startswith("|") and line.strip().endswith("|"):
            self._table_row(line)
        else:
            self._text(line)


def _md_meta(fm: dict) -> dict:
    """Front matter other than the title; a date is normalized to ISO or dropped."""
    meta = {k: v for k, v in fm.items() if k != "title"}
    if "date" in meta:
        d = _iso_date(meta["date"])
        if d:
            meta["date"] = d
        else:
            meta.pop("date")
    return meta


def _read_md(name: str, data: bytes) -> RawDoc:
    text = decode_bytes(data, name).replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    fm, text = _front_matter(text)
    title = _clean_title(fm.get("title"))
    md = _MdBlocks()
    for raw in text.split("\n"):
        md.feed(raw)
    md.flush()
    return RawDoc(lines=md.lines, headings=md.headings, title=title or md.first_h1,
                  meta=_md_meta(fm), kind="md")
