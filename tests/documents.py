"""Real documents in the formats people keep, built by the tests themselves.

fpdf2 writes the PDFs (pages, an outline, a table, a word hyphenated at a line end);
python-docx the Word file; the HTML page is written out. Each carries facts no other test
corpus has, so a citation to them is unambiguous.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

PDF_NAME, HTML_NAME, DOCX_NAME = "lumen-report.pdf", "harbor-ferry.html", "office-move.docx"

# (question, file, page or None, words the cited text must contain)
FACTS = [
    ("How large was the grant from the Helvetic Foundation?", PDF_NAME, 2, "4.2 million euros"),
    ("In how many schools were the Lumen lanterns used by 2025?", PDF_NAME, 3, "310 schools"),
    ("How often does the harbor ferry leave the north pier?", HTML_NAME, None, "every 40 minutes"),
    ("When does the office move to Birch Street?", DOCX_NAME, None, "14 March 2026"),
]


def pdf_bytes(encrypt: str = "", text: bool = True) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if encrypt:
        pdf.set_encryption(owner_password="owner-" + encrypt, user_password=encrypt)
    if not text:  # a "scanned" page: drawings, no text layer
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
        return bytes(pdf.output())
    pdf.add_page()
    pdf.start_section("Overview")
    pdf.multi_cell(0, 8, "Overview\nThe Lumen project builds solar lanterns for rural schools. "
                         "It was founded in 2019 by Ada Okafor in Enugu.")
    pdf.add_page()
    pdf.start_section("Funding")
    # a word broken by a hyphen at a line end, as typeset text has them
    pdf.multi_cell(0, 8, "Funding\nIn 2024 the project received a grant of 4.2 million euros from the Hel-\n"
                         "vetic Foundation for its expansion into Kenya.")
    with pdf.table(col_widths=(60, 60)) as table:
        for row in (("Year", "Budget"), ("2024", "1.1 million"), ("2025", "2.3 million")):
            r = table.row()
            for cell in row:
                r.cell(cell)
    pdf.add_page()
    pdf.start_section("Results")
    pdf.multi_cell(0, 8, "Results\nBy 2025 the lanterns were used in 310 schools across three countries.")
    return bytes(pdf.output())


HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Harbor Ferry Schedule</title>
<script>var tracking = "ferry-tracker-code";</script><style>.nav { color: red }</style></head>
<body><nav><a href="/">Home</a> <a href="/tickets">Buy tickets now</a></nav>
<header>Harbor Authority site header</header>
<article><h1>Harbor Ferry</h1>
<p>The harbor ferry leaves the north pier
every 40 minutes between 6 am and 11 pm.</p>
<h2>Fares</h2><ul><li>Adults pay 3 dollars.</li><li>Children under twelve ride free.</li></ul>
<p>Bicycles are allowed on the lower deck only, and the crossing takes about 25 minutes in calm weather.</p>
</article><footer>Copyright Harbor Authority</footer></body></html>
"""


def docx_bytes() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Office Move Plan", 0)
    d.add_heading("Timeline", 1)
    d.add_paragraph("The office moves to Birch Street on 14 March 2026.")
    d.add_paragraph("Pack personal items by 10 March", style="List Bullet")
    d.add_paragraph("Label monitors with your desk number", style="List Bullet")
    d.add_heading("Parking", 1)
    t = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Level", "Spaces"), ("P1", "40"), ("P2", "65")]):
        t.cell(r, 0).text, t.cell(r, 1).text = a, b
    d.add_paragraph("Parking permits are issued by the front desk.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def write_documents(folder: Path) -> Path:
    """The three good documents."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PDF_NAME).write_bytes(pdf_bytes())
    (folder / HTML_NAME).write_text(HTML, encoding="utf-8")
    (folder / DOCX_NAME).write_bytes(docx_bytes())
    return folder


def write_doc_folder(folder: Path) -> dict[str, str]:
    """Plain text as a documentation folder keeps it; returns name -> a phrase it holds."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"README.api": "The widget API is versioned separately from the library.\n",
             "AUTHORS": "Ada Okafor wrote the lantern firmware.\n",
             "copyright": "Copyright 2026 The Lumen Project. Licensed under the Apache License.\n",
             "NOTES.rst": "Release managers rotate every quarter.\n"}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "changelog.gz").write_bytes(gzip.compress(b"Version 2.1 fixed the battery gauge drift.\n"))
    (folder / "release.txt.gz").write_bytes(gzip.compress(b"Release 2.2 added a solar charge timer.\n"))
    return {**files, "changelog.gz": "battery gauge drift", "release.txt.gz": "solar charge timer"}


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """Files that must be skipped with a reason; returns name -> words the reason holds."""
    folder.mkdir(parents=True, exist_ok=True)
    good = pdf_bytes()
    (folder / "locked.pdf").write_bytes(pdf_bytes(encrypt="secret"))
    (folder / "scanned.pdf").write_bytes(pdf_bytes(text=False))
    (folder / "truncated.pdf").write_bytes(good[: len(good) // 3])
    (folder / "notazip.docx").write_text("I am plain text pretending to be Word.", encoding="utf-8")
    (folder / "bomb.docx").write_bytes(_zip_bomb())
    (folder / "lies.pdf").write_text("<html><body>not a pdf</body></html>", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "data.bin").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (folder / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return {"locked.pdf": "encrypted", "scanned.pdf": "no text layer", "truncated.pdf": "corrupt or truncated",
            "notazip.docx": "not a Word file", "bomb.docx": "zip bomb", "lies.pdf": "not a PDF",
            "image.png": "PNG", "data.bin": "binary", "table.csv": "unsupported format"}


def _zip_bomb() -> bytes:
    """A .docx-shaped zip whose document inflates 1000:1."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<w:document>" + b" " * 30_000_000 + b"</w:document>")
    return buf.getvalue()
