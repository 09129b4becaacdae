"""The reader: a cross-encoder that reads the question and a candidate unit together.

Why: features computed on a unit alone, or on the unit and the question apart (similarity,
term coverage), cannot tell "BUFSZ is the size of each read" (which restates the question)
from "#define BUFSZ 4096" (which answers it). A cross-encoder attends across both texts at
once; none ships offline, so rag trains one here from the shipped all-MiniLM-L6-v2 weights
(``rag train``, rag.reader_train) and keeps only what training changed (a LoRA adapter and
the head, a few MB, in ``rag/data/reader/``).

On the question path it runs as ONNX (onnxruntime + tokenizers, no torch), assembled from
the pip-shipped MiniLM and that adapter once, at ingest (``ensure_exported``), in
``cache_dir/reader``, and quantised to int8 when that keeps the ranking (checked at export).
Its scores are features of the fitted answer scorer (rag.answer.features), never the answer
by themselves: the scorer is fitted with the fused rank beside them, on corpora the reader
never saw.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the input format or the exported graph changes
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "reader"
MAX_LENGTH = 160  # word-pieces of question + unit, when the adapter does not say (its training length)
MAX_HEADER_WORDS = 24
POOL = 30  # units read per question: the fused rank's best; the rest are not read


def pair_text(unit_text: str, header: str) -> str:
    """What the reader sees of a unit: its document header (file name as words, title,
    heading path or term) before its own text, so "runs as this account" can be read with
    the definition-list term that names the account."""
    words = header.split()
    if len(words) > MAX_HEADER_WORDS:
        header = " ".join(words[-MAX_HEADER_WORDS:])
    return f"{header} | {unit_text}" if header else unit_text


def adapter_dir(settings) -> Path:
    return Path(settings.reader_dir).expanduser() if settings.reader_dir else DEFAULT_DIR


def adapter_present(adapter_dir: Path = DEFAULT_DIR) -> bool:
    return (adapter_dir / "reader.json").is_file() and (adapter_dir / "adapter.safetensors").is_file()


def folder(cache_dir: Path, adapter_dir: Path = DEFAULT_DIR) -> Path:
    """Where the assembled ONNX reader lives: keyed by the adapter's bytes, so a retrained
    adapter is exported again and two versions never mix."""
    return Path(cache_dir).expanduser() / "reader" / _adapter_key(adapter_dir)


_KEYS: dict[tuple, str] = {}


def _adapter_key(adapter_dir: Path) -> str:
    """The hash of the adapter's files, computed once per file state: the writer looks the
    reader up on every question, and hashing 3 MB there would be a per-question cost."""
    stats = tuple((n, (adapter_dir / n).stat().st_size, (adapter_dir / n).stat().st_mtime_ns)
                  for n in ("reader.json", "adapter.safetensors"))
    key = (str(Path(adapter_dir).resolve()), stats)
    if key not in _KEYS:
        h = hashlib.sha256(f"{FORMAT}".encode())
        for name, _, _ in stats:
            h.update((adapter_dir / name).read_bytes())
        _KEYS[key] = h.hexdigest()[:16]
    return _KEYS[key]


def is_exported(out: Path) -> bool:
    return (out / "model.onnx").is_file() and (out / "tokenizer.json").is_file() and (out / "meta.json").is_file()


def ensure_exported(cache_dir: Path, adapter_dir: Path = DEFAULT_DIR) -> Path | None:
    """Assemble and export once (atomically); None when there is no adapter or it fails,
    and the answer scorer then reads no reader features (a scorer fitted with them refuses
    to load without them, see rag.answer.scorer)."""
    if not adapter_present(adapter_dir):
        return None
    out = folder(cache_dir, adapter_dir)
    if is_exported(out):
        return out
    try:
        log.info("assembling the reader from MiniLM and %s, exporting it to ONNX in %s", adapter_dir, out)
        _export(adapter_dir, out)
        return out
    except Exception as exc:  # noqa: BLE001 - logged; the caller says the reader is missing
        if is_exported(out):
            return out
        log.warning("could not export the reader (%s)", exc)
        return None


def _export(adapter_dir: Path, out: Path) -> None:
    import torch

    from rag.reader_model import assemble

    model, tokenizer, config = assemble(adapter_dir)

    class Logit(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits[:, 0]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".export-"))
    try:
        dummy = tokenizer(["a question"], ["a passage"], return_tensors="pt")
        args = (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"])
        axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}
        axes["logit"] = {0: "batch"}
        fp32 = tmp / "model-fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(Logit(model.eval()), args, str(fp32), dynamo=False,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["logit"], dynamic_axes=axes, opset_version=17)
        quantized = _quantize(fp32, tmp / "model-int8.onnx", tokenizer, model)
        os.replace(quantized or fp32, tmp / "model.onnx")
        for extra in tmp.glob("model-*.onnx"):
            extra.unlink()
        shutil.copy(Path(config["base_dir"]) / "tokenizer.json", tmp / "tokenizer.json")
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, "max_length": int(config.get("max_length", MAX_LENGTH)),
                                                   "int8": bool(quantized), "adapter": config.get("version", "")}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# int8 is kept only if it orders a fixed probe set as fp32 does: the rank correlation floor
INT8_MIN_SPEARMAN = 0.98
_PROBE = [("How large is each read?", "BUFSZ is the size of each read from the socket."),
          ("How large is each read?", "#define BUFSZ 4096"),
          ("Which group may read the scanner?", "scanner | Read access to the scanner devices."),
          ("Which group may read the scanner?", "The file lists groups in alphabetical order."),
          ("When was the Maia 200 announced?", "Microsoft announced the Maia 200 in January 2026."),
          ("When was the Maia 200 announced?", "The Maia 200 is an AI accelerator."),
          ("What does -J do?", "-J, --xz | Filter the archive through xz."),
          ("What does -J do?", "-j, --bzip2 | Filter the archive through bzip2."),
          ("What is the unit price?", "The unit is designed for outdoor use."),
          ("What is the default port?", "port | The TCP port to listen on. Default: 8080.")]


def _quantize(fp32: Path, dst: Path, tokenizer, model) -> Path | None:
    """Dynamic int8 (onnxruntime.quantization) if it keeps the ranking, else None."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(dst), weight_type=QuantType.QInt8)
    except Exception as exc:  # noqa: BLE001 - fp32 stays
        log.info("int8 quantisation failed (%s): the reader stays fp32", exc)
        return None
    enc = tokenizer([q for q, _ in _PROBE], [t for _, t in _PROBE], padding=True, return_tensors="np")
    feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    a, b = _session(fp32).run(None, feed)[0], _session(dst).run(None, feed)[0]
    rho = float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])
    log.info("reader int8 against fp32 on the probe set: Spearman %.3f", rho)
    return dst if rho >= INT8_MIN_SPEARMAN else None


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class Reader:
    """score(question, texts) -> one logit per text; higher reads as a better answer."""

    def __init__(self, out: Path):
        from tokenizers import Tokenizer

        meta = json.loads((out / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"reader export {out} has format {meta.get('format')}, not {FORMAT}")
        self.version = str(meta.get("adapter", ""))
        self.tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(meta["max_length"]), strategy="longest_first")
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self.session = _session(out / "model.onnx")
        self._lock = threading.Lock()

    def score(self, question: str, texts: list[str], batch_size: int = 16) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # batches of like length pad less
        out = np.empty(len(texts), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            part = order[i:i + batch_size]
            with self._lock:
                enc = self.tokenizer.encode_batch([(question, texts[j]) for j in part])
            feed = {"input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int64)}
            out[part] = self.session.run(None, feed)[0]
        return out


_LOADED: dict[str, Reader] = {}
_LOCK = threading.Lock()


def load(cache_dir: Path, adapter_dir: Path = DEFAULT_DIR) -> Reader | None:
    """The exported reader if it is there (never exported here: ingest does that); None else."""
    if not adapter_present(adapter_dir):
        return None
    out = folder(cache_dir, adapter_dir)
    if not is_exported(out):
        return None
    key = str(out)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = Reader(out)
    return _LOADED[key]
