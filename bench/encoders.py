"""Ingest's encoder: sentence-transformers (torch) against the ONNX export, same texts, same run.

    python bench/encoders.py [--runs 3]

Each run starts fresh processes, alternating the two encoders so that load from other work
hits both alike:
- ``load``: start Python, import the encoder's libraries and load the model;
- ``encode``: embed what ingest embeds for the seeds (their chunks and sentences, batches of 32);
- ``rag ingest``: the whole command building the seeds' index from nothing, with
  RAG_ONNX_ENCODER on (the export in the cache is used) or off (sentence-transformers).
Prints medians and the ONNX/sentence-transformers ratio, and the lowest cosine between the
two encoders' vectors of the same text, and the break-even: after how many texts in one
run sentence-transformers' faster encoding repays its slower load (Settings.onnx_ingest_texts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
import rag.offline; rag.offline.setup()
from rag.config import load_settings
from rag.models import model_path
s = load_settings(config=None, env={})
if sys.argv[1] == "onnx":
    from rag import onnx_model
    enc = onnx_model.OnnxEncoder(onnx_model.folder(s.cache_dir, model_path(s.model)))
else:
    from rag.models import load_embedder, sentence_model
    enc = sentence_model(load_embedder(s.model))
t1 = time.perf_counter()
texts = json.loads(Path(sys.argv[2]).read_text())
vecs = enc.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
t2 = time.perf_counter()
import numpy as np
np.save(sys.argv[3], np.asarray(vecs, dtype=np.float32))
print(json.dumps({"load": t1 - t0, "encode": t2 - t1}))
"""


def _texts(index: Path) -> list[str]:
    """What ingest embeds: the chunk and sentence texts of the seeds' index."""
    from rag.config import load_settings
    from rag.store import Store

    store = Store(load_settings(config=None, env={}, overrides={"index": index, "corpus": ROOT / "seeds"}))
    return [d for col in (store.chunks, store.sentences) for d in col.get(include=["documents"])["documents"]]


def _ingest_seconds(onnx: bool, tmp: Path) -> float:
    env = {**os.environ, "RAG_ONNX_ENCODER": "true" if onnx else "false", "RAG_INDEX": str(tmp / "index"),
           "RAG_CORPUS": str(ROOT / "seeds")}
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "rag"), "ingest", "-q"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    import numpy as np

    rows: dict[str, dict[str, list[float]]] = {"sentence-transformers": {}, "onnx": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _ingest_seconds(True, tmp / "warm")  # makes the export if the cache has none
        texts = _texts(tmp / "warm" / "index")
        (tmp / "texts.json").write_text(json.dumps(texts))
        for run in range(args.runs):
            for name in (("onnx", "sentence-transformers") if run % 2 else ("sentence-transformers", "onnx")):
                out = subprocess.run([sys.executable, "-c", WORKER, "onnx" if name == "onnx" else "st",
                                      str(tmp / "texts.json"), str(tmp / f"{name}.npy")],
                                     check=True, capture_output=True, text=True, cwd=ROOT)
                got = json.loads(out.stdout.strip().splitlines()[-1])
                got["rag ingest"] = _ingest_seconds(name == "onnx", tmp / f"{name}-{run}")
                for k, v in got.items():
                    rows[name].setdefault(k, []).append(v)
                print(f"run {run + 1} {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in got.items()), file=sys.stderr)
        a, b = np.load(tmp / "sentence-transformers.npy"), np.load(tmp / "onnx.npy")
        cos = float((a * b).sum(1).min())
    med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in rows.items()}
    print(f"\n{len(texts)} texts (the seeds' chunks and sentences), {args.runs} runs, medians (seconds)\n")
    print("| step | sentence-transformers | ONNX | ONNX / s-t |\n|---|---|---|---|")
    for k in ("load", "encode", "rag ingest"):
        st, ox = med["sentence-transformers"][k], med["onnx"][k]
        print(f"| {k} | {st:.2f} | {ox:.2f} | {ox / st:.2f} |")
    print(f"\nlowest cosine between the two encoders' vectors of the same text: {cos:.6f}")
    extra = (med["onnx"]["encode"] - med["sentence-transformers"]["encode"]) / len(texts)
    saved = med["sentence-transformers"]["load"] - med["onnx"]["load"]
    if extra > 0:  # what Settings.onnx_ingest_texts is set from
        print(f"break-even: ONNX costs {extra * 1e3:.2f} ms more per text and saves {saved:.1f} s of loading: "
              f"sentence-transformers pays off after ~{saved / extra:,.0f} texts in one run")
    else:
        print("break-even: ONNX is as fast per text: it pays off at any size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
