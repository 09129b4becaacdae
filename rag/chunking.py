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


def sentences(file: SourceFile) -> list[Span]:
    """Every sentence of the file with exact offsets; single newlines inside a paragraph
    are treated as spaces by Punkt, so wrapped sentences stay whole."""
    tokenizer = _punkt()
    out: list[Span] = []
    start = 0
    breaks = _NEWLINE if _one_paragraph_per_line(file.text) else _BLANK_LINE
    for match in [*breaks.finditer(file.text), None]:
        end = match.start() if match else len(file.text)
        paragraph = file.text[start:end]
        for s, e in tokenizer.span_tokenize(paragraph):
            s, e = _trim(paragraph, s, e)
            if e - s >= 2:
                out.append(_span(file, start + s, start + e))
        start = match.end() if match else len(file.text)
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
