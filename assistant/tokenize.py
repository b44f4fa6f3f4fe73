"""Chinese tokenization shared by BM25, abstention, dedupe and highlighting.

jieba in search mode (a long word also yields its parts, so "人大代表" matches "人大"
and "代表"), a user dictionary of government terms kept in the repo plus the quoted
terms of the corpus itself, stopwords removed, figures kept whole ("6.25亿元", "80.5%"),
traditional characters folded to simplified, Latin text lower-cased.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*(?:%|％|[多余]?(?:亿元|万元|千元|元|亿|万|亩|人|名|个|所|家|处|条|次|户|斤|株|吨|公里|立方米|平方米|千瓦|倍|岁|天|年|月|日))?")
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_QUOTED = re.compile(r"[“\"「『]([\u4e00-\u9fffA-Za-z0-9]{2,8})[”\"」』]")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(w.strip() for w in (DATA / "stopwords.txt").read_text("utf-8").splitlines() if w.strip())


@lru_cache(maxsize=1)
def _t2s():
    try:
        import opencc
    except ImportError:  # optional: without it traditional text is matched as is
        log.info("opencc not installed; traditional characters are not converted")
        return None
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _userdict() -> tuple[str, ...]:
    return tuple(line.split()[0] for line in (DATA / "userdict.txt").read_text("utf-8").splitlines() if line.split())


@lru_cache(maxsize=1)
def place_names() -> frozenset[str]:
    """Words jieba's own dictionary tags as place names (ns): 浙江, 潍坊, 四中. Read once, on
    first use (about 0.2 s); empty when the file cannot be read."""
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as e:
        log.info("cannot read jieba's dictionary %s (%s): no place names", path, e)
        return frozenset()
    return frozenset(p[0] for p in (line.split() for line in lines) if len(p) == 3 and p[2] == "ns" and len(p[0]) >= 2)


def userdict_words() -> list[str]:
    """The words of the project dictionary (for an analyzer elsewhere, e.g. Milvus's jieba)."""
    return list(_userdict())


def symbols(texts: Iterable[str]) -> set[str]:
    """The characters of ``texts`` that are no part of a word (punctuation, symbols, spaces):
    this tokenizer drops a token made of them; an analyzer elsewhere needs them as stopwords."""
    return {c for t in texts for c in set(t) if not _WORDLIKE.match(c)}


def to_simplified(text: str) -> str:
    """Fold traditional characters to simplified (no-op without opencc)."""
    cc = _t2s()
    return cc.convert(text) if cc else text


def quoted_terms(texts: Iterable[str]) -> list[str]:
    """Short terms the speeches put in quotes (“三净”, “一事一议”): the corpus's own jargon."""
    seen: dict[str, int] = {}
    for t in texts:
        for m in _QUOTED.finditer(t):
            seen[m.group(1)] = seen.get(m.group(1), 0) + 1
    return sorted(seen)


@lru_cache(maxsize=1)
def _base_jieba():
    """A jieba tokenizer with the project dictionary, its prefix dictionary from a fast cache."""
    import jieba

    t = jieba.Tokenizer()
    t.FREQ, t.total = _prefix_dictionary()
    t.initialized = True
    return t


def _prefix_dictionary() -> tuple[dict, int]:
    """jieba's prefix dictionary (every word and word prefix with its count) with the project's
    user dictionary added, cached as plain text + a numpy array of counts in the temp folder.

    jieba's own start-up unmarshals its cache from a file object, about 1.3 s here; reading
    this one takes about 0.3 s, and it holds only words and numbers (nothing that runs)."""
    import tempfile

    import jieba
    import numpy as np

    dict_file = Path(jieba.__file__).with_name("dict.txt")
    key = hashlib.sha256(f"{jieba.__version__}|{dict_file.stat().st_size}|".encode()
                         + (DATA / "userdict.txt").read_bytes()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"assistant-jieba-{key}"
    try:
        words = (folder / "words.txt").read_text("utf-8").split("\n")
        counts = np.load(folder / "counts.npy", allow_pickle=False)
        if len(counts) == len(words) + 1:
            return dict(zip(words, counts[:-1].tolist())), int(counts[-1])
    except (OSError, ValueError) as e:
        log.debug("building jieba's prefix dictionary cache (%s)", e)
    t = jieba.Tokenizer()
    t.initialize()
    t.load_userdict(str(DATA / "userdict.txt"))
    _save_prefix_dictionary(folder, t.FREQ, t.total)
    return t.FREQ, t.total


def _save_prefix_dictionary(folder: Path, freq: dict, total: int) -> None:
    import numpy as np

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        (tmp / "words.txt").write_text("\n".join(freq), "utf-8")
        np.save(tmp / "counts.npy", np.array([*freq.values(), total], dtype=np.int64))
        for name in ("words.txt", "counts.npy"):
            os.replace(tmp / name, folder / name)
        tmp.rmdir()
    except OSError as e:  # a read-only temp folder only costs start-up time
        log.info("cannot cache jieba's dictionary in %s (%s)", folder, e)


class Tokenizer:
    """A jieba tokenizer with the project dictionary; callable on a text."""

    def __init__(self, extra_words: Iterable[str] = ()):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        base = _base_jieba()
        # a private copy of the prepared dictionary: loading jieba's dictionary costs ~0.7 s,
        # copying its frequency table a few ms, and corpus terms must not leak between indexes
        self._jieba = jieba.Tokenizer()
        self._jieba.FREQ = dict(base.FREQ)
        self._jieba.total = base.total
        self._jieba.initialized = True
        self._lock = threading.Lock()
        self.extra_words = sorted(set(extra_words))
        for w in self.extra_words:
            self._jieba.add_word(w, freq=300)
        self._stop = stopwords()

    def frequency(self, word: str) -> int:
        """How often jieba's dictionary has ``word`` (0: not a dictionary word). Place and
        person names are rare or absent; common words run to thousands."""
        return int(self._jieba.FREQ.get(word, 0) or 0)

    def words(self, text: str) -> list[str]:
        """Segmented words in order (precise mode), punctuation dropped; for highlighting."""
        with self._lock:
            return [w for w in self._jieba.cut(text) if _WORDLIKE.search(w)]

    def __call__(self, text: str, keep_stopwords: bool = False) -> list[str]:
        """Search-mode tokens for BM25: words, their sub-words, and whole figures."""
        text = to_simplified(text).lower()
        with self._lock:
            toks = list(self._jieba.cut_for_search(text))
        out = [t.strip() for t in toks]
        out = [t for t in out if t and _WORDLIKE.search(t) and (keep_stopwords or t not in self._stop)]
        # figures with their unit as one token, so "6.25亿元" outranks any "6.25"
        out.extend(m.group(0) for m in _FIGURE.finditer(text) if not m.group(0).isdigit() or len(m.group(0)) >= 3)
        return out

    def content_terms(self, text: str) -> list[str]:
        """Distinct query terms that carry meaning (stopwords and single characters dropped)."""
        seen: list[str] = []
        for t in self(text):
            if (len(t) >= 2 or t.isdigit()) and t not in seen:
                seen.append(t)
        return seen
