"""The lexical side of hybrid retrieval: BM25 over the collection's chunks, saved and loaded.

Why saved: building BM25 means reading every chunk from Chroma and tokenising it, in
every new process (each `rag ask`, each chat start, each server-mode client) — seconds at
a thousand times the seeds, minutes beyond. LlamaIndex's BM25Retriever persists its bm25s
index; here it is saved once per collection state (ingest does it) and memory-mapped on
load, so a cold start reads it instead of rebuilding it.

Keyed by the collection's signature (id, write stamp, count — rag.store.Store.generation):
a saved index whose key differs is rebuilt from the stored chunks and saved again.
Embedded store: beside the Chroma files (index/bm25/<collection>). Server mode: a local
cache per server and collection (cache_dir/bm25/<host>_<port>/<collection>).

Replacing it: anything with ``retriever(key, k)`` returning a LlamaIndex retriever fits the
``Retriever`` (rag.retrieve) — e.g. a Chroma deployment with native sparse/BM25 search.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from rag.errors import RagError

log = logging.getLogger(__name__)

KEY_FILE = "rag_key.json"


def folder(settings) -> Path:
    if settings.server_mode:
        server = f"{settings.chroma_host}_{settings.chroma_port}".replace("/", "_").replace(":", "_")
        return Path(settings.cache_dir).expanduser() / "bm25" / server / settings.collection
    return Path(settings.index) / "bm25" / settings.collection


class SavedBM25:
    """One per process and collection; thread-safe."""

    def __init__(self, settings, chunks: Callable[[], list], make_node: Callable):
        self.settings = settings
        self.dir = folder(settings)
        self._chunks = chunks  # () -> the collection's (id, text, metadata), page by page
        self._node = make_node
        self._lock = threading.Lock()
        self._bm25: Any = None
        self._key: tuple | None = None
        self.size = 0

    def retriever(self, key: tuple, k: int):
        """A BM25 retriever for the collection state ``key``, carrying its own top-k."""
        import copy

        with self._lock:
            if self._bm25 is None or key != self._key:
                self._bm25 = self._load(key) or self._build(key, save=True)
                self._key = key
                self.size = int(self._bm25.bm25.scores.get("num_docs", 0)) or len(self._bm25.corpus)
            # a shallow copy per call carries this call's k: the chat asks with different top-k
            # at once, and setting k on the shared object raced (one question got another's k)
            per_call = copy.copy(self._bm25)
            per_call.similarity_top_k = min(k, self.size)
            return per_call

    def refresh(self, key: tuple, bar: int = 0) -> None:
        """Make the saved index match ``key`` (ingest calls this after writing; ``bar``: the
        number of chunks, for a progress bar). Nothing is loaded: a later ``retriever`` call
        maps what was written."""
        with self._lock:
            if self._saved_key() != list(key):
                self._bm25 = self._key = None
                if not self._write(key, bar):
                    self._bm25, self._key = self._build_in_memory(key), key

    def _saved_key(self) -> list | None:
        try:
            return json.loads((self.dir / KEY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _load(self, key: tuple):
        if self._saved_key() != list(key):
            return None
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it forces DEBUG on import
        try:
            bm25 = BM25Retriever.from_persist_dir(str(self.dir), mmap=True)
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            log.warning("the saved BM25 index in %s did not load (%s); rebuilding it", self.dir, exc)
            return None
        log.info("loaded BM25 from %s (collection stamp %s)", self.dir, key[1])
        return bm25

    def _build(self, key: tuple, save: bool):
        """Written to disk from the stored chunks a page at a time, then mapped (rag.lexical_build);
        where it cannot be saved (a read-only index folder), built in memory by LlamaIndex."""
        if save and self._write(key):
            loaded = self._load(key)
            if loaded is not None:
                return loaded
        return self._build_in_memory(key)

    def _write(self, key: tuple, bar: int = 0) -> bool:
        """Atomically: a reader sees the old index or the new one, never half of one."""
        from rag import lexical_build

        try:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            self._remove_abandoned()
            tmp = Path(tempfile.mkdtemp(dir=self.dir.parent, prefix=f"{_TMP}{_HOST}-{os.getpid()}-"))
        except OSError as exc:  # a read-only index folder: BM25 still works, rebuilt per process
            log.warning("could not save the BM25 index in %s (%s)", self.dir, exc)
            return False
        try:
            log.info("building BM25 from the stored chunks (collection stamp %s)", key[1])
            from tqdm import tqdm

            with tqdm(total=bar, desc="saving BM25", unit="chunk", disable=not bar) as shown:
                n = lexical_build.write(self._chunks(), self._node, tmp, top_k=10, on_page=shown.update)
            (tmp / KEY_FILE).write_text(json.dumps(list(key)), encoding="utf-8")
            self._install(tmp)
        except lexical_build.Empty:
            raise RagError("the index is empty", hint=f"add documents and run: rag ingest {self.settings.corpus}") from None
        except OSError as exc:
            log.warning("could not save the BM25 index in %s (%s)", self.dir, exc)
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("saved BM25 over %d chunks in %s", n, self.dir)
        return True

    def _remove_abandoned(self) -> None:
        """Half-written indexes of processes killed while writing (hundreds of MB at 1000×
        the seeds): those of this host whose process is gone. Another host's are left alone."""
        for tmp in self.dir.parent.glob(f"{_TMP}{_HOST}-*-*"):
            pid = tmp.name[len(_TMP) + len(_HOST) + 1:].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                log.info("removing %s, left by a process that stopped while writing it", tmp)
                shutil.rmtree(tmp, ignore_errors=True)

    def _install(self, tmp: Path) -> None:
        old = None
        if self.dir.exists():
            old = self.dir.with_name(f".old-{self.dir.name}-{os.getpid()}")
            os.replace(self.dir, old)
        os.replace(tmp, self.dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _build_in_memory(self, key: tuple):
        """LlamaIndex's own build: every node in memory at once (see rag.lexical_build for why
        the saved index is not built this way)."""
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        nodes = [self._node(i, d, m) for i, d, m in self._chunks()]
        if not nodes:
            raise RagError("the index is empty", hint=f"add documents and run: rag ingest {self.settings.corpus}")
        log.info("building BM25 in memory over %d chunks (collection stamp %s)", len(nodes), key[1])
        return BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(10, len(nodes)))


_TMP = ".bm25-"
_HOST = socket.gethostname().replace("-", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True
