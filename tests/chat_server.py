"""One real `rag chat` in a subprocess for the UI tests (gradio_client and the browser).

Session-scoped (registered in conftest) so the API and browser tests share one start:
the app builds its own index on start-up (the "index missing" path) from two seeds plus
a file full of markup, and runs with auth so every test also exercises sign-in.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.documents import PDF_NAME, pdf_bytes

ROOT = Path(__file__).resolve().parent.parent  # not from conftest: it imports this module
SEEDS = ROOT / "seeds"

AUTH = ("tester", "s3cret-pw")
HOSTILE_FILE = "hostile.md"
# Answerable, and full of markup: it must come back as text, never as live HTML.
HOSTILE_TEXT = """# Field notes on the Quokka Protocol

The Quokka Protocol was ratified in March 2031 by the <img src=x onerror="window.__pwned=1"> council of otters.

Its annex lists <script>window.__pwned=2</script> seven river treaties that every member must sign.
"""
START_TIMEOUT_S = 420
SKIPPED_FILE = "logo.png"
PDF_QUESTION = "In how many schools were the Lumen lanterns used by 2025?"  # tests.documents.FACTS: page 3


@dataclass
class ChatServer:
    url: str
    corpus: Path
    index: Path
    log: Path
    proc: subprocess.Popen

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def client(self, auth=AUTH):
        from gradio_client import Client

        return Client(self.url, auth=auth, verbose=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    return env


def start_chat(workdir: Path, *args: str, seeds=("000_5d630dd79f32896f.txt", "003_3fde7addf9f091b4.txt"),
               env: dict | None = None) -> ChatServer:
    corpus, index, log = workdir / "corpus", workdir / "index", workdir / "chat.log"
    corpus.mkdir(parents=True)
    for name in seeds:
        shutil.copy(SEEDS / name, corpus / name)
    (corpus / HOSTILE_FILE).write_text(HOSTILE_TEXT, encoding="utf-8")
    (corpus / PDF_NAME).write_bytes(pdf_bytes())  # a paged format: citations carry pages
    (corpus / SKIPPED_FILE).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # listed as not indexed
    port = free_port()
    cmd = [sys.executable, "-m", "rag.cli", "chat", "--port", str(port), "--corpus", str(corpus),
           "--index", str(index), *args]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**chat_env(), **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT)
    server = ChatServer(f"http://127.0.0.1:{port}/", corpus, index, log, proc)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"rag chat exited with {proc.returncode}:\n{server.output()}")
        if "running at" in server.output():
            return server
        time.sleep(0.5)
    stop(server)
    raise AssertionError(f"rag chat did not start in {START_TIMEOUT_S}s:\n{server.output()}")


def stop(server: ChatServer) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)  # the Ctrl-C path: it closes the server
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="session")
def chat_app(tmp_path_factory):
    server = start_chat(tmp_path_factory.mktemp("chat"), "--auth", ":".join(AUTH))
    yield server
    stop(server)
