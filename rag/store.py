"""The Chroma adapter: the only module that knows Chroma's API.

Two collections per index: ``<name>`` holds chunks (what retrieval searches) and
``<name>_sentences`` holds every sentence with its embedding (what the answer writer
scores), both keyed by file path and character span. Both modes, the embedded
persistent store and a ``chroma run`` server, go through the same methods here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from rag.config import Settings
from rag.context import indexed_text
from rag.errors import RagError
from rag.ids import parse_sentence_id
from rag.models import SYNTHETIC_MODEL

log = logging.getLogger(__name__)

REBUILD_HINT = "rebuild it with: rag ingest --rebuild"
RERUN_HINT = "an interrupted ingest is finished, without duplicates, by running it again"
VERSION_HINT = ("run a server of the same chromadb version as this client "
                "(pip show chromadb; then chroma run --path DIR --host HOST --port PORT)")

# The sentences collection is only read by id and by file (the answer writer's vectors, see
# sentences_in), never searched by similarity, so how good its HNSW graph is does not matter;
# building it does: HNSW insertion is most of a write, and sentences are ~5/6 of the records.
# Measured (30 k records, 1,000 a batch, embedded, alternating runs): 396-435 records/s with
# Chroma's defaults (construction ef 100, M 16), 1,556-1,591 with these; same RSS, 64 against
# 67 MB on disk.
# Fixed when the collection is created: an index made before keeps Chroma's defaults (same
# contents and answers, slower writes) until `rag ingest --rebuild`.
SENTENCE_GRAPH = {"hnsw:construction_ef": 10, "hnsw:M": 4}

_GET_PAGE = 5000  # rows of metadata per read
_TEXT_PAGE = 1000  # rows with their texts per read (see Store._get_all)
MAX_SKIPPED_KEPT = 1000  # skipped files remembered in the collection's metadata


@dataclass
class FileState:
    file_hash: str
    n_chunks: int
    count: int = 0
    consistent: bool = True  # all chunks carry the same hash and count

    @property
    def complete(self) -> bool:
        return self.consistent and self.count == self.n_chunks


def where_path(path: str) -> dict:
    return {"path": path}


# Chroma's SQLite refuses a statement with more than 32,766 variables ("too many SQL
# variables"), whatever the filter's shape: one per listed path, and a few of its own.
MAX_LISTED_PATHS = 30_000


def _not_in(paths: list[str]) -> dict | None:
    """A filter for the rows of any other path, or None (every row) when the list is empty
    or too long for one statement.

    Why: finding an interrupted run's leftovers (sentences of files with no chunks) by
    reading every sentence's metadata made each ingest O(corpus) — 184 s of a 216 s
    incremental ingest at 1,000x the seeds through a server (713 k rows) — while Chroma
    answers the same question as one filtered read in ~2 s, returning only the leftovers.
    """
    if not paths or len(paths) > MAX_LISTED_PATHS:
        return None
    return {"path": {"$nin": paths}}


class Store:
    def __init__(self, settings: Settings, create: bool = False, check: bool = True):
        self.settings = settings
        self._writing = ""  # this process's mark, while it has changed rows since its last stamp
        self.client = _connect(settings)
        self.chunks = self._collection(settings.collection, create)
        self.sentences = self._collection(settings.collection + "_sentences", create, SENTENCE_GRAPH)
        if check and self.chunks is not None:
            self._check_fingerprint()

    # --- opening ---------------------------------------------------------------------
    @property
    def where(self) -> str:
        s = self.settings
        return f"Chroma server {s.chroma_host}:{s.chroma_port}" if s.server_mode else f"index {s.index}"

    def _collection(self, name: str, create: bool, graph: dict | None = None):
        meta = {"hnsw:space": "cosine", **(graph or {}), **self.settings.fingerprint(), "rag_generation": 0}
        try:
            if create:
                return self.client.get_or_create_collection(name, metadata=meta, embedding_function=None)
            return self.client.get_collection(name, embedding_function=None)
        except Exception as exc:  # chromadb raises several types for "missing"
            if not create and "does not exist" in str(exc):
                return None
            raise _wrap(exc, self.settings) from None

    def exists(self) -> bool:
        return self.chunks is not None and self.sentences is not None

    def require(self) -> None:
        if not self.exists():
            raise RagError(
                f"no index found in {self.where} (collection '{self.settings.collection}')",
                hint=f"build it with: rag ingest {self.settings.corpus}",
            )

    def _check_fingerprint(self) -> None:
        meta = self.chunks.metadata or {}
        want = self.settings.fingerprint()
        diff = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
        if meta.get("rag_model") == SYNTHETIC_MODEL != want["rag_model"]:
            raise RagError(f"the index in {self.where} holds the benchmark's synthetic vectors "
                           f"(model {SYNTHETIC_MODEL!r}, bench/synthetic.py), not {want['rag_model']!r}'s: "
                           f"it cannot answer questions or take new documents", hint=REBUILD_HINT)
        if diff:
            said = ", ".join(f"{k.removeprefix('rag_')} is {old!r} there, {new!r} here" for k, (old, new) in diff.items())
            raise RagError(f"the index in {self.where} was built differently ({said})", hint=REBUILD_HINT)

    def drop(self) -> None:
        """Delete both collections: only on an explicit --rebuild."""
        for name in (self.settings.collection, self.settings.collection + "_sentences"):
            try:
                self.client.delete_collection(name)
            except Exception as exc:
                if "does not exist" not in str(exc):
                    raise _wrap(exc, self.settings) from None
        self.chunks = self.sentences = None

    # --- reading -----------------------------------------------------------------------
    def _get_all(self, collection, include: list[str], where: dict | None = None,
                 page_size: int = _GET_PAGE) -> Iterable[tuple]:
        """Every row, a page at a time. After a full page, a collection: a page read through
        a Chroma server leaves httpx's response (its whole JSON body) in a reference cycle,
        kept until Python's rare full collection — reading 856 k rows' metadata grew a client
        by 1.1 GB (flat at ~200 MB with this). The objects alive before the read are frozen
        meanwhile, so a collection scans only the read's own: unfrozen, one cost 0.1–0.4 s in
        a process that loaded the model (the suite took 13 min instead of 10½), which had
        kept pages large; with it, texts are read in pages of 1,000 (``_TEXT_PAGE``: the BM25
        write's peak at 1,000x the seeds, 400 → 340 MB, as fast)."""
        import gc

        offset = 0
        gc.freeze()  # the collections below then scan only what this read allocates
        try:
            while True:
                if offset and offset % page_size == 0:
                    gc.collect()
                page = _call(self.settings, collection.get, where=where, include=include,
                             limit=page_size, offset=offset)
                ids = page["ids"]
                if not ids:
                    return
                docs = page.get("documents") or [None] * len(ids)
                metas = page.get("metadatas") or [None] * len(ids)
                yield from zip(ids, docs, metas)
                offset += len(ids)
        finally:
            gc.unfreeze()

    def known_vectors(self, paths: list[str]) -> dict[str, list[float]]:
        """The vectors already stored for these files' chunks and sentences, by the text that
        was embedded (a chunk's under its header, a sentence's alone: see rag.ingest).

        Why: a changed file is mostly unchanged text (a paragraph added to a long file), and
        embedding is the slow part of ingest; the fingerprint check guarantees the stored
        vectors come from the same model, so they are reused rather than computed again.
        """
        out: dict[str, list[float]] = {}
        if not paths:
            return out
        where = where_path(paths[0]) if len(paths) == 1 else {"path": {"$in": sorted(set(paths))}}
        for collection in (self.chunks, self.sentences):
            offset = 0
            while True:
                page = _call(self.settings, collection.get, where=where,
                             include=["documents", "metadatas", "embeddings"], limit=_GET_PAGE, offset=offset)
                if not page["ids"]:
                    break
                for doc, meta, vec in zip(page["documents"], page["metadatas"], page["embeddings"]):
                    key = indexed_text(meta.get("context", ""), doc) if collection is self.chunks else doc
                    out.setdefault(key, [float(x) for x in vec])
                offset += len(page["ids"])
        return out

    def file_states(self) -> dict[str, FileState]:
        states: dict[str, FileState] = {}
        for _id, _doc, meta in self._get_all(self.chunks, ["metadatas"]):
            state = states.setdefault(meta["path"], FileState(meta["file_hash"], meta["n_chunks"]))
            state.count += 1
            if (meta["file_hash"], meta["n_chunks"]) != (state.file_hash, state.n_chunks):
                state.consistent = False
        # sentences of a file with no chunks are leftovers of an interrupted run
        for _id, _doc, meta in self._get_all(self.sentences, ["metadatas"], where=_not_in(sorted(states))):
            states.setdefault(meta["path"], FileState("", 0, count=-1, consistent=False))
        return states

    def all_chunks(self) -> list[tuple[str, str, dict]]:
        return list(self.iter_chunks())

    def iter_chunks(self) -> Iterable[tuple[str, str, dict]]:
        """Every chunk, read a page at a time: what BM25 is built from (rag.lexical_build)."""
        return self._get_all(self.chunks, ["documents", "metadatas"], page_size=_TEXT_PAGE)

    def count(self) -> int:
        return _call(self.settings, self.chunks.count)

    def indexed_file(self, file: str) -> dict | None:
        """One chunk's metadata for ``file`` (its corpus-relative name), or None if not indexed.

        The source viewer reads only paths found here, so a name never becomes a path.
        """
        got = _call(self.settings, self.chunks.get, where={"file": file}, include=["metadatas"], limit=1)
        return got["metadatas"][0] if got["ids"] else None

    def generation(self) -> tuple[str, str, int]:
        """A signature of what the collection holds: (collection id, write stamp, chunk count
        or -1).

        Retrieval calls this once per question to know whether its BM25 index is stale, so
        it must stay O(1): one small request, however large the corpus. The id changes when
        a process rebuilt the collection; the stamp when a write begins and again when its
        batch is done (random tokens, so two writers cannot produce the same value). A writer
        puts its token in ``rag_writing`` before its first row and in ``rag_done`` with the
        batch's stamp; only while they differ is the count read (Chroma's count grows with
        the collection: 23 ms at 1,000x the seeds). It catches rows that land after a reader's
        copy, and an ingest killed mid-batch leaves the two different, so those rows are never
        trusted to a stale copy. Two ingests at once: the later one's mark stands until it is
        done; if it finishes first and the earlier one is then killed mid-batch, that batch's
        last rows can go unnoticed until the next write (the one hole left; said in the README).
        """
        col = self._collection(self.settings.collection, create=False)
        if col is None:  # dropped by another process, e.g. mid-rebuild
            self.chunks = None
            self.require()
        meta = col.metadata or {}
        stamp = str(meta.get("rag_stamp") or meta.get("rag_generation", 0))
        open_write = meta.get("rag_writing", "") != meta.get("rag_done", "")
        return str(col.id), stamp, _call(self.settings, col.count) if open_write else -1

    def refresh(self, signature: tuple) -> bool:
        """Reopen the collections if another process recreated them (``rag ingest --rebuild``):
        a collection object keeps its id, and the old id no longer exists on the server."""
        if self.chunks is not None and signature[0] == str(self.chunks.id):
            return False
        self.chunks = self._collection(self.settings.collection, create=False)
        self.sentences = self._collection(self.settings.collection + "_sentences", create=False)
        self.require()
        self._check_fingerprint()
        return True

    @contextlib.contextmanager
    def guard(self):
        """Chroma errors raised inside (e.g. by LlamaIndex's ChromaVectorStore, which calls
        Chroma itself) become a RagError naming the index or the server."""
        try:
            yield
        except RagError:
            raise
        except Exception as exc:
            if not _is_chroma_error(exc):
                raise
            raise _wrap(exc, self.settings) from None

    def sentences_in(self, spans: list[tuple[str, int, int]]) -> list[tuple[str, str, dict, list[float]]]:
        """Sentences lying inside the given (path, start, end) spans, with embeddings.

        Why not one Chroma filter on the character ranges: Chroma answers ``start_char >= s``
        from the range index of the whole collection, so every question paid in proportion
        to the corpus (~150 ms at 10x the seeds). A sentence's id carries its span (see
        rag.ids), so the ids of the passages' files are listed by path (an
        equality lookup, as long as those files), filtered here, and only the sentences
        wanted are fetched, by id.
        """
        if not spans:
            return []
        by_path: dict[str, list[tuple[int, int]]] = {}
        for path, start, end in spans:
            by_path.setdefault(path, []).append((start, end))
        paths = sorted(by_path)
        where = where_path(paths[0]) if len(paths) == 1 else {"path": {"$in": paths}}
        wanted = []
        for id_ in _call(self.settings, self.sentences.get, where=where, include=[])["ids"]:
            ref = parse_sentence_id(id_)
            if ref is None:  # an id of another layout: ask Chroma to filter on the metadata
                log.warning("sentence id %r is not of the layout rag.ids makes: looking sentences up "
                            "by a filter over the whole collection (slow); rag ingest --rebuild fixes it", id_)
                return self._sentences_by_range(spans)
            if any(a <= ref.start and ref.end <= b for a, b in by_path.get(ref.path, ())):
                wanted.append(id_)
        if not wanted:
            return []
        got = _call(self.settings, self.sentences.get, ids=wanted, include=["documents", "metadatas", "embeddings"])
        embeddings = got.get("embeddings")
        embeddings = [] if embeddings is None else embeddings
        row = {i: (i, d, m, e) for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], embeddings)}
        return [row[i] for i in wanted if i in row]

    def _sentences_by_range(self, spans: list[tuple[str, int, int]]) -> list[tuple[str, str, dict, list[float]]]:
        clauses = [{"$and": [{"path": p}, {"start_char": {"$gte": s}}, {"end_char": {"$lte": e}}]}
                   for p, s, e in spans]
        where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        got = _call(self.settings, self.sentences.get, where=where,
                    include=["documents", "metadatas", "embeddings"])
        embeddings = got.get("embeddings")
        embeddings = [] if embeddings is None else embeddings
        return list(zip(got["ids"], got["documents"], got["metadatas"], embeddings))

    def info(self) -> dict[str, Any]:
        files: dict[str, dict] = {}
        for _id, _doc, meta in self._get_all(self.chunks, ["metadatas"]):
            entry = files.setdefault(meta["file"], {"file": meta["file"], "path": meta["path"], "chunks": 0,
                                                    "format": meta.get("format", "text"),
                                                    "indexed_at": meta.get("indexed_at", "")})
            entry["chunks"] += 1
        meta = self.chunks.metadata or {}
        formats = Counter(f["format"] for f in files.values())
        return {"where": self.where, "collection": self.settings.collection, "model": meta.get("rag_model"),
                "chunk_size": meta.get("rag_chunk_size"), "chunk_overlap": meta.get("rag_chunk_overlap"),
                "generation": meta.get("rag_generation", 0), "built_at": meta.get("rag_built_at", ""),
                "chunks": sum(f["chunks"] for f in files.values()),
                "sentences": _call(self.settings, self.sentences.count),
                "formats": dict(formats.most_common()), "skipped": json.loads(meta.get("rag_skipped", "[]")),
                "files": sorted(files.values(), key=lambda f: f["file"])}

    # --- writing -----------------------------------------------------------------------
    def delete_path(self, path: str) -> None:
        self._mark_writing()
        # sentences go first: a file whose chunks are gone is redone on the next run
        _call(self.settings, self.sentences.delete, where=where_path(path))
        _call(self.settings, self.chunks.delete, where=where_path(path))

    def add(self, collection: str, ids, embeddings, documents, metadatas) -> None:
        target = self.chunks if collection == "chunks" else self.sentences
        self._mark_writing()
        for i in range(0, len(ids), _GET_PAGE):
            sl = slice(i, i + _GET_PAGE)
            _call(self.settings, target.upsert, ids=ids[sl], embeddings=embeddings[sl],
                  documents=documents[sl], metadatas=metadatas[sl])

    def record_skipped(self, skipped: list[dict]) -> None:
        """The last ingest's files not indexed (name, category, reason), for `rag info` and
        the chat's Index tab: what was left out must stay visible after the run's output is gone.
        Not a write stamp: readers' caches do not change for it."""
        meta = self._current_meta()
        text = json.dumps(skipped[:MAX_SKIPPED_KEPT], ensure_ascii=False)
        if meta.get("rag_skipped", "[]") != text:
            meta["rag_skipped"] = text
            _call(self.settings, self.chunks.modify, metadata=meta)

    def _mark_writing(self) -> None:
        """Before this process's first change since its last stamp: see generation()."""
        if not self._writing:
            self._writing = uuid.uuid4().hex[:16]
            self._stamp(rag_writing=self._writing)

    def bump_generation(self, built_at: str) -> None:
        """After a batch is written: a new stamp, and this writer's mark answered."""
        self._stamp(rag_built_at=built_at, **({"rag_done": self._writing} if self._writing else {}))
        self._writing = ""

    def _current_meta(self) -> dict:
        """The collection's metadata as it is now, not as this object last saw it, for a
        write over it: another process's mark (see generation()) must survive the write."""
        current = self._collection(self.settings.collection, create=False) or self.chunks
        meta = dict(current.metadata or {})
        meta.pop("hnsw:space", None)  # fixed at creation; Chroma refuses it in modify()
        return meta

    def _stamp(self, **values) -> None:
        meta = self._current_meta()
        meta["rag_generation"] = int(meta.get("rag_generation", 0)) + 1
        meta["rag_stamp"] = uuid.uuid4().hex[:16]
        _call(self.settings, self.chunks.modify, metadata={**meta, **values})

    def vector_store(self):
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.chunks)


