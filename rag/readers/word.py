"""Word (.docx) through python-docx: headings from styles, list items, tables as rows."""

from __future__ import annotations

import io
import re
import zipfile

from rag.readers.detect import Skip
from rag.readers.document import Builder, Extracted

_HEADING = re.compile(r"^heading (\d)$", re.I)
MAX_RATIO = 200  # a zip member inflating more than this is a bomb, not a document


def read_docx(data: bytes, max_bytes: int) -> Extracted:
    _check_zip(data, max_bytes)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several types for broken packages
        raise Skip("unreadable", f"not a readable Word document ({type(exc).__name__}: {str(exc)[:120]})") from None
    b = Builder()
    title = ""
    last_list = False
    for el in doc.element.body.iterchildren():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(el, doc)
            style = (p.style.name if p.style is not None else "") or ""
            level = _level(style)
            listed = _is_list(p, style)
            if style.lower() == "title" and not title:
                title = p.text.strip()
            b.block(("- " if listed else "") + p.text, sep="\n" if listed and last_list else "\n\n", heading=level)
            last_list = listed and bool(p.text.strip())
        elif tag == "tbl":
            rows = _rows(Table(el, doc))
            for i, row in enumerate(rows):
                b.block(row, sep="\n" if i else "\n\n")
            last_list = False
    text = b.text()
    if not text.strip():
        raise Skip("unreadable", "empty (no text to index)")
    return Extracted(text, "docx", headings=b.headings, title=title)


def _level(style: str) -> int:
    m = _HEADING.match(style.strip())
    return int(m.group(1)) if m else 1 if style.strip().lower() == "title" else 0


def _is_list(p, style: str) -> bool:
    ppr = p._p.pPr
    return style.lower().startswith("list") or (ppr is not None and ppr.numPr is not None)


def _rows(table) -> list[str]:
    """Each row as "cell | cell"; a merged cell (repeated by python-docx) once."""
    out = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            t = " ".join(cell.text.split())
            if t and (not cells or cells[-1] != t):
                cells.append(t)
        if cells:
            out.append(" | ".join(cells))
    return out


def _check_zip(data: bytes, max_bytes: int) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Skip("unreadable", "not a Word file (not a valid zip archive)") from None
    infos = zf.infolist()
    if "word/document.xml" not in {i.filename for i in infos}:
        raise Skip("unreadable", "a zip archive but not a Word document (no word/document.xml)")
    total = sum(i.file_size for i in infos)
    worst = max((i.file_size / max(i.compress_size, 1) for i in infos), default=0)
    if total > max_bytes or worst > MAX_RATIO:
        raise Skip("unreadable", f"zip bomb? it inflates to {total} bytes (ratio {worst:.0f}:1); "
                                 f"limits: max_file_bytes {max_bytes}, ratio {MAX_RATIO}:1")
