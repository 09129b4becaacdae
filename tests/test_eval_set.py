"""The eval set must agree with the corpus, word for word, or its scores mean nothing."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rag.errors import RagError
from rag.evaluate_metrics import has_fact
from rag.evaluate_set import DEFAULT_FILE, KNOWN_TYPES, UNANSWERABLE, check_quotes, load, select
from tests.conftest import ROOT, SEEDS

EVAL_FILE = ROOT / DEFAULT_FILE


@pytest.fixture(scope="module")
def items():
    return load(EVAL_FILE)


def test_every_quote_is_verbatim_in_its_file(items):
    assert check_quotes(items, SEEDS) == []


def test_size_and_mix(items):
    types = Counter(i.type for i in items)
    assert len(items) >= 60
    assert types[UNANSWERABLE] >= 10
    assert set(types) <= set(KNOWN_TYPES)
    for t in set(KNOWN_TYPES) - {"list"}:  # the seeds' set predates list questions
        assert types[t] >= 5, f"only {types[t]} questions of type {t}"


def test_every_fact_is_stated_by_its_quotes(items):
    """A required fact no quote states would score an answer on something the corpus never says."""
    for item in items:
        quoted = " ".join(q.text for q in item.quotes)
        for variants in item.facts:
            assert has_fact(quoted, variants), f"{item.id}: no quote states {variants}"


def test_sources_name_the_quoted_files(items):
    for item in items:
        assert set(item.sources) == {q.file for q in item.quotes}, item.id
        assert all((SEEDS / s).is_file() for s in item.sources)


def test_multi_article_questions_quote_two_files(items):
    for item in items:
        if item.type == "multi":
            assert len(item.sources) >= 2, item.id


def test_quotes_check_catches_drift(items, tmp_path):
    """The check must be able to fail: one changed character in a copy of a file breaks it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in SEEDS.iterdir():
        (corpus / f.name).write_text(f.read_text(encoding="utf-8").replace("$30 billion", "$31 billion"),
                                     encoding="utf-8")
    problems = check_quotes(items, corpus)
    assert problems and all("not verbatim" in p for p in problems)


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    ('{"id": "x", "type": "single"}', "missing question"),
    ('{"id": "x", "type": "single", "question": "q?"}', "needs facts and quotes"),
    ('{"id": "x", "type": "unanswerable", "question": "q?", "facts": [["a"]]}', "no facts"),
    ('{"id": "x", "type": "single", "question": "q?", "facts": [[]], "quotes": [{"file": "f", "text": "t"}]}',
     "non-empty"),
])
def test_bad_lines_are_named(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(RagError, match=message) as err:
        load(path)
    assert "q.jsonl:1" in err.value.message


def test_duplicate_ids_are_refused(tmp_path):
    obj = {"id": "a", "type": "unanswerable", "question": "q?"}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(obj) + "\n" + json.dumps(obj) + "\n", encoding="utf-8")
    with pytest.raises(RagError, match="duplicate id a"):
        load(path)


def test_subsets_by_type_and_id(items):
    assert {i.type for i in select(items, types="numeric,multi")} == {"numeric", "multi"}
    assert sorted(i.id for i in select(items, ids="numeric-01, single-02")) == ["numeric-01", "single-02"]
    with pytest.raises(RagError, match="no question with id"):
        select(items, ids="nope")
    with pytest.raises(RagError, match="no question of type"):
        select(items, types="nope")


# --- the dev set over several corpora (eval/dev.toml) ---------------------------------------------
def test_dev_set_size_mix_and_agreement_with_its_corpora():
    """>= 250 questions over >= 5 corpora, each with >= 15% unanswerables and list, numeric,
    multi-document and paraphrased questions; every quote verbatim; every fact in its files."""
    from rag.corpus import read_text
    from rag.evaluate_dev import DEV_MANIFEST, load_dev

    dev = load_dev(ROOT / DEV_MANIFEST)  # raises on a quote that is not verbatim
    assert len(dev) >= 5 and sum(len(d.items) for d in dev) >= 250
    banned = ("common-licenses", "RelNotes", "pydoc_data")  # kept for independent checks
    for d in dev:
        types = Counter(i.type for i in d.items)
        assert types[UNANSWERABLE] >= 0.15 * len(d.items), d.name
        assert all(types[t] for t in ("numeric", "multi", "paraphrase")), (d.name, types)
        assert not any(b in str(d.corpus) for b in banned)
        texts = {p.name: read_text(p, 50_000_000) for p in d.corpus.iterdir()}
        for item in d.items:
            in_files = " ".join(texts[s] for s in item.sources)
            for variants in item.facts:
                assert has_fact(in_files, variants), f"{d.name}/{item.id}: no source states {variants}"
    assert sum(Counter(i.type for d in dev for i in d.items)["list"] for _ in [0]) >= 20
