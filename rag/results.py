"""What a question returns: passages, citations, the answer — data, and where each stands.

Kept apart from the renderings (``rag.cite``: text, Markdown) so that retrieval and the
writers depend on plain data, and rendering depends on them, never the other way round.
``to_dict`` is the stable JSON contract (see README).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

REFUSAL = "The corpus does not answer this."
_WS = re.compile(r"\s+")


def one_line(text: str) -> str:
    return _WS.sub(" ", text).strip()


def line_range(a: int, b: int) -> str:
    """``12`` or ``12–14``: the compact form a table cell or a chat label shows."""
    return f"{a}" if a == b else f"{a}–{b}"


def line_label(a: int, b: int) -> str:
    return f"line {a}" if a == b else f"lines {a}–{b}"


def page_label(page: int | None, end_page: int | None) -> str:
    """``p. 3`` / ``pp. 3–4`` for paged formats (PDF); empty for text."""
    if page is None:
        return ""
    return f"p. {page}" if end_page in (None, page) else f"pp. {page}–{end_page}"


class _Located:
    """Where a piece of text stands in a file: what passages and citations share.
    (A mixin of methods only, so both keep their positional field order.)"""

    def _location(self) -> dict:
        return {"file": self.file, "page": self.page, "end_page": self.end_page,
                "start_line": self.start_line, "end_line": self.end_line,
                "text": self.text, "start_char": self.start_char, "end_char": self.end_char}

    @property
    def lines(self) -> str:
        return line_range(self.start_line, self.end_line)

    @property
    def place(self) -> str:
        """``p. 3, lines 12–14`` (paged) or ``lines 12–14``."""
        return ", ".join(x for x in (page_label(self.page, self.end_page),
                                     line_label(self.start_line, self.end_line)) if x)

    @property
    def where(self) -> str:
        return f"{self.file}, {self.place}"


@dataclass
class Passage(_Located):
    id: str
    file: str
    path: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    text: str
    score: float
    also_in: list[dict] = field(default_factory=list)
    page: int | None = None  # 1-based, paged formats only (PDF); lines count the extracted text
    end_page: int | None = None

    def to_dict(self) -> dict:
        return {**self._location(), "score": round(self.score, 6), "also_in": self.also_in}


@dataclass
class Citation(_Located):
    id: int
    file: str
    path: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    text: str  # verbatim: the (extracted) text's characters start_char:end_char
    passage: int = 0  # index into Answer.passages of the passage it came from
    page: int | None = None
    end_page: int | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, **self._location(), "passage": self.passage}


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    evidence: float = 0.0  # the score refusal was decided on (see rag.answer)
    notice: str = ""  # e.g. "the LLM endpoint was down; extractive answer shown"

    def to_dict(self) -> dict:
        return {"question": self.question, "answer": self.answer, "refused": self.refused,
                "citations": [c.to_dict() for c in self.citations],
                "passages": [p.to_dict() for p in self.passages],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
                "evidence": round(self.evidence, 4), "notice": self.notice}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)
