"""The ids of chunks and sentences in the index: made and parsed here, and only here.

Ingest makes them; the store parses a sentence's id back into its file and span so that the
answer writer's sentence lookup lists ids by path and filters them itself (rag.store's
``sentences_in``). When the two sides were in two modules they could drift apart, and the
store then fell back, without a word, to a filter that scans the whole collection.

Layouts (``path`` is the file's path as stored, and may itself hold ``#``)::

    chunk     {path}#c{i}:{start_char}-{end_char}:{content_hash}
    sentence  {path}#s{start_char}-{end_char}:{content_hash}

Ids are deterministic: the same text at the same place gets the same id, so a re-run
upserts over what an interrupted run left instead of adding duplicates.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol


class _Span(Protocol):  # rag.chunking.Span
    start_char: int
    end_char: int

    @property
    def content_hash(self) -> str: ...


class SentenceRef(NamedTuple):
    path: str
    start: int
    end: int
    content_hash: str


class ChunkRef(NamedTuple):
    path: str
    i: int
    start: int
    end: int
    content_hash: str


# (?s) and \Z: a path may hold any character, a newline included; the greedy prefix backtracks
# to the last marker, so a '#' inside the path is part of the path.
_SENTENCE = re.compile(r"(?s)(.*)#s(\d+)-(\d+):([0-9a-f]+)\Z")
_CHUNK = re.compile(r"(?s)(.*)#c(\d+):(\d+)-(\d+):([0-9a-f]+)\Z")


def chunk_id(path: str, i: int, span: _Span) -> str:
    return f"{path}#c{i}:{span.start_char}-{span.end_char}:{span.content_hash}"


def sentence_id(path: str, span: _Span) -> str:
    return f"{path}#s{span.start_char}-{span.end_char}:{span.content_hash}"


def parse_sentence_id(id_: str) -> SentenceRef | None:
    """The file and span a sentence id names; None for an id of another layout."""
    m = _SENTENCE.fullmatch(id_)
    if m is None:
        return None
    return SentenceRef(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4))


def parse_chunk_id(id_: str) -> ChunkRef | None:
    """The file, position and span a chunk id names; None for an id of another layout."""
    m = _CHUNK.fullmatch(id_)
    if m is None:
        return None
    return ChunkRef(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5))
