"""Corpus files -> cleaned speeches (Document) with their paragraphs and metadata.

The seed files are web-scraped: they carry site chrome ("当前位置…", "导语:…不代表本站观点",
"本文档由用户上传…", page counters, 上一篇/下一篇), stray "?" where an indent was lost,
paragraphs separated by runs of spaces inside one line, sentences broken across lines,
and one file holds 18 speeches ("乡镇人大工作会议讲话 篇N"). Cleaning happens here, in
code, so the corpus files stay byte-identical to their sources.
"""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from .errors import IngestError
from .headings import HEADING_START
from .readers import SUPPORTED_LABEL, TEXT_SUFFIXES, read_raw
from .text import SENTENCE_END, decode_bytes  # noqa: F401  (decode_bytes: part of the reading API)
from .types import Document

log = logging.getLogger(__name__)



# --- boilerplate ---------------------------------------------------------------------------
# Each pattern matches a whole line of site chrome. They are anchored on wording that
# never occurs in speech prose, so content lines are not lost.
_BOILERPLATE = [re.compile(p) for p in (
    r"^当前位置\s*[:：]",
    r"阅读\s*[（(]\s*[\d.]+\s*[万WwKk]?\s*[)）]\s*$",
    r"^导语\s*[:：].*(不代表本站观点|来源于网友上传|仅供参考)",
    r"本文档由用户上传|当前文档由用户上传|本文档内容版权归属|网站客服|付费之前|收益归属",
    r"^(上一篇|下一篇)\s*[:：]",
    r"^(相关文档|相关推荐|猜你喜欢|热门文章|返回顶部|扫一扫)\s*$",
    r"^[\d.]+\s*[KMG]B$",
    r"^\d+\s*页$",
    r"^第?\s*\d+\s*/\s*\d+\s*页?$",
    r"^[（(]?\s*精选\s*\d+\s*篇\s*[)）]?$",
    r"^.{2,40}[（(]精选\d+篇[)）]$",
)]
_BULLET = re.compile(r"^(?:[•·▪●◆\-–—*]+|\d+\.)\s*")
_DATE_LINE = re.compile(r"^(?:时间|日期|发布时间)\s*[:：]\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")
_DATE_PUBLISHED = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})\s*发布$")
_MULTI_MARKER = re.compile(r"^(?P<title>\S.{0,60}?)\s*篇\s*(?P<n>\d{1,3})$")
_SPACE_RUN = re.compile(r"[ \t\u3000\u00a0]{2,}")
# A "?" that stands where an indent or paragraph break was lost: at a line start, or
# right after a sentence end (a real question mark never follows "。").
_Q_AFTER_END = re.compile(r"(?<=[。！？!；;])[?？](?=\S)")
def is_boilerplate(line: str) -> bool:
    """True when the (stripped) line is site chrome rather than speech text."""
    bare = _BULLET.sub("", line).strip()
    return any(p.search(bare) for p in _BOILERPLATE)


def _norm_date(y: str, m: str, d: str) -> str:
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def clean_lines(text: str) -> tuple[list[str], dict]:
    """Raw file text -> content lines (one paragraph each) and header metadata (date)."""
    meta: dict = {}
    out: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    for raw in text.split("\n"):
        # one file separates paragraphs with runs of spaces inside a single line
        for piece in _SPACE_RUN.split(raw):
            line = piece.strip(" \t\u3000\u00a0")
            if not line:
                continue
            bare = _BULLET.sub("", line).strip()
            m = _DATE_LINE.match(bare) or _DATE_PUBLISHED.match(bare)
            if m:
                meta.setdefault("date", _norm_date(*m.groups()))
                continue
            if is_boilerplate(line):
                continue
            line = line.lstrip("?？").strip()
            for part in _Q_AFTER_END.split(line):
                if part.strip():
                    out.append(part.strip())
    return _join_broken(out), meta


def _join_broken(lines: list[str]) -> list[str]:
    """Join a long line that stops mid-sentence with the line that continues it."""
    out: list[list[str]] = []  # the pieces of each joined line: joining onto a growing string is quadratic
    length = 0  # of out[-1]'s text
    for line in lines:
        if out:
            # headings are short and end without punctuation; body lines broken by the
            # scraper are long. 40 chars separates the two in practice.
            if (length > 40 and out[-1][-1][-1] not in SENTENCE_END and not HEADING_START.match(line)
                    and _MULTI_MARKER.match(line) is None):
                out[-1].append(line)
                length += len(line)
                continue
        out.append([line])
        length = len(line)
    return ["".join(pieces) for pieces in out]


