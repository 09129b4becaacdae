"""Finding corpus files, reading them through ``rag.readers``, mapping characters to lines.

Knows nothing of Chroma or models. Every file that is not indexed is reported with its
category and reason rather than stopping the run: one bad file must not cost the user the
others, and a user must see what was left out ("5 skipped: 3 binary, 2 unsupported format").
"""

from __future__ import annotations

import bisect
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError
from rag.readers import Extracted, Limits, Opened, Skip, extract, open_document, read_document

SKIP_LABELS = {"binary": "binary", "unsupported": "unsupported format", "unreadable": "unreadable"}


@dataclass
class Skipped:
    name: str
    reason: str
    category: str = "unreadable"  # binary | unsupported | unreadable (see rag.readers.detect)


@dataclass
class SourceFile:
    path: Path  # absolute and resolved: the file's identity in the index
    name: str  # relative to the corpus root it was found under: what citations show
    text: str  # the extracted text: what is indexed, quoted and counted in lines
    sha256: str  # of the file's bytes: what incremental ingest compares
    kind: str = "text"  # text | markdown | pdf | html | docx
    page_starts: list[int] | None = None  # paged formats: character where each page starts
    structure: list | None = None  # headings the format marks (HTML h1–h6, Word styles, PDF outline)
    title: str = ""
    _line_starts: list[int] | None = field(default=None, repr=False)

    def line_of(self, char: int) -> int:
        """1-based line holding character ``char``."""
        if self._line_starts is None:
            self._line_starts = line_starts(self.text)
        return bisect.bisect_right(self._line_starts, char)

    def lines_of(self, start: int, end: int) -> tuple[int, int]:
        """Line range of the span [start, end); ``end`` is exclusive."""
        return self.line_of(start), self.line_of(max(start, end - 1))

    def pages_of(self, start: int, end: int) -> tuple[int | None, int | None]:
        """1-based page range of the span, or (None, None) for formats without pages."""
        if not self.page_starts:
            return None, None
        first = bisect.bisect_right(self.page_starts, start)
        return max(first, 1), max(bisect.bisect_right(self.page_starts, max(start, end - 1)), 1)


@dataclass
class Scan:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def formats(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.files))


def skip_summary(skipped: list[Skipped]) -> str:
    """"3 binary, 2 unsupported format": what a person needs to know was left out."""
    counts = Counter(s.category for s in skipped)
    return ", ".join(f"{n} {SKIP_LABELS.get(c, c)}" for c, n in sorted(counts.items(), key=lambda x: -x[1]))


def limits(settings) -> Limits:
    return Limits(max_bytes=settings.max_file_bytes, timeout_s=settings.extract_timeout_s,
                  memory_mb=settings.extract_memory_mb, extensions=tuple(e.lower() for e in settings.extensions))


def line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_text(path: Path, max_bytes: int) -> str:
    """A plain UTF-8 file's text (the eval's question files and corpora); ValueError with a reason."""
    try:
        doc, _ = read_document(path, path.name, Limits(max_bytes=max_bytes, extensions=(path.suffix.lower(),)))
    except Skip as exc:
        raise ValueError(exc.reason) from None
    return doc.text


def read_source(path: Path, name: str, lim: Limits, max_line_chars: int = 100_000) -> SourceFile:
    """One file as a SourceFile; raises Skip with the reason it cannot be indexed."""
    return parse(path, name, open_document(path, name, lim), lim, max_line_chars)


def parse(path: Path, name: str, opened: Opened, lim: Limits, max_line_chars: int = 100_000) -> SourceFile:
    """An opened file's text and structure (the costly step for PDF/HTML/Word); raises Skip."""
    doc = extract(opened, lim)
    longest = max(map(len, doc.text.split("\n")))
    if longest > max_line_chars:
        raise Skip("unreadable", f"a line of {longest} characters is longer than max_line_chars "
                                 f"({max_line_chars}): data, not prose; raise it to index this file")
    return _source(path, name, doc, opened.digest)


def _source(path: Path, name: str, doc: Extracted, digest: str) -> SourceFile:
    return SourceFile(path, name, doc.text, digest, kind=doc.kind, page_starts=doc.page_starts,
                      structure=doc.headings, title=doc.title)


def _walk(root: Path, follow_symlinks: bool):
    """Yield (path, relative name) under root, sorted for a stable order."""
    if root.is_file():
        yield root, root.name
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            if fname.startswith("."):
                continue
            path = Path(dirpath) / fname
            yield path, path.relative_to(root).as_posix()


