"""Many users at once, re-indexing under their feet, and who may reach the chat at all.

The load test drives the real `rag chat` subprocess (the shared ``chat_app``: loopback,
with a password) from gradio_client: STREAMS users asking back to back for DURATION_S
seconds, every answer checked for the right fact and verbatim citations. It prints
throughput and latency percentiles. Loopback only, bounded in streams and time.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.chat_server import AUTH
from tests.conftest import SEEDS, make_settings

pytestmark = pytest.mark.slow

STREAMS = 24
DURATION_S = 15
# (question, a fact the answer must contain or None for a refusal, the file it must cite)
LOAD_QUESTIONS = [
    ("When did Microsoft announce the Maia 200?", "January 2026", "000_5d630dd79f32896f.txt"),
    ("How much did Microsoft invest in Anthropic?", "$5 billion", "000_5d630dd79f32896f.txt"),
    ("When was the Quokka Protocol ratified?", "March 2031", "hostile.md"),
    ("Who is the CEO of Samsung?", None, None),
]


def check_answer(got: dict, fact: str | None, file: str | None, corpus: Path) -> None:
    if fact is None:
        assert got["refused"] and not got["citations"], got["answer"]
        return
    assert not got["refused"], got
    assert fact in got["answer"]
    assert file in {c["file"] for c in got["citations"]}
    for c in got["citations"]:
        text = (corpus / c["file"]).read_text(encoding="utf-8")
        assert text[c["start_char"]:c["end_char"]] == c["text"]
        assert f"[{c['id']}]" in got["answer"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def test_concurrent_question_streams_all_get_correct_cited_answers(chat_app, capsys):
    clients = [None] * STREAMS
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(STREAMS + 1)

    def stream(i: int) -> None:
        try:
            clients[i] = chat_app.client()
        except Exception as exc:  # noqa: BLE001 - a user who cannot connect is a failure
            failures.append(f"stream {i} could not connect: {exc!r}")
        start.wait(timeout=300)
        if clients[i] is None:
            return
        n = i
        while time.monotonic() < deadline:
            q, fact, file = LOAD_QUESTIONS[n % len(LOAD_QUESTIONS)]
            n += 1
            t0 = time.monotonic()
            try:
                got = clients[i].predict(q, api_name="/ask")
                check_answer(got, fact, file, chat_app.corpus)
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                with lock:
                    failures.append(f"{q!r}: {exc!r}"[:500])
                continue
            with lock:
                latencies.append(time.monotonic() - t0)

    threads = [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(STREAMS)]
    for t in threads:
        t.start()
    deadline = float("inf")
    start.wait(timeout=300)
    began = time.monotonic()
    deadline = began + DURATION_S
    for t in threads:
        t.join(timeout=DURATION_S + 300)
    wall = time.monotonic() - began
    assert not any(t.is_alive() for t in threads), "a question stream hung"
    assert not failures, f"{len(failures)} failed of {len(failures) + len(latencies)}: {failures[:5]}"
    assert len(latencies) >= STREAMS, "fewer answers than streams"
    with capsys.disabled():
        print(f"\nload: {STREAMS} concurrent streams for {DURATION_S}s over loopback: {len(latencies)} answers, "
              f"all correct and cited; throughput {len(latencies) / wall:.2f} answers/s; latency "
              f"p50 {percentile(latencies, 50):.2f}s p95 {percentile(latencies, 95):.2f}s "
              f"max {max(latencies):.2f}s")


def test_reindexing_while_questions_are_answered(tmp_path):
    """In-process, as the chat does it: one Pipeline, askers in threads, ingest in another."""
    from rag.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "003_3fde7addf9f091b4.txt", corpus)
    notes = corpus / "notes.md"
    old = "# Site notes\n\nThe loading dock at the Harwell depot is run by Brenna Okafor.\n"
    new = old.replace("Brenna Okafor", "Tomas Lindqvist") + "\nForklift training at the Harwell depot runs on Mondays.\n"
    notes.write_text(old, encoding="utf-8")
    pipe = Pipeline(make_settings(corpus, tmp_path / "index"))
    pipe.ingest(progress=False)
    seed_text = (corpus / "003_3fde7addf9f091b4.txt").read_text(encoding="utf-8")

    stop = threading.Event()
    seen: list[dict] = []
    errors: list[BaseException] = []

    def ask(question: str) -> None:
        while not stop.is_set():
            try:
                seen.append(pipe.ask(question).to_dict())
            except BaseException as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)
                return

    askers = [threading.Thread(target=ask, args=(q,), daemon=True) for q in
              ("What is Claude?", "Who runs the loading dock at the Harwell depot?")]
    for t in askers:
        t.start()
    def answered(n: int) -> None:
        """Wait for n more answers (or an error): a state to see, not a time to sleep."""
        target = len(seen) + n
        deadline = time.monotonic() + 300
        while len(seen) < target and not errors and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        answered(2)  # both askers are running before anything changes
        notes.write_text(new, encoding="utf-8")
        report = pipe.ingest(progress=False)
        (corpus / "extra.md").write_text("The Harwell depot canteen serves soup on Fridays.\n", encoding="utf-8")
        second = pipe.ingest(progress=False)
        answered(2)  # and questions are answered after the second change too
    finally:
        stop.set()
        for t in askers:
            t.join(timeout=120)
    assert not errors, errors
    assert (report.updated, second.added) == (1, 1)
    assert len(seen) >= 4
    for got in seen:
        for c in got["citations"]:
            # an answer given mid-change cites the file as it was indexed then or as it is now
            text = seed_text if c["file"] != "notes.md" else None
            versions = [text] if text else [old, new]
            assert any(v[c["start_char"]:c["end_char"]] == c["text"] for v in versions), c
    after = pipe.ask("Who runs the loading dock at the Harwell depot?")
    assert not after.refused and "Tomas Lindqvist" in after.answer and "Brenna" not in after.answer
    assert "soup" in pipe.ask("What does the Harwell depot canteen serve on Fridays?").answer


# --- access --------------------------------------------------------------------------------------
def test_chat_listens_on_loopback_only_by_default(chat_app):
    port = int(chat_app.url.rstrip("/").rsplit(":", 1)[1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
                listening.add(addr)
    assert listening == {"0100007F"}, f"listening on {listening} (want 127.0.0.1 only)"


@pytest.mark.parametrize("method, path, body", [
    ("POST", "gradio_api/call/ask", {"data": ["What is Claude?", None, None]}),
    ("POST", "gradio_api/run/ask", {"data": ["What is Claude?", None, None]}),
    ("POST", "gradio_api/call/source", {"data": ["hostile.md", 0, 10, 3]}),
    ("POST", "gradio_api/call/reindex", {"data": []}),
    ("GET", "config", None),
    ("GET", "gradio_api/info", None),
    ("GET", "gradio_api/file=/etc/passwd", None),
])
def test_requests_without_credentials_are_refused_over_raw_http(chat_app, method, path, body):
    """Not through gradio_client's sign-in: what a script on the network would send."""
    with httpx.Client(trust_env=False, timeout=30) as http:
        r = http.request(method, chat_app.url + path, json=body)
        assert r.status_code == 401, (r.status_code, r.text[:300])
        assert "Not authenticated" in r.text
        bad = http.post(chat_app.url + "login", data={"username": AUTH[0], "password": "wrong"})
        assert bad.status_code >= 400 and not http.cookies
        assert http.request(method, chat_app.url + path, json=body).status_code == 401


def test_signed_in_users_still_cannot_fetch_files_outside_the_corpus(chat_app):
    with httpx.Client(trust_env=False, timeout=30) as http:
        assert http.post(chat_app.url + "login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 200
        for target in ("/etc/passwd", str(chat_app.corpus / "hostile.md"), str(chat_app.index / "chroma.sqlite3"),
                       "../../../../etc/passwd"):
            r = http.get(chat_app.url + "gradio_api/file=" + target)
            assert r.status_code in (403, 404), (target, r.status_code)
            assert "root:" not in r.text
