"""Named types shared by every stage: documents, passages with their citations, results."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    """Retrieval mode: one ranker or both fused."""

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


class Fusion(StrEnum):
    """How hybrid mode combines the rankers (see assistant.search.fuse)."""

    ADAPTIVE = "adaptive"
    ZSCORE = "zscore"
    RRF = "rrf"


class AnswerKind(StrEnum):
    """How the answer above the cards is made."""

    EXTRACTIVE = "extractive"
    """摘录回答: sentences taken from the top passages (no model needed)."""
    LLM = "llm"
    """模型生成: written by a configured LLM, every sentence checked against its citation."""


class LLMBackend(StrEnum):
    """Where generated answers come from."""

    NONE = "none"
    OPENAI = "openai"
    LLAMA = "llama"


class QueryEncoder(StrEnum):
    """What embeds queries: the model exported to ONNX (fp32 or int8), or the model on torch."""

    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"
    TORCH = "torch"


class StoreKind(StrEnum):
    """Where the index keeps its vectors (see assistant.store)."""

    FAISS = "faiss"
    MEMORY = "memory"
    MILVUS = "milvus"


@dataclass
class Document:
    """One speech: title, ordered paragraphs and metadata (ingest's output, chunking's input)."""

    id: str
    title: str
    source: str
    paragraphs: list[str]
    number: int | None = None
    date: str | None = None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a passage comes from, precise enough for a reader to check it."""

    title: str
    source: str
    paragraph: int
    """1-based paragraph number within the speech (the first paragraph of a merged unit)."""
    number: int | None = None
    """篇N when the source file holds several speeches."""
    headings: tuple[str, ...] = ()
    """Full heading texts from the outermost section down."""
    labels: tuple[str, ...] = ()
    """The heading markers (二、 / （三） / 1、) matching ``headings``."""
    date: str | None = None
    part: int | None = None
    """1-based chunk number when a long paragraph was split, else None."""
    parts: int | None = None
    page: int | None = None
    occasion: str | None = None
    """Meeting type from the title ("全镇党员干部大会"), when stated."""
    place: str | None = None
    speaker: str | None = None

    @property
    def speech(self) -> str:
        """The speech label: 《title》 篇N."""
        return f"《{self.title}》" + (f" 篇{self.number}" if self.number else "")

    @property
    def paragraph_label(self) -> str:
        """第N段, with （part/parts） when a long paragraph was split."""
        label = f"第{self.paragraph}段"
        if self.part and self.parts and self.parts > 1:
            label += f"（{self.part}/{self.parts}）"
        return label

    @property
    def file_label(self) -> str:
        """The source file, with 第N页 for a PDF page."""
        return self.source + (f" 第{self.page}页" if self.page else "")

    def __str__(self) -> str:
        """The short form (CLI, API, logs): 《title》 篇N（speaker） · markers · 第N段 · date · file."""
        speech = self.speech + (f"（{self.speaker}）" if self.speaker else "")
        return self._join(speech, "".join(self.labels))

    def detailed(self) -> str:
        """The form on a result card: 《title》 篇N · heading path · 第N段 · date · file (page)."""
        return self._join(self.speech, " › ".join(self.headings))

    def _join(self, speech: str, section: str) -> str:
        bits = [speech, section, self.paragraph_label, self.date or "", self.file_label]
        return " · ".join(b for b in bits if b)

    def quote(self, text: str) -> str:
        """A citable quotation (复制引用): 《title》篇N，heading path，第N段（date，file）：“text”."""
        bits = [f"《{self.title}》" + (f"篇{self.number}" if self.number else "")]
        if self.headings:
            bits.append(" › ".join(self.headings))
        bits.append(self.paragraph_label)
        where = "，".join(x for x in (self.date, self.file_label) if x)
        return "，".join(bits) + f"（{where}）：“{text.strip()}”"