def find(roots: list[Path], follow_symlinks: bool = False) -> tuple[list[tuple[Path, str]], list[Skipped]]:
    """Every file under the roots, once: (resolved path, name relative to its root), and the
    links not followed. Cheap (no reading): ingest streams over this list."""
    found: list[tuple[Path, str]] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for root in roots:
        if not root.exists():
            raise RagError(f"corpus path {root} does not exist", hint="pass a folder of documents")
        real_root = root.resolve()
        for path, name in _walk(root, follow_symlinks):
            if path.is_symlink() and not follow_symlinks:
                skipped.append(Skipped(name, "symbolic link (not followed; set follow_symlinks = true)", "unsupported"))
                continue
            resolved = path.resolve()
            if follow_symlinks is False and not resolved.is_relative_to(real_root):
                skipped.append(Skipped(name, "points outside the corpus folder", "unsupported"))
                continue
            if resolved not in seen:
                seen.add(resolved)
                found.append((resolved, name))
    return found, skipped


def scan(roots: list[Path], lim: Limits, follow_symlinks: bool = False, max_line_chars: int = 100_000) -> Scan:
    """Every file read (tests, tools); ingest streams instead (rag.ingest)."""
    paths, skipped = find(roots, follow_symlinks)
    result = Scan(skipped=skipped)
    for path, name in paths:
        try:
            result.files.append(read_source(path, name, lim, max_line_chars))
        except Skip as exc:
            result.skipped.append(Skipped(name, exc.reason, exc.category))
    return result


# How much of a line a source window shows: a file that is one huge line (minified
# text, a log) must not send megabytes to a browser for one citation.
WINDOW_KEEP = 400  # characters either side of the span, on the span's own lines
CONTEXT_KEEP = 240  # characters of each context line, on the side next to the span


def window(text: str, start: int, end: int, context: int = 3,
           highlights: list[tuple[int, int]] | tuple = ()) -> dict:
    """The lines around the span [start, end) of ``text``, with ``highlights`` marked.

    Shells render this (the chat's citation viewer); keeping the arithmetic here means
    every shell shows the same lines, and it is tested once, without a browser.
    Each line is a list of parts ``{"text", "mark"}``; lines of the span have ``in_span``.
    """
    if not 0 <= start <= end <= len(text):
        raise RagError(f"the span {start}:{end} is outside the file ({len(text)} characters)",
                       hint="the file changed since it was indexed; re-index it (rag ingest)")
    starts = line_starts(text)
    first_span = bisect.bisect_right(starts, start)
    last_span = bisect.bisect_right(starts, max(start, end - 1))
    first = _reach(text, starts, first_span, -1, context)
    last = _reach(text, starts, last_span, +1, context)
    marks = sorted((max(s, 0), min(e, len(text))) for s, e in highlights if s < e)
    lines = []
    for n in range(first, last + 1):
        lo = starts[n - 1]
        hi = starts[n] - 1 if n < len(starts) else len(text)  # without the newline
        in_span = first_span <= n <= last_span
        # keep the text near the span; context lines keep the side next to the span
        keep_lo, keep_hi = (start - WINDOW_KEEP, end + WINDOW_KEEP) if in_span else \
            (hi - CONTEXT_KEEP, hi) if n < first_span else (lo, lo + CONTEXT_KEEP)
        a, b = max(lo, keep_lo), min(hi, keep_hi)
        parts = [{"text": "…", "mark": False}] if a > lo else []
        parts += _marked(text, a, b, marks)
        if b < hi:
            parts.append({"text": "…", "mark": False})
        lines.append({"line": n, "in_span": in_span, "parts": parts})
    return {"start_line": first_span, "end_line": last_span, "first_line": first, "last_line": last,
            "lines": lines}


def _reach(text: str, starts: list[int], line: int, step: int, context: int) -> int:
    """The line ``context`` non-blank lines away: blank lines between paragraphs are not context."""
    n, found = line, 0
    while found < context and 1 <= n + step <= len(starts):
        n += step
        hi = starts[n] if n < len(starts) else len(text)
        found += bool(text[starts[n - 1]:hi].strip())
    return n


def _marked(text: str, a: int, b: int, marks: list[tuple[int, int]]) -> list[dict]:
    """Split text[a:b] into parts, marked where a highlight covers them."""
    cuts = sorted({a, b, *(x for s, e in marks for x in (s, e) if a < x < b)})
    parts: list[dict] = []
    for s, e in zip(cuts, cuts[1:]):
        chunk = text[s:e].rstrip("\r") if e == b else text[s:e]
        mark = any(ms <= s and e <= me for ms, me in marks)
        if not chunk:
            continue
        if parts and parts[-1]["mark"] == mark:
            parts[-1]["text"] += chunk
        else:
            parts.append({"text": chunk, "mark": mark})
    return parts
