"""Text primitives shared by the stages: decoding, sentence ends, squashing."""
from __future__ import annotations

import re

from .errors import IngestError

#: Characters that end a sentence or clause: a line ending in one is not continued by the next.
SENTENCE_END = "。！？!?；;：:…」”』）)】"

_SENTENCE = re.compile(r"[^。！？!?；;]*[。！？!?；;]+[”’」』）)]*|[^。！？!?；;]+$")
_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\u4e00-\u9fff.%％]|_")


def sentences(text: str) -> list[str]:
    """Split at sentence ends (。！？；), keeping the punctuation and closing quotes."""
    return [s for s in _SENTENCE.findall(text) if s.strip()]


def squash(text: str) -> str:
    """``text`` without any whitespace (how gold snippets and pasted text are compared)."""
    return _SPACE.sub("", text)


def bare(text: str) -> str:
    """Letters, digits and Han characters only, lower-cased (figures keep their decimal point and %)."""
    return _NOT_WORD.sub("", text).lower()


def decode_bytes(data: bytes, name: str) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16, else a detected Chinese
    encoding. Refuses binary data and undecodable text instead of producing mojibake."""
    if not data.strip():
        raise IngestError(f"{name}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:  # an odd byte count or a lone surrogate: truncated or damaged
            raise IngestError(f"{name}: damaged UTF-16 text (byte {e.start}: {e.reason}); "
                              f"save it again as UTF-8") from None
    if b"\x00" in data[:4096]:
        raise IngestError(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16", "utf_8"]).best()
    if best is None:
        raise IngestError(f"{name}: cannot detect the text encoding; save it as UTF-8")
    return str(best)