@dataclass(slots=True)
class Passage:
    """One retrievable unit: a paragraph (or a piece of a long one) with its citation."""

    id: str
    doc_id: str
    text: str
    """The text shown to the user."""
    citation: Citation
    position: int
    """Order of the passage within its document (0-based)."""
    context: str = ""
    """Title and heading path, given to the embedder and BM25 but not displayed."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["citation"]["headings"] = list(self.citation.headings)
        d["citation"]["labels"] = list(self.citation.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Passage":
        c = dict(d["citation"])
        c["headings"] = tuple(c.get("headings", ()))
        c["labels"] = tuple(c.get("labels", ()))
        return cls(id=d["id"], doc_id=d["doc_id"], text=d["text"], citation=Citation(**c),
                   position=d["position"], context=d.get("context", ""))


@dataclass(slots=True)
class Hit:
    """A retrieved passage with its score; ``duplicates`` are template copies folded into it."""

    passage: Passage
    score: float
    dense: float | None = None
    bm25: float | None = None
    duplicates: list[Passage] = field(default_factory=list)

    @property
    def citation(self) -> Citation:
        return self.passage.citation

    def to_dict(self) -> dict:
        return {
            "id": self.passage.id,
            "text": self.passage.text,
            "score": round(float(self.score), 6),
            "citation": str(self.citation),
            "title": self.citation.title,
            "number": self.citation.number,
            "headings": list(self.citation.headings),
            "paragraph": self.citation.paragraph,
            "date": self.citation.date,
            "source": self.citation.source,
            "page": self.citation.page,
            "occasion": self.citation.occasion,
            "place": self.citation.place,
            "speaker": self.citation.speaker,
            "dense": None if self.dense is None else round(float(self.dense), 6),
            "bm25": None if self.bm25 is None else round(float(self.bm25), 6),
            "duplicates": [{"id": p.id, "citation": str(p.citation)} for p in self.duplicates],
        }


class Outcome(StrEnum):
    """What a search came to."""

    ANSWERED = "answered"
    """Passages were searched; ``hits`` holds the best (none when a pasted paragraph's own
    passages were all there was)."""
    ABSTAINED = "abstained"
    """The corpus does not answer the question (``reason`` says why)."""
    NO_MATCH = "no_match"
    """The filters match no speech: nothing was searched (``reason`` says so)."""


@dataclass
class SearchResult:
    """What a search returns: ranked hits, an abstention with its reason, or the news that
    the filters match nothing (``outcome``)."""

    query: str
    hits: list[Hit]
    abstained: bool = False
    reason: str = ""
    support: float | None = None
    """Calibrated evidence score the abstention decision was based on."""
    mode: Mode = Mode.HYBRID
    evidence: dict = field(default_factory=dict)
    """The signals behind ``support`` (see assistant.search.judge)."""
    vector: object = field(default=None, repr=False, compare=False)
    """The query's embedding (numpy), kept for answer extraction; not serialized."""
    timings: dict = field(default_factory=dict, repr=False, compare=False)
    """Seconds per pipeline stage ("embed", "DenseRetriever", …); not serialized."""
    index_version: str = ""
    """The build that answered (every response comes from one index, even during a swap)."""
    outcome: Outcome | None = None
    """Derived from ``abstained`` when not given."""

    def __post_init__(self) -> None:
        if self.outcome is None:
            self.outcome = Outcome.ABSTAINED if self.abstained else Outcome.ANSWERED
        self.outcome = Outcome(self.outcome)
        self.abstained = self.outcome == Outcome.ABSTAINED

    @property
    def no_match(self) -> bool:
        """The filters matched no speech."""
        return self.outcome == Outcome.NO_MATCH

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def to_dict(self) -> dict:
        return {"query": self.query, "mode": str(self.mode), "outcome": str(self.outcome),
                "abstained": self.abstained, "reason": self.reason, "support": self.support, "evidence": self.evidence,
                "hits": [h.to_dict() for h in self.hits], "index_version": self.index_version}


@dataclass
class AnswerSentence:
    """One sentence of an answer and the card it cites ([n], 1-based), with the citation check's verdict."""

    text: str
    ref: int | None
    """The card number the sentence cites (its first valid [n]); None when it cites none."""
    passage_id: str | None = None
    start: int | None = None
    """Offset of ``text`` in the cited passage's text when it is taken from it verbatim."""
    supported: bool = True
    support: float = 1.0
    """The check's score: share of the sentence's character bigrams found in its passage."""
    flags: list[str] = field(default_factory=list)
    """Why it is not supported: no_citation, bad_citation, unsupported, quote_not_found."""
    refs: list[int] = field(default_factory=list)
    """Every card number the sentence cites."""

    def to_dict(self) -> dict:
        return {"text": self.text, "ref": self.ref, "refs": self.refs, "passage_id": self.passage_id,
                "start": self.start, "supported": self.supported, "support": round(float(self.support), 4),
                "flags": list(self.flags)}


@dataclass
class Answer:
    """The short answer above the result cards."""

    kind: AnswerKind
    sentences: list[AnswerSentence]
    note: str = ""
    """What the reader should know (the LLM's answer was replaced, the speeches do not say ...)."""
    no_answer: bool = False
    """The answerer found that the passages do not answer the question."""
    model: str = ""
    seconds: float = 0.0
    first_token_seconds: float | None = None
    raw: str = ""
    """The generator's text as it came (LLM answers)."""

    @property
    def text(self) -> str:
        """The answer as plain text, each sentence followed by its [n]."""
        return "".join(s.text + (f"[{s.ref}]" if s.ref else "") for s in self.sentences)

    @property
    def supported_share(self) -> float:
        return sum(s.supported for s in self.sentences) / len(self.sentences) if self.sentences else 1.0

    def to_dict(self) -> dict:
        return {"kind": str(self.kind), "text": self.text, "note": self.note, "no_answer": self.no_answer,
                "model": self.model, "seconds": round(self.seconds, 4),
                "first_token_seconds": None if self.first_token_seconds is None else round(self.first_token_seconds, 4),
                "supported_share": round(self.supported_share, 4),
                "sentences": [s.to_dict() for s in self.sentences]}
