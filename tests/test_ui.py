"""The chat: its HTML rendering (fast, no server) and the real app through gradio_client.

The server tests share one `rag chat` subprocess (the ``chat_app`` fixture, with auth)
that built its own index from two seeds and a file full of markup.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.results import REFUSAL, Answer, Citation, Passage
from rag.errors import RagError
from rag.ui import exposure_warnings, parse_auth
from rag.ui_render import answer_html, error_html, question_html
from tests.chat_server import AUTH, HOSTILE_FILE, PDF_QUESTION, SKIPPED_FILE
from tests.documents import PDF_NAME

CONTRACT = {"question", "answer", "refused", "citations", "passages", "timings_ms", "evidence", "notice"}
HOSTILE = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>'
LIVE_TAG = re.compile(r"<\s*(script|img|iframe|svg)\b", re.I)


# --- rendering: no server needed ---------------------------------------------------------------
def _answer(text: str, refused: bool = False) -> Answer:
    p = Passage("id", "f<b>.md", "/c/f.md", 3, 4, 0, len(text), text, 0.5)
    c = Citation(1, "f<b>.md", "/c/f.md", 3, 3, 0, len(text), text, 0)
    window = {"file": "f<b>.md", "start_line": 3, "end_line": 3, "first_line": 2, "last_line": 4, "lines": [
        {"line": 3, "in_span": True, "parts": [{"text": text, "mark": True}]}]}
    if refused:
        return Answer(HOSTILE, REFUSAL, True, passages=[p], notice="nothing <i>found</i>"), {0: window}
    return Answer(HOSTILE, f"{text} [1]", False, citations=[c], passages=[p]), {1: window}


@pytest.mark.parametrize("refused", [False, True])
def test_rendered_answers_escape_markup_from_corpus_and_question(refused):
    answer, windows = _answer(f"Costs $5 and {HOSTILE} \x07 *not bold*", refused)
    out = answer_html(answer, windows) + question_html(answer.question)
    assert not LIVE_TAG.search(out), out
    assert "&lt;script&gt;" in out and "&lt;img" in out and "&lt;b&gt;" in out
    assert "\x07" not in out and "$" not in out and "*not" not in out  # no Markdown or LaTeX left to parse
    assert "\n\n" not in out  # one HTML block: Markdown never re-reads corpus text


def test_answer_and_refusal_look_different():
    answer, windows = _answer("Otters sign treaties.")
    refusal, rwindows = _answer("Otters sign treaties.", refused=True)
    a, r = answer_html(answer, windows), answer_html(refusal, rwindows)
    assert "rag-answer" in a and "rag-refusal" not in a and "<mark>" in a and '<sup class="rag-ref">[1]' in a
    assert "rag-refusal" in r and REFUSAL in r and "Closest passages" in r and "rag-answer" not in r


def test_answer_shows_the_cited_unit_marked_in_a_line_of_context_without_opening_the_source():
    answer, _ = _answer("BUFSZ is 4096.")
    lines = [{"line": n, "in_span": n == 12, "parts": [{"text": t, "mark": n == 12}]}
             for n, t in [(10, "far before"), (11, "The size of each read:"), (12, "BUFSZ is 4096."),
                          (13, "Then the loop."), (14, "far after")]]
    window = {"file": "f.md", "start_line": 12, "end_line": 12, "first_line": 10, "last_line": 14, "lines": lines}
    out = answer_html(answer, {1: window})
    summary = out[out.index("<summary>"):out.index("</summary>")]
    assert "<mark>BUFSZ is 4096.</mark>" in summary
    assert "The size of each read:" in summary and "Then the loop." in summary
    assert "far before" not in summary and "far after" not in summary
    assert "far before" in out  # the whole window is still there when opened


def test_huge_question_is_shown_clipped_with_its_length():
    shown = question_html("why " * 25_000)
    assert len(shown) < 1000 and "100,000 characters" in shown


def test_error_message_is_escaped():
    assert "&lt;script&gt;" in error_html("bad <script>", "try <b>this</b>")


def test_copy_for_report_gives_one_answer_or_the_conversation():
    from rag.ui_app import Handlers

    first, _ = _answer("Otters sign treaties.")
    second, _ = _answer("Otters meet on Thursdays.")
    second.question = "When do otters meet?"
    one = Handlers.report([first, second], "This answer")
    assert one.startswith("### When do otters meet?") and re.search(r"\[\^1\]: \*\*f<b>\.md\*\*, lines? 3:", one)
    assert "Otters sign" not in one
    both = Handlers.report([first, second], "Whole conversation")
    assert "Otters sign" in both and "Otters meet" in both and "## Sources" in both
    assert Handlers.report([], "This answer") == ""


def test_auth_setting_parses_or_says_how():
    assert parse_auth("") is None
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(RagError, match="USER:PASSWORD"):
            parse_auth(bad)


@pytest.mark.parametrize("host, auth, share, warned", [
    ("127.0.0.1", False, False, False), ("localhost", False, False, False), ("::1", False, False, False),
    ("0.0.0.0", False, False, True), ("192.168.1.5", False, False, True), ("myhost", False, False, True),
    ("0.0.0.0", True, False, False), ("127.0.0.1", False, True, True), ("127.0.0.1", True, True, False),
])
def test_exposed_without_password_warns(host, auth, share, warned):
    warnings = exposure_warnings(host, auth, share)
    assert bool(warnings) == warned
    assert all("--auth" in w for w in warnings)


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_busy_port_fails_fast_with_one_line_and_exposure_is_warned(tmp_path, host, warned):
    import socket
    import subprocess
    import sys

    from tests.chat_server import ROOT, chat_env

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "rag.cli", "chat", "--host", host, "--port", str(port),
                              "--index", str(tmp_path / "index"), "--corpus", str(tmp_path)],
                             cwd=ROOT, env=chat_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{port}: the port is in use" in out.stderr and "--port" in out.stderr
    assert ("warning:" in out.stderr and "--auth" in out.stderr) == warned
    assert not (tmp_path / "index").exists()  # nothing was indexed before finding the port busy


# --- the real app ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(chat_app):
    return chat_app.client()


def _file(chat_app, name: str) -> str:
    return (chat_app.corpus / name).read_text(encoding="utf-8")


def test_start_builds_missing_index_with_progress_and_prints_url(chat_app):
    out = chat_app.output()
    assert "No index yet" in out and "embedding" in out  # the ingest progress bar, in the terminal
    assert f"running at {chat_app.url}" in out
    assert "warning" not in out.lower()  # loopback with auth: nothing to warn about


def test_ask_api_returns_the_cli_json_with_verbatim_citations(client, chat_app):
    got = client.predict("When did Microsoft announce the Maia 200?", api_name="/ask")
    assert set(got) == CONTRACT
    assert got["refused"] is False and "January 2026" in got["answer"]
    assert got["citations"]
    for c in got["citations"]:
        text = _file(chat_app, c["file"])
        assert c["file"].startswith("000_")
        assert text[c["start_char"]:c["end_char"]] == c["text"]
        assert f"[{c['id']}]" in got["answer"]
    json.dumps(got)  # plain JSON, as `rag ask --json` prints


def test_ask_api_refuses_with_closest_passages(client):
    got = client.predict("Who is the CEO of Samsung?", api_name="/ask")
    assert got["refused"] is True and got["answer"] == REFUSAL
    assert not got["citations"] and got["passages"]


def test_ask_api_takes_per_question_retrieval_settings(client):
    from gradio_client.exceptions import AppError

    got = client.predict("What is the Maia 200 designed for?", 2, "bm25", api_name="/ask")
    assert 1 <= len(got["passages"]) <= 2
    with pytest.raises(AppError, match="mode must be one of"):
        client.predict("What is the Maia 200 designed for?", 2, "magic", api_name="/ask")
    with pytest.raises(AppError, match="top_k"):
        client.predict("What is the Maia 200 designed for?", 1000, None, api_name="/ask")


def test_requests_without_the_password_are_refused(chat_app):
    import httpx

    with pytest.raises(Exception, match="credentials were not provided"):
        chat_app.client(auth=None)
    with pytest.raises(ValueError, match="Could not login"):
        chat_app.client(auth=(AUTH[0], "wrong"))
    raw = httpx.post(chat_app.url + "gradio_api/call/ask", json={"data": ["What is Claude?"]}, timeout=30)
    assert raw.status_code in (401, 403), raw.text
    assert "Claude" not in raw.text


def _chat(client, message, top_k=5, mode="hybrid"):
    box, history, report = client.predict(message, [], top_k, mode, api_name="/chat")
    assert box == ""  # the question box is cleared
    contents = ["".join(part["text"] for part in m["content"]) if isinstance(m["content"], list) else m["content"]
                for m in history]
    return contents, report


def test_chat_shows_markup_from_question_and_corpus_as_text(client, chat_app):
    (user, bot), _ = _chat(client, f"<b>hi</b> {HOSTILE}")
    assert "&lt;script&gt;" in user and "&lt;img" in user and not LIVE_TAG.search(user)
    (user, bot), report = _chat(client, "When was the Quokka Protocol ratified?")
    assert "rag-answer" in bot and "March 2031" in bot and HOSTILE_FILE in bot
    assert "&lt;img src=x onerror=" in bot and not LIVE_TAG.search(bot)
    assert "&lt;script&gt;" in bot  # the next line of the file, shown as context, escaped too
    assert report.startswith("### When was the Quokka Protocol ratified?") and f"**{HOSTILE_FILE}**" in report
    assert "[^1]:" in report


def test_chat_answer_shows_numbered_citations_with_lines_and_highlight(client, chat_app):
    (_, bot), report = _chat(client, "How much did Microsoft invest in Anthropic?")
    assert "rag-answer" in bot and '<sup class="rag-ref">[1]</sup>' in bot and "<details" in bot
    marked = re.findall(r"<mark>(.*?)</mark>", bot)
    assert marked and all(re.search(r'class="rag-ln">\d+<', bot) for _ in marked)
    assert "$5 billion" in report


def test_chat_shows_searching_state_before_the_answer(client):
    job = client.submit("What is Claude?", [], 5, "hybrid", api_name="/chat")
    job.result(timeout=120)
    states = ["".join(part["text"] for part in m["content"]) for out in job.outputs() for m in out[1][-1:]]
    assert "rag-pending" in states[0] and "Searching" in states[0]
    assert "rag-answer" in states[-1]


@pytest.mark.parametrize("message, needle", [
    ("", "empty"), ("  \n\t ", "empty"), ("\x00\x01\x02", "empty"), ("why " * 25_000, "limit"),
])
def test_bad_input_gets_a_clear_message(client, message, needle):
    (user, bot), report = _chat(client, message)
    assert "rag-error" in bot and needle in bot
    assert len(user) < 2000  # a 100 KB paste is not echoed back whole


def test_control_characters_are_dropped_and_the_question_answered(client):
    (user, bot), _ = _chat(client, "When did Microsoft\x00 announce the\x07 Maia 200?\x1b")
    assert "rag-answer" in bot and "January 2026" in bot and "\x07" not in user + bot


def test_source_endpoint_reads_only_indexed_files(client, chat_app):
    from gradio_client.exceptions import AppError

    cited = client.predict("When did Microsoft announce the Maia 200?", api_name="/ask")["citations"][0]
    window = client.predict(cited["file"], cited["start_char"], cited["end_char"], 2, api_name="/source")
    assert window["start_line"] == cited["start_line"] and window["end_line"] == cited["end_line"]
    marked = "".join(p["text"] for line in window["lines"] for p in line["parts"] if p["mark"])
    assert marked == cited["text"]
    (chat_app.corpus / "not-indexed.md").write_text("Secret plans for the otters.", encoding="utf-8")
    outside = chat_app.corpus.parent / "outside.txt"
    outside.write_text("Outside the corpus.", encoding="utf-8")
    try:
        for name in ["../outside.txt", str(outside), "/etc/passwd", "../../../../etc/passwd",
                     str(chat_app.corpus / cited["file"]), "not-indexed.md", "./" + cited["file"], ""]:
            with pytest.raises(AppError, match="not a file in the index|no file named"):
                client.predict(name, 0, 5, 1, api_name="/source")
    finally:
        (chat_app.corpus / "not-indexed.md").unlink()


def test_pdf_answers_cite_the_page_and_the_source_window_names_it(client, chat_app):
    from rag.corpus import limits, read_source
    from tests.conftest import make_settings

    got = client.predict(PDF_QUESTION, api_name="/ask")
    c = got["citations"][0]
    assert c["file"] == PDF_NAME and c["page"] == c["end_page"] == 3 and "310 schools" in c["text"]
    extracted = read_source(chat_app.corpus / PDF_NAME, PDF_NAME, limits(make_settings(chat_app.corpus, chat_app.index)))
    assert extracted.text[c["start_char"]:c["end_char"]] == c["text"]
    window = client.predict(c["file"], c["start_char"], c["end_char"], 2, api_name="/source")
    assert window["page"] == 3 and window["format"] == "pdf"
    info = client.predict(api_name="/info")
    assert info["formats"].get("pdf") == 1 and SKIPPED_FILE in {s["name"] for s in info["skipped"]}


def test_cite_and_info_endpoints(client):
    cited = client.predict("Maia 200 inference", api_name="/cite")
    assert cited["question"] == "Maia 200 inference" and cited["passages"]
    assert {"file", "start_line", "end_line", "text", "score"} <= set(cited["passages"][0])
    info = client.predict(api_name="/info")
    assert {f["file"] for f in info["files"]} >= {HOSTILE_FILE, "000_5d630dd79f32896f.txt"}
    assert info["model"] == "all-MiniLM-L6-v2" and info["chunks"] > 0 and info["built_at"]
    assert all("path" not in f for f in info["files"])  # no absolute paths to remote users


def test_reindex_picks_up_a_new_file_while_others_ask(chat_app):
    """Many users asking while one re-indexes: every question is answered, none fails."""
    question = "When did Microsoft announce the Maia 200?"
    (chat_app.corpus / "otters.md").write_text(
        "The otter council meets every Thursday in Lisbon to review river treaties.\n", encoding="utf-8")
    results, errors = [], []

    def ask(_):
        try:
            results.append(chat_app.client().predict(question, api_name="/ask"))
        except Exception as exc:  # noqa: BLE001 - a failed question is the finding
            errors.append(exc)

    try:
        with ThreadPoolExecutor(6) as pool:
            asking = [pool.submit(ask, i) for i in range(6)]
            report = chat_app.client().predict(api_name="/reindex")
            for f in asking:
                f.result()
        assert not errors, errors
        assert len(results) == 6 and all("January 2026" in r["answer"] for r in results)
        assert report["added"] == 1 and report["unchanged"] == 4 and "1 added" in report["summary"]
        got = chat_app.client().predict("Where does the otter council meet?", api_name="/ask")
        # the new file is searched at once (which sentence answers is the scorer's business,
        # judged on left-out corpora in tests/test_evaluate.py)
        assert not got["refused"] and got["passages"][0]["file"] == "otters.md"
        assert "Lisbon" in got["passages"][0]["text"]
    finally:
        (chat_app.corpus / "otters.md").unlink()
        chat_app.client().predict(api_name="/reindex")


def test_concurrent_users_get_their_own_answers(chat_app):
    questions = ["When did Microsoft announce the Maia 200?", "Who is the CEO of Samsung?"] * 4
    barrier = threading.Barrier(len(questions))

    def one(q):
        c = chat_app.client()
        barrier.wait(timeout=60)
        return _chat(c, q)[0][1]

    with ThreadPoolExecutor(len(questions)) as pool:
        bots = list(pool.map(one, questions))
    for q, bot in zip(questions, bots):
        assert ("rag-refusal" in bot) == ("Samsung" in q)


@pytest.mark.slow
def test_chat_streams_a_streaming_writers_draft_then_the_checked_answer(tmp_path_factory):
    """With the LLM writer (a real llama.cpp server), the chat shows the draft as it grows."""
    from tests import llm_server
    from tests.chat_server import start_chat, stop
    from tests.conftest import need

    why = llm_server.available()
    need(not why, why)
    llm = llm_server.start()
    chat = None
    try:
        chat = start_chat(tmp_path_factory.mktemp("chat-llm"), seeds=("003_3fde7addf9f091b4.txt",), env={
            "RAG_WRITER": "llm", "RAG_LLM_BASE_URL": llm.url, "RAG_LLM_MODEL": "smollm2",
            "RAG_LLM_MAX_TOKENS": "40", "RAG_LLM_TIMEOUT_S": "240", "RAG_TOP_K": "2"})
        job = chat.client(auth=None).submit("When was the Quokka Protocol ratified?", [], 2, "hybrid",
                                            api_name="/chat")
        job.result(timeout=300)
        states = ["".join(part["text"] for part in m["content"]) for out in job.outputs() for m in out[1][-1:]]
        drafts = [st for st in states if "rag-draft" in st]
        assert "rag-pending" in states[0] and drafts, states
        assert "rag-answer" in states[-1] or "rag-refusal" in states[-1]
        assert not any(LIVE_TAG.search(st) for st in states)  # the model's text is escaped too
    finally:
        if chat is not None:
            stop(chat)
        llm.stop()
