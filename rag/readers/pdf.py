"""PDF through pypdfium2 (PDFium: Apache-2.0/BSD, wheels for every platform).

Chosen on measurements (README → Formats): on the PDFs in /usr/share/doc here, PDFium
extracted 570 pages/s against pypdf's 49, with the same words; it also marks the hyphens
it inserted at line ends (U+FFFE), which pypdf prints as ordinary hyphens.
"""

from __future__ import annotations

import re

from rag.readers.detect import Skip
from rag.readers.document import Builder, Extracted

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_pdf(data: bytes) -> Extracted:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg:
            raise Skip("unreadable", "encrypted PDF (a password is needed); save a decrypted copy") from None
        raise Skip("unreadable", f"corrupt or truncated PDF ({exc})") from None
    try:
        b = Builder()
        for i in range(len(doc)):
            b.page()
            page = doc[i]
            textpage = page.get_textpage()
            try:
                b.block(page_text(textpage.get_text_range()), sep="\n")
            finally:
                textpage.close()
                page.close()
        text = b.text()
        if not text.strip():
            pages = f"{len(doc)} page{'s' if len(doc) != 1 else ''}"
            raise Skip("unreadable", f"no text layer ({pages} of images: scanned?); run OCR first")
        return Extracted(text, "pdf", page_starts=b.page_starts, headings=_outline(doc, text, b.page_starts))
    finally:
        doc.close()


def page_text(raw: str) -> str:
    """PDFium's text of one page as lines: CRLF to LF; the hyphen it found at a line end
    (U+FFFE, the line break then dropped) back to "-" and the break, so lines are the page's
    lines (retrieval joins the word again: rag.textnorm.dehyphenate); other control
    characters as spaces; trailing blanks dropped."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-\n")
    text = _CONTROL.sub(" ", text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _outline(doc, text: str, page_starts: list[int]) -> list[tuple[int, int, str]]:
    """Bookmarks as headings: at the title's first occurrence on its page, else the page start."""
    out = []
    for mark in doc.get_toc(max_depth=6):
        dest = mark.get_dest()
        index = dest.get_index() if dest is not None else None
        title = " ".join((mark.get_title() or "").split())
        if index is None or not title or index >= len(page_starts):
            continue
        start = page_starts[index]
        end = page_starts[index + 1] if index + 1 < len(page_starts) else len(text)
        found = text.find(title, start, end)
        line_start = text.rfind("\n", 0, found) + 1 if found >= 0 else start  # headings begin lines
        out.append((max(line_start, start), mark.level + 1, title[:200]))
    return sorted(out)
