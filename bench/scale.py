"""The benchmark with synthetic vectors (``bench/run.py --synthetic-vectors``): rag's costs
other than the model's, at up to 10,000x the seeds.

Per size, each step in its own worker process (bench/run.py --worker), on an embedded index:
- ingest: peak RSS (getrusage) and seconds, less the seconds the synthetic model took;
- the index's size on disk;
- a cold `rag ask`: the wall time of a fresh process running ``rag.cli.main(["ask", ...])``
  (median of --coldstart-runs after one to warm the page cache), and within it the time
  spent loading the saved BM25 index (rag.lexical.SavedBM25._load, timed around the call);
- warm retrieval (``Retriever.retrieve`` given the question's vector: staleness check, both
  searches, fusion, de-duplication) p50/p95 against its floor: a raw Chroma vector search
  plus a raw bm25s query (tokenize + retrieve) of the same question, for the same number of
  candidates, in the same process, question by question;
- a running `rag chat` on the index, after it answered a question through its API: its
  VmRSS and VmHWM (/proc/<pid>/status).
With ``--kill-resume``: an ingest into a second index is stopped at a batch boundary (the
hold file, Settings.ingest_hold_file) about half-way, killed (SIGKILL), run again, and both
collections are compared with the clean build: ids, document hashes, metadata less
``indexed_at``.

Why the workers can open an index nothing else may: see bench/synthetic.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
WORK = ROOT / "bench" / "cache" / "work"
QUESTION = "When did Microsoft announce the Maia 200?"
HOLDING = "batch written; holding"
# the keys every size's JSON line starts with, in this order (bench/run.py --json)
KEYS = ("size", "ingest_peak_rss_mb", "ingest_s", "index_mb", "cold_ask_s", "bm25_load_s",
        "retrieve_p50_ms", "floor_p50_ms")


# ---------------------------------------------------------------------------- workers
def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _as_client(a: dict) -> dict:
    """The settings that make a worker a client of `chroma run` (``chroma_port`` given)."""
    return {"chroma_host": "127.0.0.1", "chroma_port": a["chroma_port"],
            "cache_dir": a["cache_dir"]} if a.get("chroma_port") else {}


def worker_ingest(a: dict) -> dict:
    import logging

    from bench import synthetic
    from rag.models import sentence_model
    from rag.pipeline import Pipeline
    from rag.store import Store

    s = synthetic.settings(a["corpus"], a["index"], ingest_hold_file=a.get("hold", ""), **_as_client(a))
    if a.get("hold"):
        logging.getLogger("rag.ingest").setLevel(logging.INFO)  # the "holding" line the parent waits for
    emb = synthetic.embedder(s.embed_batch_size)
    t = time.perf_counter()
    report = Pipeline(s, embedder=emb).ingest(progress=False)
    wall = time.perf_counter() - t
    model = sentence_model(emb)
    store = Store(s)
    sentences = store.sentences.count()
    return {"wall_s": wall, "encode_s": model.seconds, "ingest_s": wall - model.seconds, "files": report.files,
            "chunks": report.chunks, "sentences": sentences, "records": report.chunks + sentences,
            "texts_encoded": model.texts, "added": report.added, "updated": report.updated,
            "unchanged": report.unchanged, "peak_rss_mb": _rss_mb()}


def worker_query(a: dict) -> dict:
    import bm25s

    from bench import synthetic
    from rag.pipeline import Pipeline
    from tests.questions import ANSWERABLE, UNANSWERABLE

    s = synthetic.settings(a["corpus"], a["index"])
    pipe = Pipeline(s, embedder=synthetic.embedder(s.embed_batch_size))
    questions = ANSWERABLE + UNANSWERABLE
    pipe.retrieve(questions[0])  # opens the store, loads BM25
    store, retriever = pipe._open()
    bm25 = retriever._lexical._bm25  # the LlamaIndex BM25Retriever rag.lexical loaded
    k = max(s.candidates, s.top_k * 3)  # what Retriever.retrieve asks each side for
    out: dict = {"retrieve": [], "floor": [], "vector": [], "bm25": [], "signature": []}
    for _ in range(a["repeats"]):
        for q in questions:
            vec = pipe.embed(q)
            t0 = time.perf_counter()
            store.chunks.query(query_embeddings=[vec], n_results=k)
            t1 = time.perf_counter()
            tokens = bm25s.tokenize(q, stemmer=bm25.stemmer, token_pattern=bm25.token_pattern, show_progress=False)
            bm25.bm25.retrieve(tokens, k=k, show_progress=False)
            t2 = time.perf_counter()
            # the question's vector given, as the floor has it: embedding is the model's cost
            # (the ONNX question encoder's is in bench/coldstart.py), not retrieval's
            retriever.retrieve(q, query_embedding=vec)
            t3 = time.perf_counter()
            store.generation()  # the O(1) staleness check every question makes (part of retrieve)
            t4 = time.perf_counter()
            for key, v in (("vector", t1 - t0), ("bm25", t2 - t1), ("floor", t2 - t0), ("retrieve", t3 - t2),
                           ("signature", t4 - t3)):
                out[key].append(v * 1e3)
    out["peak_rss_mb"] = _rss_mb()
    return out


def worker_coldask(a: dict) -> dict:
    """One cold `rag ask`, as the `rag` command runs it, on the synthetic index."""
    from bench import synthetic

    synthetic.allow()  # the bench-only allowance (see bench/synthetic.py)
    from rag import lexical

    spent = {"load": 0.0, "loaded": 0, "built": 0}
    load, build = lexical.SavedBM25._load, lexical.SavedBM25._build

    def timed_load(self, key):
        t = time.perf_counter()
        try:
            got = load(self, key)
            spent["loaded"] += got is not None
            return got
        finally:
            spent["load"] += time.perf_counter() - t

    def counted_build(self, key, save):
        spent["built"] += 1
        return build(self, key, save)

    lexical.SavedBM25._load, lexical.SavedBM25._build = timed_load, counted_build
    os.environ.update({**synthetic.ENV, "RAG_INDEX": a["index"], "RAG_CORPUS": a["corpus"]})
    if a.get("chroma_port"):  # server mode: a client of `chroma run` serving the same files
        os.environ.update({"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(a["chroma_port"]),
                           "RAG_CACHE_DIR": a["cache_dir"]})
    from rag.cli import main

    t = time.perf_counter()
    rc = main(["ask", QUESTION])
    sys.stdout.flush()
    return {"rc": rc, "main_s": time.perf_counter() - t, "bm25_load_s": spent["load"],
            "bm25_loaded": spent["loaded"], "bm25_built": spent["built"], "peak_rss_mb": _rss_mb()}


def worker_chat(a: dict) -> dict:
    """`rag chat` on the synthetic index, until SIGINT."""
    from bench import synthetic

    synthetic.allow()
    os.environ.update({**synthetic.ENV, "RAG_INDEX": a["index"], "RAG_CORPUS": a["corpus"]})
    if a.get("chroma_port"):  # server mode: the same collection, served by `chroma run`
        os.environ.update({"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(a["chroma_port"]),
                           "RAG_CACHE_DIR": a["cache_dir"]})
    from rag.cli import main

    return {"rc": main(["chat", "--port", str(a["port"])])}


def worker_contents(a: dict) -> dict:
    """A digest of both collections: ids, document hashes, metadata without ``indexed_at``."""
    import hashlib

    from bench import synthetic
    from rag.store import Store

    store = Store(synthetic.settings(a["corpus"], a["index"], **_as_client(a)))
    out = {}
    for name, col in (("chunks", store.chunks), ("sentences", store.sentences)):
        rows = []
        for _id, doc, meta in store._get_all(col, ["documents", "metadatas"]):
            meta = {k: v for k, v in meta.items() if k != "indexed_at"}
            rows.append(_id + "\0" + hashlib.sha256(doc.encode()).hexdigest() + json.dumps(meta, sort_keys=True))
        rows.sort()
        out[name] = {"count": len(rows), "unique_ids": len({r.split("\0", 1)[0] for r in rows}),
                     "digest": hashlib.sha256("\n".join(rows).encode()).hexdigest()}
    return out


def worker_diff(a: dict) -> dict:
    """Where two indexes of one corpus differ (``kill_resume`` when the digests do): per
    collection, ids on one side only, documents that differ, and metadata fields that differ
    (``indexed_at`` aside) with their row counts and the files they are in."""
    import hashlib
    from collections import Counter

    from bench import synthetic
    from rag.store import Store

    ours, theirs = (Store(synthetic.settings(a["corpus"], a[k])) for k in ("index", "other"))
    out = {}
    for name in ("chunks", "sentences"):
        rows = {i: (hashlib.sha256(d.encode()).digest(), m) for i, d, m in
                ours._get_all(getattr(ours, name), ["documents", "metadatas"])}
        fields, files, docs, only_theirs = Counter(), set(), 0, 0
        for i, d, m in theirs._get_all(getattr(theirs, name), ["documents", "metadatas"]):
            if i not in rows:
                only_theirs += 1
                continue
            digest, mine = rows.pop(i)
            docs += digest != hashlib.sha256(d.encode()).digest()
            changed = [k for k in set(mine) | set(m) if k != "indexed_at" and mine.get(k) != m.get(k)]
            fields.update(changed)
            if changed:
                files.add(m.get("file"))
        out[name] = {"only_index": len(rows), "only_other": only_theirs, "documents_differ": docs,
                     "fields_differ": dict(fields), "files_differ": len(files)}
    return out


def worker_bm25(a: dict) -> dict:
    """BM25 over the index's stored chunks, one way (``--bm25-build``): LlamaIndex's in-memory
    build (``library``, the baseline) or rag's page-at-a-time write (``streamed``,
    rag.lexical_build), into a scratch folder. Peak RSS includes opening the store."""
    import tempfile

    from bench import synthetic
    from rag.lexical import SavedBM25
    from rag.retrieve import _node
    from rag.store import Store

    store = Store(synthetic.settings(a["corpus"], a["index"]))
    lexical = SavedBM25(store.settings, store.iter_chunks, _node)
    key = store.generation()
    t = time.perf_counter()
    if a["how"] == "library":
        lexical._build_in_memory(key)
    else:
        with tempfile.TemporaryDirectory(dir=a["scratch"]) as tmp:
            lexical.dir = Path(tmp) / "bm25"
            if not lexical._write(key):
                raise SystemExit("the streamed BM25 write failed")
    return {"s": time.perf_counter() - t, "peak_rss_mb": _rss_mb()}


WORKERS = {"synth-diff": worker_diff, "synth-bm25": worker_bm25, "synth-ingest": worker_ingest, "synth-query": worker_query, "synth-coldask": worker_coldask,
           "synth-chat": worker_chat, "synth-contents": worker_contents}


# ---------------------------------------------------------------------------- parent side
def _worker_cmd(kind: str, args: dict) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / "run.py"), "--worker", kind, json.dumps(args)]


def _env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", **(extra or {}))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_worker(kind: str, args: dict, timeout: float = 6 * 3600) -> tuple[dict, float]:
    t = time.perf_counter()
    proc = subprocess.run(_worker_cmd(kind, args), cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"worker {kind} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def proc_memory_mb(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cold_asks(index: Path, corpus: Path, runs: int, chroma_port: int = 0) -> dict:
    args = {"index": str(index), "corpus": str(corpus), "chroma_port": chroma_port,
            "cache_dir": str(WORK / f"client-cache-{chroma_port}")}
    # warms the page cache, as a user's second `rag ask` finds it (and, in server mode, the
    # server, which loads a collection on its first use, and the client's BM25 cache)
    run_worker("synth-coldask", args)
    walls, loads, got = [], [], None
    for _ in range(runs):
        got, wall = run_worker("synth-coldask", args)
        if got["rc"] != 0 or not got["bm25_loaded"] or got["bm25_built"]:
            raise SystemExit(f"cold rag ask did not answer from the saved BM25: {got}")
        walls.append(wall)
        loads.append(got["bm25_load_s"])
    return {"cold_ask_s": statistics.median(walls), "bm25_load_s": statistics.median(loads), "runs": runs,
            "all_s": walls, "cold_ask_peak_rss_mb": got["peak_rss_mb"]}


def server_chat_memory(index: Path, corpus: Path, log, runs: int) -> dict:
    """Cold `rag ask` and the same chat against a Chroma server holding the same files
    (`chroma run --path` on the index the embedded steps built): the client's time and
    memory, and the server's memory."""
    from bench.chroma_server import ChromaServer

    with ChromaServer(index) as server:
        cold = cold_asks(index, corpus, runs, chroma_port=server.port)
        log(f"server mode: cold ask {cold['cold_ask_s']:.2f} s (BM25 load {cold['bm25_load_s']:.2f} s)")
        chat = chat_memory(index, corpus, log, chroma_port=server.port)
        mem = proc_memory_mb(server.proc.pid)
    shutil.rmtree(WORK / f"client-cache-{server.port}", ignore_errors=True)
    return {"server_" + k: v for k, v in chat.items()} | {"chroma_server_rss_mb": mem["VmRSS"]} | {
        "server_cold_ask_s": cold["cold_ask_s"], "server_bm25_load_s": cold["bm25_load_s"],
        "server_cold_ask_all_s": cold["all_s"], "server_cold_ask_peak_rss_mb": cold["cold_ask_peak_rss_mb"]}


