"""Splitting a file into chunks (for retrieval) and sentences (for answers), with exact spans.

Chunks come from LlamaIndex's SentenceSplitter sized in the embedding model's own
word-pieces, so the model reads every chunk whole. Sentences come from the Punkt
tokenizer LlamaIndex bundles, run per paragraph so that hard-wrapped text (one sentence
over several lines) still yields whole sentences whose offsets map back to exact lines.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from rag.corpus import SourceFile

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NEWLINE = re.compile(r"\n")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Span:
    """A piece of one file: text == file.text[start_char:end_char]."""

    text: str
    start_char: int
    end_char: int
    start_line: int
    end_line: int
    para: int = -1  # sentences: where their paragraph starts (units join sentences of one paragraph)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(normalize(self.text).encode("utf-8")).hexdigest()[:16]


def normalize(text: str) -> str:
    """Whitespace- and case-folded text: how near-identical copies are recognised."""
    return _WS.sub(" ", text).strip().lower()


def _span(file: SourceFile, start: int, end: int) -> Span:
    start_line, end_line = file.lines_of(start, end)
    return Span(file.text[start:end], start, end, start_line, end_line)


class Chunker:
    def __init__(self, chunk_size: int, chunk_overlap: int, tokenize: Callable[[str], list]):
        from llama_index.core.node_parser import SentenceSplitter

        self._splitter = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenize
        )

    def chunks(self, file: SourceFile) -> list[Span]:
        from llama_index.core import Document

        doc = Document(text=file.text)
        nodes = self._splitter.get_nodes_from_documents([doc])
        spans, cursor = [], 0
        for node in nodes:
            text = node.get_content()
            start = node.start_char_idx
            if start is None or file.text[start:start + len(text)] != text:
                # The splitter locates chunks with str.find; where it cannot (it
                # rewrote whitespace), find the chunk's first words from our cursor.
                start = _locate(file.text, text, cursor)
            if start is None:
                continue
            end = start + len(text)
            spans.append(_span(file, start, end))
            cursor = start + 1
        return spans


def _locate(text: str, chunk: str, cursor: int) -> int | None:
    head = chunk.strip()[:40]
    pos = text.find(head, max(0, cursor - len(chunk)))
    return None if pos < 0 else pos


def _punkt():
    from llama_index.core.utils import globals_helper

    return globals_helper.punkt_tokenizer


# A line that starts a list item: "- x", "* x", "• x", "1. x", "2) x", "(a) x", "(iv) x", "a) x".
_ITEM = re.compile(r"\n(?=[ \t]*(?:[-*•+]|\d{1,3}[.)]|\([a-zA-Z0-9]{1,4}\)|[a-z][.)])[ \t]+\S)")


# A table row as the readers write it ("cell | cell") or as Markdown does ("| a | b |").
_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$|^[^\n|]*\S \| \S[^\n]*$", re.M)
_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)


def _line_breaks(text: str) -> set[tuple[int, int]]:
    """The newlines around table rows and inside fenced code: a row or a code line is a unit
    of its own ("#define BUFSZ 4096", "P2 | 65"), where Punkt, seeing no full stop, would
    glue a whole table or code block into one sentence."""
    cuts = set()
    for m in _ROW.finditer(text):
        if m.start() > 0 and text[m.start() - 1] == "\n":
            cuts.add((m.start() - 1, m.start()))
        if m.end() < len(text) and text[m.end()] == "\n":
            cuts.add((m.end(), m.end() + 1))
    for m in _FENCE.finditer(text):
        body_start = m.start(2)
        for nl in re.finditer(r"\n", text[m.start():m.end()]):
            pos = m.start() + nl.start()
            if pos >= body_start - 1:
                cuts.add((pos, pos + 1))
    return cuts


def _breaks(text: str, heads) -> list[tuple[int, int]]:
    """(start, end) of the separators between paragraphs: blank lines (or every newline in
    one-paragraph-per-line files), the newline before a list item, and the line ends around
    a heading, so that neither an item nor a heading is glued onto the sentence before it."""
    if _one_paragraph_per_line(text):
        cuts = {(m.start(), m.end()) for m in _NEWLINE.finditer(text)}
    else:
        cuts = {(m.start(), m.end()) for m in _BLANK_LINE.finditer(text)}
        cuts |= {(m.start(), m.end()) for m in _ITEM.finditer(text)}
        cuts |= _line_breaks(text)
        for h in heads:
            end = text.find("\n", h.start)
            if h.start > 0:
                cuts.add((h.start - 1, h.start))
            if end != -1:
                cuts.add((end, end + 1))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(cuts):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def sentences(file: SourceFile) -> list[Span]:
    """Every sentence of the file with exact offsets; single newlines inside a paragraph
    are treated as spaces by Punkt, so wrapped sentences stay whole."""
    from rag.context import file_headings

    tokenizer = _punkt()
    heads = file_headings(file.text, file.structure)
    head_at = {h.start for h in heads}
    out: list[Span] = []
    start = 0
    for s0, e0 in [*_breaks(file.text, heads), (len(file.text), len(file.text))]:
        paragraph = file.text[start:s0]
        # a heading is one unit ("3. Travel"), not two sentences
        pieces = [(0, len(paragraph))] if start in head_at else tokenizer.span_tokenize(paragraph)
        for s, e in pieces:
            s, e = _trim(paragraph, s, e)
            if e - s >= 2:
                sp = _span(file, start + s, start + e)
                out.append(Span(sp.text, sp.start_char, sp.end_char, sp.start_line, sp.end_line, start))
        start = e0
    return out


def _one_paragraph_per_line(text: str) -> bool:
    """Files whose paragraphs are single long lines (like the seeds) use every newline as a
    break, so a heading does not glue onto the sentence below it. Hard-wrapped files
    (lines cut at ~80 columns) almost never have lines past 120 characters."""
    lines = [line for line in text.splitlines() if line.strip()]
    long_lines = sum(len(line) > 120 for line in lines)
    return bool(lines) and long_lines / len(lines) >= 0.15


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e
