"""Document context: what a passage is *about* that the passage itself does not say.

A question names its document ("in the 2019 edition", "under section 3(b)", "in release
4.2") while the sentence that answers it names none of that: the name is in the file
name, the title or the heading above. So every chunk and sentence is indexed (BM25 and
embedding) with a short header — the file name as words, the document's title and the
heading path of its section — while citations keep quoting only the file's own
characters. The header lives in metadata, never in the stored document text.

Plain rules over the text, because the formats people keep mark headings in a few ways
only: Markdown ``#``, a line underlined with ``===``/``---``, a numbered heading
("3.2 Refunds", "Section 4."), an ALL-CAPS line (man pages, licences).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.textnorm import dehyphenate

HEADER_MAX_CHARS = 160  # ~40 word-pieces: a 200-piece chunk plus its header stays under 256

_HEX = re.compile(r"^(?=.*\d)(?=.*[a-f])[0-9a-f]{8,}$", re.I)  # content hashes carry no meaning
_SEP = re.compile(r"[_\s]+|(?<!\d)[.\-](?!\d)|(?<=\d)-(?=\D)|(?<=\D)-(?=\d)")
_MD = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ORG = re.compile(r"^(\*{1,6})\s+(\S.*)$")  # "* Noteworthy changes in release 3.8", "** Bug fixes"
_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
_NUMBERED = re.compile(r"^\s*((?:section|part|chapter|article|clause)\s+)?(\d+(?:\.\d+)*)\.?\s+([A-Z][^\n]{1,70})$", re.I)
_TERMINAL = (".", ",", ";", "!", "?")


def _mostly_upper(s: str) -> bool:
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 3 and sum(c.isupper() for c in letters) / len(letters) >= 0.8


def _title_case(s: str) -> bool:
    words = [w for w in s.split() if w[:1].isalpha()]
    small = {"a", "an", "the", "of", "and", "or", "to", "in", "on", "for", "at", "by", "is", "from", "with", "but"}
    big = [w for w in words if w.lower() not in small]
    return 2 <= len(words) <= 12 and bool(big) and all(w[0].isupper() for w in big)


def file_words(name: str) -> str:
    """``ISO-9001_2015.txt`` -> "ISO 9001 2015", ``v4.2.0.md`` -> "v4.2.0", ``000_5d63….txt`` -> ""."""
    stem = name.rsplit("/", 1)[-1]
    stem = re.sub(r"\.(?:txt|md|markdown|rst|text|html?|pdf|docx)$", "", stem, flags=re.I)
    parts = [p for p in _SEP.split(stem) if p and not _HEX.match(p) and not (p.isdigit() and p[0] == "0")]
    folder = name.rsplit("/", 1)[0] if "/" in name else ""
    folder_words = [p for p in _SEP.split(folder.replace("/", " ")) if p and not _HEX.match(p)]
    return " ".join(folder_words + parts)


@dataclass(frozen=True)
class Heading:
    start: int  # character where the heading line starts
    level: int
    text: str


def headings(text: str) -> list[Heading]:
    """Headings in file order, with a nesting level (1 = top)."""
    out: list[Heading] = []
    lines = text.split("\n")
    filled = [ln for ln in lines if ln.strip()]
    # one paragraph per line (no blank lines between them): every line stands alone
    loose = bool(filled) and sum(len(ln) > 120 for ln in filled) / len(filled) >= 0.15
    pos = 0
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        h = _heading(line, nxt, "" if loose else (lines[i - 1] if i else ""), loose)
        if h is not None:
            out.append(Heading(pos, h[0], h[1]))
        pos += len(line) + 1
    return out


def file_headings(text: str, structure: list | None = None) -> list[Heading]:
    """The format's own headings when it marks them, else the text rules'."""
    if structure:
        return [Heading(int(start), int(level), str(title)) for start, level, title in structure]
    return headings(text)


def _heading(line: str, nxt: str, prev: str, loose: bool = False) -> tuple[int, str] | None:
    stripped = line.strip()
    if not stripped or len(stripped) > 100:
        return None
    m = _MD.match(stripped)
    if m:
        return len(m.group(1)), m.group(2)
    if _UNDERLINE.match(nxt) and not _UNDERLINE.match(line) and len(nxt.strip()) >= max(3, len(stripped) // 2):
        return (1 if nxt.strip()[0] == "=" else 2), stripped
    standalone = loose or not prev.strip() or not nxt.strip()
    m = _ORG.match(line)  # at column 0 with blank lines both sides: a Markdown bullet is not
    if m and not prev.strip() and not nxt.strip() and not stripped.endswith(_TERMINAL):
        return len(m.group(1)), m.group(2)
    m = _NUMBERED.match(line)
    if m and standalone and not stripped.endswith(_TERMINAL) and len(stripped.split()) <= 10:
        return 1 + m.group(2).count("."), stripped
    if standalone and not stripped.endswith(_TERMINAL) and len(stripped) <= 80:
        if _mostly_upper(stripped):
            return 1, stripped
        if _title_case(stripped) and "://" not in stripped:
            return 2, stripped
    return None


class DocumentContext:
    """The header of any character offset of one file: file words | title | heading path."""

    def __init__(self, name: str, text: str, structure: list | None = None, title: str = ""):
        """``structure``: (character, level, title) headings the format marks (HTML, Word, a
        PDF outline); they replace the text rules. ``title``: the document's own (HTML <title>)."""
        self.name_words = file_words(name)
        self.heads = file_headings(text, structure)
        self._starts = [h.start for h in self.heads]
        first = next((ln.strip() for ln in text.split("\n") if ln.strip()), "")
        self.title = title[:100] if title else _MD.sub(r"\2", first)[:100] if _titular(first) else ""

    def path_at(self, offset: int) -> list[str]:
        """Headings enclosing ``offset``: the last heading of each level above it."""
        i = bisect.bisect_right(self._starts, offset)
        chain: list[Heading] = []
        for h in reversed(self.heads[:i]):
            if not chain or h.level < chain[-1].level:
                chain.append(h)
            if h.level == 1:
                break
        return [h.text for h in reversed(chain)]

    def header(self, offset: int) -> str:
        parts = [self.name_words] if self.name_words else []
        for piece in [self.title, *self.path_at(offset)]:
            if piece and piece not in parts:
                parts.append(piece)
        return " | ".join(parts)[:HEADER_MAX_CHARS]


def _titular(line: str) -> bool:
    """Can a file's first line stand as its title? Short, and marked as a heading or not a
    sentence ended by a full stop. A one-line note ("The canteen serves soup on Fridays.")
    otherwise became its own title: its one sentence then looked like a heading, and its
    words like the header's rather than its own (rag.answer.features: is_heading,
    cover_body). No file of the seeds or the dev corpora starts with such a line.
    """
    if len(line) > 120:
        return False
    marked = _MD.match(line) is not None  # "# Notes." is a heading whatever it ends with
    return marked or not (line.endswith(".") and not line.endswith("..."))  # "Part 1..." stays


def indexed_text(header: str, text: str) -> str:
    """What the embedding reads: the header, then the passage's own text (words a PDF
    hyphenated at a line end joined again)."""
    text = dehyphenate(text)
    return f"{header}\n{text}" if header else text
