"""Renderings of answers and passages: plain text and Markdown (JSON is ``to_dict``).

Everything a shell prints comes from here, so the CLI, the chat and the eval report quote
citations the same way ("report.pdf, p. 3, lines 12–14").
"""

from __future__ import annotations

import re

from rag.results import REFUSAL, Answer, Passage, one_line


def answer_text(a: Answer) -> str:
    out = [a.answer]
    if a.notice:
        out.append(f"(note: {a.notice})")
    if a.refused:
        out.append("\nClosest passages:")
        out += [f"  - {p.where}: \"{clip(one_line(p.text), 240)}\"" for p in a.passages[:3]]
    else:
        out.append("")
        out += [f"[{c.id}] {c.where}: \"{one_line(c.text)}\"" for c in a.citations]
    return "\n".join(out)


def answer_markdown(a: Answer, heading: bool = True, footnote_prefix: str = "") -> str:
    """Footnote citations with the quoted passage as a blockquote, ready for a report."""
    out = [f"### {one_line(a.question)}\n"] if heading else []
    if a.refused:
        out.append(f"*{REFUSAL}*" + (f" ({a.notice})" if a.notice else "") + "\n")
        out.append("Closest passages:\n")
        out += [f"- **{p.file}**, {p.place}\n\n{quote(p.text, indent='  ')}\n" for p in a.passages[:3]]
        return "\n".join(out)
    body = re.sub(r"\[(\d+)\]", lambda m: f"[^{footnote_prefix}{m.group(1)}]", a.answer)
    out.append(body + "\n")
    if a.notice:
        out.append(f"> *Note: {a.notice}*\n")
    for c in a.citations:
        out.append(f"[^{footnote_prefix}{c.id}]: **{c.file}**, {c.place}:\n\n{quote(c.text, indent='    ')}\n")
    return "\n".join(out)


def render(a: Answer, fmt: str) -> str:
    """``fmt``: text | markdown | json."""
    return {"json": a.to_json, "markdown": lambda: answer_markdown(a), "text": lambda: answer_text(a)}[fmt]()


def quote(text: str, indent: str = "") -> str:
    return "\n".join(f"{indent}> {line}" if line.strip() else f"{indent}>" for line in text.strip().splitlines())


def passages_markdown(question: str, passages: list[Passage]) -> str:
    out = [f"### Passages for: {one_line(question)}\n"]
    for i, p in enumerate(passages, 1):
        out.append(f"{i}. **{p.file}**, {p.place}\n\n{quote(p.text, indent='   ')}\n")
    return "\n".join(out)


def passages_text(passages: list[Passage]) -> str:
    return "\n\n".join(f"[{i}] {p.where} (score {p.score:.4f}):\n{quote(p.text)}"
                       for i, p in enumerate(passages, 1))


def report_markdown(answers: list[Answer], title: str = "rag report") -> str:
    """Many answers, footnotes numbered per question, one source list at the end."""
    parts = [f"# {title}\n"]
    sources: dict[tuple, str] = {}
    for qi, a in enumerate(answers, 1):
        parts.append(answer_markdown(a, footnote_prefix=f"q{qi}-"))
        for c in a.citations:
            sources.setdefault((c.file, c.page or 0, c.start_line, c.end_line), f"- {c.where}")
    if sources:
        parts.append("## Sources\n")
        parts += [v for _, v in sorted(sources.items())]
    return "\n".join(parts) + "\n"


def clip(text: str, n: int) -> str:
    """At most ``n`` characters, an ellipsis marking the cut."""
    return text if len(text) <= n else text[: n - 1] + "…"
