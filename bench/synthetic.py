"""Synthetic vectors: the benchmark at 1,000x and 10,000x the seeds without the model.

Why: embedding is ~95% of ingest (README, Benchmark), and 1,000x the seeds (~700 k texts)
would take hours on 2 cores -- the model's cost, measured already, not rag's. With
``--synthetic-vectors`` every text gets a deterministic pseudo-random unit vector (384
dimensions, like all-MiniLM-L6-v2; a hash of the text, so the same text always gets the
same vector) and everything else is rag's own code at full size: reading, chunking (with
the real model's tokenizer, so chunks are those of a real build), sentence splitting,
Chroma writes, BM25, retrieval, the answer writer, the chat.

Where it may run: only here. An index built with it records the model name
``rag.models.SYNTHETIC_MODEL`` and every command refuses it (the fingerprint check of
``rag.store``, and ``rag.models.model_path``). The benchmark's workers -- fresh processes --
call ``allow()`` (``rag.models.allow_embedder``) and then run rag as a user would
(``rag.cli.main(["ask", ...])``): an allowance no setting or environment variable gives.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

DIM = 384


def unit_vector(text: str) -> np.ndarray:
    """The text's vector: 384 signed 16-bit integers from SHAKE-256 of its UTF-8, normalised.
    A hash, not a seeded generator: ~2 us a text, and the same in every process and release."""
    raw = hashlib.shake_256(text.encode("utf-8", "surrogatepass")).digest(DIM * 2)
    v = np.frombuffer(raw, dtype="<i2").astype(np.float32)
    return v / np.linalg.norm(v)


class _Tokenizer:
    """The real model's word-piece tokenizer (tokenizers, no torch), with the interface the
    chunker uses (rag.models.token_counter): ``encode(text, add_special_tokens=False)``."""

    def __init__(self):
        from tokenizers import Tokenizer

        from rag.models import model_path

        self._tok = Tokenizer.from_file(str(model_path("all-MiniLM-L6-v2") / "tokenizer.json"))
        self._tok.no_truncation()  # the file asks for 128; the chunker counts whole texts
        self._tok.no_padding()

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids


class SyntheticModel:
    """What rag.ingest and rag.models use of a SentenceTransformer: ``encode``, ``tokenizer``,
    ``max_seq_length``. Counts the texts and seconds it spent, so the benchmark can report
    ingest without them."""

    max_seq_length = 256

    def __init__(self):
        self.tokenizer = _Tokenizer()
        self.texts = 0
        self.seconds = 0.0

    def encode(self, texts, batch_size: int = 32, normalize_embeddings: bool = True,
               show_progress_bar: bool = False, **_ignored) -> np.ndarray:
        t = time.perf_counter()
        one = isinstance(texts, str)
        out = np.stack([unit_vector(x) for x in ([texts] if one else texts)]) if texts else np.zeros((0, DIM))
        self.texts += 1 if one else len(texts)
        self.seconds += time.perf_counter() - t
        return out[0] if one else out


def embedder(batch_size: int = 32):
    """A LlamaIndex embedding over the synthetic model, named as rag.models.SYNTHETIC_MODEL."""
    from rag.models import SYNTHETIC_MODEL, embedding_over

    return embedding_over(SyntheticModel(), SYNTHETIC_MODEL, batch_size)


def allow() -> None:
    """In this process only: the synthetic model loads under its name (see the module doc)."""
    from rag.models import SYNTHETIC_MODEL, allow_embedder

    allow_embedder(SYNTHETIC_MODEL, embedder)


def settings(corpus, index, **over):
    """Benchmark settings over an index of synthetic vectors. Questions are embedded by the
    synthetic model too (no ONNX export: there is no model to export)."""
    from rag.config import load_settings
    from rag.models import SYNTHETIC_MODEL

    return load_settings(config=None, env={}, overrides={"corpus": corpus, "index": index,
                                                          "model": SYNTHETIC_MODEL, "onnx_encoder": False, **over})


# Passed to a worker's `rag` command: which model to open. Not an allowance -- without allow()
# in the process, `rag` refuses this model name (rag.models.model_path).
ENV = {"RAG_MODEL": "synthetic-unit-vectors", "RAG_ONNX_ENCODER": "false"}
