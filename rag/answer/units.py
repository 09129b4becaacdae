"""Answer units: the pieces of text an answer is made of, each an exact span of one file.

A sentence alone is often not the answer: "It was approved." names its subject in the
sentence before; "Which three conditions…" is answered by a list of clauses, not by one of
them. So the candidates are sentences, a sentence with the one it leans on, and list
blocks (a lead-in and its items, bullets or "(a) (b) (c)" clauses), each chosen whole.
Every unit's text is the file's characters ``start_char:end_char``: units that join
sentences are sliced from the passage that holds them, never pasted together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.answer.question import stems, words
from rag.results import Passage, one_line

# Punkt leaves "gigawatt.That kind of..." (a missing space in the source) as one sentence.
_GLUED = re.compile(r"(?<=[a-z0-9%)\]”\"][.!?])(?=[A-Z“\"‘][a-z])")
_BULLET = re.compile(r"^[\-–•*]\s+")
ITEM = re.compile(r"^\s*(?:[-*•+–]|\d{1,3}[.)]|\([a-zA-Z0-9]{1,4}\)|[a-z][.)])\s+\S"
                  # a definition-list or table row: a short term, two or more spaces, its text
                  # ("-S     sort by file size", "127    if the command is not found")
                  r"|^\s*\S{1,24}(?: \S{1,24})?[ \t]{2,}\S"
                  # a table row ("P2 | 65", "| port | 8080 |"): rows run together as a list unit
                  r"|^\s*\|.*\|\s*$|^[^|\n]*\S \| \S")
# A sentence that names its subject only through the one before it.
ANAPHOR = re.compile(r"^(?:This|That|These|Those|It|Its|They|Their|Them|He|She|His|Her|Such|Here|There|"
                     r"The same|Both|Each|Also|So|Thus|Then|Instead)\b")
MAX_LIST_ITEMS = 12
# Text addressed to an AI rather than to a reader: a planted "ignore previous instructions".
# Such sentences are never quoted as answers nor shown to the LLM writer as passages.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules|context)\b"
    r"|\b(?:system prompt|you are (?:now )?(?:an? )?(?:ai|assistant|chatbot|language model))\b"
    r"|\b(?:answer|reply|respond|say|output)\s+(?:only\s+|with\s+|exactly\s+)*['\"“‘][^'\"”’]{1,40}['\"”’]", re.I)


def is_instruction(text: str) -> bool:
    return bool(_INSTRUCTION.search(text))


@dataclass
class Unit:
    text: str  # == the file's characters meta["start_char"]:meta["end_char"]
    meta: dict  # path, file, start/end char and line, context (the document header)
    vector: np.ndarray
    passage: int  # index of the pool passage holding it (its retrieval rank); merged regions after the pool
    kind: str = "sentence"  # sentence | pair | list | paragraph
    items: int = 0  # list items in a list unit
    stems: set = field(default_factory=set)
    header_stems: set = field(default_factory=set)
    around: set = field(default_factory=set)  # stems of the sentences either side
    region: int = -1  # index of the merged region (touching passages of one file) it lies in

    @property
    def key(self) -> tuple:
        return self.meta["path"], self.meta["start_char"], self.meta["end_char"]


def split_glued(text: str, meta: dict) -> list[tuple[str, dict]]:
    """Sub-sentences with exact spans: where the source lacks a space after a full stop, and
    without a leading bullet marker. Offsets stay verbatim: text == file[start:end]."""
    pieces, start = [], 0
    for m in _GLUED.finditer(text):
        pieces.append((start, m.start()))
        start = m.start()
    pieces.append((start, len(text)))
    out = []
    for s, e in pieces:
        piece = text[s:e]
        lead = len(piece) - len(piece.lstrip())
        b = _BULLET.match(piece[lead:])
        lead += b.end() if b else 0  # "- x": the quote starts at x; the unit remembers it was an item
        piece = piece[lead:].rstrip()
        if len(piece) < 2:
            continue
        s += lead
        m = dict(meta)
        m["item"] = bool(b) or bool(ITEM.match(piece))
        m["start_char"] = meta["start_char"] + s
        m["end_char"] = m["start_char"] + len(piece)
        m["start_line"] = meta["start_line"] + text[:s].count("\n")
        m["end_line"] = m["start_line"] + piece.count("\n")
        out.append((piece, m))
    return out


def _host(passages: list[Passage], path: str, start: int, end: int) -> int:
    return next((i for i, p in enumerate(passages) if p.path == path and p.start_char <= start
                 and end <= p.end_char), len(passages))


def regions(passages: list[Passage]) -> list[Passage]:
    """Passages of one file that overlap or touch, merged: a list or a paragraph cut by a chunk
    boundary is whole again when both chunks were retrieved. Text stays the file's own: the
    second passage contributes only what lies past the first's end."""
    out: list[Passage] = []
    for p in sorted(passages, key=lambda p: (p.path, p.start_char)):
        last = out[-1] if out else None
        if last is not None and last.path == p.path and p.start_char <= last.end_char:
            if p.end_char > last.end_char:
                text = last.text + p.text[last.end_char - p.start_char:]
                out[-1] = Passage(id=f"{last.id}+{p.id}", file=p.file, path=p.path, start_line=last.start_line,
                                  end_line=p.end_line, start_char=last.start_char, end_char=p.end_char, text=text,
                                  score=max(last.score, p.score), page=last.page, end_page=p.end_page)
            continue
        out.append(p)
    return out


