"""Finding and reading corpus files, and mapping characters back to line numbers.

Knows nothing of Chroma or models. Every file that cannot be used is reported with its
reason rather than stopping the run: one bad file must not cost the user the others.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError


@dataclass
class Skipped:
    name: str
    reason: str


@dataclass
class SourceFile:
    path: Path  # absolute and resolved: the file's identity in the index
    name: str  # relative to the corpus root it was found under: what citations show
    text: str
    sha256: str
    _line_starts: list[int] | None = field(default=None, repr=False)

    def line_of(self, char: int) -> int:
        """1-based line holding character ``char``."""
        if self._line_starts is None:
            self._line_starts = line_starts(self.text)
        return bisect.bisect_right(self._line_starts, char)

    def lines_of(self, start: int, end: int) -> tuple[int, int]:
        """Line range of the span [start, end); ``end`` is exclusive."""
        return self.line_of(start), self.line_of(max(start, end - 1))


@dataclass
class Scan:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


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
    """Strict UTF-8 (a BOM is dropped); raises ValueError with a reason a person can act on."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"larger than max_file_bytes ({size} > {max_bytes} bytes)")
    data = path.read_bytes()
    if b"\x00" in data:
        raise ValueError("binary content (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); convert it with iconv") from None
    if not text.strip():
        raise ValueError("empty (no text to index)")
    return text


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


def scan(roots: list[Path], extensions: tuple[str, ...], follow_symlinks: bool = False,
         max_file_bytes: int = 50_000_000) -> Scan:
    result = Scan()
    seen: set[Path] = set()
    for root in roots:
        if not root.exists():
            raise RagError(f"corpus path {root} does not exist", hint="pass a folder of .txt/.md files")
        real_root = root.resolve()
        for path, name in _walk(root, follow_symlinks):
            if path.suffix.lower() not in extensions:
                continue
            if path.is_symlink() and not follow_symlinks:
                result.skipped.append(Skipped(name, "symbolic link (not followed; set follow_symlinks = true)"))
                continue
            resolved = path.resolve()
            if follow_symlinks is False and not resolved.is_relative_to(real_root):
                result.skipped.append(Skipped(name, "points outside the corpus folder"))
                continue
            if resolved in seen:
                continue
            seen.add(resolved)
            try:
                text = read_text(resolved, max_file_bytes)
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                result.skipped.append(Skipped(name, reason))
                continue
            result.files.append(SourceFile(resolved, name, text, sha256(text)))
    return result


def read_span(path: Path, start: int, end: int) -> str:
    """Re-read a span from disk: what a citation quotes is what the file says now."""
    return read_text(path, max_bytes=1 << 62)[start:end]
