"""HTML for the chat's messages: answers, refusals, errors and cited source windows.

Pure functions over Answer and source windows, with no gradio import, so escaping is
tested in milliseconds. Every piece of text that comes from a user or a corpus file goes
through ``esc``: the chat renders HTML, and a question or a file may contain markup.

Why one line of HTML per message: Gradio's chatbot runs messages through Markdown
first. A message that is a single HTML block (no blank line) is passed through as HTML,
so corpus text is never re-read as Markdown (``*``, ``_``, ``$`` in prices) or LaTeX.
"""

from __future__ import annotations

import html
import re

from rag.cite import clip
from rag.results import REFUSAL, Answer, line_label, one_line, page_label

_CONTROL = dict.fromkeys(c for c in range(32) if c != 9)  # tabs survive; newlines are ours
# What Markdown or LaTeX could still read as syntax if a renderer ever parsed the text.
_MD = str.maketrans({"$": "&#36;", "`": "&#96;", "\\": "&#92;", "*": "&#42;", "_": "&#95;",
                     "[": "&#91;", "]": "&#93;", "|": "&#124;", "~": "&#126;"})
_REF = re.compile(r"\[(\d+)\]")
SHOW_QUESTION_CHARS = 600  # a 100 KB paste is shown clipped, with its length


def esc(text: str) -> str:
    """Text as inert HTML: control characters dropped, markup and Markdown escaped."""
    return html.escape(str(text).translate(_CONTROL), quote=True).translate(_MD)


def question_html(question: str) -> str:
    q = str(question)
    shown = one_line(q.translate(_CONTROL))
    if len(shown) > SHOW_QUESTION_CHARS:
        shown = f"{shown[:SHOW_QUESTION_CHARS]}… ({len(q):,} characters)"
    return f'<div class="rag-q">{esc(shown)}</div>'


def pending_html(text: str = "Searching the corpus…") -> str:
    return f'<div class="rag-msg rag-pending"><span class="rag-spinner"></span>{esc(text)}</div>'


def draft_html(text: str) -> str:
    """A streaming writer's text so far: marked as a draft, since only the final answer's
    sentences have passed the citation check."""
    return (f'<div class="rag-msg rag-pending rag-draft"><span class="rag-spinner"></span>'
            f'<span class="rag-draft-label">Writing (draft, citations are checked when it ends)…</span>'
            f'<div class="rag-text">{esc(one_line(text))}</div></div>')


def error_html(message: str, hint: str = "") -> str:
    tip = f'<div class="rag-hint">{esc(hint)}</div>' if hint else ""
    return f'<div class="rag-msg rag-error"><b>Cannot ask that:</b> {esc(message)}{tip}</div>'


def answer_html(answer: Answer, windows: dict[int, dict | str]) -> str:
    """``windows`` maps a citation id (answers) or a passage index (refusals) to its
    source window from ``Pipeline.source``, or to an error string when it cannot be read."""
    if answer.refused:
        return _refusal_html(answer, windows)
    text = _with_refs(answer.answer)
    parts = [f'<div class="rag-msg rag-answer"><div class="rag-text">{text}</div>']
    if answer.notice:
        parts.append(f'<div class="rag-notice">{esc(answer.notice)}</div>')
    parts.append('<div class="rag-cites">')
    for c in answer.citations:
        label = (f'<span class="rag-num">[{c.id}]</span> <span class="rag-file">{esc(c.file)}</span>'
                 f' <span class="rag-lines">{esc(c.place)}</span>'
                 f' <span class="rag-quote">“{esc(clip(one_line(c.text), 160))}”</span>')
        parts.append(_details(label, windows.get(c.id), c.file, snippet=True))
    parts.append(f'</div>{_meta(answer)}</div>')
    return "".join(parts)


def _with_refs(text: str) -> str:
    """Escaped text with its citation markers [n] styled (split first: esc encodes brackets)."""
    out, last = [], 0
    for m in _REF.finditer(text):
        out += [esc(text[last:m.start()]), f'<sup class="rag-ref">[{m.group(1)}]</sup>']
        last = m.end()
    return "".join(out) + esc(text[last:])


def _refusal_html(answer: Answer, windows: dict) -> str:
    parts = [f'<div class="rag-msg rag-refusal"><div class="rag-text"><span class="rag-icon">∅</span> '
             f'{esc(REFUSAL)}</div>']
    if answer.notice:
        parts.append(f'<div class="rag-notice">Why: {esc(answer.notice)}</div>')
    if answer.passages:
        parts.append('<div class="rag-cites"><div class="rag-sub">Closest passages (not an answer):</div>')
        for i, p in enumerate(answer.passages[:3]):
            label = (f'<span class="rag-file">{esc(p.file)}</span> <span class="rag-lines">{esc(p.place)}</span>'
                     f' <span class="rag-quote">“{esc(clip(one_line(p.text), 140))}”</span>')
            parts.append(_details(label, windows.get(i), p.file))
        parts.append("</div>")
    parts.append(f"{_meta(answer)}</div>")
    return "".join(parts)


def _details(label: str, window: dict | str | None, file: str, snippet: bool = False) -> str:
    shown = snippet_html(window) if snippet else ""
    return f'<details class="rag-cite"><summary>{label}{shown}</summary>{window_html(window, file)}</details>'


SNIPPET_CONTEXT_LINES = 1


