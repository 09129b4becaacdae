"""One typed settings object for the whole pipeline.

Precedence (later wins): built-in defaults < ``rag.toml`` < ``RAG_*`` environment
variables < explicit overrides (command-line flags). Every component receives the
``Settings`` it needs as an argument; nothing reads the environment behind its back.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from rag.errors import RagError

CONFIG_FILE = "rag.toml"
ENV_PREFIX = "RAG_"
# Bump when the layout of what ingest writes changes: an index written under another
# schema is refused rather than silently mixed with new chunks.
SCHEMA_VERSION = 2  # 2: texts embedded under their document context (rag.context)
# The retrieval modes, spelled out only here: validation, the retriever, the CLI's --mode,
# the chat's radio buttons and the eval's configurations all take them from this tuple.
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Settings:
    # --- corpus and index -------------------------------------------------------
    corpus: Path = Path("seeds")
    index: Path = Path("index")
    collection: str = "rag"
    follow_symlinks: bool = False
    # Read by suffix; extensionless text files (README, NEWS, copyright…) and gzip-compressed
    # text (changelog.gz) are read too. Binary files are recognised by content (rag.readers).
    extensions: tuple[str, ...] = (".txt", ".md", ".markdown", ".rst", ".text", ".log", ".pdf", ".html", ".htm",
                                   ".docx")
    max_file_bytes: int = 50_000_000  # of a file, and of what a .gz or .docx inflates to
    # Each PDF/HTML/Word file is parsed in a worker process bounded in time and memory: a file
    # that takes longer or needs more is skipped with that reason and ingest goes on.
    extract_timeout_s: float = 60.0
    extract_memory_mb: int = 2048
    # A line this long is data (minified text, a base64 blob, a log dump), not prose: its
    # file is skipped with a reason rather than embedded for minutes and quoted in megabytes.
    max_line_chars: int = 100_000
    # --- Chroma server mode (empty host = embedded persistent store) -------------
    chroma_host: str = ""
    chroma_port: int = 8000
    chroma_timeout_s: float = 10.0
    # --- embedding and chunking -------------------------------------------------
    model: str = "all-MiniLM-L6-v2"
    # In the model's word-pieces; all-MiniLM-L6-v2 reads at most 256 including
    # its two special tokens, so 200 leaves room and nothing is cut off.
    chunk_size: int = 200
    chunk_overlap: int = 30
    embed_batch_size: int = 32
    # Questions, and ingest's texts once the export exists, are embedded by an ONNX export of
    # the model (onnxruntime: a cold `rag ask` in seconds and an ingest process that starts
    # without torch; same vectors), made by the first ingest, once per model, in cache_dir/onnx.
    # false: sentence-transformers everywhere.
    onnx_encoder: bool = True
    # An ingest run embeds its first this-many texts with the ONNX export (it loads in 0.4 s),
    # the rest with sentence-transformers (9 s to load, faster per text): the break-even
    # printed by `python bench/encoders.py` (~5,300 on this machine: 8.1 s / 1.52 ms).
    onnx_ingest_texts: int = 5300
    cache_dir: Path = Path("~/.cache/rag")
    # Texts embedded and written per ingest batch (small files share a batch); each batch is
    # one Chroma write per collection and a point an interrupted ingest resumes from.
    ingest_batch_texts: int = 256
    # --- retrieval ----------------------------------------------------------------
    top_k: int = 5
    retrieval_mode: str = "hybrid"  # one of RETRIEVAL_MODES
    candidates: int = 20  # per retriever, before fusion and de-duplication
    # Two passages whose word 3-shingles overlap this much (of the smaller) are
    # one passage shown once, with the other location remembered. Unrelated passages
    # share < 0.15; two chunks cut differently around one repeated paragraph ~0.45.
    dedup_overlap: float = 0.4
    # --- answering ----------------------------------------------------------------
    writer: str = "extractive"  # extractive | llm
    max_sentences: int = 3  # units in one answer at most (one per part of the question)
    # Passages whose sentences the answer writer considers (the first top_k are shown).
    answer_pool: int = 10
    # Refuse when P(answerable) (rag.answer.scorer) is below this. Negative: the threshold
    # fitted with the scorer (`rag eval --fit`, chosen for <= 5% false refusals on held-out
    # corpora); set 0..1 to trade refusals against false refusals on your own corpus.
    answer_threshold: float = -1.0
    # The fitted answer scorer (JSON written by `rag eval --fit`); empty = the one shipped.
    scorer_path: str = ""
    # The reader (rag.answer.reader): a cross-encoder trained here (`rag train`) that reads
    # the question with each candidate unit; its scores are features of the answer scorer.
    # Exported to ONNX in cache_dir by ingest. false: the scorer reads no reader scores.
    reader: bool = True
    # A folder with reader.json + adapter.safetensors (`rag train --out`); empty = shipped.
    reader_dir: str = ""
    max_question_chars: int = 2000
    # Test hook (RAG_INGEST_HOLD_FILE): while this file exists, ingest waits after each batch
    # it wrote, so a test can interrupt it at a known point instead of racing it. Empty: off.
    ingest_hold_file: str = ""
    # --- optional generative writer (OpenAI-compatible endpoint) -----------------
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key_env: str = "RAG_LLM_API_KEY"
    llm_timeout_s: float = 30.0
    llm_max_tokens: int = 256
    llm_context_window: int = 4096
    # --- chat -----------------------------------------------------------------------
    chat_host: str = "127.0.0.1"
    chat_port: int = 7860
    chat_auth: str = ""  # "user:password"; empty = no auth

    # ------------------------------------------------------------------------------
    @property
    def server_mode(self) -> bool:
        return bool(self.chroma_host)

    def fingerprint(self) -> dict[str, Any]:
        """What an index depends on: mixing chunks built under two of these is wrong."""
        return {
            "rag_schema": SCHEMA_VERSION,
            "rag_model": self.model,
            "rag_chunk_size": self.chunk_size,
            "rag_chunk_overlap": self.chunk_overlap,
        }

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **_coerce_all(changes))

    def describe(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        if out.get("chat_auth"):
            out["chat_auth"] = "***"
        return out


def _coerce(name: str, raw: Any) -> Any:
    """Turn a TOML/env/flag value into the field's declared type, or say which key is wrong."""
    kinds = {f.name: f.type for f in fields(Settings)}
    if name not in kinds:
        raise RagError(f"unknown setting '{name}'", hint=f"known settings: {', '.join(sorted(kinds))}")
    kind = kinds[name]
    try:
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "bool":
            if isinstance(raw, str):
                return raw.strip().lower() in {"1", "true", "yes", "on"}
            return bool(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(i).strip() for i in items if str(i).strip())
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise RagError(f"setting '{name}' has a bad value {raw!r}: {exc}") from None


