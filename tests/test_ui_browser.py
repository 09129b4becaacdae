"""The chat as a person uses it: headless Chromium signs in, asks, opens a citation.

Drives Debian's `chromium` through Playwright (the pip package; its own browser
download is never used). Screenshots go to artifacts/ for a person to look at.
Skips, saying why, when the browser or Playwright is missing; fails, saying why, in CI
(tests.conftest.need).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.chat_server import AUTH, HOSTILE_FILE, PDF_QUESTION, ROOT, SKIPPED_FILE
from tests.conftest import need
from tests.documents import PDF_NAME

ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
ANSWER_TIMEOUT_MS = 60_000

# a browser and the chat server; and the tests build on each other (the refusal's colour is
# compared with the answer the first test asked for), so the module runs whole or not at all
pytestmark = pytest.mark.slow


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def page(request, tmp_path_factory):
    browser = _chromium()
    need(browser, "chromium is not installed: run scripts/test-deps.sh (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    need(sync_playwright, "playwright is not installed: pip install -e '.[test]'")
    chat_app = request.getfixturevalue("chat_app")  # only now: starting the chat takes minutes
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=browser, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.goto(chat_app.url)
            page.locator("input[type=text]").fill(AUTH[0])  # Gradio's sign-in form
            page.locator("input[type=password]").fill(AUTH[1])
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("#rag-question textarea", timeout=30_000)
            yield page
        finally:
            context.close()


def _ask(page, question: str, kind: str = ".rag-answer, .rag-refusal"):
    before = page.locator(kind).count()
    box = page.locator("#rag-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll({kind!r}).length > {before}", timeout=ANSWER_TIMEOUT_MS)
    return page.locator(kind).nth(before)


def test_ask_see_cited_answer_and_open_the_citation(page, chat_app):
    msg = _ask(page, "When did Microsoft announce the Maia 200?")
    assert "January 2026" in msg.locator(".rag-text").inner_text()
    assert msg.locator(".rag-ref").first.inner_text() == "[1]"
    cite = msg.locator(".rag-cite").first
    summary = cite.locator("summary").inner_text()
    assert summary.startswith("[1]") and "000_5d630dd79f32896f.txt" in summary
    assert re.search(r"\blines? \d+", summary)
    cite.locator("summary").click()
    marked = cite.locator("mark").first
    marked.wait_for(state="visible", timeout=5000)
    text = (chat_app.corpus / "000_5d630dd79f32896f.txt").read_text(encoding="utf-8")
    assert marked.inner_text() in text and "Maia 200" in marked.inner_text()
    assert cite.locator(".rag-line").count() > 1  # the surrounding lines, numbered
    assert "### When did Microsoft announce the Maia 200?" in page.locator("#rag-report").inner_text()
    cite.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "ui-chat-citation.png"))


def test_a_pdf_citation_names_its_page_and_highlights_the_extracted_text(page, chat_app):
    msg = _ask(page, PDF_QUESTION)
    cite = msg.locator(".rag-cite").first
    summary = cite.locator("summary").inner_text()
    assert PDF_NAME in summary and re.search(r"p\. 3, lines? \d+", summary), summary
    cite.locator("summary").click()
    marked = cite.locator("mark").first
    marked.wait_for(state="visible", timeout=5000)
    assert "310 schools" in marked.inner_text()
    assert "p. 3" in cite.locator(".rag-src-head").inner_text()
    cite.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "ui-chat-pdf-citation.png"))


def test_refusal_looks_different_and_shows_closest_passages(page):
    msg = _ask(page, "Who is the CEO of Samsung?", kind=".rag-refusal")
    assert "does not answer" in msg.inner_text()
    assert msg.locator(".rag-cite").count() >= 1
    colour = msg.evaluate("el => getComputedStyle(el).borderLeftColor")
    answer_colour = page.locator(".rag-answer").first.evaluate("el => getComputedStyle(el).borderLeftColor")
    assert colour != answer_colour


def test_markup_in_question_and_corpus_is_shown_not_run(page):
    _ask(page, 'Quokka <img src=x onerror="window.__pwned=3"> <b>bold?</b>', kind=".rag-msg:not(.rag-pending)")
    msg = _ask(page, "When was the Quokka Protocol ratified?")
    assert "March 2031" in msg.locator(".rag-text").inner_text()
    msg.locator(".rag-cite summary").first.click()
    assert HOSTILE_FILE in msg.inner_text()
    assert '<img src=x onerror="window.__pwned=1">' in msg.inner_text()  # shown as text
    assert page.evaluate("window.__pwned") is None  # and never run
    assert page.locator(".rag-msg img, .rag-q img, .rag-msg script, .rag-q b").count() == 0
    page.screenshot(path=str(ARTIFACTS / "ui-chat-markup.png"))


def test_index_tab_lists_files_and_reindexes(page):
    page.get_by_role("tab", name="Index").click()
    page.get_by_text(HOSTILE_FILE, exact=True).filter(visible=True).first.wait_for(timeout=20_000)
    body = page.locator("body").inner_text()
    assert "chunks" in body and "1 pdf" in body
    assert "not indexed" in body and SKIPPED_FILE in body  # what the last ingest left out, with why
    page.get_by_role("button", name="Re-index the corpus folder").click()
    page.get_by_text("Re-indexed:").wait_for(timeout=120_000)
    assert "unchanged" in page.locator("body").inner_text()
    page.screenshot(path=str(ARTIFACTS / "ui-index.png"))
    page.get_by_role("tab", name="Chat").click()
