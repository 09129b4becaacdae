"""The `rag` command as a user runs it: a real subprocess over a real index."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CONTRACT = {"question", "answer", "refused", "citations", "passages", "timings_ms"}


def rag(*args, env=None, input=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**base, **(env or {})}, input=input, timeout=300)


@pytest.fixture(scope="module")
def index_env(seed_pipeline, seed_settings):
    return {"RAG_INDEX": str(seed_settings.index), "RAG_CORPUS": str(seed_settings.corpus)}


@pytest.mark.parametrize("cmd", ["ingest", "ask", "cite", "info", "chat", "eval", "train"])
def test_help_on_every_command(cmd):
    out = rag(cmd, "--help")
    assert out.returncode == 0 and "--corpus" in out.stdout and "--index" in out.stdout


def test_ask_json_contract(index_env):
    out = rag("ask", "--json", "When did Microsoft announce the Maia 200?", env=index_env)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert CONTRACT <= set(obj)
    assert obj["refused"] is False and "January 2026" in obj["answer"]
    for c in obj["citations"]:
        assert {"id", "file", "start_line", "end_line", "text"} <= set(c)
        assert c["text"] in (ROOT / "seeds" / c["file"]).read_text(encoding="utf-8")
    for p in obj["passages"]:
        assert {"file", "start_line", "end_line", "text", "score"} <= set(p)
    assert {"retrieve", "total"} <= set(obj["timings_ms"])


def test_ask_questions_file_gives_json_lines(index_env, tmp_path):
    qs = tmp_path / "q.txt"
    qs.write_text("What is Claude?\nWho is the CEO of Samsung?\n", encoding="utf-8")
    out = rag("ask", "--json", "--questions", str(qs), env=index_env)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["refused"] for r in rows] == [False, True]


def test_text_output_shows_numbered_citations(index_env):
    out = rag("ask", "When did Microsoft announce the Maia 200?", env=index_env)
    assert out.returncode == 0
    assert "[1]" in out.stdout and "line " in out.stdout and "000_" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["ask", "   "], "empty"),
    (["ask", "x" * 3000], "limit"),
])
def test_errors_are_one_line_no_traceback(index_env, args, needle):
    out = rag(*args, env=index_env)
    assert out.returncode != 0
    assert needle in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow  # a cold `rag ask` (imports Chroma)
def test_missing_index_message(tmp_path):
    out = rag("ask", "What is Claude?", "--index", str(tmp_path / "none"))
    assert out.returncode == 2 and "rag ingest" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow  # a cold `rag ingest`: loads the model
def test_ingest_exit_code_reports_skipped(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Otters hold the record for tool use among marine mammals.", encoding="utf-8")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    out = rag("ingest", str(corpus), "--index", str(tmp_path / "i"), "-q")
    assert out.returncode == 1
    assert "bad.txt" in out.stderr and "1 files" in out.stdout


@pytest.mark.slow  # a cold `rag ingest`: loads the model
def test_ingest_of_a_folder_without_supported_files_says_so(tmp_path):
    """It once said "index already up to date, nothing embedded", as if all were well."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")  # a format rag does not read
    out = rag("ingest", str(corpus), "--index", str(tmp_path / "i"), "-q")
    assert out.returncode == 0, out.stderr
    assert "no files to index in" in out.stdout and str(corpus) in out.stdout
    assert ".txt" in out.stdout and ".md" in out.stdout and ".pdf" in out.stdout
    assert "1 skipped: 1 unsupported format" in out.stdout
    assert "up to date" not in out.stdout and "Traceback" not in out.stderr
