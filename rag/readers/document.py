"""The extracted document: text plus what its format knew (pages, headings)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Extracted:
    text: str
    kind: str  # text | markdown | pdf | html | docx
    page_starts: list[int] | None = None  # character where each page starts (paged formats)
    headings: list[tuple[int, int, str]] | None = None  # (character, level, title) from structure
    title: str = ""

    def page_of(self, char: int) -> int | None:
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, char))


@dataclass
class Builder:
    """Appends blocks of text, remembering where headings and pages start: the readers of
    structured formats (HTML, Word, PDF) produce text through it so offsets are exact."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    headings: list[tuple[int, int, str]] = field(default_factory=list)
    page_starts: list[int] = field(default_factory=list)
    _open_pages: int = 0  # pages begun whose first block has not come yet (empty pages too)

    def block(self, text: str, sep: str = "\n\n", heading: int = 0) -> None:
        """Add a block; ``sep`` goes between it and the previous one; ``heading`` its level."""
        text = text.strip()
        if not text:
            return
        if self.size:
            self._add("\n" if self._open_pages else sep)  # a page break is a line break
        self.page_starts += [self.size] * self._open_pages
        self._open_pages = 0
        if heading:
            self.headings.append((self.size, heading, " ".join(text.split())[:200]))
        self._add(text)

    def page(self) -> None:
        """The next block starts a new page."""
        self._open_pages += 1

    def _add(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)

    def text(self) -> str:
        self.page_starts += [self.size] * self._open_pages  # trailing empty pages
        self._open_pages = 0
        return "".join(self.parts)
