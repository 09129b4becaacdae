"""PDF, HTML, Word and plain-text documentation folders end to end, as a user runs rag:
`rag ingest` over a mixed folder, `rag ask` (JSON, text, Markdown), `rag info`, the source
viewer's window — real model, real Chroma, the command's own code (rag.cli.main)."""

from __future__ import annotations

import io
import json
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pytest

from rag.corpus import limits, read_source
from tests.conftest import ROOT, make_settings
from tests.documents import FACTS, PDF_NAME, write_bad_inputs, write_doc_folder, write_documents

pytestmark = pytest.mark.slow


def rag(*args, env):
    """`rag ARGS` with these RAG_* variables, run in this process through rag.cli.main -- the
    code the command runs; starting the command itself is tested in test_cli. A process per
    call cost ~4 s of cold start each, most of this module's time."""
    from rag.cli import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        for name in [k for k in os.environ if k.startswith("RAG_")]:
            del os.environ[name]
        os.environ.update(env)
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A folder as people keep one: documents, a doc folder's plain text, and bad files."""
    root = tmp_path_factory.mktemp("mixed")
    corpus = root / "corpus"
    write_documents(corpus)
    doc_files = write_doc_folder(corpus / "doc")
    bad = write_bad_inputs(corpus / "bad")
    env = {"RAG_CORPUS": str(corpus), "RAG_INDEX": str(root / "index")}
    first = rag("ingest", "-v", env=env)
    return {"corpus": corpus, "env": env, "first": first, "doc_files": doc_files, "bad": bad}


def test_ingest_counts_what_it_read_and_names_what_it_skipped(mixed):
    out = mixed["first"]
    n_read = 3 + len(mixed["doc_files"])
    assert f"{n_read} files indexed" in out.stdout, out.stdout + out.stderr
    assert "1 pdf" in out.stdout and "1 html" in out.stdout and "1 docx" in out.stdout
    assert f"{len(mixed['bad'])} skipped: 6 unreadable, 2 binary, 1 unsupported format" in out.stdout
    for name, words in mixed["bad"].items():  # -v names every skipped file with its reason
        line = next(ln for ln in out.stderr.splitlines() if ln.startswith(f"skipped bad/{name}:"))
        assert words.lower() in line.lower()
    assert "Traceback" not in out.stderr
    assert out.returncode == 1  # files rag should read were unreadable


def test_without_verbose_only_the_unreadable_are_listed(mixed, tmp_path):
    env = {**mixed["env"], "RAG_INDEX": str(tmp_path / "index")}
    out = rag("ingest", str(mixed["corpus"] / "bad"), env=env)
    listed = {ln.split(":")[0].removeprefix("skipped ") for ln in out.stderr.splitlines() if ln.startswith("skipped ")}
    assert listed == {n for n, w in mixed["bad"].items() if w not in ("PNG", "binary", "unsupported format")}
    assert "no files to index in" in out.stdout and ".pdf" in out.stdout


def test_reingest_changes_nothing(mixed):
    out = rag("ingest", env=mixed["env"])
    assert "0 added, 0 updated, 0 removed" in out.stdout and "nothing embedded" in out.stdout, out.stdout


@pytest.mark.parametrize("question,file,page,words", FACTS)
def test_answers_cite_page_and_lines_of_verbatim_extracted_text(mixed, question, file, page, words):
    out = rag("ask", "--json", question, env=mixed["env"])
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert not obj["refused"], obj
    cite = next((c for c in obj["citations"] if c["file"] == file), None)
    assert cite is not None and words in " ".join(cite["text"].split()), obj["citations"]
    assert cite["page"] == page and cite["end_page"] == page
    extracted = read_source(mixed["corpus"] / file, file, limits(make_settings(mixed["corpus"], ROOT))).text
    assert extracted[cite["start_char"]:cite["end_char"]] == cite["text"]
    lines = extracted.split("\n")
    assert cite["text"].split("\n")[0] in lines[cite["start_line"] - 1]
    for p in obj["passages"]:
        assert (p["page"] is None) == (not p["file"].endswith(".pdf"))


def test_a_word_hyphenated_at_a_line_end_is_found_and_quoted_as_extracted(mixed):
    out = rag("ask", "--json", "Which foundation gave the Lumen project a grant?", env=mixed["env"])
    obj = json.loads(out.stdout)
    cite = obj["citations"][0]
    assert cite["file"] == PDF_NAME and "Hel-\nvetic Foundation" in cite["text"]
    assert cite["start_line"] < cite["end_line"]


def test_text_and_markdown_name_the_page(mixed):
    text = rag("ask", FACTS[0][0], env=mixed["env"]).stdout
    assert f"{PDF_NAME}, p. 2, line" in text
    md = rag("ask", "--format", "markdown", FACTS[1][0], env=mixed["env"]).stdout
    assert f"**{PDF_NAME}**, p. 3, line" in md
    cite = rag("cite", FACTS[0][0], env=mixed["env"]).stdout
    assert f"**{PDF_NAME}**, p" in cite  # pp. 1–3: the one chunk of this small PDF spans its pages


def test_info_counts_formats_and_lists_skipped_files(mixed):
    out = rag("info", "--json", env=mixed["env"])
    info = json.loads(out.stdout)
    assert info["formats"]["pdf"] == 1 and info["formats"]["docx"] == 1 and info["formats"]["html"] == 1
    assert {s["name"] for s in info["skipped"]} == {f"bad/{n}" for n in mixed["bad"]}
    assert "not indexed" in rag("info", env=mixed["env"]).stdout


def test_source_window_of_a_pdf_citation_marks_the_span_and_names_the_page(mixed):
    from rag.pipeline import Pipeline

    pipe = Pipeline(make_settings(mixed["corpus"], mixed["env"]["RAG_INDEX"]))
    answer = pipe.ask(FACTS[1][0])
    c = answer.citations[0]
    win = pipe.source(c.file, c.start_char, c.end_char)
    assert win["page"] == 3 and win["format"] == "pdf" and not win["stale"]
    marked = "".join(p["text"] for line in win["lines"] for p in line["parts"] if p["mark"])
    assert marked == c.text.replace("\n", "")


def test_a_changed_pdf_is_reindexed(tmp_path, seed_pipeline):
    """In-process (the CLI's summary is checked above): keyed on the file's bytes."""
    from rag.pipeline import Pipeline

    corpus = tmp_path / "c"
    write_documents(corpus)
    pipe = Pipeline(make_settings(corpus, tmp_path / "index"), embedder=seed_pipeline.embedder)
    assert pipe.ingest(progress=False).added == 3
    pdf = corpus / PDF_NAME
    pdf.write_bytes(pdf.read_bytes() + b"\n% saved again\n")  # new bytes, same text: keyed on the bytes
    report = pipe.ingest(progress=False)
    assert (report.updated, report.unchanged) == (1, 2), report.summary()
    pdf.unlink()
    assert pipe.ingest(progress=False).removed == 1
