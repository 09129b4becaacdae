"""Server mode against a real ``chroma run`` subprocess: same answers, clear errors, safe resume.

Every server here is started by bench.chroma_server.ChromaServer and stopped by the fixture
that started it, also when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.chroma_server import ChromaServer, free_port
from rag.chunking import Chunker, sentences
from rag.corpus import limits, scan
from rag.errors import RagError
from rag.models import token_counter
from rag.store import Store
from tests.conftest import ROOT, SEEDS, make_settings
from tests.questions import ANSWERABLE, UNANSWERABLE

pytestmark = pytest.mark.slow


def server_settings(server: ChromaServer, corpus: Path, **kw):
    return make_settings(corpus, Path("unused-in-server-mode"), chroma_host=server.host,
                         chroma_port=server.port, **kw)


def rag_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**base, **(env or {})}, timeout=timeout)


def server_env(server: ChromaServer, corpus: Path, **kw) -> dict:
    return {"RAG_CHROMA_HOST": server.host, "RAG_CHROMA_PORT": str(server.port), "RAG_CORPUS": str(corpus),
            **{f"RAG_{k.upper()}": str(v) for k, v in kw.items()}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ChromaServer(tmp_path_factory.mktemp("chroma") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def resumed(server, seed_pipeline):
    """The seeds ingested into the server by a `rag ingest` process whose server was killed
    part-way, then restarted on the same folder and port, then ingested again.

    Shared by the tests below: ingesting the seeds costs most of this module's time.
    Returns (pipeline, stderr of the interrupted run, chunks in the server when killed).
    """
    from rag.pipeline import Pipeline

    settings = server_settings(server, SEEDS)
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", "-q"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
                                 **server_env(server, SEEDS)})
    try:
        at_kill = _wait_for_first_chunks(settings, proc)
        server.kill()
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, err
    server.start()
    pipe = Pipeline(settings)
    report = pipe.ingest(progress=False)
    assert report.added + report.updated >= 1  # the run finished what the killed one left
    return pipe, err, at_kill


def _wait_for_first_chunks(settings, proc, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the ingest finished before the server could be killed"
        try:
            store = Store(settings)
            if store.exists() and (n := store.count()) > 0:
                return n
        except RagError:
            pass
        time.sleep(0.2)
    raise AssertionError("no chunk reached the server in time")


def test_server_killed_mid_ingest_is_a_clear_error(resumed, server):
    _pipe, err, at_kill = resumed
    assert at_kill > 0
    assert f"{server.host}:{server.port}" in err
    assert "Traceback" not in err
    assert "again" in err  # the hint says a re-run finishes the job


def test_rerun_after_restart_leaves_exactly_one_entry_per_chunk(resumed):
    pipe, _err, _n = resumed
    store = Store(pipe.settings)
    chunker = Chunker(pipe.settings.chunk_size, pipe.settings.chunk_overlap, token_counter(pipe.embedder))
    files = scan([SEEDS], limits(pipe.settings)).files
    stored_chunks = Counter((m["path"], m["start_char"], m["end_char"]) for _i, _d, m in store.all_chunks())
    stored_sents = Counter((m["path"], m["start_char"], m["end_char"])
                           for _i, _d, m in store._get_all(store.sentences, ["metadatas"]))
    want_chunks = Counter((str(f.path), c.start_char, c.end_char) for f in files for c in chunker.chunks(f))
    want_sents = Counter((str(f.path), s.start_char, s.end_char) for f in files for s in sentences(f))
    assert stored_chunks == want_chunks
    assert stored_sents == want_sents
    assert set(stored_chunks.values()) == {1}
    assert store.count() == sum(want_chunks.values())


def _cited(answer) -> tuple:
    return (answer.refused,
            [(c.file, c.start_line, c.end_line, c.text) for c in answer.citations],
            [(p.file, p.start_line, p.end_line) for p in answer.passages])


@pytest.mark.parametrize("question", ANSWERABLE + UNANSWERABLE)
def test_same_answers_as_the_embedded_store(resumed, seed_pipeline, question):
    pipe, _err, _n = resumed
    assert _cited(pipe.ask(question)) == _cited(seed_pipeline.ask(question))


@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_same_passages_per_retriever(resumed, seed_pipeline, mode):
    pipe, _err, _n = resumed
    for q in ANSWERABLE[:8]:
        got = pipe.retrieve(q, mode=mode)
        want = seed_pipeline.retrieve(q, mode=mode)
        assert [(p.file, p.start_char) for p in got] == [(p.file, p.start_char) for p in want]
        assert [p.score for p in got] == pytest.approx([p.score for p in want], rel=1e-4, abs=1e-5)


def test_cli_commands_use_the_server(resumed, server):
    env = server_env(server, SEEDS)
    info = rag_cli("info", "--json", env=env)
    assert info.returncode == 0, info.stderr
    assert f"{server.host}:{server.port}" in info.stdout
    out = rag_cli("ask", "--json", "When did Microsoft announce the Maia 200?", env=env)
    assert out.returncode == 0, out.stderr
    assert "January 2026" in out.stdout


# --- BM25 kept consistent with what the server holds ---------------------------------------------
QUOKKA = "Quokkas have run the staff cafeteria on Tuesdays since the spring reorganisation.\n"


def test_bm25_follows_another_process_and_a_rebuild(server, tmp_path):
    from rag.pipeline import Pipeline

    corpus = tmp_path / "c"
    corpus.mkdir()
    seed = sorted(SEEDS.iterdir())[0].read_text(encoding="utf-8")
    (corpus / "news.txt").write_text(seed[:3000], encoding="utf-8")
    settings = server_settings(server, corpus, collection="shared")
    reader = Pipeline(settings)
    reader.ingest(progress=False)
    assert all(p.file == "news.txt" for p in reader.retrieve("quokkas cafeteria Tuesdays", mode="bm25"))
    _, retriever = reader._open()
    first = retriever._lexical._bm25

    # another process adds a file to the same collection on the same server
    (corpus / "new.md").write_text(QUOKKA, encoding="utf-8")
    out = rag_cli("ingest", "-q", env=server_env(server, corpus, collection="shared"))
    assert out.returncode == 0, out.stderr
    top = reader.retrieve("Who runs the cafeteria on Tuesdays?", mode="bm25")[0]
    assert top.file == "new.md"
    rebuilt = retriever._lexical._bm25
    assert rebuilt is not first
    reader.retrieve("quokkas", mode="bm25")
    assert retriever._lexical._bm25 is rebuilt  # unchanged collection: not rebuilt per question

    # another client drops and rebuilds the collection (new ids on the server)
    (corpus / "new.md").write_text(QUOKKA.replace("Tuesdays", "Fridays"), encoding="utf-8")
    Pipeline(settings).ingest(progress=False, rebuild=True)
    for mode in ("dense", "bm25"):  # both reopened on the recreated collection
        top = reader.retrieve("Which animals run the staff cafeteria on Fridays?", mode=mode)[0]
        assert top.file == "new.md" and "Fridays" in top.text
    answer = reader.ask("Which animals run the staff cafeteria on Fridays?")  # sentences too
    assert "Fridays" in answer.passages[0].text


# --- errors that name host and port ---------------------------------------------------------------
def test_server_down_is_a_one_line_error_naming_host_and_port(tmp_path):
    port = free_port()  # nothing listens there
    out = rag_cli("ask", "What is Claude?", "--chroma-host", "127.0.0.1", "--chroma-port", str(port))
    assert out.returncode == 2
    assert f"127.0.0.1:{port}" in out.stderr and "cannot reach" in out.stderr
    assert "Traceback" not in out.stderr and "hint:" in out.stderr


def test_something_else_on_the_port_is_not_taken_for_chroma(tmp_path):
    from rag.pipeline import Pipeline

    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                            "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fake = ChromaServer(tmp_path / "x", port=port)
        deadline = time.monotonic() + 30
        while not _answers(fake.url) and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(RagError, match=f"127.0.0.1:{port}.*not as a Chroma server"):
            Pipeline(server_settings(fake, SEEDS)).ingest(progress=False)
    finally:
        web.terminate()
        web.wait(timeout=10)


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_hung_server_times_out_naming_host_and_port(resumed, server):
    pipe, _err, _n = resumed
    from rag.pipeline import Pipeline

    quick = Pipeline(pipe.settings.replace(chroma_timeout_s=1.0))
    quick.ask("What is Claude?")  # connected and warm
    server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(RagError, match=f"{server.host}:{server.port}.*did not answer within 1 s"):
            quick.ask("What is Claude?")
        assert time.monotonic() - started < 20
        with pytest.raises(RagError, match=f"{server.host}:{server.port}"):
            Pipeline(pipe.settings.replace(chroma_timeout_s=1.0)).info()
    finally:
        server.resume()
    assert not quick.ask("What is Claude?").refused  # and it recovers once the server does
