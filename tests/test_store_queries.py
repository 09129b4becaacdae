"""The answer writer's sentence lookup: by id (O(size of the passages' files)) returns exactly
what Chroma's own range filter returns (O(corpus)), in the same order."""

from __future__ import annotations

from rag.store import Store
from tests.questions import ANSWERABLE, UNANSWERABLE


def test_sentences_by_id_equal_the_range_filter(seed_pipeline):
    store = Store(seed_pipeline.settings)
    seen = 0
    for q in ANSWERABLE + UNANSWERABLE:
        spans = [(p.path, p.start_char, p.end_char) for p in seed_pipeline.retrieve(q)]
        fast, slow = store.sentences_in(spans), store._sentences_by_range(spans)
        assert [r[0] for r in fast] == [r[0] for r in slow]
        assert [(r[1], r[2]) for r in fast] == [(r[1], r[2]) for r in slow]
        assert all(list(a[3]) == list(b[3]) for a, b in zip(fast, slow))
        seen += len(fast)
    assert seen > 100  # the passages do hold sentences: the comparison is not vacuous
    assert store.sentences_in([("/no/such/file.txt", 0, 10)]) == []


def test_an_interrupted_runs_leftovers_are_found_by_one_filtered_read(seed_settings, seed_pipeline, tmp_path,
                                                                        monkeypatch):
    """Sentences of a file with no chunks (a run killed between its sentences and its chunks)
    are what ingest redoes or removes. They are found by a read filtered on the paths that do
    have chunks; the same states as reading every sentence (the fallback for corpora with more
    paths than one SQLite statement can list)."""
    import shutil

    import rag.store
    from rag.store import _forget_client

    index = tmp_path / "index"
    shutil.copytree(seed_settings.index, index)
    store = Store(seed_settings.replace(index=index))
    some = store.sentences.get(limit=3, include=["documents", "metadatas", "embeddings"])
    gone = "/corpus/of/a/killed/run.txt"
    store.add("sentences", [f"left-{i}" for i in range(3)], [list(e) for e in some["embeddings"]],
              some["documents"], [{**m, "path": gone} for m in some["metadatas"]])

    states = store.file_states()
    assert states[gone].count == -1 and not states[gone].complete
    assert len(states) == 5 and all(s.complete for p, s in states.items() if p != gone)
    monkeypatch.setattr(rag.store, "MAX_LISTED_PATHS", 0)  # too many to list: every row is read
    assert store.file_states() == states
    _forget_client(index)


def test_only_the_sentences_graph_is_built_cheaply(seed_settings, seed_pipeline):
    """The sentences collection is read by id, never searched, so its HNSW graph is built with
    the smallest settings (rag.store.SENTENCE_GRAPH); the chunks' graph, which retrieval
    searches, keeps Chroma's defaults. Read back from Chroma: it must honour the settings."""
    from rag.store import SENTENCE_GRAPH

    store = Store(seed_settings)
    sentences, chunks = store.sentences.configuration["hnsw"], store.chunks.configuration["hnsw"]
    assert (sentences["ef_construction"], sentences["max_neighbors"]) == (
        SENTENCE_GRAPH["hnsw:construction_ef"], SENTENCE_GRAPH["hnsw:M"])
    assert (chunks["ef_construction"], chunks["max_neighbors"]) == (100, 16)
    assert sentences["space"] == chunks["space"] == "cosine"
