"""The answer's data types and their three renderings: text, JSON, Markdown.

Everything a shell shows comes from here, so the CLI, the chat and the eval report quote
citations the same way. The JSON shape is a stable contract (see README).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

REFUSAL = "The corpus does not answer this."
_WS = re.compile(r"\s+")


def one_line(text: str) -> str:
    return _WS.sub(" ", text).strip()


class _Located:
    """Where a piece of text stands in a file: the renderings passages and citations share.
    (A mixin of methods only, so both keep their positional field order.)"""

    def _location(self) -> dict:
        return {"file": self.file, "start_line": self.start_line, "end_line": self.end_line,
                "text": self.text, "start_char": self.start_char, "end_char": self.end_char}

    @property
    def lines(self) -> str:
        return _lines(self.start_line, self.end_line)

    @property
    def where(self) -> str:
        return f"{self.file}, {_line_label(self.start_line, self.end_line)}"


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
    text: str  # verbatim: file[start_char:end_char]
    passage: int = 0  # index into Answer.passages of the passage it came from

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

    def to_text(self) -> str:
        out = [self.answer]
        if self.notice:
            out.append(f"(note: {self.notice})")
        if self.refused:
            out.append("\nClosest passages:")
            out += [f"  - {p.where}: \"{_clip(one_line(p.text), 240)}\"" for p in self.passages[:3]]
        else:
            out.append("")
            out += [f"[{c.id}] {c.where}: \"{one_line(c.text)}\"" for c in self.citations]
        return "\n".join(out)

    def to_markdown(self, heading: bool = True, footnote_prefix: str = "") -> str:
        """Footnote citations with the quoted passage as a blockquote, ready for a report."""
        out = [f"### {one_line(self.question)}\n"] if heading else []
        if self.refused:
            out.append(f"*{REFUSAL}*" + (f" ({self.notice})" if self.notice else "") + "\n")
            out.append("Closest passages:\n")
            out += [f"- **{p.file}**, {_line_label(p.start_line, p.end_line)}\n\n{quote(p.text, indent='  ')}\n"
                    for p in self.passages[:3]]
            return "\n".join(out)
        body = re.sub(r"\[(\d+)\]", lambda m: f"[^{footnote_prefix}{m.group(1)}]", self.answer)
        out.append(body + "\n")
        if self.notice:
            out.append(f"> *Note: {self.notice}*\n")
        for c in self.citations:
            out.append(f"[^{footnote_prefix}{c.id}]: **{c.file}**, {_line_label(c.start_line, c.end_line)}:\n\n"
                       f"{quote(c.text, indent='    ')}\n")
        return "\n".join(out)


def quote(text: str, indent: str = "") -> str:
    return "\n".join(f"{indent}> {line}" if line.strip() else f"{indent}>" for line in text.strip().splitlines())


def passages_markdown(question: str, passages: list[Passage]) -> str:
    out = [f"### Passages for: {one_line(question)}\n"]
    for i, p in enumerate(passages, 1):
        out.append(f"{i}. **{p.file}**, {_line_label(p.start_line, p.end_line)}\n\n{quote(p.text, indent='   ')}\n")
    return "\n".join(out)


def passages_text(passages: list[Passage]) -> str:
    return "\n\n".join(f"[{i}] {p.where} (score {p.score:.4f}):\n{quote(p.text)}"
                       for i, p in enumerate(passages, 1))


def report_markdown(answers: list[Answer], title: str = "rag report") -> str:
    """Many answers, footnotes numbered per question, one source list at the end."""
    parts = [f"# {title}\n"]
    sources: dict[tuple, str] = {}
    for qi, a in enumerate(answers, 1):
        parts.append(a.to_markdown(footnote_prefix=f"q{qi}-"))
        for c in a.citations:
            sources.setdefault((c.file, c.start_line, c.end_line), f"- {c.where}")
    if sources:
        parts.append("## Sources\n")
        parts += [v for _, v in sorted(sources.items())]
    return "\n".join(parts) + "\n"


def _lines(a: int, b: int) -> str:
    return f"{a}" if a == b else f"{a}–{b}"


def _line_label(a: int, b: int) -> str:
    return f"line {a}" if a == b else f"lines {a}–{b}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


__all__ = ["Answer", "Citation", "Passage", "REFUSAL", "asdict"]
