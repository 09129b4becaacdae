"""Document context: the header every chunk is indexed under (file words, title, heading path)."""

from __future__ import annotations

import pytest

from rag.context import DocumentContext, file_words, headings, indexed_text


@pytest.mark.parametrize("name, words", [
    ("ISO-9001_2015.txt", "ISO 9001 2015"),
    ("v4.2.0.md", "v4.2.0"),
    ("grep-3.8.md", "grep 3.8"),
    ("000_5d630dd79f32896f.txt", ""),  # an ordinal and a hash say nothing
    ("docs/expense_policy-2025.txt", "docs expense policy 2025"),
])
def test_file_name_as_words(name, words):
    assert file_words(name) == words


DOC = """Field Handbook

# Tools

1. Safety
   Wear gloves.

Vehicles
--------

Vans are serviced every 12,000 kilometres.

GENERAL TERMS

* Noteworthy changes in release 3.8

Text under an org heading.
"""


def test_heading_kinds_and_levels():
    found = [(h.level, h.text) for h in headings(DOC)]
    assert (1, "Tools") in found and (1, "1. Safety") in found and (2, "Vehicles") in found
    assert (1, "GENERAL TERMS") in found and (1, "Noteworthy changes in release 3.8") in found
    assert not any("Wear gloves" in t or "serviced" in t for _, t in found)


def test_header_carries_title_and_heading_path():
    ctx = DocumentContext("handbook-2025.md", DOC)
    header = ctx.header(DOC.index("Vans are"))
    assert header.startswith("handbook 2025 | Field Handbook") and "Vehicles" in header
    assert "Tools" not in header.split(" | ")[-1]
    assert ctx.header(DOC.index("Text under")).endswith("Noteworthy changes in release 3.8")


def test_indexed_text_puts_the_header_first_and_keeps_the_text():
    assert indexed_text("grep 3.8", "The -P option") == "grep 3.8\nThe -P option"
    assert indexed_text("", "plain") == "plain"


def test_a_first_line_that_is_a_sentence_is_not_the_title():
    """A one-line note became its own title, so its sentence looked like a heading (the
    concurrency test's "canteen serves soup" note was then passed over for another line)."""
    note = DocumentContext("extra.md", "The Harwell depot canteen serves soup on Fridays.\n")
    assert note.title == "" and note.header(0) == "extra"
    assert DocumentContext("a.txt", "Field Handbook\n\nText.").title == "Field Handbook"
    assert DocumentContext("b.txt", "Chapter 1...\n\nText.").title == "Chapter 1..."
    assert DocumentContext("c.md", "# Notes.\n\nText.").title == "Notes."  # a marked heading stays one
