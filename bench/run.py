"""How rag's cost grows with the corpus: ingest, memory, disk and query latency, each
against its floor measured in the same run, embedded and against a Chroma server.

    python bench/run.py                 # 1x, 10x and 100x the seeds (100x: tens of minutes)
    python bench/run.py --sizes 1,10    # a quick run
    python bench/run.py --help
    python bench/run.py --sizes 10,100 --synthetic-vectors --json   # no model: see bench/scale.py

Prints a table and writes bench/out/bench-<time>.json, bench/out/latest.json and
bench/out/scaling.png. Every measured step runs in a fresh subprocess (a "worker": this
file with --worker) so that its peak memory (getrusage) is its own and no step warms
another's caches. Timings here are wall-clock on a shared machine: read the ratios, which
compare steps measured side by side, more than the absolute figures; the load average is
recorded with each run.

Floors (what no implementation can beat on this hardware with this model):
- ingest: ``SentenceTransformer.encode`` of the same texts ingest embeds (chunks *and* the
  sentences the answer writer scores), in one call, after chunking -- no Chroma, no I/O;
- query: embedding the question plus one raw Chroma vector search of the chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
WORK = ROOT / "bench" / "cache" / "work"


# ---------------------------------------------------------------------------- workers
def _settings(a: dict):
    from rag.config import load_settings

    over = {"corpus": a["corpus"], "index": a.get("index") or "unused"}
    if a.get("port"):
        over.update(chroma_host="127.0.0.1", chroma_port=a["port"])
    return load_settings(config=None, overrides=over, env={})


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker_ingest(a: dict) -> dict:
    from rag.pipeline import Pipeline

    t = time.perf_counter()
    pipe = Pipeline(_settings(a))
    report = pipe.ingest(progress=False)
    return {"seconds": report.seconds, "wall": time.perf_counter() - t, "files": report.files,
            "chunks": report.chunks, "embedded": report.embedded, "skipped": len(report.skipped),
            "peak_rss_mb": _rss_mb()}


def worker_encode(a: dict) -> dict:
    """The floor of ingest: the same texts through the bare model, nothing else."""
    from rag.chunking import Chunker, sentences
    from rag.corpus import scan
    from rag.models import load_embedder, sentence_model, token_counter

    s = _settings(a)
    embedder = load_embedder(s.model, s.embed_batch_size)
    model = sentence_model(embedder)
    t = time.perf_counter()
    chunker = Chunker(s.chunk_size, s.chunk_overlap, token_counter(embedder))
    files = scan([s.corpus], s.extensions, s.follow_symlinks, s.max_file_bytes).files
    chunks = [c.text for f in files for c in chunker.chunks(f)]
    sents = [x.text for f in files for x in sentences(f)]
    prepare = time.perf_counter() - t
    texts = list(dict.fromkeys(chunks + sents))
    t = time.perf_counter()
    model.encode(texts, batch_size=s.embed_batch_size, normalize_embeddings=True, show_progress_bar=False)
    return {"seconds": time.perf_counter() - t, "prepare_seconds": prepare, "texts": len(texts),
            "chunks": len(chunks), "sentences": len(sents), "peak_rss_mb": _rss_mb()}


def worker_query(a: dict) -> dict:
    from tests.questions import ANSWERABLE, UNANSWERABLE

    from rag.pipeline import Pipeline

    questions = ANSWERABLE + UNANSWERABLE
    pipe = Pipeline(_settings(a))
    t = time.perf_counter()
    pipe.retrieve(questions[0])  # opens the store, loads the model, builds BM25
    first = time.perf_counter() - t
    store, retriever = pipe._open()
    retriever._bm25 = None  # what a changed collection costs the next question: BM25 rebuilt
    t = time.perf_counter()
    pipe.retrieve(questions[0])
    bm25 = time.perf_counter() - t
    model_encode = pipe.embedder.get_query_embedding
    out = {"first_question_s": first, "bm25_build_s": bm25, "retrieve": [], "ask": [], "embed": [], "search": [], "signature": []}
    for _ in range(a["repeats"]):
        for q in questions:
            t0 = time.perf_counter()
            vec = model_encode(q)
            t1 = time.perf_counter()
            store.chunks.query(query_embeddings=[vec], n_results=pipe.settings.top_k)
            t2 = time.perf_counter()
            store.generation()
            t3 = time.perf_counter()
            pipe.retrieve(q)
            t4 = time.perf_counter()
            pipe.ask(q)
            t5 = time.perf_counter()
            for key, v in (("embed", t1 - t0), ("search", t2 - t1), ("signature", t3 - t2),
                           ("retrieve", t4 - t3), ("ask", t5 - t4)):
                out[key].append(v * 1e3)
    out["peak_rss_mb"] = _rss_mb()
    return out


WORKERS = {"ingest": worker_ingest, "encode": worker_encode, "query": worker_query}


def _synthetic_workers() -> dict:
    from bench import scale

    return scale.WORKERS


THREADS: dict[str, str] = {}  # OMP_NUM_THREADS for every worker when --threads is given


def run_worker(kind: str, args: dict, timeout: float = 4 * 3600) -> dict:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")}, **THREADS}
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"worker {kind} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- helpers
def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def server_peak_mb(pid: int) -> float:
    """The server's own high-water mark (VmHWM): its memory is not the client's."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def summarize_queries(q: dict) -> dict:
    floor = statistics.median(q["embed"]) + statistics.median(q["search"])
    s = {"first_question_s": q["first_question_s"], "bm25_build_s": q["bm25_build_s"], "floor_ms": floor, "peak_rss_mb": q["peak_rss_mb"],
         "n": len(q["ask"])}
    for key in ("embed", "search", "signature", "retrieve", "ask"):
        s[f"{key}_p50_ms"], s[f"{key}_p95_ms"] = pct(q[key], 50), pct(q[key], 95)
    s["retrieve_over_floor"] = s["retrieve_p50_ms"] / floor
    s["ask_over_floor"] = s["ask_p50_ms"] / floor
    return s


