"""Shared fixtures: one real index of the seeds per test session (real model, real Chroma)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag import offline
from rag.config import load_settings

offline.setup()  # the test session is an entry point too: before any test imports a model, Chroma or Gradio

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


# The fast tier (`make test-fast`, pytest -m "not slow") must stay under a minute on 2 cores.
# A test is slow when it is marked so by hand -- it starts a process (a server, a browser, a
# cold `rag` or Python) -- or when it uses one of these fixtures: the shared chat server, an
# index built per test, or the dev-set evaluation. The seed index (seed_pipeline) is built once
# per session and shared, so its tests stay in the fast tier.
SLOW_FIXTURES = {
    "seed_pipeline",   # the seed index: ~700 texts embedded, ~15 s of the fast tier's minute on 2 cores
    "chat_app",        # a `rag chat` subprocess (tests/chat_server.py)
    "small_pipeline",  # an index built for each test
    "index_env",       # test_cli: `rag ask` subprocesses over the seed index
    "left_out",        # test_evaluate: the leave-one-corpus-out eval over every dev corpus (minutes)
    "small_report",    # test_evaluate: an eval run over the seeds, two configurations
    "small_index",     # test_reliability: an index copied and broken per test
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def need(ok: object, reason: str) -> None:
    """A test's requirement outside Python's own packages (a browser, a model server): without
    it the test skips, saying why -- except in CI (the CI variable set and non-empty), where it
    fails with the same reason, so a runner that lacks chromium or the llama.cpp server cannot
    pass the suite by skipping what it was meant to test."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing test dependency fails rather than skips)", pytrace=False)
    pytest.skip(reason)


def make_settings(corpus: Path, index: Path, **kw):
    """Settings that ignore the developer's own rag.toml and RAG_* variables."""
    return load_settings(config=None, overrides={"corpus": corpus, "index": index, **kw},
                         env={k: v for k, v in os.environ.items() if not k.startswith("RAG_")})


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory):
    return make_settings(SEEDS, tmp_path_factory.mktemp("seed-index") / "index")


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings):
    from rag.pipeline import Pipeline

    pipe = Pipeline(seed_settings)
    pipe.ingest(progress=False)
    return pipe


@pytest.fixture
def corpus_dir(tmp_path):
    """A small private corpus (copies of two seeds) that a test may change freely."""
    d = tmp_path / "corpus"
    d.mkdir()
    for name in sorted(p.name for p in SEEDS.iterdir())[2:]:
        shutil.copy(SEEDS / name, d / name)
    return d


@pytest.fixture
def small_pipeline(corpus_dir, tmp_path):
    from rag.pipeline import Pipeline

    return Pipeline(make_settings(corpus_dir, tmp_path / "index"))


# One real `rag chat` subprocess shared by the chat's API and browser tests (started on first use).
from tests.chat_server import chat_app  # noqa: E402,F401
