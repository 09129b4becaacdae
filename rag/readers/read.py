"""Reading one file into an ``Extracted`` document, within limits, or a ``Skip`` reason.

Plain text is read in-process (it is most files, and cheap). PDF, HTML and Word go to a
worker process (``rag.readers.worker``) with an address-space limit and a wall-clock
timeout: a parser that loops or balloons on a hostile file is killed, that file is
skipped with its reason, and ingest goes on.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import os
import pickle
import select
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rag.readers.detect import Skip, detect
from rag.readers.document import Extracted

DEFAULT_EXTENSIONS = (".txt", ".md", ".markdown", ".rst", ".text", ".log", ".pdf", ".html", ".htm", ".docx")
HEAD = 8192


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50_000_000  # of the file, and of what a .gz or .docx inflates to
    timeout_s: float = 60.0  # per file, for the PDF/HTML/Word parsers
    memory_mb: int = 2048  # address space of the parser's process
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS


@dataclass
class Opened:
    """A file's bytes (decompressed when gzip), the hash of the bytes on disk, its reader."""

    data: bytes
    digest: str
    kind: str


def open_document(path: Path, name: str, limits: Limits) -> Opened:
    """Read, hash and recognise a file, without parsing it: enough to tell that an indexed
    file is unchanged, so re-running ingest parses nothing it has already indexed."""
    data = _read_bytes(path, limits.max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    kind = detect(name, data[:HEAD], limits.extensions)
    if kind == "gzip":
        data = _gunzip(data, limits.max_bytes)
        inner = name[:-3] if name.lower().endswith(".gz") else name
        kind = detect(inner, data[:HEAD], limits.extensions)
        if kind == "gzip":
            raise Skip("unsupported", "gzip inside gzip")
    return Opened(data, digest, kind)


def extract(opened: Opened, limits: Limits) -> Extracted:
    """The document's text and structure; raises Skip."""
    if opened.kind in ("text", "markdown"):
        return Extracted(decode_text(opened.data), opened.kind)
    return _shared.extract(opened.kind, opened.data, limits)


def read_document(path: Path, name: str, limits: Limits) -> tuple[Extracted, str]:
    """The file's text and what its format knows, and the sha256 of its bytes; raises Skip."""
    opened = open_document(path, name, limits)
    return extract(opened, limits), opened.digest


def decode_text(data: bytes) -> str:
    """Strict UTF-8 (a BOM is dropped): a wrong guess at an encoding would quote wrong text."""
    if b"\x00" in data:
        raise Skip("binary", "binary content (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Skip("unreadable", f"not UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
                                 f"convert it with iconv") from None
    if not text.strip():
        raise Skip("unreadable", "empty (no text to index)")
    return text


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            # a named pipe would block the read forever; a device could be endless
            raise Skip("unreadable", "not a regular file (a pipe, socket or device)")
        if st.st_size > max_bytes:
            raise Skip("unreadable", f"larger than max_file_bytes ({st.st_size} > {max_bytes} bytes)")
        with path.open("rb") as fh:
            # bounded even if the file grows after the stat; read(n) allocates n bytes up front
            data = fh.read(min(max_bytes, st.st_size) + 1)
    except OSError as exc:
        raise Skip("unreadable", exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise Skip("unreadable", f"larger than max_file_bytes (> {max_bytes} bytes)")
    return data


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(max_bytes + 1)  # bounded: a gzip bomb stops at the limit
    except (OSError, EOFError) as exc:
        raise Skip("unreadable", f"corrupt gzip ({exc})") from None
    if len(out) > max_bytes:
        raise Skip("unreadable", f"inflates past max_file_bytes ({max_bytes} bytes)")
    return out


class Extractor:
    """One worker process, reused across files, restarted after a kill."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._memory = 0
        self._lock = threading.Lock()

    def extract(self, kind: str, data: bytes, limits: Limits) -> Extracted:
        with self._lock:
            proc = self._worker(limits.memory_mb)
            try:
                _send(proc.stdin, pickle.dumps((kind, data, limits.max_bytes)))
                reply = _receive(proc.stdout, time.monotonic() + limits.timeout_s)
            except TimeoutError:
                self.close()
                raise Skip("unreadable", f"extraction took longer than extract_timeout_s ({limits.timeout_s:g} s)") \
                    from None
            except (EOFError, OSError, BrokenPipeError):
                rc = proc.poll()
                self.close()
                raise Skip("unreadable", f"the {kind} parser crashed (exit {rc}); it may need more memory than "
                                         f"extract_memory_mb ({limits.memory_mb} MB)") from None
        status, *rest = pickle.loads(reply)
        if status == "ok":
            return rest[0]
        raise Skip(*rest)

    def _worker(self, memory_mb: int) -> subprocess.Popen:
        if self._proc is not None and (self._proc.poll() is not None or self._memory != memory_mb):
            self.close()
        if self._proc is None:
            self._proc = subprocess.Popen([sys.executable, "-m", "rag.readers.worker", str(memory_mb)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=os.environ.copy())
            self._memory = memory_mb
        return self._proc

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for fh in (self._proc.stdin, self._proc.stdout):
                try:
                    fh.close()
                except OSError:
                    pass
            self._proc = None


def _send(fh, payload: bytes) -> None:
    fh.write(struct.pack(">Q", len(payload)) + payload)
    fh.flush()


def _receive(fh, deadline: float) -> bytes:
    header = _read_exact(fh, 8, deadline)
    return _read_exact(fh, struct.unpack(">Q", header)[0], deadline)


def _read_exact(fh, n: int, deadline: float) -> bytes:
    out = bytearray()
    fd = fh.fileno()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n - len(out), 1 << 20))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


_shared = Extractor()
atexit.register(_shared.close)