# ---------------------------------------------------------------------------- one size
def bench_size(k: int, modes: list[str], repeats: int, server_ingest_max: int, log,
               previous: dict | None = None) -> dict:
    """One corpus size. With ``previous`` (that size's result from an earlier run), only the
    queries are measured again, over the indexes that run left in bench/cache/work/."""
    from bench.chroma_server import ChromaServer
    from bench.corpus import build

    corpus, manifest = build(k)
    work = WORK / f"{k}x"
    result = {"multiple": k, "chars": manifest["chars"], "files": manifest["files"],
              "by_source": manifest["by_source"], "modes": {}}
    log(f"[{k}x] corpus {manifest['chars']:,} chars in {manifest['files']} files ({corpus})")
    index = work / "embedded"
    if previous is not None:
        result["encode"] = previous["encode"]
        result["queries_only"] = True
        for mode, m in previous["modes"].items():
            data = index if mode == "embedded" else work / "server"
            if mode not in modes or not data.is_dir():
                continue
            if mode == "embedded":
                qry = run_worker("query", {"corpus": str(corpus), "index": str(index), "repeats": repeats})
                result["modes"][mode] = {**m, "query": summarize_queries(qry)}
            else:
                with ChromaServer(data) as srv:
                    qry = run_worker("query", {"corpus": str(corpus), "port": srv.port, "repeats": repeats})
                    result["modes"][mode] = {**m, "query": summarize_queries(qry),
                                             "server_peak_rss_mb": server_peak_mb(srv.proc.pid)}
            log(f"[{k}x] {mode} ask p50 {result['modes'][mode]['query']['ask_p50_ms']:.0f} ms")
        return result
    encode = run_worker("encode", {"corpus": str(corpus)})
    result["encode"] = encode
    log(f"[{k}x] raw encode of {encode['texts']} texts: {encode['seconds']:.1f} s")
    if "embedded" in modes:
        shutil.rmtree(index, ignore_errors=True)
        ing = run_worker("ingest", {"corpus": str(corpus), "index": str(index)})
        log(f"[{k}x] embedded ingest: {ing['seconds']:.1f} s, {ing['chunks']} chunks")
        qry = summarize_queries(run_worker("query", {"corpus": str(corpus), "index": str(index),
                                                     "repeats": repeats}))
        log(f"[{k}x] embedded ask p50 {qry['ask_p50_ms']:.0f} ms")
        result["modes"]["embedded"] = {"ingest": ing, "index_mb": du_mb(index), "query": qry}
    if "server" in modes:
        data = work / "server"
        shutil.rmtree(data, ignore_errors=True)
        copied = k > server_ingest_max and index.is_dir()
        if copied:  # the server reads the embedded store's files as they are (same Rust core)
            shutil.copytree(index, data)
        with ChromaServer(data) as srv:
            ing = None
            if not copied:
                ing = run_worker("ingest", {"corpus": str(corpus), "port": srv.port})
                log(f"[{k}x] server ingest: {ing['seconds']:.1f} s")
            qry = summarize_queries(run_worker("query", {"corpus": str(corpus), "port": srv.port,
                                                         "repeats": repeats}))
            log(f"[{k}x] server ask p50 {qry['ask_p50_ms']:.0f} ms")
            result["modes"]["server"] = {"ingest": ing, "index_mb": du_mb(data), "query": qry,
                                         "server_peak_rss_mb": server_peak_mb(srv.proc.pid),
                                         "served_copy_of_embedded": copied}
    return result


