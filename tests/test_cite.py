"""Citations for reports: the three renderings (text, JSON, Markdown) of real answers, the
Markdown rendered to HTML to check footnotes resolve, and the CLI that prints them."""

import json

import pytest

from rag.cite import answer_markdown, answer_text, report_markdown
from rag.results import REFUSAL
from tests.conftest import need
from tests.test_cli import rag

TWO_PART = "How much did Microsoft invest in Anthropic, and how much did Google commit?"
REFUSED = "What is the boiling point of liquid nitrogen in kelvin?"


def _html(markdown: str) -> str:
    try:
        from mdit_py_plugins import footnote
    except ImportError:
        footnote = None
    need(footnote, "mdit-py-plugins is not installed: pip install -e '.[test]'")
    from markdown_it import MarkdownIt

    return MarkdownIt().use(footnote.footnote_plugin).render(markdown)


@pytest.fixture(scope="module")
def answered(seed_pipeline):
    return seed_pipeline.ask(TWO_PART)


@pytest.fixture(scope="module")
def refused(seed_pipeline):
    return seed_pipeline.ask(REFUSED)


def test_markdown_footnotes_resolve_to_quoted_sources(answered):
    md = answer_markdown(answered)
    assert md.startswith(f"### {TWO_PART}")
    html = _html(md)
    n = len(answered.citations)
    assert n >= 2
    assert html.count('class="footnote-ref"') == n and html.count('class="footnote-item"') == n
    assert html.count("<blockquote>") == n  # each footnote quotes its passage
    for c in answered.citations:
        assert c.file in html and f"line {c.start_line}" in html


def test_text_and_json_say_the_same(answered):
    text, obj = answer_text(answered), answered.to_dict()
    json.dumps(obj)  # serialisable as is
    assert obj["answer"] == answered.answer and text.startswith(answered.answer)
    for c in obj["citations"]:
        assert f"[{c['id']}] {c['file']}, line" in text
        assert {"id", "file", "start_line", "end_line", "text", "start_char", "end_char", "passage"} <= set(c)


def test_refusal_renderings_show_why_and_closest_passages(refused):
    assert answer_text(refused).startswith(REFUSAL) and "Closest passages" in answer_text(refused)
    md = answer_markdown(refused)
    assert REFUSAL in md and "nitrogen" in md and md.count("**") >= 2 * 3
    html = _html(md)
    assert html.count("<blockquote>") == min(3, len(refused.passages))
    assert refused.to_dict()["refused"] is True and refused.to_dict()["citations"] == []


def test_report_has_per_question_footnotes_and_one_source_list(answered, refused):
    report = report_markdown([answered, refused], title="Deals")
    html = _html(report)
    assert report.startswith("# Deals") and report.count("## Sources") == 1
    assert "[^q1-1]" in report and "[^q2-" not in report  # the refusal cites nothing
    assert html.count('class="footnote-item"') == len(answered.citations)
    sources = report.split("## Sources")[1]
    assert all(c.file in sources for c in answered.citations)


@pytest.mark.slow  # two cold `rag` processes that load the model
def test_cli_markdown_report_and_cite(seed_pipeline, seed_settings, tmp_path):
    env = {"RAG_INDEX": str(seed_settings.index), "RAG_CORPUS": str(seed_settings.corpus)}
    qs = tmp_path / "q.txt"
    qs.write_text(f"{TWO_PART}\n{REFUSED}\n", encoding="utf-8")
    out = rag("ask", "--format", "markdown", "--questions", str(qs), env=env)
    assert out.returncode == 0, out.stderr
    html = _html(out.stdout)
    assert out.stdout.count("### ") == 2 and "## Sources" in out.stdout
    assert html.count('class="footnote-ref"') >= 2
    cite = rag("cite", "Maia 200 inference chip", env=env)
    assert cite.returncode == 0, cite.stderr
    assert cite.stdout.startswith("### Passages for: Maia 200 inference chip")
    assert cite.stdout.count("\n   > ") >= 5  # five passages, each a blockquote
    assert "[^" not in cite.stdout  # passages only: no answer, no footnotes


def test_data_types_do_not_depend_on_rendering():
    """Retrieval and the writers use plain data (rag.results); rendering imports them."""
    import subprocess
    import sys

    code = ("import sys, rag.results, rag.retrieve, rag.answer.writer, rag.answer.llm, rag.pipeline; "
            "print('rag.cite' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
