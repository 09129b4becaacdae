"""Sync the index with the corpus: add new files, replace changed ones, remove deleted ones.

Why no manifest file: the collection itself is the manifest. Every chunk carries its
file's hash and chunk count, so a file is up to date exactly when the collection holds
``n_chunks`` chunks with the current hash. A run killed part-way leaves a file with too
few chunks (or sentences without chunks), which the next run sees and redoes: no
duplicates (ids are deterministic and writes are upserts), no stale chunks, nothing lost.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rag.chunking import Chunker, Span, sentences
from rag.config import Settings
from rag.context import DocumentContext, indexed_text
from rag.corpus import Skipped, SourceFile, scan
from rag.errors import RagError
from rag.ids import chunk_id, sentence_id
from rag.store import Store, remove_broken

log = logging.getLogger(__name__)



@dataclass
class IngestReport:
    files: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    roots: list[str] = field(default_factory=list)
    extensions: tuple[str, ...] = ()  # what the scan read (Settings.extensions)

    def summary(self) -> str:
        if not self.files:  # not "up to date": a wrong folder or extension must not look like success
            line = (f"no files to index in {', '.join(self.roots) or 'the corpus'} "
                    f"(rag reads {', '.join(self.extensions) or 'no extensions'} files)")
            if self.removed:
                line += f"; {self.removed} files removed from the index"
            return line + (f"; {len(self.skipped)} skipped" if self.skipped else "")
        line = (f"{self.files} files, {self.chunks} chunks: {self.added} added, {self.updated} updated, "
                f"{self.removed} removed, {self.unchanged} unchanged; {self.embedded} texts embedded "
                f"in {self.seconds:.1f}s")
        if not (self.added or self.updated or self.removed):
            line += " (index already up to date, nothing embedded)"
        if self.skipped:
            line += f"; {len(self.skipped)} skipped"
        return line


@dataclass
class _Prepared:
    file: SourceFile
    chunks: list[Span]
    sentences: list[Span]
    context: DocumentContext

    def header(self, span: Span) -> str:
        return self.context.header(span.start_char)

    @property
    def n_texts(self) -> int:
        return len(self.chunks) + len(self.sentences)


def _meta(p: _Prepared, span: Span, stamp: str, n_chunks: int) -> dict:
    return {"path": str(p.file.path), "file": p.file.name, "file_hash": p.file.sha256, "context": p.header(span),
            "n_chunks": n_chunks, "start_char": span.start_char, "end_char": span.end_char,
            "start_line": span.start_line, "end_line": span.end_line,
            "content_hash": span.content_hash, "indexed_at": stamp, "para": span.para}


class Ingestor:
    def __init__(self, settings: Settings, embedder):
        from rag.models import token_counter

        self.settings = settings
        self.embedder = embedder
        self.chunker = Chunker(settings.chunk_size, settings.chunk_overlap, token_counter(embedder))

    def run(self, roots: list[Path] | None = None, rebuild: bool = False, progress: bool = True) -> IngestReport:
        started = time.perf_counter()
        roots = roots or [self.settings.corpus]
        found = scan(roots, self.settings.extensions, self.settings.follow_symlinks, self.settings.max_file_bytes,
                     self.settings.max_line_chars)
        for s in found.skipped:
            log.warning("skipped %s: %s", s.name, s.reason)
        if rebuild:
            try:
                Store(self.settings, check=False).drop()
            except RagError as exc:  # Chroma cannot open it at all: remove its files instead
                remove_broken(self.settings, exc)
        store = Store(self.settings, create=True)
        report = IngestReport(files=len(found.files), skipped=found.skipped, roots=[str(r) for r in roots],
                              extensions=tuple(self.settings.extensions))
        states = store.file_states()
        todo = self._plan(found.files, states, report)
        for path in set(states) - {str(f.path) for f in found.files}:
            log.info("removing %s (no longer in the corpus)", path)
            store.delete_path(path)
            report.removed += 1
        self._index(store, todo, states, report, progress)
        if report.added or report.updated or report.removed:
            store.bump_generation(_now())
        report.chunks = store.count()
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, files: list[SourceFile], states, report: IngestReport) -> list[SourceFile]:
        todo = []
        for f in files:
            state = states.get(str(f.path))
            if state and state.complete and state.file_hash == f.sha256:
                report.unchanged += 1
            else:
                todo.append(f)
        return todo

    def _index(self, store: Store, todo: list[SourceFile], states, report: IngestReport, progress: bool) -> None:
        from tqdm import tqdm

        prepared = [self._prepare(f) for f in todo]
        total = sum(p.n_texts for p in prepared)
        bar = tqdm(total=total, desc="embedding", unit="text", disable=not progress or total == 0)
        batch: list[_Prepared] = []
        with bar:
            for p in prepared:
                batch.append(p)
                if sum(b.n_texts for b in batch) >= self.settings.ingest_batch_texts:
                    self._flush(store, batch, states, report, bar)
                    batch = []
            if batch:
                self._flush(store, batch, states, report, bar)

    def _prepare(self, f: SourceFile) -> _Prepared:
        chunks = self.chunker.chunks(f)
        return _Prepared(f, chunks, sentences(f), DocumentContext(f.name, f.text))

    def _flush(self, store: Store, batch: list[_Prepared], states, report: IngestReport, bar) -> None:
        # chunks are embedded under their document context (rag.context), so retrieval finds
        # the right document; sentences as they are, so that inside one document the answer
        # writer tells them apart (a shared header would pull all their vectors together)
        texts = [indexed_text(p.header(c), c.text) for p in batch for c in p.chunks] + \
                [s.text for p in batch for s in p.sentences]
        # identical texts (a repeated paragraph, the chunk and the sentence of a one-line
        # file, copies of one file) are embedded once: the model is the slow part
        unique = list(dict.fromkeys(texts))
        # and the text a changed file kept (most of it, usually) keeps its stored vector
        known = store.known_vectors([str(p.file.path) for p in batch if str(p.file.path) in states])
        fresh = [t for t in unique if t not in known]
        vector_of = {**known, **dict(zip(fresh, self._embed(fresh, bar)))}
        bar.update(len(texts) - len(fresh))
        stamp = _now()
        rows: dict[str, list[tuple]] = {"sentences": [], "chunks": []}
        for p in batch:
            n_c, path = len(p.chunks), str(p.file.path)
            if path in states:
                store.delete_path(path)  # stale or partial entries of an earlier run
            rows["sentences"] += [(sentence_id(path, s), vector_of[s.text], s.text, _meta(p, s, stamp, n_c))
                                  for s in p.sentences]
            rows["chunks"] += [(chunk_id(path, i, c), vector_of[indexed_text(p.header(c), c.text)], c.text,
                                _meta(p, c, stamp, n_c)) for i, c in enumerate(p.chunks)]
        # One write per collection per batch, not per file: a Chroma write costs tens of ms
        # whatever its size, and thousands of tiny files written one by one took minutes.
        # Sentences before chunks: complete chunks are the mark of a finished file.
        for name in ("sentences", "chunks"):
            if rows[name]:
                ids, vectors, docs, metas = (list(col) for col in zip(*rows[name]))
                store.add(name, ids, vectors, docs, metas)
        for p in batch:
            if str(p.file.path) in states:
                report.updated += 1
                log.info("re-indexed %s (%d chunks)", p.file.name, len(p.chunks))
            else:
                report.added += 1
                log.info("indexed %s (%d chunks)", p.file.name, len(p.chunks))
        report.embedded += len(fresh)
        # stamp every batch, not only the end: a reader (another process) whose BM25 was
        # built mid-ingest sees the change even if this run is killed before it finishes
        store.bump_generation(stamp)
        _hold(self.settings.ingest_hold_file)

    def _embed(self, texts: list[str], bar) -> list[list[float]]:
        from rag.models import sentence_model

        model = sentence_model(self.embedder)
        out: list[list[float]] = []
        size = self.settings.embed_batch_size * 4
        for i in range(0, len(texts), size):
            part = texts[i:i + size]
            vecs = model.encode(part, batch_size=self.settings.embed_batch_size,
                                normalize_embeddings=True, show_progress_bar=False)
            out.extend(v.tolist() for v in vecs)
            bar.update(len(part))
        return out


def _hold(path: str) -> None:
    """See Settings.ingest_hold_file: a batch is written and stamped; wait here while asked."""
    while path and os.path.exists(path):
        time.sleep(0.05)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
