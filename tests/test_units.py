"""Answer units: exact spans for sentences, pairs, lists and paragraphs, also across two
touching passages of one file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.answer.units import build, regions
from rag.chunking import sentences
from rag.results import Passage
from rag.context import DocumentContext
from rag.corpus import SourceFile

TEXT = """Rules

Every technician carries the following tools:
   (a) a torque wrench;
   (b) a multimeter; and
   (c) a ladder.

The council met on Monday. It approved the budget.
"""


def _rows(text: str, name: str = "rules.txt"):
    f = SourceFile(Path("/c/" + name), name, text, "h")
    ctx = DocumentContext(name, text)
    rng = np.random.default_rng(0)
    out = []
    for s in sentences(f):
        v = rng.normal(size=8)
        meta = {"path": str(f.path), "file": name, "start_char": s.start_char, "end_char": s.end_char,
                "start_line": s.start_line, "end_line": s.end_line, "para": s.para, "context": ctx.header(s.start_char)}
        out.append((f"id{s.start_char}", s.text, meta, v / np.linalg.norm(v)))
    return out


def _passage(text: str, start: int, end: int, name: str = "rules.txt") -> Passage:
    return Passage(id=f"p{start}", file=name, path="/c/" + name, start_line=text[:start].count("\n") + 1,
                   end_line=text[:end].count("\n") + 1, start_char=start, end_char=end, text=text[start:end], score=1.0)


def test_units_are_exact_spans_of_the_file():
    units, pool = build([_passage(TEXT, 0, len(TEXT))], _rows(TEXT))
    assert len(pool) == 1
    for u in units:
        assert TEXT[u.meta["start_char"]:u.meta["end_char"]] == u.text
    kinds = {u.kind for u in units}
    assert {"sentence", "pair", "list"} <= kinds


def test_list_unit_is_lead_in_and_all_items():
    units, _ = build([_passage(TEXT, 0, len(TEXT))], _rows(TEXT))
    lists = [u for u in units if u.kind == "list"]
    assert len(lists) == 1 and lists[0].items == 3
    assert lists[0].text.startswith("Every technician") and lists[0].text.endswith("(c) a ladder.")


def test_a_sentence_that_leans_on_the_one_before_gets_a_pair():
    units, _ = build([_passage(TEXT, 0, len(TEXT))], _rows(TEXT))
    assert any(u.kind == "pair" and u.text == "The council met on Monday. It approved the budget." for u in units)


def test_a_list_cut_by_a_chunk_boundary_is_whole_from_two_passages():
    cut = TEXT.index("(b)")
    a, b = _passage(TEXT, 0, cut + 5), _passage(TEXT, cut, len(TEXT))  # overlapping chunks
    assert [(r.start_char, r.end_char) for r in regions([b, a])] == [(0, len(TEXT))]
    units, pool = build([a, b], _rows(TEXT))
    whole = next(u for u in units if u.kind == "list")
    assert whole.items == 3 and TEXT[whole.meta["start_char"]:whole.meta["end_char"]] == whole.text
    host = pool[whole.passage]  # a merged region, added after the two passages
    assert whole.passage == 2 and host.start_char <= whole.meta["start_char"] and whole.meta["end_char"] <= host.end_char
    assert host.text == TEXT[host.start_char:host.end_char]
