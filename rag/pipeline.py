"""``Pipeline``: the one object the CLI, the chat and the eval call.

It owns the settings, loads the model once, opens the store lazily and wires
retrieval to the answer writer. Shells never touch the store, the model or Chroma.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import offline
from rag.results import Answer, Passage
from rag.config import Settings
from rag.errors import RagError

log = logging.getLogger(__name__)

_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")


def clean_question(question: str, max_chars: int) -> str:
    """Control characters are dropped; empty and over-long questions are refused with a reason."""
    if not isinstance(question, str):
        raise RagError("the question must be text")
    # Lone surrogates (invalid UTF-8 bytes in argv arrive as \udcXX) crashed the tokenizer and
    # could not be printed: pairs become their character, lone halves U+FFFD.
    q = question.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    q = q.translate(_CONTROL).strip()
    if not q:
        raise RagError("the question is empty", hint="ask something, e.g. rag ask \"Who invested in Anthropic?\"")
    if len(q) > max_chars:
        raise RagError(f"the question is {len(q)} characters long; the limit is {max_chars}",
                       hint="shorten it, or raise max_question_chars (RAG_MAX_QUESTION_CHARS)")
    return q


@dataclass
class Gathered:
    question: str  # cleaned
    q_vec: Any
    pool: list[Passage]
    sentences: list
    k: int  # passages shown
    t0: float
    t1: float
    t2: float


class Pipeline:
    def __init__(self, settings: Settings, embedder=None):
        """``embedder``: an already loaded model to share (the eval indexes several corpora)."""
        offline.setup()  # before the model, Chroma or LlamaIndex is imported through this object
        self.settings = settings
        self._embedder = embedder
        self._store = None
        self._retriever = None
        self._query_embedder = None
        self._encoder: Any = False  # False: not looked for yet; None: none to use
        self._embed_lock = threading.RLock()
        self._lock = threading.RLock()
        self._sources: dict[tuple, Any] = {}  # extracted files the source viewer showed lately

    # --- parts, loaded on first use ------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from rag.models import load_embedder

            self._embedder = load_embedder(self.settings.model, self.settings.embed_batch_size)
        return self._embedder

    @property
    def query_embedder(self):
        """What embeds questions: the ONNX export when ingest has made it (imports and loads
        in a fraction of a second), else the full model. Same vectors either way."""
        if self._query_embedder is None:
            encoder = self._onnx_encoder()
            with self._embed_lock:
                if self._query_embedder is None:
                    from rag.models import embedding_over

                    self._query_embedder = embedding_over(encoder, self.settings.model,
                                                          self.settings.embed_batch_size) \
                        if encoder is not None else self.embedder
        return self._query_embedder

    def _onnx_encoder(self):
        """The ONNX question encoder, or None (not exported, switched off, or broken). Only
        onnxruntime and tokenizers: safe to load in a thread while LlamaIndex imports."""
        with self._embed_lock:
            if self._encoder is False:
                self._encoder = self._load_onnx()
            return self._encoder

    def _load_onnx(self):
        if not self.settings.onnx_encoder:
            return None
        from rag import onnx_model
        from rag.models import model_path

        out = onnx_model.folder(self.settings.cache_dir, model_path(self.settings.model))
        if not onnx_model.is_exported(out):
            return None
        try:
            return onnx_model.OnnxEncoder(out)
        except Exception as exc:  # noqa: BLE001 - a broken export: the full model answers instead
            log.warning("the ONNX question encoder in %s did not load (%s); using sentence-transformers", out, exc)
            return None

    def _warm_encoder(self) -> None:
        try:
            self._onnx_encoder()
        except Exception:  # noqa: BLE001 - asked again on the main thread, which reports it
            pass

    def _open(self):
        with self._lock:
            if self._retriever is None:
                # the question encoder loads while retrieval's libraries import (a cold
                # `rag ask` spends most of its time in both); an error is raised again below
                loading = threading.Thread(target=self._warm_encoder, daemon=True)
                loading.start()
                from rag.retrieve import Retriever
                from rag.store import Store

                store = Store(self.settings)
                store.require()
                loading.join()
                self._store = store
                self._retriever = Retriever(self.settings, store, self.query_embedder)
            return self._store, self._retriever

    # --- operations -------------------------------------------------------------------------
    def ingest(self, paths: list[Path] | None = None, rebuild: bool = False, progress: bool = True):
        from rag.ingest import Ingestor
        from rag.store import probe

        probe(self.settings)  # a server that is down fails in a second, before the model loads
        if not rebuild:
            from rag.store import Store

            Store(self.settings)  # likewise a corrupt, foreign or unwritable index: its message, not 10 s of imports first
        with self._lock:
            report = Ingestor(self.settings, self._ingest_encoder, self._count_tokens()).run(
                paths, rebuild=rebuild, progress=progress)
            self._save_lexical_index(progress)
            self._export_question_encoder()
            self._export_reader()
            self._store = self._retriever = None  # reopen: collections may have been recreated
        return report

    def _ingest_encoder(self, embedded: int):
        """The ONNX export once it exists, for a run's first ``onnx_ingest_texts`` texts: the
        common ingest (a few changed files) then never imports torch, ~9 s of its start; past
        that, sentence-transformers, faster per text (bench/encoders.py measures both), and
        so whenever this process has loaded it already. Same vectors either way
        (tests/test_onnx_model.py). Before the export exists, or for a model handed in (the
        benchmark's stand-in), the model; the first ingest exports it."""
        from rag.models import is_loaded, sentence_model

        if self._embedder is None and embedded < self.settings.onnx_ingest_texts \
                and not is_loaded(self.settings.model):
            encoder = self._onnx_encoder()
            if encoder is not None:
                return encoder
        return sentence_model(self.embedder)

    def _count_tokens(self):
        """A model handed in counts with its own tokenizer (the benchmark's stand-in has no
        file); else the model's tokenizer file does, and chunking never loads the model."""
        from rag.models import token_counter, tokenizer

        return token_counter(self._embedder) if self._embedder is not None else tokenizer(self.settings.model)

    def _save_lexical_index(self, progress: bool) -> None:
        """BM25 saved for this collection state, so the next cold start loads it (rag.lexical)."""
        from rag.lexical import SavedBM25
        from rag.retrieve import _node
        from rag.store import Store

        store = Store(self.settings)
        chunks = store.count() if store.exists() else 0  # Chroma's count grows with the collection
        if chunks:
            SavedBM25(self.settings, store.iter_chunks, _node).refresh(store.generation(),
                                                                       bar=chunks if progress else 0)

    def _export_question_encoder(self) -> None:
        """Once per model, at ingest (never at question time): see rag.onnx_model."""
        if not self.settings.onnx_encoder:
            return
        from rag import onnx_model
        from rag.models import model_path, sentence_model

        model_dir = model_path(self.settings.model)
        out = onnx_model.folder(self.settings.cache_dir, model_dir)
        if not onnx_model.is_exported(out):  # the model loads only to export it
            onnx_model.ensure_exported(sentence_model(self.embedder), model_dir, out)

    def _export_reader(self) -> None:
        """Once per adapter, at ingest (never at question time): see rag.answer.reader."""
        if not self.settings.reader:
            return
        from rag.answer import reader

        adapter = reader.adapter_dir(self.settings)
        if reader.adapter_present(adapter) and reader.ensure_exported(self.settings.cache_dir, adapter) is None:
            log.warning("the reader could not be exported: answers are chosen without it")

    def index_exists(self) -> bool:
        from rag.store import Store

        try:
            store = Store(self.settings)
        except RagError:
            return True  # exists but is foreign or broken: let the caller see that error
        return store.exists() and store.count() > 0

    def info(self) -> dict:
        from rag.store import Store

        # the store alone: `rag info` need not pay for loading the model
        store = self._store or Store(self.settings)
        store.require()
        return store.info()

    def retrieve(self, question: str, top_k: int | None = None, mode: str | None = None) -> list[Passage]:
        q = clean_question(question, self.settings.max_question_chars)
        _, retriever = self._open()
        return retriever.retrieve(q, top_k=top_k, mode=mode, query_embedding=self._embed(q))

    def cite(self, question: str, top_k: int | None = None, mode: str | None = None) -> list[Passage]:
        """Supporting passages only, for people writing their own text."""
        return self.retrieve(question, top_k=top_k, mode=mode)

    def ask(self, question: str, top_k: int | None = None, mode: str | None = None) -> Answer:
        """The answer, cited (or a refusal); JSON via answer.to_dict(); text/Markdown via rag.cite."""
        *_, answer = self.ask_stream(question, top_k=top_k, mode=mode)
        return answer

    def ask_stream(self, question: str, top_k: int | None = None, mode: str | None = None):
        """Yields text as the writer produces it (the LLM writer streams; the extractive one
        does not), then the checked ``Answer`` last. What streamed is a draft: only the final
        Answer's sentences passed the citation check."""
        from rag.answer import make_writer

        g = self.gather(question, top_k=top_k, mode=mode)
        writer = make_writer(self.settings, self._embed)
        answer = yield from writer.stream(g.question, g.q_vec, g.pool, g.sentences, show=g.k)
        paginate(answer, g.sentences)
        self._finish(answer, g)
        yield answer

    def gather(self, question: str, top_k: int | None = None, mode: str | None = None) -> "Gathered":
        """Everything the writer reads for a question: its vector, the passage pool, the
        pool's stored sentences. The eval calls this once per question and applies many
        fitted scorers to it (see rag.evaluate_dev)."""
        import numpy as np

        t0 = time.perf_counter()
        q = clean_question(question, self.settings.max_question_chars)
        store, retriever = self._open()
        q_vec = np.asarray(self._embed(q), dtype=np.float32)
        t1 = time.perf_counter()
        k = top_k or self.settings.top_k
        # the writer considers sentences of a wider pool than is shown: the sentence that
        # answers may sit in the 7th passage
        pool = retriever.retrieve(q, top_k=max(k, self.settings.answer_pool), mode=mode, query_embedding=q_vec.tolist())
        t2 = time.perf_counter()
        sentences = store.sentences_in([(p.path, p.start_char, p.end_char) for p in pool])
        return Gathered(q, q_vec, pool, sentences, k, t0, t1, t2)

    def _finish(self, answer: Answer, g: "Gathered") -> None:
        t3 = time.perf_counter()
        answer.timings_ms.update(embed=(g.t1 - g.t0) * 1e3, retrieve=(g.t2 - g.t1) * 1e3,
                                 answer=(t3 - g.t2) * 1e3, total=(t3 - g.t0) * 1e3)
        log.info("asked %r: %s in %.0f ms", g.question[:80], "refused" if answer.refused else
                 f"{len(answer.citations)} citations", answer.timings_ms["total"])

    def source(self, file: str, start_char: int, end_char: int, context: int = 3,
               highlights: list[tuple[int, int]] | None = None) -> dict:
        """Lines of an indexed file around a span (a citation, a passage), highlights marked.

        ``file`` is the name a citation shows; the path read is the one the index holds for
        it, so only indexed files can be read and no name (``../``, absolute) escapes.
        """
        from rag.corpus import window

        if not isinstance(file, str) or not file.strip():
            raise RagError("no file named", hint="pass the 'file' of a citation or passage")
        store, _ = self._open()
        meta = store.indexed_file(file)
        if meta is None:
            raise RagError(f"'{file[:200]}' is not a file in the index",
                           hint="only indexed files can be shown; `rag info` lists them")
        src = self._read(Path(meta["path"]), file)
        spans = highlights if highlights is not None else [(start_char, end_char)]
        out = window(src.text, int(start_char), int(end_char), context=min(max(int(context), 0), 50),
                     highlights=[(int(s), int(e)) for s, e in spans])
        page, end_page = src.pages_of(int(start_char), int(end_char))
        # a file edited since indexing may no longer say what the citation quoted
        return {"file": file, "start_char": int(start_char), "end_char": int(end_char), "page": page,
                "end_page": end_page, "format": src.kind, "stale": src.sha256 != meta.get("file_hash"), **out}

    def _read(self, path: Path, name: str):
        """The file's text as ingest extracted it (same reader, same limits), cached while the
        file is unchanged: the viewer opens several citations of one PDF in a row."""
        from rag.corpus import limits, read_source
        from rag.readers import Skip

        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            with self._lock:
                if key in self._sources:
                    return self._sources[key]
            src = read_source(path, name, limits(self.settings), max_line_chars=1 << 62)
        except (OSError, Skip) as exc:
            reason = exc.reason if isinstance(exc, Skip) else exc.strerror or str(exc)
            raise RagError(f"cannot read {name}: {reason}", hint="re-index after changing the corpus (rag ingest)") \
                from None
        with self._lock:
            if len(self._sources) >= 8:
                self._sources.pop(next(iter(self._sources)))
            self._sources[key] = src
        return src

    def embed(self, text: str) -> list[float]:
        """A question's vector (the writer embeds each part of a multi-part question)."""
        return self.query_embedder.get_query_embedding(text)

    _embed = embed


def paginate(answer: Answer, rows) -> None:
    """Pages of citations and passages in paged formats (PDF), from the stored sentences
    around them: a citation is a run of whole sentences, so its first sentence's ``page`` and
    its last one's ``end_page`` are exact. Text formats keep ``page = None``."""
    import bisect

    by_path: dict[str, list[tuple]] = {}
    for _id, _text, m, _vec in rows:
        if m.get("page") is not None:
            by_path.setdefault(m["path"], []).append((m["start_char"], m["end_char"], m["page"], m["end_page"]))
    if not by_path:
        return
    for spans in by_path.values():
        spans.sort()

    def at(path: str, char: int, end: bool) -> int | None:
        spans = by_path.get(path)
        if not spans:
            return None
        i = max(bisect.bisect_right(spans, (char, float("inf"))) - 1, 0)
        s, e, page, end_page = spans[i]
        return end_page if end or char >= e else page

    for item in [*answer.citations, *answer.passages]:
        if item.page is None and item.path in by_path:
            item.page = at(item.path, item.start_char, False)
            item.end_page = at(item.path, max(item.start_char, item.end_char - 1), True)
