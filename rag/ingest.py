"""Sync the index with the corpus: add new files, replace changed ones, remove deleted ones.

Why no manifest file: the collection itself is the manifest. Every chunk carries its
file's hash and chunk count, so a file is up to date exactly when the collection holds
``n_chunks`` chunks with the current hash. A run killed part-way leaves a file with too
few chunks (or sentences without chunks), which the next run sees and redoes: no
duplicates (ids are deterministic and writes are upserts), no stale chunks, nothing lost.

A file's texts are written in order, sentences first and chunks last, and a file larger
than a batch is cut into pieces that fill batches (``_pieces``): a batch never holds more
than ``ingest_batch_texts`` texts, so one huge file cannot make a huge batch. A changed
file's old entries are deleted once, with its first piece; the vectors they held are kept
(``known_vectors``) until its last piece is written, so unchanged text is not re-embedded.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rag.chunking import Chunker, Span, sentences
from rag.config import Settings
from rag.context import DocumentContext, indexed_text
from rag.corpus import Skipped, SourceFile, find, limits, parse, skip_summary
from rag.readers import Skip, open_document
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
    formats: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    roots: list[str] = field(default_factory=list)
    extensions: tuple[str, ...] = ()  # what the scan read (Settings.extensions)

    def summary(self) -> str:
        if not self.files:  # not "up to date": a wrong folder or extension must not look like success
            line = (f"no files to index in {', '.join(self.roots) or 'the corpus'}{self._skips()}; rag reads "
                    f"{', '.join(self.extensions)}, extensionless text files (README, NEWS…) and .gz text "
                    f"(set `extensions` in rag.toml)")
            return line + (f"; {self.removed} files removed from the index" if self.removed else "")
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.formats.items(), key=lambda x: -x[1]))
        line = (f"{self.files} files indexed ({kinds}), {self.chunks} chunks: {self.added} added, "
                f"{self.updated} updated, {self.removed} removed, {self.unchanged} unchanged; "
                f"{self.embedded} texts embedded in {self.seconds:.1f}s")
        if not (self.added or self.updated or self.removed):
            line += " (index already up to date, nothing embedded)"
        return line + self._skips()

    def _skips(self) -> str:
        return f"; {len(self.skipped)} skipped: {skip_summary(self.skipped)}" if self.skipped else ""

    @property
    def failed(self) -> list[Skipped]:
        """Files rag should read and could not (binary and other formats are expected)."""
        return [s for s in self.skipped if s.category == "unreadable"]


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


@dataclass
class _Piece:
    """Consecutive texts of one prepared file: ``sentences``, then ``chunks`` as (index, span)
    -- the index is the chunk's place in the whole file, which its id carries."""
    prep: _Prepared
    sentences: list[Span]
    chunks: list[tuple[int, Span]]
    first: bool  # deletes the file's stale entries, and fetches their vectors first
    last: bool  # completes the file: counted in the report

    @property
    def n_texts(self) -> int:
        return len(self.chunks) + len(self.sentences)


def _pieces(p: _Prepared, room: int, size: int):
    """``p``'s texts in order (sentences, then chunks), cut so that the first piece fills the
    ``room`` left in the current batch and every later one at most ``size`` texts."""
    texts = [("s", s) for s in p.sentences] + [("c", ic) for ic in enumerate(p.chunks)]
    start, take = 0, max(room, 1)
    while True:
        part = texts[start:start + take]
        end = start + len(part)
        yield _Piece(p, [t for kind, t in part if kind == "s"], [t for kind, t in part if kind == "c"],
                     first=start == 0, last=end >= len(texts))
        if end >= len(texts):
            return
        start, take = end, size


def _meta(p: _Prepared, span: Span, stamp: str, n_chunks: int) -> dict:
    meta = {"path": str(p.file.path), "file": p.file.name, "file_hash": p.file.sha256, "context": p.header(span),
            "n_chunks": n_chunks, "start_char": span.start_char, "end_char": span.end_char,
            "start_line": span.start_line, "end_line": span.end_line,
            "content_hash": span.content_hash, "indexed_at": stamp, "para": span.para, "format": p.file.kind}
    page, end_page = p.file.pages_of(span.start_char, span.end_char)
    if page is not None:  # Chroma metadata cannot hold None: text formats carry no page keys
        meta.update(page=page, end_page=end_page)
    return meta


