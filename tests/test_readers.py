"""rag.readers on real files built here: what each format yields, and every bad input skipped
with its reason (no model, no index: fast)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from rag.corpus import scan
from rag.readers import Limits, Skip, detect, read_document
from rag.readers.document import Builder
from rag.readers.pdf import page_text
from rag.textnorm import dehyphenate
from tests.documents import (DOCX_NAME, HTML_NAME, PDF_NAME, docx_bytes, pdf_bytes, write_bad_inputs,
                             write_doc_folder, write_documents)

EXT = Limits().extensions


def _read(path: Path, **limits):
    return read_document(path, path.name, Limits(**limits))


def test_pdf_pages_outline_hyphen_and_table(tmp_path):
    doc, digest = _read(write_documents(tmp_path) / PDF_NAME)
    assert doc.kind == "pdf" and len(doc.page_starts) == 3 and doc.page_starts[0] == 0
    # each fact on its own page, and page_of agrees with the page starts
    for phrase, page in (("Ada Okafor", 1), ("4.2 million euros", 2), ("310 schools", 3)):
        assert doc.page_of(doc.text.index(phrase)) == page
    assert [(lvl, t) for _, lvl, t in doc.headings] == [(1, "Overview"), (1, "Funding"), (1, "Results")]
    assert all(doc.text[s:].startswith(t) for s, _, t in doc.headings)  # at the heading line itself
    # the line-end hyphen stays in the text (spans point at it); retrieval reads the word joined
    assert "Hel-\nvetic" in doc.text and "Helvetic Foundation" in dehyphenate(doc.text)
    assert "2024" in doc.text and "1.1 million" in doc.text  # the table's cells
    assert digest == __import__("hashlib").sha256((tmp_path / PDF_NAME).read_bytes()).hexdigest()
    assert _read(tmp_path / PDF_NAME)[0].text == doc.text  # deterministic: quotes can be checked again


def test_pdfium_soft_hyphen_becomes_a_line_break_again():
    assert page_text("struc\ufffetures and\r\nmore\x0c") == "struc-\ntures and\nmore"


def test_html_keeps_the_article_and_drops_navigation_script_and_style(tmp_path):
    doc, _ = _read(write_documents(tmp_path) / HTML_NAME)
    assert doc.kind == "html" and doc.title == "Harbor Ferry Schedule" and doc.page_starts is None
    for gone in ("Buy tickets", "ferry-tracker-code", "color: red", "site header", "Copyright"):
        assert gone not in doc.text
    assert "The harbor ferry leaves the north pier every 40 minutes" in doc.text  # source wrap is a space
    assert "- Adults pay 3 dollars.\n- Children under twelve ride free." in doc.text
    assert [(lvl, t) for _, lvl, t in doc.headings] == [(1, "Harbor Ferry"), (2, "Fares")]


GENERATED_PAGE = """<html><head><title>Manual</title></head><body>
<div class="header"><p>Next: <a href="l.html">Limits</a>, Previous: <a href="g.html">Getting Started</a>,
Up: <a href="i.html">Manual</a> [<a href="x.html">Index</a>]</p></div>
<div class="nav-panel"><p>Next: <a href="l.html">Limits</a> [<a href="c.html">Contents</a>]</p></div>
<div class="sphinxsidebar"><h3>Table of Contents</h3><ul><li><a href="#g">Groups</a></li></ul></div>
<div class="related"><ul><li><a href="p.html">previous</a></li></ul></div>
<div class="toc"><p>Contents</p><ul><li>Groups</li></ul></div>
<h2>Groups<a class="headerlink" href="#g" title="Link to this heading">¶</a></h2>
<dl><dt>scanner</dt><dd>Read access to the scanner devices.</dd>
<dt>daemon</dt><dd><p>Runs as this account.</p></dd></dl>
<p>The end.</p></body></html>"""


def test_generated_navigation_is_not_text_and_a_term_stays_with_its_definition(tmp_path):
    """texinfo's Next/Previous/Up panels, Sphinx's sidebar, bars and permalink marks, and
    tables of contents were indexed and quoted as answers; a definition list's body lost the
    term that names what it defines."""
    page = tmp_path / "manual.html"
    page.write_text(GENERATED_PAGE, encoding="utf-8")
    doc, _ = _read(page)
    for gone in ("Next:", "Previous:", "Table of Contents", "previous", "Contents", "¶"):
        assert gone not in doc.text, gone
    assert [(lvl, t) for _, lvl, t in doc.headings] == [(2, "Groups")]
    assert "scanner\nRead access to the scanner devices." in doc.text
    assert "daemon\nRuns as this account.\n\nThe end." in doc.text


def test_docx_headings_list_items_and_table_rows(tmp_path):
    doc, _ = _read(write_documents(tmp_path) / DOCX_NAME)
    assert doc.kind == "docx" and doc.title == "Office Move Plan"
    assert [t for _, _, t in doc.headings] == ["Office Move Plan", "Timeline", "Parking"]
    assert "- Pack personal items by 10 March\n- Label monitors with your desk number" in doc.text
    assert "Level | Spaces\nP1 | 40\nP2 | 65" in doc.text


def test_a_documentation_folder_is_read_as_text(tmp_path):
    expected = write_doc_folder(tmp_path)
    found = scan([tmp_path], Limits())
    assert not found.skipped
    by_name = {f.name: f.text for f in found.files}
    assert set(by_name) == set(expected)
    for name, phrase in expected.items():
        assert phrase.strip() in by_name[name]


@pytest.mark.parametrize("name,head,kind", [
    ("README", b"Plain words", "text"), ("copyright", b"Format: https", "text"), ("NEWS.old", b"* 1.2", "text"),
    ("notes.md", b"# Title", "markdown"), ("page.htm", b"<html>", "html"), ("report", b"%PDF-1.7\n", "pdf"),
    ("notes.txt.gz", b"\x1f\x8b\x08", "gzip"), ("letter.docx", b"PK\x03\x04", "docx"),
])
def test_detect_reads_by_content_and_name(name, head, kind):
    assert detect(name, head, EXT) == kind


@pytest.mark.parametrize("name,head,category,words", [
    ("photo.txt", b"\x89PNG\r\n\x1a\n", "binary", "PNG"), ("tool", b"\x7fELF\x02", "binary", "ELF"),
    ("archive.zip", b"PK\x03\x04", "binary", "zip"), ("script.py", b"import os", "unsupported", ".py"),
    ("report.pdf", b"<html>", "unreadable", "not a PDF"), ("scan.txt", b"%PDF-1.4", "unreadable", "is a PDF"),
    ("old.doc", b"\xd0\xcf\x11\xe0", "binary", ".docx"),
])
def test_detect_skips_with_a_category_and_reason(name, head, category, words):
    with pytest.raises(Skip) as err:
        detect(name, head, EXT)
    assert err.value.category == category and words in err.value.reason


def test_every_bad_input_is_skipped_with_its_reason_and_the_rest_is_read(tmp_path):
    reasons = write_bad_inputs(tmp_path)
    write_documents(tmp_path)
    found = scan([tmp_path], Limits())
    skipped = {s.name: s for s in found.skipped}
    assert set(skipped) == set(reasons)
    for name, words in reasons.items():
        assert words.lower() in skipped[name].reason.lower(), (name, skipped[name].reason)
        assert "\n" not in skipped[name].reason and "Traceback" not in skipped[name].reason
    assert {f.name for f in found.files} == {PDF_NAME, HTML_NAME, DOCX_NAME}
    assert found.formats() == {"pdf": 1, "html": 1, "docx": 1}


def _heavy_page(path: Path) -> Path:
    """~12 MB of list items: seconds of parsing and hundreds of MB of tree."""
    path.write_text("<html><body><ul>" + "<li>item <b>x</b> y</li>" * 500_000 + "</ul></body></html>",
                    encoding="utf-8")
    return path


def test_a_parser_past_its_time_limit_is_stopped_and_the_next_file_still_read(tmp_path):
    write_documents(tmp_path)
    started = time.monotonic()
    with pytest.raises(Skip) as err:
        _read(_heavy_page(tmp_path / "heavy.html"), timeout_s=0.3)
    assert "extract_timeout_s" in err.value.reason and time.monotonic() - started < 30
    assert _read(tmp_path / DOCX_NAME)[0].kind == "docx"  # a fresh worker took over


def test_a_parser_past_its_memory_limit_is_skipped_not_fatal(tmp_path):
    write_documents(tmp_path)
    with pytest.raises(Skip) as err:
        _read(_heavy_page(tmp_path / "heavy.html"), memory_mb=120)
    assert "memory" in err.value.reason
    assert _read(tmp_path / PDF_NAME)[0].kind == "pdf"


def test_gzip_and_docx_bombs_stop_at_the_size_limit(tmp_path):
    (tmp_path / "huge.txt.gz").write_bytes(gzip.compress(b"a" * 5_000_000))
    with pytest.raises(Skip) as err:
        _read(tmp_path / "huge.txt.gz", max_bytes=1_000_000)
    assert "max_file_bytes" in err.value.reason
    (tmp_path / "big.docx").write_bytes(docx_bytes())
    assert _read(tmp_path / "big.docx")[0].kind == "docx"


def test_a_50_mb_html_page_is_skipped_with_a_reason(tmp_path):
    page = tmp_path / "huge.html"
    with page.open("w", encoding="utf-8") as fh:
        fh.write("<html><body>")
        for _ in range(52_000):
            fh.write("<p>" + "word " * 200 + "</p>")
    found = scan([tmp_path], Limits())
    assert not found.files and "max_file_bytes" in found.skipped[0].reason


def test_builder_offsets_pages_and_headings():
    b = Builder()
    b.page()
    b.block("Title", heading=1)
    b.block("Body one.")
    b.page()
    b.page()  # an empty page
    b.block("Body three.")
    text = b.text()
    assert text == "Title\n\nBody one.\nBody three."
    assert b.headings == [(0, 1, "Title")] and b.page_starts == [0, 17, 17]


def test_an_encrypted_pdf_with_its_password_still_unreadable_without_it(tmp_path):
    (tmp_path / "a.pdf").write_bytes(pdf_bytes(encrypt="pw"))
    with pytest.raises(Skip, match="encrypted"):
        _read(tmp_path / "a.pdf")
