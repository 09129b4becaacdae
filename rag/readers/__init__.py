"""Turning a file into the text rag indexes and quotes: plain text, Markdown, PDF, HTML, Word.

Each reader runs once at ingest and is deterministic, so the text a citation quotes can
always be derived again from the file (the source viewer does that; a changed file is
flagged by its hash). Formats are recognised by content first, name second: a binary file
called ``notes.txt`` is skipped as binary, a ``report.pdf`` that is really HTML is skipped
as lying about its format, and an extensionless ``README`` or ``copyright`` is read as text.
"""

from __future__ import annotations

from rag.readers.detect import Skip, detect
from rag.readers.document import Extracted
from rag.readers.read import Limits, Opened, extract, open_document, read_document

__all__ = ["Extracted", "Limits", "Opened", "Skip", "detect", "extract", "open_document", "read_document"]
