"""What a file is, from its first bytes and its name: which reader, or why it is skipped."""

from __future__ import annotations

from pathlib import PurePosixPath

# Names a documentation folder uses for plain text without an extension, or with one that
# is not a format ("README.api", "NEWS.old", "changelog.Debian"): conventions, not content.
DOC_NAMES = {"readme", "news", "authors", "license", "licence", "copying", "copyright", "changes", "changelog",
             "install", "todo", "thanks", "hacking", "notice", "credits", "contributors", "history",
             "maintainers", "bugs", "faq", "release-notes", "releasenotes"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}

_MAGIC = [  # (prefix, what it is): binary formats recognised by content
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an executable (ELF)"), (b"PK\x03\x04", "a zip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"), (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ", "an xz archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls; save it as .docx)"), (b"SQLite format 3", "a SQLite database"),
    (b"\x00asm", "WebAssembly"), (b"ID3", "an MP3 file"), (b"OggS", "an Ogg file"), (b"RIFF", "a RIFF file (audio/video)"),
    (b"\x1f\x8b", "gzip"), (b"%PDF-", "a PDF"),
]


class Skip(Exception):
    """A file not indexed, with its category (binary | unsupported | unreadable) and reason."""

    def __init__(self, category: str, reason: str):
        super().__init__(reason)
        self.category = category
        self.reason = reason


def suffix_of(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_doc_name(name: str) -> bool:
    stem = PurePosixPath(name).name.split(".", 1)[0].lower()
    return stem in DOC_NAMES


def _magic(head: bytes) -> str:
    if b"%PDF-" in head[:1024]:
        return "a PDF"
    return next((what for prefix, what in _MAGIC if head.startswith(prefix)), "")


def detect(name: str, head: bytes, extensions: tuple[str, ...]) -> str:
    """The reader for a file: text | markdown | html | pdf | docx | gzip; raises Skip.

    ``extensions``: the suffixes read (settings); extensionless files and conventional
    documentation names are read when their content is text.
    """
    suffix = suffix_of(name)
    what = _magic(head)
    if what == "gzip":
        return "gzip"
    if what == "a PDF":
        if suffix in ("", ".pdf") and ".pdf" in extensions:
            return "pdf"
        raise _mismatch(suffix, what, extensions)
    if what == "a zip archive" and suffix == ".docx" and ".docx" in extensions:
        return "docx"
    if suffix == ".pdf":
        raise Skip("unreadable", f"named .pdf but is not a PDF ({what or _starts(head)})")
    if suffix == ".docx":
        raise Skip("unreadable", f"not a Word file ({what or 'not a zip archive'})")
    if what or b"\x00" in head:
        raise Skip("binary", f"binary content ({what or 'NUL bytes'}), not text")
    if suffix in HTML_SUFFIXES:
        if suffix in extensions:
            return "html"
    elif suffix in extensions:
        return "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
    elif suffix == "" or is_doc_name(name):
        return "text"
    raise Skip("unsupported", f"unsupported format ({suffix})")


def _mismatch(suffix: str, what: str, extensions) -> Skip:
    if suffix in extensions or suffix in HTML_SUFFIXES:
        return Skip("unreadable", f"named {suffix} but is {what}")
    return Skip("unsupported", f"unsupported format ({suffix or 'no extension'}, content is {what})")


def _starts(head: bytes) -> str:
    snippet = head[:24].decode("utf-8", "replace").split("\n")[0].strip()
    return f"starts with {snippet!r}" if snippet else "empty"