def chat_memory(index: Path, corpus: Path, log, chroma_port: int = 0) -> dict:
    """Start `rag chat` on the index, ask one question through its API, read its memory."""
    from bench.chroma_server import free_port

    port = free_port()
    out_file = WORK / f"chat-{port}.log"
    args = {"index": str(index), "corpus": str(corpus), "port": port, "chroma_port": chroma_port,
            "cache_dir": str(WORK / f"client-cache-{chroma_port}")}  # the cold asks' client cache, if any
    with open(out_file, "wb") as sink:
        proc = subprocess.Popen(_worker_cmd("synth-chat", args),
                                cwd=ROOT, env=_env(), stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while "rag chat is running at" not in out_file.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"rag chat did not start:\n{out_file.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        started = proc_memory_mb(proc.pid)
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        from gradio_client import Client

        answer = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTION, api_name="/ask")
        mem = proc_memory_mb(proc.pid)
        return {"chat_rss_mb": mem["VmRSS"], "chat_hwm_mb": mem["VmHWM"], "chat_rss_started_mb": started["VmRSS"],
                "chat_answered": bool(answer.get("passages"))}
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _kill_and_resume(k: int, corpus: Path, index: Path, hold: Path, clean_wall: float, served: dict):
    """The ingest killed at a batch after about half the clean build's time, then run again;
    what was written at the kill, the rerun's report and its wall time."""
    err = WORK / f"kill-resume-{k}x.log"
    # a client's own index folder is unused in server mode: kept out of the server's folder
    args = {"corpus": str(corpus), "index": str(index / "unused" if served else index), **served}
    hold_args = {**args, "hold": str(hold)}
    with open(err, "wb") as sink:
        proc = subprocess.Popen(_worker_cmd("synth-ingest", hold_args), cwd=ROOT, env=_env(), stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(clean_wall / 2)
        hold.touch()
        while HOLDING not in err.read_text(errors="replace"):
            if proc.poll() is not None:
                raise SystemExit(f"the ingest to kill ended first ({proc.returncode}); see {err}")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        hold.unlink(missing_ok=True)
    at_kill, _ = run_worker("synth-contents", args)
    resumed, wall = run_worker("synth-ingest", args)
    return at_kill, resumed, wall


def kill_resume(k: int, corpus: Path, clean: Path, clean_wall: float, log, server: bool = False) -> dict:
    """Ingest into a second index, stop it at a batch about half-way (hold file), SIGKILL it,
    run it again, and compare both collections with the clean build. With ``server``, the
    killed and the resumed ingest are clients of a `chroma run` (which keeps running, as a
    shared server would), compared with the embedded clean build: same contents in both modes."""
    index, hold = WORK / f"{k}x-synthetic-resumed{'-served' if server else ''}", WORK / f"hold-{k}x"
    shutil.rmtree(index, ignore_errors=True)
    hold.unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        served = {}
        if server:
            from bench.chroma_server import ChromaServer

            port = stack.enter_context(ChromaServer(index)).port
            served = {"chroma_port": port, "cache_dir": str(WORK / f"client-cache-{port}")}
            stack.callback(shutil.rmtree, served["cache_dir"], ignore_errors=True)
        at_kill, resumed, wall = _kill_and_resume(k, corpus, index, hold, clean_wall, served)
    log(f"[{k}x] killed at a batch: {at_kill['chunks']['count']} chunks, {at_kill['sentences']['count']} sentences written")
    got, _ = run_worker("synth-contents", {"corpus": str(corpus), "index": str(index)})
    want, _ = run_worker("synth-contents", {"corpus": str(corpus), "index": str(clean)})
    equal = got == want
    log(f"[{k}x] resumed in {wall:.0f} s ({resumed['added']} added, {resumed['updated']} redone, "
        f"{resumed['unchanged']} unchanged): {'EQUAL to' if equal else 'DIFFERENT from'} the clean build")
    diff = None
    if not equal:
        diff, _ = run_worker("synth-diff", {"corpus": str(corpus), "index": str(index), "other": str(clean)})
        log(f"[{k}x] where they differ: {json.dumps(diff)}")
    return {"kill_resume_equal": equal, "difference": diff, "killed_at_chunks": at_kill["chunks"]["count"],
            "killed_at_sentences": at_kill["sentences"]["count"], "resume_s": wall, "resume": resumed,
            "resumed_contents": got, "clean_contents": want}


def server_ingest(k: int, corpus: Path, log) -> dict:
    """The same ingest as a client of `chroma run` (``--server-ingest``): the client's peak
    RSS (what is left in `rag ingest` once the HNSW index lives in the server) and the
    server's. Into a folder of its own, deleted afterwards."""
    from bench.chroma_server import ChromaServer

    folder = WORK / f"{k}x-synthetic-served"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with ChromaServer(folder) as server:
        cache = WORK / f"client-cache-{server.port}"
        ing, _ = run_worker("synth-ingest", {"corpus": str(corpus), "index": str(folder / "unused"),
                                             "chroma_port": server.port, "cache_dir": str(cache)})
        mem = proc_memory_mb(server.proc.pid)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    log(f"[{k}x] server-mode ingest {ing['ingest_s']:.1f} s, client peak RSS {ing['peak_rss_mb']:.0f} MB, "
        f"chroma run {mem['VmHWM']:.0f} MB at its peak")
    return {"server_ingest_s": ing["ingest_s"], "server_ingest_client_peak_rss_mb": ing["peak_rss_mb"],
            "server_ingest_chroma_peak_rss_mb": mem["VmHWM"], "server_ingest_records": ing["records"]}


def reused_ingest(earlier: dict, index: Path, corpus: Path) -> dict:
    """The ingest figures of the run that built ``index`` (``--reuse-ingest``), once the index
    is checked to be that build: same corpus size, same chunk and sentence counts.

    Why: at 1000x an ingest takes an hour here; measuring a change of the query path should
    not cost another one. Only ingest's own figures are carried over, and said to be."""
    got, _ = run_worker("synth-contents", {"corpus": str(corpus), "index": str(index)})
    counts = {name: got[name]["count"] for name in ("chunks", "sentences")}
    want = {name: earlier[name] for name in ("chunks", "sentences")}
    if counts != want:
        raise SystemExit(f"--reuse-ingest: {index} holds {counts}, the earlier run built {want}")
    return {"ingest_s": earlier["ingest_s"], "encode_s": earlier["synthetic_encode_s"], "records": earlier["records"],
            "peak_rss_mb": earlier["ingest_peak_rss_mb"], "chunks": earlier["chunks"],
            "sentences": earlier["sentences"], "wall_s": earlier["ingest_wall_s"]}


def bm25_builds(k: int, corpus: Path, index: Path, log) -> dict:
    """The lexical index built over the same stored chunks both ways, each in its own process."""
    out = {}
    for how, name in (("library", "bm25_build_library"), ("streamed", "bm25_build_streamed")):
        got, _ = run_worker("synth-bm25", {"corpus": str(corpus), "index": str(index), "how": how,
                                           "scratch": str(WORK)})
        out[f"{name}_s"], out[f"{name}_peak_rss_mb"] = got["s"], got["peak_rss_mb"]
    log(f"[{k}x] BM25 over the stored chunks: LlamaIndex's in-memory build {out['bm25_build_library_s']:.1f} s, "
        f"peak RSS {out['bm25_build_library_peak_rss_mb']:.0f} MB; streamed write {out['bm25_build_streamed_s']:.1f} s, "
        f"{out['bm25_build_streamed_peak_rss_mb']:.0f} MB")
    return out


def measure(k: int, repeats: int, coldstart_runs: int, log, reused: dict | None = None,
            with_server_ingest: bool = False, with_bm25_build: bool = False) -> dict:
    from bench.corpus import build

    t = time.perf_counter()
    corpus, manifest = build(k)
    log(f"[{k}x] corpus {manifest['chars']:,} chars in {manifest['files']} files ({time.perf_counter() - t:.0f} s)")
    index = WORK / f"{k}x-synthetic"
    if reused is not None:
        ing = reused_ingest(reused, index, corpus)
        log(f"[{k}x] index kept from the run of {reused['run']}: its ingest figures are that run's")
    else:
        shutil.rmtree(index, ignore_errors=True)
        WORK.mkdir(parents=True, exist_ok=True)
        ing, _ = run_worker("synth-ingest", {"corpus": str(corpus), "index": str(index)})
    log(f"[{k}x] ingest {ing['ingest_s']:.1f} s (+{ing['encode_s']:.1f} s synthetic encode), {ing['records']:,} "
        f"records, peak RSS {ing['peak_rss_mb']:.0f} MB")
    q, _ = run_worker("synth-query", {"corpus": str(corpus), "index": str(index), "repeats": repeats})
    cold = cold_asks(index, corpus, coldstart_runs)
    log(f"[{k}x] retrieve p50 {pct(q['retrieve'], 50):.1f} ms (floor {pct(q['floor'], 50):.1f}); cold ask "
        f"{cold['cold_ask_s']:.2f} s (BM25 load {cold['bm25_load_s']:.2f} s)")
    chat = chat_memory(index, corpus, log)
    log(f"[{k}x] chat RSS {chat['chat_rss_mb']:.0f} MB (high-water {chat['chat_hwm_mb']:.0f} MB)")
    served = server_chat_memory(index, corpus, log, coldstart_runs)
    log(f"[{k}x] server mode: chat RSS {served['server_chat_rss_mb']:.0f} MB (started "
        f"{served['server_chat_rss_started_mb']:.0f}), chroma run {served['chroma_server_rss_mb']:.0f} MB")
    r = {"size": k, "ingest_peak_rss_mb": ing["peak_rss_mb"], "ingest_s": ing["ingest_s"], "index_mb": du_mb(index),
         "cold_ask_s": cold["cold_ask_s"], "bm25_load_s": cold["bm25_load_s"],
         "retrieve_p50_ms": pct(q["retrieve"], 50), "floor_p50_ms": pct(q["floor"], 50),
         "retrieve_p95_ms": pct(q["retrieve"], 95), "floor_p95_ms": pct(q["floor"], 95),
         "vector_p50_ms": pct(q["vector"], 50), "bm25_p50_ms": pct(q["bm25"], 50),
         "signature_p50_ms": pct(q["signature"], 50),
         "retrieve_over_floor": pct(q["retrieve"], 50) / pct(q["floor"], 50),
         **chat, **served, "cold_ask_all_s": cold["all_s"], "cold_ask_peak_rss_mb": cold["cold_ask_peak_rss_mb"],
         "query_worker_peak_rss_mb": q["peak_rss_mb"], "chars": manifest["chars"], "files": manifest["files"],
         "chunks": ing["chunks"], "sentences": ing["sentences"], "records": ing["records"],
         "records_per_s": ing["records"] / ing["ingest_s"], "synthetic_encode_s": ing["encode_s"],
         "questions_timed": len(q["retrieve"]), "ingest_wall_s": ing["wall_s"]}
    if reused is not None:
        r["ingest_from_run"] = reused["run"]
    if with_server_ingest:
        r.update(server_ingest(k, corpus, log))
    if with_bm25_build:
        r.update(bm25_builds(k, corpus, index, log))
    return r


# ---------------------------------------------------------------------------- output
def table(results: list[dict]) -> str:
    head = ("| size | chars | files | Chroma records | ingest s (no encode) | records/s | ingest peak RSS MB "
            "| index MB | cold `rag ask` s | BM25 load s | retrieve p50 / p95 ms | floor p50 / p95 ms "
            "| retrieve / floor | chat RSS (HWM) MB | server mode: cold `rag ask` s, chat RSS MB |")
    rows = [head, "|" + "---|" * (len(head.split("|")) - 2)]
    for r in results:
        rows.append(f"| {r['size']}× | {r['chars']:,} | {r['files']:,} | {r['records']:,} | {r['ingest_s']:.1f} | "
                    f"{r['records_per_s']:,.0f} | {r['ingest_peak_rss_mb']:.0f} | {r['index_mb']:.0f} | "
                    f"{r['cold_ask_s']:.2f} | {r['bm25_load_s']:.2f} | {r['retrieve_p50_ms']:.1f} / "
                    f"{r['retrieve_p95_ms']:.1f} | {r['floor_p50_ms']:.1f} / {r['floor_p95_ms']:.1f} | "
                    f"{r['retrieve_over_floor']:.2f} | {r['chat_rss_mb']:.0f} ({r['chat_hwm_mb']:.0f}) | "
                    f"{_served(r)} |")
    return "\n".join(rows)


def _served(r: dict) -> str:
    """Server-mode figures, where the run measured them (older result files lack some)."""
    cold = f"{r['server_cold_ask_s']:.2f}" if "server_cold_ask_s" in r else "–"
    chat = f"{r['server_chat_rss_mb']:.0f}" if "server_chat_rss_mb" in r else "–"
    return f"{cold}, {chat}"


def targets(results: list[dict]) -> list[str]:
    """The issue's targets, met or not, for the sizes present."""
    by = {r["size"]: r for r in results}
    out = []
    if 10 in by:
        for k in (1000, 10000):
            if k in by:
                ratio = by[k]["ingest_peak_rss_mb"] / by[10]["ingest_peak_rss_mb"]
                out.append(f"ingest peak RSS {k}x / 10x = {ratio:.2f} (target <= 1.2): {'met' if ratio <= 1.2 else 'NOT met'}")
    served = [r for r in results if "server_ingest_client_peak_rss_mb" in r]
    if served:
        out.append("server-mode ingest, client peak RSS: " + ", ".join(
            f"{r['size']}x {r['server_ingest_client_peak_rss_mb']:.0f} MB (chroma run "
            f"{r['server_ingest_chroma_peak_rss_mb']:.0f} MB)" for r in served))
    built = [r for r in results if "bm25_build_streamed_peak_rss_mb" in r]
    if built:
        out.append("BM25 over the stored chunks, peak RSS streamed / LlamaIndex's build: " + ", ".join(
            f"{r['size']}x {r['bm25_build_streamed_peak_rss_mb']:.0f} / {r['bm25_build_library_peak_rss_mb']:.0f} MB "
            f"= {r['bm25_build_streamed_peak_rss_mb'] / r['bm25_build_library_peak_rss_mb']:.2f} (time "
            f"{r['bm25_build_streamed_s']:.1f} / {r['bm25_build_library_s']:.1f} s)" for r in built))
    if 1 in by and 1000 in by:
        limit = 1.5 * by[1]["cold_ask_s"] + by[1000]["bm25_load_s"]
        out.append(f"cold ask 1000x {by[1000]['cold_ask_s']:.2f} s vs 1.5 x 1x ({by[1]['cold_ask_s']:.2f} s) + BM25 load "
                   f"({by[1000]['bm25_load_s']:.2f} s) = {limit:.2f} s: {'met' if by[1000]['cold_ask_s'] <= limit else 'NOT met'}")
    if 1 in by and 1000 in by and "server_cold_ask_s" in by[1000]:
        limit = 1.5 * by[1]["cold_ask_s"] + by[1000]["server_bm25_load_s"]
        got = by[1000]["server_cold_ask_s"]
        out.append(f"cold ask 1000x in server mode {got:.2f} s vs 1.5 x 1x embedded ({by[1]['cold_ask_s']:.2f} s) + "
                   f"BM25 load ({by[1000]['server_bm25_load_s']:.2f} s) = {limit:.2f} s: {'met' if got <= limit else 'NOT met'}")
    if 10000 in by:
        out.append(f"cold ask 10000x {by[10000]['cold_ask_s']:.2f} s (target < 15 s): "
                   f"{'met' if by[10000]['cold_ask_s'] < 15 else 'NOT met'}")
    for r in results:
        ok = r["retrieve_over_floor"] <= 1.5
        out.append(f"retrieve p50 {r['size']}x = {r['retrieve_over_floor']:.2f} x floor (target <= 1.5): "
                   f"{'met' if ok else 'NOT met'}")
    if 1000 in by:
        out.append(f"chat RSS at 1000x: {by[1000]['chat_rss_mb']:.0f} MB (high-water {by[1000]['chat_hwm_mb']:.0f} MB)")
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["size"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    a, b, c = axes
    for key, label, style in (("ingest_s", "ingest s (no encode)", "-o"), ("cold_ask_s", "cold rag ask s", "-s"),
                              ("bm25_load_s", "BM25 load (in cold ask) s", "--^")):
        a.plot(x, [r[key] for r in results], style, label=label)
    _served_line(a, results, "server_cold_ask_s", "cold rag ask s, server mode")
    a.set(title="Time", ylabel="seconds")
    for key, label, style in (("ingest_peak_rss_mb", "ingest peak RSS", "-o"), ("chat_rss_mb", "chat RSS after a question", "-s"),
                              ("index_mb", "index on disk", "--^")):
        b.plot(x, [r[key] for r in results], style, label=label)
    _served_line(b, results, "server_chat_rss_mb", "chat RSS after a question, server mode")
    _served_line(b, results, "server_ingest_client_peak_rss_mb", "ingest peak RSS, server mode (client)")
    b.set(title="Memory and disk", ylabel="MB")
    for key, label, style in (("retrieve_p50_ms", "retrieve p50", "-o"), ("retrieve_p95_ms", "retrieve p95", ":o"),
                              ("floor_p50_ms", "floor p50: vector search + BM25 query", "--s")):
        c.plot(x, [r[key] for r in results], style, label=label)
    c.set(title="Warm retrieval", ylabel="milliseconds")
    for ax in axes:
        ax.set(xscale="log", yscale="log", xlabel="corpus size (x the seeds; synthetic vectors)")
        ax.legend(fontsize=8)
    fig.suptitle("rag without the model's cost: synthetic vectors, embedded Chroma (dotted: a client of "
                 "`chroma run`), 2 cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _served_line(ax, results: list[dict], key: str, label: str) -> None:
    """A server-mode figure, over the sizes that measured it (older runs did not)."""
    have = [r for r in results if key in r]
    if have:
        ax.plot([r["size"] for r in have], [r[key] for r in have], ":D", label=label)


def build_corpus(k: int) -> Path:
    from bench.corpus import build

    return build(k)[0]


def report(results: list[dict], as_json: bool, plot_path: Path) -> None:
    plot(results, plot_path)
    print(table(results))
    print()
    for line in targets(results):
        print("target: " + line)
    print(f"plot: {plot_path}")
    if as_json:  # the last lines: one object per size, the fixed keys first
        for r in results:
            print(json.dumps({**{k: r[k] for k in KEYS}, **{k: v for k, v in r.items() if k not in KEYS}}))


def main(sizes: list[int], repeats: int, coldstart_runs: int, with_kill_resume: bool, as_json: bool,
         merge: list[Path] | None = None, reuse: Path | None = None, with_server_ingest: bool = False,
         with_bm25_build: bool = False) -> int:
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    OUT.mkdir(parents=True, exist_ok=True)
    if merge:
        by = {}
        for f in merge:
            by.update({r["size"]: r for r in json.loads(f.read_text())["sizes"]})
        report([by[k] for k in sorted(by)], as_json, OUT / "synthetic-scaling.png")
        return 0
    started = time.time()
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "load_before": os.getloadavg(), "cpus": os.cpu_count(),
           "argv": sys.argv[1:], "sizes": []}
    stamp = time.strftime("%Y%m%d-%H%M%S")

    def save() -> None:  # after every step: a long run stopped part-way keeps what it measured
        run["load_after"] = os.getloadavg()
        run["seconds"] = time.time() - started
        for name in (f"synthetic-{stamp}.json", "synthetic-latest.json"):
            (OUT / name).write_text(json.dumps(run, indent=1))

    earlier = {}
    if reuse is not None:  # --reuse-ingest: sizes that run built keep their index and its ingest figures
        built = json.loads(reuse.read_text())
        earlier = {r["size"]: {**r, "run": f"{reuse.name} ({built['started']})"} for r in built["sizes"]}
    for k in sizes:
        run["sizes"].append(measure(k, repeats, max(coldstart_runs, 1), log, reused=earlier.get(k),
                                    with_server_ingest=with_server_ingest, with_bm25_build=with_bm25_build))
        save()
        if with_kill_resume:
            r = run["sizes"][-1]
            kr = kill_resume(k, build_corpus(k), WORK / f"{k}x-synthetic", r["ingest_wall_s"], log,
                             server=with_server_ingest)
            r.update({key: kr[key] for key in ("kill_resume_equal", "killed_at_chunks", "killed_at_sentences",
                                               "resume_s")}, kill_resume_mode="server" if with_server_ingest else "embedded")
            save()
    log(f"load average {run['load_before'][0]:.1f} before, {run['load_after'][0]:.1f} after; "
        f"{run['seconds'] / 60:.1f} min; JSON: {OUT / 'synthetic-latest.json'}")
    report(run["sizes"], as_json, OUT / "synthetic-scaling.png")
    return 0
