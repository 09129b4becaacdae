"""The writer stage with and without the reader: p50 / p95 per question, in one run.

    python bench/writer.py [--index index] [--corpus seeds] [--questions eval/questions.jsonl] [--json]

Each question is gathered once (retrieval is not what is measured), then the answer
stage (units, features, the reader over the fused rank's best units, the scorer) runs
alternately with the reader and without it, so load from other processes hits both alike.
The baseline row is the writer without the reader, measured in the same run; the issue's
target is the reader row's p50 <= 300 ms and p95 <= 600 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args(argv)

    from rag import offline

    offline.setup()
    from rag.answer import reader as reader_mod
    from rag.answer.writer import ExtractiveWriter
    from rag.config import load_settings
    from rag.evaluate_set import load
    from rag.pipeline import Pipeline

    settings = load_settings(None, {"corpus": args.corpus, "index": args.index})
    pipe = Pipeline(settings)
    pipe.ingest(progress=False)  # up to date, and the reader exported
    rd = reader_mod.load(settings.cache_dir, reader_mod.adapter_dir(settings))
    if rd is None:
        print("no reader is shipped or exported: nothing to compare", file=sys.stderr)
        return 1
    with_reader = ExtractiveWriter(settings, pipe.embed, reader=rd)
    without = ExtractiveWriter(settings, pipe.embed, reader=None)
    items = load(args.questions)
    times: dict[str, list[float]] = {"writer": [], "writer + reader": [], "reader alone": []}
    for item in items:
        g = pipe.gather(item.question)
        for name, w in (("writer", without), ("writer + reader", with_reader)):
            t0 = time.perf_counter()
            prep = w.prepare(g.question, g.q_vec, g.pool, g.sentences, show=g.k)
            w.decide(prep)
            times[name].append((time.perf_counter() - t0) * 1e3)
            if name == "writer + reader":
                times["reader alone"].append(prep.reader_ms)
    base = statistics.median(times["writer"])
    print(f"{len(items)} questions over {args.corpus}; reader {rd.version}; medians and p95 in ms\n")
    print("| stage | p50 ms | p95 ms | p50 / writer without reader |")
    print("|---|---|---|---|")
    out = {}
    for name, xs in times.items():
        p50, p95 = statistics.median(xs), _pct(xs, 0.95)
        out[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / base:.2f} |")
    if args.json:
        print(json.dumps({"bench": "writer", "questions": len(items), "reader": rd.version, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