# --- connection and error translation -------------------------------------------------------
def _connect(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.server_mode:
            _probe(settings)
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                         settings=chroma_settings)
            _set_timeout(client, settings.chroma_timeout_s)
            return client
        path = Path(settings.index)
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except RagError:
        raise
    except Exception as exc:
        raise _wrap(exc, settings) from None


_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SEGMENT_FILE = re.compile(r"\w+\.(bin|pickle)")
_SQLITE_FILE = re.compile(r"chroma\.sqlite3(-wal|-shm|-journal)?")


def remove_broken(settings: Settings, error: RagError) -> None:
    """``rag ingest --rebuild`` of an embedded index Chroma cannot even open (a garbage or
    truncated chroma.sqlite3): without this the hint "rebuild it" led back to the same error.

    Only what has Chroma's own layout goes -- chroma.sqlite3 and its journals, and segment
    folders named by a UUID holding .bin/.pickle files -- and rag's saved BM25 (bm25/). A folder holding anything else
    (--index pointed at the wrong place) is left untouched, and ``error`` is raised.
    """
    path = Path(settings.index)
    if settings.server_mode or not (path / "chroma.sqlite3").is_file():
        raise error
    entries = list(path.iterdir())
    for entry in entries:
        own = _SQLITE_FILE.fullmatch(entry.name) if entry.is_file() else \
            entry.name == "bm25" or \
            _SEGMENT_DIR.fullmatch(entry.name) and all(f.is_file() and _SEGMENT_FILE.fullmatch(f.name)
                                                       for f in entry.iterdir())
        if not own or entry.is_symlink():
            raise RagError(f"{error.message}; --rebuild did not delete it: {path} also holds "
                           f"{entry.name!r}, which is not part of a Chroma index",
                           hint="point --index (RAG_INDEX) at the index folder, or move this folder away "
                                "yourself and run rag ingest") from None
    _forget_client(path)
    log.warning("--rebuild: removing the unreadable index in %s", path)
    try:
        for entry in entries:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    except OSError as exc:
        raise _wrap(exc, settings) from None