def _sentences(passages: list[Passage], spans: list[Passage], rows) -> list[Unit]:
    """The stored sentences inside the pool, de-glued, each once (001 repeats paragraphs)."""
    seen, out = set(), []
    pieces = [(piece, m, np.asarray(vec, dtype=np.float32))
              for _id, text, meta, vec in rows for piece, m in split_glued(text, meta)]
    pieces.sort(key=lambda x: (x[1]["path"], x[1]["start_char"]))
    for piece, m, vector in pieces:
        if is_instruction(piece):
            continue  # corpus text is data: an instruction in it is not evidence
        key = one_line(piece).lower()
        if key in seen:
            continue
        seen.add(key)
        unit = Unit(piece, m, vector, _host(passages, m["path"], m["start_char"], m["end_char"]),
                    stems=stems(piece), header_stems=stems(m.get("context", "")),
                    region=_host(spans, m["path"], m["start_char"], m["end_char"]))
        out.append(unit)
    return out


class _Pool:
    """The retrieved passages, their merged regions, and the merged regions a unit needed
    (added after the passages, so a citation always lies inside the passage it points to)."""

    def __init__(self, passages: list[Passage]):
        self.passages = list(passages)
        self.spans = regions(passages)
        self.extra: list[Passage] = []

    def owner(self, start_passage: int, region: int, s: int, e: int) -> int:
        if region >= len(self.spans):  # in no passage at all (sentences_in returns none such)
            return start_passage
        if start_passage < len(self.passages):
            p = self.passages[start_passage]
            if p.start_char <= s and e <= p.end_char:
                return start_passage
        r = self.spans[region]
        if r not in self.extra:
            self.extra.append(r)
        return len(self.passages) + self.extra.index(r)


def _join(a: Unit, b: Unit, pool: _Pool, kind: str, items: int = 0, members=None) -> Unit | None:
    """One unit from a's start to b's end, sliced verbatim from the region holding both."""
    if a.meta["path"] != b.meta["path"] or a.region != b.region or a.region >= len(pool.spans):
        return None
    p = pool.spans[a.region]
    s, e = a.meta["start_char"], b.meta["end_char"]
    if not (p.start_char <= s < e <= p.end_char):
        return None
    text = p.text[s - p.start_char:e - p.start_char]
    meta = dict(a.meta)
    meta.update(end_char=e, end_line=b.meta["end_line"])
    vecs = np.stack([m.vector for m in (members or [a, b])])
    v = vecs.mean(axis=0)
    return Unit(text, meta, v / (np.linalg.norm(v) or 1.0), pool.owner(a.passage, a.region, s, e), kind, items,
                stems=stems(text), header_stems=a.header_stems, region=a.region)


def _adjacent(a: Unit, b: Unit, pool: _Pool) -> str | None:
    """The text between two sentences of one region, or None if they are not neighbours."""
    if a.meta["path"] != b.meta["path"] or a.region != b.region or a.region >= len(pool.spans):
        return None
    p = pool.spans[a.region]
    gap = p.text[a.meta["end_char"] - p.start_char:b.meta["start_char"] - p.start_char]
    return gap if not gap.strip() else None


