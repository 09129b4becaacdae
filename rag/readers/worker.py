"""The parser process: reads (kind, bytes, max_bytes) requests, answers Extracted or Skip.

Run by ``rag.readers.read.Extractor`` with its address space capped (argv[1], MB), so a
hostile file costs this process, never the ingest.
"""

from __future__ import annotations

import pickle
import resource
import struct
import sys

from rag.readers.detect import Skip


def _extract(kind: str, data: bytes, max_bytes: int):
    if kind == "pdf":
        from rag.readers.pdf import read_pdf
        return read_pdf(data)
    if kind == "html":
        from rag.readers.web import read_html
        return read_html(data)
    if kind == "docx":
        from rag.readers.word import read_docx
        return read_docx(data, max_bytes)
    raise Skip("unsupported", f"no reader for {kind}")


def _peak_bytes() -> int:
    """Peak address space of this process (Linux VmPeak; 0 where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> None:
    limit = int(sys.argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = inp.read(8)
        if len(header) < 8:
            return
        kind, data, max_bytes = pickle.loads(inp.read(struct.unpack(">Q", header)[0]))
        try:
            reply = ("ok", _extract(kind, data, max_bytes))
        except Skip as exc:
            reply = ("skip", exc.category, exc.reason)
        except MemoryError:
            reply = ("skip", "unreadable", f"needs more memory than extract_memory_mb ({limit >> 20} MB) allows")
        except RecursionError:
            reply = ("skip", "unreadable", "nested too deeply to parse")
        except Exception as exc:  # a parser's own failure on a broken file: a reason, not a traceback
            if _peak_bytes() > 0.8 * limit:  # C parsers report a failed allocation as a parse error
                reply = ("skip", "unreadable", f"needs more memory than extract_memory_mb ({limit >> 20} MB) allows")
            else:
                reply = ("skip", "unreadable", f"cannot parse it as {kind} ({type(exc).__name__}: {str(exc)[:160]})")
        payload = pickle.dumps(reply)
        out.write(struct.pack(">Q", len(payload)) + payload)
        out.flush()


if __name__ == "__main__":
    main()
