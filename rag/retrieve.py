"""Hybrid retrieval: BM25 and dense search over the Chroma collection, fused, de-duplicated.

Composed from LlamaIndex parts (VectorIndexRetriever over ChromaVectorStore,
BM25Retriever, each a BaseRetriever). Three pieces are ours: the reciprocal-rank fusion
(``FusedRetriever``: LlamaIndex's keys hits by a content hash the two sides never agree
on, see there), the near-duplicate collapser (LlamaIndex only drops exact id/hash
repeats, and the seed corpus repeats whole paragraphs inside differently-cut chunks) and
the BM25 cache keyed by the collection's generation, so BM25 is rebuilt when ingest
changed the collection, from the collection itself (which works the same against a
Chroma server), and never per question.
"""

from __future__ import annotations

import logging
import re
import threading

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.bridge.pydantic import Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.config import RETRIEVAL_MODES, Settings
from rag.results import Passage
from rag.textnorm import dehyphenate
from rag.errors import RagError
from rag.store import Store

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class NearDuplicateCollapser(BaseNodePostprocessor):
    """Keep the best-ranked of near-identical passages; note where the others stand.

    Its defaults are the Settings' own (``dedup_overlap``, ``top_k``): it once carried an
    overlap of its own (0.6 against the settings' 0.4), so a collapser built without
    arguments collapsed differently from the one retrieval builds.
    """

    overlap: float = Field(default_factory=lambda: Settings().dedup_overlap)
    top_k: int = Field(default_factory=lambda: Settings().top_k)

    @classmethod
    def from_settings(cls, settings: Settings, top_k: int | None = None) -> "NearDuplicateCollapser":
        return cls(overlap=settings.dedup_overlap, top_k=top_k or settings.top_k)

    @classmethod
    def class_name(cls) -> str:
        return "NearDuplicateCollapser"

    def _postprocess_nodes(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None):
        kept: list[tuple[NodeWithScore, set]] = []
        for node in nodes:
            sh = shingles(node.node.get_content())
            twin = next((k for k, ksh in kept if overlap_of_smaller(sh, ksh) >= self.overlap), None)
            if twin is None:
                # a fresh node: cached BM25 nodes must not collect also_in across questions
                fresh = _node(node.node.node_id, node.node.get_content(), node.node.metadata)
                kept.append((NodeWithScore(node=fresh, score=node.score), sh))
                if len(kept) == self.top_k:
                    break
                continue
            m = node.node.metadata
            twin.node.metadata.setdefault("also_in", []).append(
                {"file": m["file"], "start_line": m["start_line"], "end_line": m["end_line"]})
        return [k for k, _ in kept]