def snippet_html(window: dict | str | None) -> str:
    """The cited unit inside its lines, marked, with a line of context either side: shown
    without opening the source, so a reader sees at once what was quoted and around what."""
    if not isinstance(window, dict):
        return ""
    lines = window["lines"]
    inside = [i for i, line in enumerate(lines) if line["in_span"]]
    if not inside:
        return ""
    lo, hi = max(0, inside[0] - SNIPPET_CONTEXT_LINES), min(len(lines), inside[-1] + 1 + SNIPPET_CONTEXT_LINES)
    rows = []
    for line in lines[lo:hi]:
        body = "".join(f"<mark>{esc(p['text'])}</mark>" if p["mark"] else esc(p["text"]) for p in line["parts"])
        rows.append(f'<div class="rag-snip-line">{body or "&nbsp;"}</div>')
    return f'<div class="rag-snippet">{"".join(rows)}</div>'


def window_html(window: dict | str | None, file: str = "") -> str:
    """A source window: file and lines on top, numbered lines, cited text marked."""
    if not isinstance(window, dict):
        return f'<div class="rag-src rag-src-missing">{esc(window or "the source is not available")}</div>'
    span = ", ".join(x for x in (page_label(window.get("page"), window.get("end_page")),
                                 line_label(window["start_line"], window["end_line"])) if x)
    marked = any(p["mark"] for line in window["lines"] for p in line["parts"])
    head = (f'<div class="rag-src-head"><span class="rag-file">{esc(window.get("file", file))}</span>'
            f' · {span}{", cited text highlighted" if marked else ""}'
            f' (showing lines {window["first_line"]}–{window["last_line"]})</div>')
    if window.get("stale"):
        head += '<div class="rag-notice">This file changed since it was indexed: re-index to refresh.</div>'
    rows = []
    for line in window["lines"]:
        body = "".join(f"<mark>{esc(p['text'])}</mark>" if p["mark"] else esc(p["text"]) for p in line["parts"])
        cls = "rag-line rag-in" if line["in_span"] else "rag-line"
        rows.append(f'<div class="{cls}"><span class="rag-ln">{int(line["line"])}</span>'
                    f'<span class="rag-lt">{body or "&nbsp;"}</span></div>')
    return f'<div class="rag-src">{head}<div class="rag-lines-box">{"".join(rows)}</div></div>'


def _meta(answer: Answer) -> str:
    total = answer.timings_ms.get("total")
    took = f" · {total:.0f} ms" if total is not None else ""
    return f'<div class="rag-meta">evidence {answer.evidence:.2f}{took}</div>'


CSS = """
.rag-q { white-space: pre-wrap; word-break: break-word; }
.rag-msg { line-height: 1.5; }
.rag-text { font-size: 1.02em; }
.rag-ref { color: var(--color-accent); font-weight: 600; }
.rag-answer { border-left: 4px solid #2f9e44; padding-left: 10px; }
.rag-refusal { border-left: 4px solid #e8590c; padding-left: 10px; }
.rag-refusal .rag-text { font-style: italic; color: #d9480f; font-weight: 600; }
.rag-icon { font-style: normal; margin-right: 4px; }
.rag-error { border-left: 4px solid #c92a2a; padding-left: 10px; color: #c92a2a; }
.rag-hint { color: var(--body-text-color-subdued); font-size: 0.9em; margin-top: 2px; }
.rag-pending { color: var(--body-text-color-subdued); font-style: italic; }
.rag-draft .rag-text { font-style: normal; margin-top: 4px; }
.rag-draft-label { font-size: 0.85em; }
.rag-spinner { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 6px; border-radius: 50%;
  border: 2px solid currentColor; border-right-color: transparent; animation: rag-spin 0.8s linear infinite; }
@keyframes rag-spin { to { transform: rotate(360deg); } }
.rag-notice { font-size: 0.9em; color: var(--body-text-color-subdued); margin-top: 4px; }
.rag-sub { font-size: 0.9em; margin-top: 8px; color: var(--body-text-color-subdued); }
.rag-cites { margin-top: 8px; }
.rag-cite { margin: 4px 0; border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 2px 8px; }
.rag-cite summary { cursor: pointer; font-size: 0.92em; }
.rag-num { font-weight: 700; color: var(--color-accent); }
.rag-file { font-family: var(--font-mono); font-weight: 600; }
.rag-lines { color: var(--body-text-color-subdued); }
.rag-quote { color: var(--body-text-color-subdued); }
.rag-src { margin: 6px 0 4px 0; font-size: 0.88em; }
.rag-src-head { font-size: 0.95em; margin-bottom: 4px; color: var(--body-text-color-subdued); }
.rag-lines-box { border-radius: 4px; background: var(--background-fill-secondary); padding: 4px 0; max-height: 420px; overflow: auto; }
.rag-line { display: flex; gap: 10px; opacity: 0.6; }
.rag-line.rag-in { opacity: 1; }
.rag-ln { flex: 0 0 3.2em; text-align: right; color: var(--body-text-color-subdued); font-family: var(--font-mono);
  user-select: none; padding-right: 6px; border-right: 1px solid var(--border-color-primary); }
.rag-lt { white-space: pre-wrap; word-break: break-word; flex: 1; }
.rag-src mark { background: #ffe066; color: #000; padding: 0 1px; border-radius: 2px; }
.rag-src-missing { color: #c92a2a; }
.rag-snippet { margin: 4px 0 2px 1.2em; font-size: 0.9em; white-space: pre-wrap; word-break: break-word;
  border-left: 2px solid var(--border-color-primary); padding-left: 8px; }
.rag-snip-line { opacity: 0.75; }
.rag-snippet mark { background: #ffe066; color: #000; padding: 0 1px; border-radius: 2px; }
.rag-meta { font-size: 0.78em; color: var(--body-text-color-subdued); margin-top: 6px; }
"""