# ---------------------------------------------------------------------------- output
def table(results: list[dict]) -> str:
    head = ("| size | chars | files | chunks | texts embedded | mode | ingest s | chunks/s | raw encode s "
            "| ingest / encode | peak RSS MB | index MB | first question s | BM25 build s | retrieve p50 / p95 ms "
            "| ask p50 / p95 ms | floor ms | retrieve / floor | ask / floor |")
    rows = [head, "|" + "---|" * (len(head.split("|")) - 2)]
    for r in results:
        enc = r["encode"]
        for mode, m in r["modes"].items():
            ing, q = m["ingest"], m["query"]
            rss = f"{ing['peak_rss_mb']:.0f}" if ing else "–"
            if mode == "server" and m.get("server_peak_rss_mb") == m.get("server_peak_rss_mb"):
                rss += f" (+ server {m['server_peak_rss_mb']:.0f})"
            ingest = (f"{ing['seconds']:.1f} | {ing['chunks'] / ing['seconds']:.1f} | {enc['seconds']:.1f} | "
                      f"{ing['seconds'] / enc['seconds']:.2f}") if ing else f"(copy) | – | {enc['seconds']:.1f} | –"
            rows.append(
                f"| {r['multiple']}× | {r['chars']:,} | {r['files']} | {enc['chunks']} | "
                f"{ing['embedded'] if ing else '–'} | {mode} | {ingest} | {rss} | {m['index_mb']:.1f} | "
                f"{q['first_question_s']:.1f} | {q['bm25_build_s']:.2f} | {q['retrieve_p50_ms']:.0f} / {q['retrieve_p95_ms']:.0f} | "
                f"{q['ask_p50_ms']:.0f} / {q['ask_p95_ms']:.0f} | {q['floor_ms']:.1f} | "
                f"{q['retrieve_over_floor']:.1f} | {q['ask_over_floor']:.1f} |")
    return "\n".join(rows)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["chars"] / 1e6 for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.4))
    a.plot(x, [r["encode"]["seconds"] for r in results], "k--o", label="floor: raw encode of the same texts")
    for mode, color in (("embedded", "tab:blue"), ("server", "tab:orange")):
        pts = [(xi, r["modes"][mode]["ingest"]["seconds"]) for xi, r in zip(x, results)
               if mode in r["modes"] and r["modes"][mode]["ingest"]]
        if pts:
            a.plot(*zip(*pts), "-o", color=color, label=f"rag ingest ({mode})")
    a.set(xscale="log", yscale="log", xlabel="corpus (million characters)", ylabel="seconds",
          title="Ingest time vs corpus size")
    a.legend(fontsize=8)
    for mode, color in (("embedded", "tab:blue"), ("server", "tab:orange")):
        pts = [(xi, r["modes"][mode]["query"]) for xi, r in zip(x, results) if mode in r["modes"]]
        if pts:
            xs = [p[0] for p in pts]
            b.plot(xs, [p[1]["ask_p50_ms"] for p in pts], "-o", color=color, label=f"ask p50 ({mode})")
            b.plot(xs, [p[1]["retrieve_p50_ms"] for p in pts], "--s", color=color, label=f"retrieve p50 ({mode})")
            b.plot(xs, [p[1]["floor_ms"] for p in pts], ":", color=color, label=f"floor: embed + search ({mode})")
    b.set(xscale="log", yscale="log", xlabel="corpus (million characters)", ylabel="milliseconds",
          title="Query latency vs corpus size")
    b.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="rag scaling benchmark (see the module docstring)")
    ap.add_argument("--sizes", default="1,10,100", help="multiples of the seed corpus (default 1,10,100)")
    ap.add_argument("--modes", default="embedded,server", help="embedded, server or both (default both)")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the 26 questions per mode (default 3)")
    ap.add_argument("--server-ingest-max", type=int, default=10,
                    help="largest size also ingested through the server; larger ones serve a copy of the "
                         "embedded index, which holds the same data (default 10: the embedding work is the "
                         "same in both modes and the 100x one takes the longest)")
    ap.add_argument("--coldstart-runs", type=int, default=5, help="cold `rag ask` runs (0: skip)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads in every step, floors included (OMP_NUM_THREADS; default: torch's own "
                         "choice, one per core). On a machine busy with other work, 1 is steadier and often faster")
    ap.add_argument("--queries-only", action="store_true",
                    help="measure only query latency (and cold start) again, over the indexes the last run "
                         "left in bench/cache/work/; ingest figures are carried over from bench/out/latest.json")
    ap.add_argument("--report", nargs="+", type=Path, metavar="JSON",
                    help="measure nothing: print the table of earlier runs' JSON files and plot them "
                         "(per size, the last file that has it wins)")
    ap.add_argument("--reuse-ingest", type=Path, metavar="JSON",
                    help="with --synthetic-vectors: for each size that this earlier run's JSON holds, keep the "
                         "index it left in bench/cache/work/ (checked: same chunk and sentence counts) and its "
                         "ingest figures, and measure the rest again (a 1000x ingest takes an hour)")
    ap.add_argument("--server-ingest", action="store_true",
                    help="with --synthetic-vectors: also ingest each size as a client of a `chroma run` "
                         "server (a folder of its own, deleted after) and report the client's and the "
                         "server's peak RSS")
    ap.add_argument("--bm25-build", action="store_true",
                    help="with --synthetic-vectors: also build BM25 over each size's stored chunks twice, each in "
                         "a process of its own: LlamaIndex's in-memory build (the baseline) and rag's streamed "
                         "write (rag/lexical_build.py); time and peak RSS of both")
    ap.add_argument("--synthetic-vectors", action="store_true",
                    help="replace the model by deterministic pseudo-random unit vectors (384-d, a hash of each "
                         "text; bench/synthetic.py) and measure everything else, up to 1000x/10000x the seeds "
                         "(sizes above 100x are recombined from real paragraphs, bench/corpus.py): ingest peak RSS "
                         "and time, index MB, cold `rag ask` and its BM25 load, warm retrieval against its floor, "
                         "a running chat's RSS (bench/scale.py). Such an index is refused by every rag command")
    ap.add_argument("--json", action="store_true",
                    help="with --synthetic-vectors: end the output with one JSON object per size, keys size, "
                         "ingest_peak_rss_mb, ingest_s, index_mb, cold_ask_s, bm25_load_s, retrieve_p50_ms, "
                         "floor_p50_ms first")
    ap.add_argument("--kill-resume", action="store_true",
                    help="with --synthetic-vectors: also kill an ingest at a batch about half-way (SIGKILL), rerun it "
                         "and compare with the clean build (ids, document hashes, metadata less timestamps); with "
                         "--server-ingest the killed and resumed ingest are clients of `chroma run`")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    from rag import offline

    # before any worker imports the model or Chroma: floors and rag run under the same switches
    offline.setup()
    if a.worker:
        import logging

        logging.basicConfig(level=logging.WARNING)
        for noisy in ("bm25s", "llama_index", "chromadb", "httpx"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        workers = {**WORKERS, **(_synthetic_workers() if a.worker[0].startswith("synth-") else {})}
        print(json.dumps(workers[a.worker[0]](json.loads(a.worker[1]))))
        return 0
    if a.synthetic_vectors:
        from bench import scale

        return scale.main([int(s) for s in a.sizes.split(",")], a.repeats, a.coldstart_runs, a.kill_resume,
                          a.json, merge=a.report, reuse=a.reuse_ingest, with_server_ingest=a.server_ingest,
                          with_bm25_build=a.bm25_build)
    if a.json or a.kill_resume or a.reuse_ingest or a.server_ingest or a.bm25_build:
        ap.error("--json, --kill-resume, --reuse-ingest, --server-ingest and --bm25-build go with --synthetic-vectors")

    if a.report:
        merged: dict[int, dict] = {}
        for f in a.report:
            merged.update({r["multiple"]: r for r in json.loads(f.read_text())["sizes"]})
        results = [merged[k] for k in sorted(merged)]
        OUT.mkdir(parents=True, exist_ok=True)
        plot(results, OUT / "scaling.png")
        print(table(results))
        return 0
    if a.threads:
        THREADS["OMP_NUM_THREADS"] = str(a.threads)
    sizes = [int(s) for s in a.sizes.split(",")]
    modes = [m.strip() for m in a.modes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.time()
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "load_before": os.getloadavg(),
           "cpus": os.cpu_count(), "threads": a.threads or "torch default", "argv": sys.argv[1:], "sizes": []}
    previous = {}
    if a.queries_only:
        last = json.loads((OUT / "latest.json").read_text())
        previous = {r["multiple"]: r for r in last["sizes"]}
        run["ingest_from"] = last["started"]
    for k in sizes:
        if a.queries_only and k not in previous:
            raise SystemExit(f"--queries-only: no {k}x result in {OUT / 'latest.json'}")
        run["sizes"].append(bench_size(k, modes, a.repeats, a.server_ingest_max, log, previous.get(k)))
    if a.coldstart_runs and "embedded" in modes:
        from bench import coldstart
        from bench.corpus import build

        corpus, _ = build(1)
        index = WORK / "1x" / "embedded"
        if not index.is_dir():
            run_worker("ingest", {"corpus": str(corpus), "index": str(index)})
        log("cold start: rag ask vs the floor ...")
        run["coldstart"] = coldstart.measure(index, corpus, runs=a.coldstart_runs, extra_env=THREADS)
    run["load_after"] = os.getloadavg()
    run["seconds"] = time.time() - started
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (OUT / name).write_text(json.dumps(run, indent=1))
    plot(run["sizes"], OUT / "scaling.png")
    print(table(run["sizes"]))
    if "coldstart" in run:
        c = run["coldstart"]
        print(f"\ncold start (median of {c['runs']}): " +
              "; ".join(f"{name} {sec:.2f} s" for name, sec in c["median_s"].items()))
    print(f"\nload average {run['load_before'][0]:.1f} before, {run['load_after'][0]:.1f} after, on "
          f"{run['cpus']} CPUs; {run['seconds'] / 60:.1f} min. JSON: {OUT / 'latest.json'}; plot: "
          f"{OUT / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
