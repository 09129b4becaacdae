"""Chunk and sentence ids: what ingest makes, the store can parse (rag.ids holds both sides).

If they drift, the answer writer's sentence lookup falls back to a filter over the whole
collection and every answer still comes out right, only slower -- so the tests here check
the parse itself, and that a real index's lookups never take the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.ids import chunk_id, parse_chunk_id, parse_sentence_id, sentence_id
from rag.store import Store
from tests.conftest import make_settings


@dataclass
class FakeSpan:
    start_char: int
    end_char: int
    content_hash: str


paths = st.text(min_size=1)  # any character: '#', ':', '-', digits and newlines included
hashes = st.text(alphabet="0123456789abcdef", min_size=1, max_size=64)
offsets = st.integers(min_value=0, max_value=10**9)


@given(paths, offsets, offsets, hashes)
def test_sentence_id_round_trips(path, start, end, h):
    ref = parse_sentence_id(sentence_id(path, FakeSpan(start, end, h)))
    assert ref is not None and tuple(ref) == (path, start, end, h)
    assert parse_chunk_id(sentence_id(path, FakeSpan(start, end, h))) is None


@given(paths, st.integers(min_value=0, max_value=10**6), offsets, offsets, hashes)
def test_chunk_id_round_trips(path, i, start, end, h):
    ref = parse_chunk_id(chunk_id(path, i, FakeSpan(start, end, h)))
    assert ref is not None and tuple(ref) == (path, i, start, end, h)


@pytest.mark.parametrize("id_", ["", "plain", "/a.txt#s1-2", "/a.txt#s1-2:XYZ", "/a.txt#sx-2:ab",
                                 "/a.txt#c1:2-3:ab", "/a.txt#s1-2:ab\n"])
def test_other_layouts_are_not_sentence_ids(id_):
    assert parse_sentence_id(id_) is None


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    """One small file whose name holds '#', indexed for real (real model, real Chroma)."""
    from rag.pipeline import Pipeline

    root = tmp_path_factory.mktemp("ids")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "notes #1.md").write_text(
        "# Release notes\n\nThe Quokka Protocol was ratified in March 2024. It replaced the Wombat draft.\n\n"
        "Adoption doubled within a year. Three vendors shipped it first.\n", encoding="utf-8")
    pipe = Pipeline(make_settings(corpus, root / "index"))
    pipe.ingest(progress=False)
    return pipe


def test_every_id_ingest_wrote_parses_to_its_own_metadata(tiny_index):
    store = Store(tiny_index.settings)
    sents = store.sentences.get(include=["metadatas"])
    chunks = store.chunks.get(include=["metadatas"])
    assert sents["ids"] and chunks["ids"]
    for id_, meta in zip(sents["ids"], sents["metadatas"]):
        ref = parse_sentence_id(id_)
        assert ref is not None, id_
        assert (ref.path, ref.start, ref.end, ref.content_hash) == \
            (meta["path"], meta["start_char"], meta["end_char"], meta["content_hash"])
    for id_, meta in zip(chunks["ids"], chunks["metadatas"]):
        ref = parse_chunk_id(id_)
        assert ref is not None, id_
        assert (ref.path, ref.start, ref.end, ref.content_hash) == \
            (meta["path"], meta["start_char"], meta["end_char"], meta["content_hash"])


def test_sentence_lookup_takes_the_fast_path(tiny_index, monkeypatch):
    def scan_whole_collection(self, spans):
        raise AssertionError("sentences_in fell back to the range filter over the whole collection")

    monkeypatch.setattr(Store, "_sentences_by_range", scan_whole_collection)
    passages = tiny_index.retrieve("When was the Quokka Protocol ratified?")
    assert passages
    found = Store(tiny_index.settings).sentences_in([(p.path, p.start_char, p.end_char) for p in passages])
    assert any("ratified in March 2024" in text for _id, text, _m, _v in found)
    answer = tiny_index.ask("When was the Quokka Protocol ratified?")  # the writer's own lookup too
    assert "March 2024" in answer.answer