def split_documents(lines: list[str], meta: dict, source: str) -> list[Document]:
    """Content lines of one file -> one Document per speech.

    A file holding several speeches marks each with "<title> 篇N"; such a file is split
    when at least two numbered markers share one title.
    """
    stem = Path(source).stem
    markers = [(i, m) for i, line in enumerate(lines) if (m := _MULTI_MARKER.match(line))]
    titles = {}
    for _, m in markers:
        titles.setdefault(m["title"].strip(), []).append(int(m["n"]))
    series = max(titles.items(), key=lambda kv: len(kv[1]), default=(None, []))
    if series[0] is not None and len(series[1]) >= 2:
        title = series[0]
        starts = [(i, int(m["n"])) for i, m in markers if m["title"].strip() == title]
        docs = []
        for j, (i, n) in enumerate(starts):
            end = starts[j + 1][0] if j + 1 < len(starts) else len(lines)
            paras = _drop_title_repeats(lines[i + 1:end], title)
            if paras:
                docs.append(Document(id=f"{stem}#{n}", title=title, source=source,
                                     paragraphs=paras, number=n, date=meta.get("date"),
                                     meta=dict(meta, collection=True)))
        return docs
    if not lines:
        return []
    title = lines[0]
    # a title is a short line; a file that starts straight with prose gets its file name
    if len(title) > 60 or title[-1] in "。！？!?；;":
        title, body = stem, lines
    else:
        body = lines[1:]
    paras = _drop_title_repeats(body, title)
    if not paras:
        return []
    return [Document(id=stem, title=title, source=source, paragraphs=paras,
                     date=meta.get("date"), meta=dict(meta))]


def _drop_title_repeats(lines: list[str], title: str) -> list[str]:
    """Scraped pages repeat the title (or the collection title) near the top."""
    key = re.sub(r"\s", "", title)
    out = []
    for k, line in enumerate(lines):
        bare = re.sub(r"\s", "", line)
        if k < 4 and (bare == key or bare.startswith(key + "(精选") or bare.startswith(key + "（精选")):
            continue
        out.append(line)
    return out


def read_file(path: Path, max_bytes: int | None = None) -> list[Document]:
    """Read one corpus file (txt, docx, pdf, html, md) into its speeches, with metadata.

    Raises IngestError naming the file and the reason (``max_bytes``: the size limit)."""
    from .metadata import extract_metadata

    path = Path(path)
    raw = read_raw(path, max_bytes=max_bytes)
    if raw.kind == "txt" and path.suffix.lower() not in TEXT_SUFFIXES:
        # content sniffing recognises a PDF or Word file under any name, but plain text
        # under another extension is either a mislabelled file or not a speech (.json, .py)
        if path.suffix.lower() in (".pdf", ".docx"):
            raise IngestError(f"{path.name}: not a valid {path.suffix[1:].upper()} file "
                              f"(the content is plain text); rename it to .txt if it is a speech")
        raise IngestError(f"{path.name}: unsupported file type {path.suffix}; supported: {SUPPORTED_LABEL}")
    if raw.kind == "txt":
        lines, meta = clean_lines("\n".join(raw.lines))
        docs = split_documents(lines, meta, path.name)
    else:
        docs = _structured_document(raw, path)
    if not docs:
        raise IngestError(f"{path.name}: no speech text found after removing boilerplate")
    for d in docs:
        found = extract_metadata(d.title, d.paragraphs, d.meta)
        d.date = d.date or found.get("date")
        d.meta.update({k: v for k, v in found.items() if k not in d.meta})
        d.meta["format"] = raw.kind
    return docs


def _structured_document(raw, path: Path) -> list[Document]:
    """A docx/pdf/html/md file: its lines are real paragraphs already (no broken-line
    joining), headings are flagged by the format, PDF pages are kept for citations."""
    items = [(line.strip(), raw.pages[i], i in raw.headings) for i, line in enumerate(raw.lines)
             if line.strip() and not is_boilerplate(line)]
    if not items:
        return []
    title = raw.title
    if not title:
        first = items[0][0]
        title = first if len(first) <= 60 and first[-1] not in "。！？!?；;" else path.stem
    key = re.sub(r"\s", "", title)
    # the title line itself (usually first) is not a paragraph
    items = [it for k, it in enumerate(items) if not (k < 4 and re.sub(r"\s", "", it[0]) == key)]
    if not items:
        return []
    meta = dict(raw.meta)
    meta["pages"] = [pg for _, pg, _ in items]
    meta["heading_flags"] = [h for _, _, h in items]
    date = meta.get("date")
    return [Document(id=path.stem, title=title, source=path.name, paragraphs=[t for t, _, _ in items],
                     date=date, meta=meta)]


PENDING = ".pending"
"""The corpus subfolder where a change is staged until its index is current (assistant.corpus)."""


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The files of the corpus folder, sorted; hidden files and folders (a staged change
    under ``.pending`` among them) skipped."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise IngestError(f"corpus folder not found: {corpus_dir}")
    return sorted(p for p in corpus_dir.rglob("*")
                  if p.is_file() and p.name not in ("README.md", "README")
                  and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts))


def corpus_map(corpus_dir: Path) -> dict[str, Path]:
    """The corpus folder's files by name (relative to the folder): what an index is built from."""
    corpus_dir = Path(corpus_dir)
    return {str(p.relative_to(corpus_dir)): p for p in corpus_files(corpus_dir)}


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_corpus(corpus_dir: Path | None = None, max_bytes: int | None = None,
                files: dict[str, Path] | None = None) -> tuple[list[Document], list[str]]:
    """All readable speeches of a folder (or of ``files``: name -> path), and one message
    per file that was skipped."""
    docs: list[Document] = []
    skipped: list[str] = []
    for path in (files.values() if files is not None else corpus_files(corpus_dir)):
        try:
            docs.extend(read_file(path, max_bytes))
        except IngestError as e:
            log.warning("skipped %s", e)
            skipped.append(str(e))
        except OSError as e:
            skipped.append(f"{path.name}: cannot read ({e.strerror or e})")
    return docs, skipped