def _coerce_all(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _coerce(k, v) for k, v in values.items() if v is not None}


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RagError(f"cannot read config {path}: {exc}") from None
    data = data.get("rag", data)  # allow either a [rag] table or top-level keys
    values = _coerce_all(data)
    # Relative paths in a config file mean relative to that file, not to the cwd.
    for key, value in values.items():
        if isinstance(value, Path) and not value.is_absolute():
            values[key] = path.parent / value
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    known = {f.name for f in fields(Settings)}
    raw = {k[len(ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    return _coerce_all({k: v for k, v in raw.items() if k in known})


def load_settings(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config = config or (Path(env["RAG_CONFIG"]) if env.get("RAG_CONFIG") else None)
    if config is None and Path(CONFIG_FILE).is_file():
        config = Path(CONFIG_FILE)
    if config is not None:
        if not config.is_file():
            raise RagError(f"config file {config} does not exist")
        values.update(_from_toml(config))
    values.update(_from_env(env))
    values.update(_coerce_all(overrides or {}))
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    if s.chunk_size < 32 or s.chunk_size > 254:
        raise RagError(
            f"chunk_size {s.chunk_size} is out of range",
            hint="use 32..254 word-pieces: the embedding model reads at most 256 including 2 special tokens",
        )
    if not 0 <= s.chunk_overlap < s.chunk_size // 2:
        raise RagError(f"chunk_overlap {s.chunk_overlap} must be >= 0 and below half of chunk_size")
    if s.retrieval_mode not in RETRIEVAL_MODES:
        raise RagError(f"retrieval_mode '{s.retrieval_mode}' is not one of {', '.join(RETRIEVAL_MODES)}")
    if s.top_k < 1 or s.candidates < s.top_k:
        raise RagError("top_k must be >= 1 and candidates >= top_k")
    if s.ingest_batch_texts < 1:
        raise RagError("ingest_batch_texts must be >= 1")
    if len(s.collection) < 3:
        raise RagError("collection name needs at least 3 characters (a Chroma rule)")