def _leans_on(prev: Unit, cur: Unit, gap: str) -> bool:
    """cur names its subject through prev: a pronoun or connective start, a lead-in ending
    in ':', or two short pieces (a heading-like line and its sentence)."""
    if "\n\n" in gap and not prev.text.rstrip().endswith(":"):
        return False
    return bool(ANAPHOR.match(cur.text)) or prev.text.rstrip().endswith(":") \
        or len(words(cur.text)) < 6 or len(words(prev.text)) < 6


def build(passages: list[Passage], rows) -> tuple[list[Unit], list[Passage]]:
    """Every candidate unit of the pool (sentences, dependent pairs, list blocks, short
    paragraphs), and the pool extended by the merged regions that some units span."""
    pool = _Pool(passages)
    sents = _sentences(passages, pool.spans, rows)
    out = list(sents)
    for prev, cur in zip(sents, sents[1:]):
        gap = _adjacent(prev, cur, pool)
        if gap is not None and _leans_on(prev, cur, gap):
            pair = _join(prev, cur, pool, "pair")
            if pair is not None:
                out.append(pair)
    out += _lists(sents, pool)
    out += _paragraphs(sents, pool)
    for i, u in enumerate(sents):  # neighbours' words: the context a sentence is read in
        for j in (i - 1, i + 1):
            if 0 <= j < len(sents) and sents[j].meta["path"] == u.meta["path"] \
                    and abs(sents[j].meta["start_char"] - u.meta["start_char"]) < 1200:
                u.around |= sents[j].stems
    return out, pool.passages + pool.extra


MAX_PARAGRAPH_SENTENCES = 4
MAX_PARAGRAPH_WORDS = 90


def _paragraphs(sents: list[Unit], pool: _Pool) -> list[Unit]:
    """A short paragraph (a changelog entry, an FAQ answer) whole: its facts are often spread
    over two or three sentences. Pairs already cover two; this covers three and more."""
    out, run = [], []
    for u in [*sents, None]:
        same = u is not None and run and u.meta.get("para", -1) >= 0 \
            and u.meta.get("para") == run[-1].meta.get("para") and u.meta["path"] == run[-1].meta["path"] \
            and _adjacent(run[-1], u, pool) is not None
        if same:
            run.append(u)
            continue
        if 3 <= len(run) <= MAX_PARAGRAPH_SENTENCES and sum(len(words(r.text)) for r in run) <= MAX_PARAGRAPH_WORDS:
            unit = _join(run[0], run[-1], pool, "paragraph", members=run)
            if unit is not None:
                out.append(unit)
        run = [u] if u is not None else []
    return out


def is_heading(u: Unit) -> bool:
    """The unit is its own section's heading (its text is the last part of its header)."""
    header = u.meta.get("context", "")
    return bool(header) and len(u.text) <= 160 \
        and header.rsplit(" | ", 1)[-1].strip() in u.text.strip().lstrip("#* ")


def _item(u: Unit) -> bool:
    return bool(u.meta.get("item")) and not is_heading(u)  # "2. Vehicles" heads a section


def _lists(sents: list[Unit], pool: _Pool) -> list[Unit]:
    """Runs of list items (with the lead-in before them when there is one) as one unit."""
    out, i = [], 0
    while i < len(sents):
        if not _item(sents[i]):
            i += 1
            continue
        j = i
        while j + 1 < len(sents) and j - i + 1 < MAX_LIST_ITEMS and _item(sents[j + 1]) \
                and _adjacent(sents[j], sents[j + 1], pool) is not None:
            j += 1
        first = i
        if i > 0 and _adjacent(sents[i - 1], sents[i], pool) is not None and not _item(sents[i - 1]):
            first = i - 1  # the lead-in ("Employees may claim:")
        n_items = j - i + 1
        if n_items >= 2 or first < i:
            unit = _join(sents[first], sents[j], pool, "list", n_items, sents[first:j + 1])
            if unit is not None:
                out.append(unit)
        i = j + 1
    return out