def overlap_of_smaller(a: set, b: set) -> float:
    """|a & b| / min(|a|, |b|) (the overlap coefficient): symmetric, and 1.0 when one set lies
    inside the other. Not containment of ``a`` in ``b`` (|a & b| / |a|), which is what the LLM
    writer's check measures of a sentence's words in its passage (rag.answer.llm.check)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _node(id_: str, text: str, meta: dict) -> TextNode:
    """A chunk whose BM25 text (LlamaIndex's EMBED view) is its document-context header and
    its own text (rag.context); its content proper stays the file's characters. A text
    with words hyphenated at line ends (PDF) shows BM25 its joined form instead."""
    joined = dehyphenate(text)
    if joined == text:
        return TextNode(id_=id_, text=text, metadata=dict(meta), metadata_template="{value}",
                        excluded_embed_metadata_keys=[k for k in meta if k != "context"],
                        excluded_llm_metadata_keys=list(meta))
    meta = {**meta, "joined_text": joined}
    return TextNode(id_=id_, text=text, metadata=meta, metadata_template="{value}", text_template="{metadata_str}",
                    excluded_embed_metadata_keys=[k for k in meta if k not in ("context", "joined_text")],
                    excluded_llm_metadata_keys=list(meta))


class FusedRetriever(BaseRetriever):
    """Reciprocal-rank fusion (Cormack et al. 2009, k = 60) of several retrievers' hits, by
    node id: a hit's score is the sum of 1 / (60 + rank) over the retrievers that returned it.

    Why not LlamaIndex's QueryFusionRetriever: it keys hits by ``node.hash``, a digest of
    the text and ``str(metadata)``, and a chunk comes back from Chroma and from BM25 with
    the same metadata in another key order -- so its two copies never merged, and a chunk
    both sides found ranked as if one side alone had (all 222 hits the two sides shared on
    the 26 seed questions hashed differently). Built per question, it also cost ~0.5 ms in
    set-up (it resolves an LLM for query generation, unused here) and ~0.5 ms in hashing.
    """

    def __init__(self, retrievers: list[BaseRetriever], top_k: int, k0: float = 60.0):
        super().__init__()
        self._retrievers = retrievers
        self._top_k = top_k
        self._k0 = k0

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        score: dict[str, float] = {}
        first: dict[str, NodeWithScore] = {}
        for retriever in self._retrievers:
            hits = sorted(retriever.retrieve(query_bundle), key=lambda n: n.score or 0.0, reverse=True)
            for rank, hit in enumerate(hits):
                id_ = hit.node.node_id
                first.setdefault(id_, hit)
                score[id_] = score.get(id_, 0.0) + 1.0 / (self._k0 + rank)
        best = sorted(score, key=score.__getitem__, reverse=True)[: self._top_k]  # stable: ties keep first-seen order
        return [NodeWithScore(node=first[i].node, score=score[i]) for i in best]


class Retriever:
    """What the pipeline asks for passages. Thread-safe: the chat serves many users."""

    def __init__(self, settings: Settings, store: Store, embedder):
        from llama_index.core import VectorStoreIndex

        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._index = VectorStoreIndex.from_vector_store(store.vector_store(), embed_model=embedder)
        from rag.lexical import SavedBM25

        self._lexical = SavedBM25(settings, store.iter_chunks, _node)  # the lexical side (see rag.lexical)
        self._key: tuple | None = None  # the collection's signature at the last question
        self._lock = threading.Lock()

    # --- components -------------------------------------------------------------------
    def _dense(self, k: int):
        return self._index.as_retriever(similarity_top_k=k, embed_model=self.embedder)

    def _sync(self) -> None:
        """Once per question, O(1): notice what any process (this one, another ingest, another
        client of the same Chroma server) did to the collection since the last question."""
        key = self.store.generation()
        with self._lock:
            if self.store.refresh(key):  # recreated elsewhere (--rebuild): new collection objects
                from llama_index.core import VectorStoreIndex

                self._index = VectorStoreIndex.from_vector_store(self.store.vector_store(), embed_model=self.embedder)
            self._key = key

    def _bm25_retriever(self, k: int):
        # the signature read *before* the chunks: writes that land while BM25 is built
        # change it again, so the next question rebuilds rather than trusting a mixed copy
        key = self._key if self._key is not None else self.store.generation()
        return self._lexical.retriever(key, k)

    def _fused(self, k: int):
        return FusedRetriever([self._dense(k), self._bm25_retriever(k)], top_k=k)

    # each of rag.config.RETRIEVAL_MODES, by the method that builds its retriever
    BUILDERS = {"hybrid": "_fused", "dense": "_dense", "bm25": "_bm25_retriever"}

    def component(self, mode: str, k: int):
        return getattr(self, self.BUILDERS[mode])(k)

    # --- the one public call --------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None, mode: str | None = None,
                 query_embedding: list[float] | None = None) -> list[Passage]:
        top_k = top_k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        if mode not in RETRIEVAL_MODES:
            raise RagError(f"retrieval mode '{mode}' is not one of {', '.join(RETRIEVAL_MODES)}")
        candidates = max(self.settings.candidates, top_k * 3)
        bundle = QueryBundle(question, embedding=query_embedding)
        with self.store.guard():  # a server stopped mid-question is an error message, not a traceback
            self._sync()
            nodes = self.component(mode, candidates).retrieve(bundle)
        collapser = NearDuplicateCollapser.from_settings(self.settings, top_k)
        return [to_passage(n) for n in collapser.postprocess_nodes(nodes, bundle)]


def to_passage(n: NodeWithScore) -> Passage:
    m = n.node.metadata
    return Passage(id=n.node.node_id, file=m["file"], path=m["path"], start_line=m["start_line"],
                   end_line=m["end_line"], start_char=m["start_char"], end_char=m["end_char"],
                   text=n.node.get_content(), score=float(n.score or 0.0),
                   also_in=list(m.get("also_in", [])), page=m.get("page"), end_page=m.get("end_page"))