class Ingestor:
    def __init__(self, settings: Settings, load_encoder, count_tokens):
        """``load_encoder(embedded)``: what embeds texts (``encode(texts, batch_size=...,
        normalize_embeddings=True)``, as SentenceTransformer has it), given how many texts this
        run has embedded so far (a long run may switch to an encoder that is faster per text);
        called only when there is text to embed, so a run that finds nothing new never pays
        for loading one.
        ``count_tokens``: the model's word-pieces of a text (rag.models.tokenizer needs no
        model loaded)."""
        self.settings = settings
        self.load_encoder = load_encoder
        self._embedded = 0
        self.chunker = Chunker(settings.chunk_size, settings.chunk_overlap, count_tokens)

    def run(self, roots: list[Path] | None = None, rebuild: bool = False, progress: bool = True) -> IngestReport:
        """Streams: each file is read, hashed, and — when new or changed — parsed, chunked and
        added to the current batch; a full batch is embedded and written. Peak memory is one
        batch's files, not the corpus; an unchanged file is hashed, never parsed."""
        started = time.perf_counter()
        roots = roots or [self.settings.corpus]
        paths, skipped = find(roots, self.settings.follow_symlinks)
        if rebuild:
            try:
                Store(self.settings, check=False).drop()
            except RagError as exc:  # Chroma cannot open it at all: remove its files instead
                remove_broken(self.settings, exc)
        store = Store(self.settings, create=True)
        report = IngestReport(skipped=skipped, roots=[str(r) for r in roots],
                              extensions=tuple(self.settings.extensions))
        states = store.file_states()
        kept = self._stream(store, paths, states, report, progress)
        for path in set(states) - kept:
            log.info("removing %s (no longer in the corpus, or no longer readable)", path)
            store.delete_path(path)
            report.removed += 1
        for k in report.skipped:
            (log.warning if k.category == "unreadable" else log.info)("skipped %s: %s", k.name, k.reason)
        if report.added or report.updated or report.removed:
            store.bump_generation(_now())
        store.record_skipped([{"name": k.name, "category": k.category, "reason": k.reason} for k in report.skipped])
        report.files = sum(report.formats.values())
        report.chunks = store.count()
        report.seconds = time.perf_counter() - started
        return report

    def _stream(self, store: Store, paths: list[tuple[Path, str]], states, report: IngestReport,
                progress: bool) -> set[str]:
        """Index what changed, batch by batch; returns the paths that stay in the index."""
        from tqdm import tqdm

        lim = limits(self.settings)
        kept: set[str] = set()
        size = self.settings.ingest_batch_texts
        batch: list[_Piece] = []
        self._carried: dict[str, list[float]] = {}
        self._recent: OrderedDict[str, "np.ndarray"] = OrderedDict()  # float32: a quarter of a list's memory
        with tqdm(total=len(paths), desc="reading and embedding", unit="file", disable=not progress) as bar:
            for path, name in paths:
                prepared = self._open(path, name, lim, states, report, kept)
                bar.update(1)
                if prepared is None:
                    continue
                for piece in _pieces(prepared, size - sum(b.n_texts for b in batch), size):
                    batch.append(piece)
                    if sum(b.n_texts for b in batch) >= size:
                        self._flush(store, batch, states, report)
                        bar.set_postfix(embedded=report.embedded)
                        batch = []
            if batch:
                self._flush(store, batch, states, report)
                bar.set_postfix(embedded=report.embedded)
        return kept

    def _open(self, path: Path, name: str, lim, states, report: IngestReport, kept: set[str]) -> "_Prepared | None":
        """A new or changed file, parsed and chunked; None when unchanged or skipped."""
        try:
            opened = open_document(path, name, lim)
            state = states.get(str(path))
            if state and state.complete and state.file_hash == opened.digest:
                report.unchanged += 1
                report.formats[opened.kind] = report.formats.get(opened.kind, 0) + 1
                kept.add(str(path))
                return None
            f = parse(path, name, opened, lim, self.settings.max_line_chars)
        except Skip as exc:
            report.skipped.append(Skipped(name, exc.reason, exc.category))
            return None
        report.formats[f.kind] = report.formats.get(f.kind, 0) + 1
        kept.add(str(path))
        return self._prepare(f)

    def _prepare(self, f: SourceFile) -> _Prepared:
        chunks = self.chunker.chunks(f)
        return _Prepared(f, chunks, sentences(f), DocumentContext(f.name, f.text, f.structure, f.title))

    def _flush(self, store: Store, batch: list[_Piece], states, report: IngestReport) -> None:
        # chunks are embedded under their document context (rag.context), so retrieval finds
        # the right document; sentences as they are, so that inside one document the answer
        # writer tells them apart (a shared header would pull all their vectors together)
        texts = [indexed_text(pc.prep.header(c), c.text) for pc in batch for _i, c in pc.chunks] + \
                [indexed_text("", s.text) for pc in batch for s in pc.sentences]
        # identical texts (a repeated paragraph, the chunk and the sentence of a one-line
        # file, copies of one file) are embedded once: the model is the slow part
        unique = list(dict.fromkeys(texts))
        # and so is a text this run embedded a few batches ago, or one a changed file kept
        known = {t: self._recent[t].tolist() for t in unique if t in self._recent}
        known.update(self._known(store, batch, states))
        fresh = [t for t in unique if t not in known]
        vector_of = {**known, **self._remember(dict(zip(fresh, self._embed(fresh))))}
        stamp = _now()
        rows: dict[str, list[tuple]] = {"sentences": [], "chunks": []}
        for pc in batch:
            p, path = pc.prep, str(pc.prep.file.path)
            n_c = len(p.chunks)
            if pc.first and path in states:
                store.delete_path(path)  # stale or partial entries of an earlier run, once per file
            rows["sentences"] += [(sentence_id(path, s), vector_of[indexed_text("", s.text)], s.text,
                                   _meta(p, s, stamp, n_c))
                                  for s in pc.sentences]
            rows["chunks"] += [(chunk_id(path, i, c), vector_of[indexed_text(p.header(c), c.text)], c.text,
                                _meta(p, c, stamp, n_c)) for i, c in pc.chunks]
        # One write per collection per batch, not per file: a Chroma write costs tens of ms
        # whatever its size, and thousands of tiny files written one by one took minutes.
        # Sentences before chunks: complete chunks are the mark of a finished file.
        for name in ("sentences", "chunks"):
            if rows[name]:
                ids, vectors, docs, metas = (list(col) for col in zip(*rows[name]))
                store.add(name, ids, vectors, docs, metas)
        for pc in batch:
            if not pc.last:
                continue
            changed = str(pc.prep.file.path) in states
            report.updated += changed
            report.added += not changed
            log.info("%s %s (%d chunks)", "re-indexed" if changed else "indexed", pc.prep.file.name,
                     len(pc.prep.chunks))
        report.embedded += len(fresh)
        # stamp every batch, not only the end: a reader (another process) whose BM25 was
        # built mid-ingest sees the change even if this run is killed before it finishes
        store.bump_generation(stamp)
        _hold(self.settings.ingest_hold_file)

    RECENT_TEXTS = 4096  # ~6 MB of vectors (float32 arrays), whatever the corpus

    def _remember(self, new: dict[str, list[float]]) -> dict[str, list[float]]:
        """Vectors of the last texts this run embedded, so that a text repeated a few batches
        later is not embedded again: a file's repeated paragraphs cut across pieces (the seeds:
        768 texts embedded with per-batch de-duplication, 692 with this), the same boilerplate
        in neighbouring files. Bounded: memory stays set by the batch size, not the corpus."""
        import numpy as np

        for text, vec in new.items():
            self._recent[text] = np.asarray(vec, dtype=np.float32)
            self._recent.move_to_end(text)
        while len(self._recent) > self.RECENT_TEXTS:
            self._recent.popitem(last=False)
        return new

    def _known(self, store: Store, batch: list[_Piece], states) -> dict[str, list[float]]:
        """Stored vectors of the text changed files kept, by embedded text. Fetched with a
        file's first piece, before that piece deletes its old entries, and carried to the
        batches that hold its later pieces (only the batch's last file can continue)."""
        starting = [str(pc.prep.file.path) for pc in batch if pc.first and str(pc.prep.file.path) in states]
        known = {**store.known_vectors(starting), **self._carried}
        tail = batch[-1]
        self._carried = known if not tail.last and str(tail.prep.file.path) in states else {}
        return known

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:  # all known (an edit that only removed text): no model needed
            return []
        model = self.load_encoder(self._embedded)
        self._embedded += len(texts)
        out: list[list[float]] = []
        size = self.settings.embed_batch_size * 4
        for i in range(0, len(texts), size):
            part = texts[i:i + size]
            vecs = model.encode(part, batch_size=self.settings.embed_batch_size,
                                normalize_embeddings=True, show_progress_bar=False)
            out.extend(v.tolist() for v in vecs)
        return out


def _hold(path: str) -> None:
    """See Settings.ingest_hold_file: a batch is written and stamped; wait here while asked."""
    if path and os.path.exists(path):
        log.info("batch written; holding while %s exists", path)  # what a test or bench waits for
    while path and os.path.exists(path):
        time.sleep(0.05)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