def _forget_client(path: Path) -> None:
    """chromadb keeps one client per folder per process -- even one whose start failed -- and
    hands it back to the next client for that folder, broken. Private API, hence the guard."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        system = SharedSystemClient._identifier_to_system.pop(str(path), None)
        SharedSystemClient._identifier_to_refcount.pop(str(path), None)
        if system is not None:
            system.stop()
    except Exception:  # noqa: BLE001 (a broken system may fail to stop; it is gone either way)
        pass


def probe(settings: Settings) -> None:
    """In server mode, check that a compatible Chroma server answers; no-op when embedded."""
    if settings.server_mode:
        try:
            _probe(settings)
        except RagError:
            raise
        except Exception as exc:
            raise _wrap(exc, settings) from None


def _probe(settings: Settings) -> None:
    """Ask the server who it is before chromadb does.

    Why our own request: chromadb's HttpClient turns every start-up failure into a bare
    ``ValueError`` (often with an empty message, e.g. when something that is not Chroma
    answers 404), and waits forever on a server that accepts but never answers. One
    heartbeat with a timeout tells apart "nothing there", "hung", "not Chroma" and
    "an older Chroma" -- and names host and port in each case.
    """
    import chromadb
    import httpx

    where = _where(settings)
    base = f"http://{settings.chroma_host}:{settings.chroma_port}"
    with httpx.Client(timeout=settings.chroma_timeout_s, trust_env=False) as http:
        try:
            beat = http.get(base + "/api/v2/heartbeat")
            if beat.status_code == 404 and http.get(base + "/api/v1/heartbeat").status_code == 200:
                raise RagError(f"the Chroma server at {where} is an older version (it speaks only the v1 API; "
                               f"this client is chromadb {chromadb.__version__})", hint=VERSION_HINT)
            if beat.status_code != 200 or "nanosecond heartbeat" not in beat.text:
                raise RagError(f"something answers at {where}, but not as a Chroma server "
                               f"(HTTP {beat.status_code} for /api/v2/heartbeat)",
                               hint="check chroma_host/chroma_port (RAG_CHROMA_HOST, --chroma-port)")
            version = http.get(base + "/api/v2/version").text.strip().strip('"')
        except httpx.HTTPError as exc:
            raise _wrap(exc, settings) from None
    if version.split(".")[0] != chromadb.__version__.split(".")[0]:
        raise RagError(f"the Chroma server at {where} reports version {version}; this client is "
                       f"chromadb {chromadb.__version__}", hint=VERSION_HINT)


def _set_timeout(client, seconds: float) -> None:
    """chromadb builds its HTTP session with ``timeout=None`` and has no setting for it, so a
    hung server would hang every command; the session is reached through private
    attributes, and left alone if a future chromadb moves them."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds)


