"""PDF extraction speed and end-to-end ingest of a PDF folder, each against its floor.

    python bench/formats.py                  # 40 generated PDFs of 25 pages + /usr/share/doc PDFs
    python bench/formats.py --pdfs 10 --pages 10 --repeats 3
    python bench/formats.py --help

Floors, measured in the same run on the same files:
- extraction: pypdfium2's own calls (open, get_textpage().get_text_range() per page), in
  this process — what rag's PDF reader wraps;
- rag's reader: the same files through ``rag.readers.read_document``, i.e. detection, the
  worker process (time/memory bounds, pickling the bytes across) and the text clean-up;
- ingest: ``rag ingest`` of the folder (reading, chunking, embedding, Chroma writes) against
  encoding the same number of texts with the model alone is in bench/run.py; here its
  pages/s is reported next to extraction so the share extraction takes is visible.
Prints a table (medians of --repeats runs) and writes bench/out/formats.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
WORK = ROOT / "bench" / "cache" / "formats"
SYSTEM_PDFS = sorted(Path("/usr/share/doc").glob("**/*.pdf"))[:5]
WORDS = ("solar lantern school grant budget village panel battery charge teacher report district "
         "engineer survey maintenance supplier contract quarter funding expansion").split()


def make_pdfs(folder: Path, n: int, pages: int) -> list[Path]:
    """Deterministic multi-page PDFs with an outline, hard-wrapped prose and numbers."""
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        pdf = FPDF()
        pdf.set_font("helvetica", size=10)
        for p in range(pages):
            pdf.add_page()
            pdf.start_section(f"Section {p + 1}")
            body = " ".join(WORDS[(i * 7 + p * 3 + k) % len(WORDS)] + ("." if k % 13 == 12 else "")
                            for k in range(420))
            pdf.multi_cell(0, 5, f"Section {p + 1}\nReport {i}, page {p + 1}: {body}")
        path = folder / f"report-{i:03d}.pdf"
        pdf.output(str(path))
        out.append(path)
    return out


def raw_extract(paths: list[Path]) -> int:
    import pypdfium2 as pdfium

    pages = 0
    for path in paths:
        doc = pdfium.PdfDocument(str(path))
        for i in range(len(doc)):
            tp = doc[i].get_textpage()
            tp.get_text_range()
            tp.close()
            pages += 1
        doc.close()
    return pages


def rag_extract(paths: list[Path]) -> int:
    from rag.readers import Limits, read_document

    pages = 0
    for path in paths:
        doc, _ = read_document(path, path.name, Limits())
        pages += len(doc.page_starts or [])
    return pages


def timed(fn, *args) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn(*args)
    return time.perf_counter() - t, n


def ingest_s(folder: Path, index: Path) -> float:
    shutil.rmtree(index, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(folder), "--index", str(index), "-q"],
                   check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdfs", type=int, default=40, help="generated PDFs (default 40)")
    ap.add_argument("--pages", type=int, default=25, help="pages per generated PDF (default 25)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per measurement; medians reported (default 5)")
    ap.add_argument("--ingest-repeats", type=int, default=1, help="end-to-end ingests (default 1; each embeds)")
    args = ap.parse_args(argv)
    from rag import offline

    offline.setup()
    shutil.rmtree(WORK, ignore_errors=True)
    generated = make_pdfs(WORK / "generated", args.pdfs, args.pages)
    sets = {"generated": generated}
    if SYSTEM_PDFS:
        sets["/usr/share/doc"] = SYSTEM_PDFS
    rows = []
    rag_extract(generated[:1])  # the worker's start, once, like an ingest pays it once
    for name, paths in sets.items():
        raw = [timed(raw_extract, paths) for _ in range(args.repeats)]
        ours = [timed(rag_extract, paths) for _ in range(args.repeats)]
        pages = raw[0][1]
        raw_s, rag_s = statistics.median(t for t, _ in raw), statistics.median(t for t, _ in ours)
        rows.append({"set": name, "files": len(paths), "pages": pages, "raw_pages_per_s": pages / raw_s,
                     "rag_pages_per_s": pages / rag_s, "rag_over_raw": rag_s / raw_s})
    folder = WORK / "generated"
    ing = statistics.median(ingest_s(folder, WORK / "index") for _ in range(args.ingest_repeats))
    pages = args.pdfs * args.pages
    rows.append({"set": "ingest (generated)", "files": args.pdfs, "pages": pages, "raw_pages_per_s": rows[0]["raw_pages_per_s"],
                 "rag_pages_per_s": pages / ing, "rag_over_raw": (pages / rows[0]["raw_pages_per_s"] and
                                                                 ing / (pages / rows[0]["raw_pages_per_s"]))})
    print(f"| set | files | pages | floor: pypdfium2 pages/s | rag pages/s | rag time / floor |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['files']} | {r['pages']} | {r['raw_pages_per_s']:.0f} | {r['rag_pages_per_s']:.0f} "
              f"| {r['rag_over_raw']:.2f} |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "formats.json").write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
