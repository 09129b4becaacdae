"""The embedding model as ONNX, for the question path: answers start in a second, not ten.

``import sentence_transformers`` (and torch under it) takes ~6 s here, most of a cold
``rag ask``. The same MiniLM, exported once to ONNX with its mean pooling and L2
normalisation inside the graph, runs with ``tokenizers`` + ``onnxruntime`` (both come with
chromadb) and imports, loads and embeds a question in a fraction of a second, with the
same vector (tests/test_onnx_model.py: cosine >= 0.9999 on every eval question).

Exported by ingest (``ensure_exported``), never at question time: the question path uses
the ONNX model when it is there and sentence-transformers otherwise. Batch ingest keeps
sentence-transformers (bench/coldstart.py compares both on batches).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the exported graph changes


def folder(cache_dir: Path, model_dir: Path) -> Path:
    """Where the export of ``model_dir`` lives: in rag's cache, keyed by the weights, so every
    index (and the eval's several) shares one export."""
    return Path(cache_dir).expanduser() / "onnx" / _weights_key(model_dir)


def _weights_key(model_dir: Path) -> str:
    weights = next((model_dir / n for n in ("model.safetensors", "pytorch_model.bin") if (model_dir / n).exists()),
                   None)
    stat = weights.stat() if weights else None
    raw = f"{model_dir.resolve()}|{stat.st_size if stat else 0}|{stat.st_mtime_ns if stat else 0}|{FORMAT}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def is_exported(out: Path) -> bool:
    return (out / "model.onnx").is_file() and (out / "tokenizer.json").is_file() and (out / "meta.json").is_file()


def ensure_exported(st_model, model_dir: Path, out: Path) -> bool:
    """Export once (atomically: a killed export leaves nothing half-written). True when the
    ONNX model is there afterwards; a failed export is logged and the slow path stays."""
    if is_exported(out):
        return True
    try:
        log.info("exporting the question encoder to ONNX in %s (once per model)", out)
        _export(st_model, model_dir, out)
        return True
    except Exception as exc:  # noqa: BLE001 - optional speed-up: the question path falls back
        if is_exported(out):  # another process exported it at the same time
            return True
        log.warning("could not export the ONNX question encoder (%s); questions use sentence-transformers", exc)
        return False


def _export(st_model, model_dir: Path, out: Path) -> None:
    import torch

    transformer = st_model[0].auto_model.eval()
    max_len = int(st_model.max_seq_length)

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".export-"))
    try:
        dummy = st_model.tokenizer(["an example"], return_tensors="pt")
        args = (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"])
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on the dynamic axes; the test checks the vectors
            torch.onnx.export(Pooled(transformer), args, str(tmp / "model.onnx"), dynamo=False,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["embedding"], dynamic_axes=axes, opset_version=17)
        shutil.copy(model_dir / "tokenizer.json", tmp / "tokenizer.json")
        lower = bool(getattr(st_model.tokenizer, "do_lower_case", True))
        (tmp / "meta.json").write_text(json.dumps({"max_seq_length": max_len, "format": FORMAT, "lowercase": lower,
                                                   "dimension": int(st_model.get_embedding_dimension() if hasattr(st_model, "get_embedding_dimension") else st_model.get_sentence_embedding_dimension())}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class OnnxEncoder:
    """encode(texts) -> unit vectors, as SentenceTransformer.encode(normalize_embeddings=True)."""

    def __init__(self, out: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((out / "meta.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(out / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.dimension = int(meta["dimension"])
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    def encode(self, texts: list[str], batch_size: int = 0, **_ignored) -> np.ndarray:
        """Same call as SentenceTransformer.encode (normalised in the graph; no bar). Like it,
        batches of similar length, so that short texts are not padded to a long one's size."""
        texts = list(texts)
        if not batch_size or len(texts) <= batch_size:
            return self._run(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            part = order[i:i + batch_size]
            out[part] = self._run([texts[j] for j in part])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            enc = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        types = np.asarray([e.type_ids for e in enc], dtype=np.int64)
        (vecs,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return vecs.astype(np.float32)