def _where(settings: Settings) -> str:
    return f"{settings.chroma_host}:{settings.chroma_port}"


def _is_chroma_error(exc: Exception) -> bool:
    """Errors from chromadb itself or the HTTP layer under it, not bugs of ours."""
    import httpx

    module = type(exc).__module__ or ""
    return isinstance(exc, httpx.HTTPError) or module.startswith(("chromadb", "httpx", "httpcore")) \
        or "chroma" in str(exc).lower()


def _call(settings: Settings, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except RagError:
        raise
    except Exception as exc:
        raise _wrap(exc, settings) from None


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _wrap(exc: Exception, settings: Settings) -> RagError:
    text = _short(exc)
    if settings.server_mode:
        return _wrap_server(exc, text, settings)
    if "readonly" in text.lower() or "permission" in text.lower():
        return RagError(f"the index folder {settings.index} is not writable ({text})",
                        hint="Chroma writes to its folder even to answer questions: fix the folder's "
                             "permissions, or point RAG_INDEX/--index elsewhere")
    return RagError(f"the index in {settings.index} cannot be read ({text})",
                    hint=f"it may be corrupt or from another chromadb version; {REBUILD_HINT}")


def _wrap_server(exc: Exception, text: str, settings: Settings) -> RagError:
    import httpx

    where = _where(settings)
    low = text.lower()
    if isinstance(exc, httpx.TimeoutException) or "timed out" in low:
        return RagError(f"the Chroma server at {where} did not answer within {settings.chroma_timeout_s:g} s",
                        hint=f"is it overloaded or stopped? raise chroma_timeout_s (RAG_CHROMA_TIMEOUT_S); {RERUN_HINT}")
    if isinstance(exc, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)) \
            or any(w in low for w in ("could not connect", "connection refused", "unreachable", "disconnected")):
        return RagError(f"cannot reach the Chroma server at {where} ({text})",
                        hint=f"start it (chroma run --path DIR --host HOST --port PORT) or fix "
                             f"chroma_host/chroma_port; {RERUN_HINT}")
    if "does not exist" in low:
        return RagError(f"the collection '{settings.collection}' on the Chroma server at {where} is gone "
                        f"(dropped by another client, e.g. rag ingest --rebuild?)",
                        hint="run the command again; if the index is missing, build it with: rag ingest")
    return RagError(f"the Chroma server at {where} failed ({text})", hint=VERSION_HINT)
