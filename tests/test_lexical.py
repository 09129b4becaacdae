"""The saved BM25 index: loaded instead of rebuilt, rebuilt when the collection changed or
the saved copy is damaged, refreshed by ingest."""

from __future__ import annotations

import json

import pytest

from rag import lexical_build
from rag.lexical import KEY_FILE, SavedBM25, folder
from rag.retrieve import _node
from rag.store import Store
from tests.conftest import make_settings
from tests.procs import rag_env, run_rag
from tests.questions import ANSWERABLE, OFF_TOPIC, UNANSWERABLE

pytestmark = pytest.mark.slow


class Counting:
    def __init__(self, store):
        self.store, self.calls = store, 0

    def __call__(self):
        self.calls += 1
        return self.store.all_chunks()


@pytest.fixture
def built(small_pipeline):
    small_pipeline.ingest(progress=False)
    store = Store(small_pipeline.settings)
    return small_pipeline.settings, store


def test_ingest_saves_it_and_a_new_process_loads_it_without_reading_chunks(built):
    settings, store = built
    key = store.generation()
    assert json.loads((folder(settings) / KEY_FILE).read_text()) == list(key)
    chunks = Counting(store)
    lexical = SavedBM25(settings, chunks, _node)
    hits = lexical.retriever(key, 3).retrieve("Maia 200")
    assert chunks.calls == 0 and len(hits) == 3
    fresh = SavedBM25(settings, Counting(store), _node)  # built from the chunks: the same ranking
    fresh._bm25 = fresh._build(key, save=False)
    fresh._key, fresh.size = key, len(fresh._bm25.corpus)
    assert [h.node.node_id for h in fresh.retriever(key, 3).retrieve("Maia 200")] == [h.node.node_id for h in hits]


def _ranked(retriever, question):
    return [(h.node.node_id, h.node.get_content(), h.node.metadata, round(h.score, 5))
            for h in retriever.retrieve(question)]


def test_the_streamed_index_ranks_and_scores_as_llamaindex_builds_it(built, tmp_path, monkeypatch):
    """rag.lexical_build writes the files LlamaIndex's BM25Retriever persists, a page at a
    time; pages of 7 chunks, spill reads of 50 triples and blocks of 64 matrix entries cross
    every boundary, and a chunk with no words exercises bm25s' empty-document case."""
    from llama_index.retrievers.bm25 import BM25Retriever

    _settings, store = built
    rows = store.all_chunks() + [("no-words#c0", "-- ! --", {"file": "x.txt", "context": ""})]
    monkeypatch.setattr(lexical_build, "PAGE", 7)
    monkeypatch.setattr(lexical_build, "READ", 50)
    monkeypatch.setattr(lexical_build, "BLOCK", 64)
    out = tmp_path / "bm25"
    out.mkdir()
    assert lexical_build.write(iter(rows), _node, out, top_k=10) == len(rows)
    streamed = BM25Retriever.from_persist_dir(str(out), mmap=True)
    library = BM25Retriever.from_defaults(nodes=[_node(*r) for r in rows], similarity_top_k=10)
    library.persist(str(tmp_path / "library"), show_progress=False)
    streamed.similarity_top_k = library.similarity_top_k = 20
    for question in ANSWERABLE + UNANSWERABLE + OFF_TOPIC + ["Maia", "the of and"]:
        assert _ranked(streamed, question) == _ranked(library, question), question
    assert len(streamed.corpus) == len(rows) and not (out / "spill.bin").exists()
    assert _columns(out) == _columns(tmp_path / "library")  # the same matrix, term by term
    for name in ("corpus.jsonl", "corpus.mmindex.json", "params.index.json", "retriever.json"):
        assert (out / name).read_bytes() == (tmp_path / "library" / name).read_bytes(), name


def _columns(folder) -> dict:
    import numpy as np

    vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
    data, rows, ptr = (np.load(folder / f"{n}.csc.index.npy") for n in ("data", "indices", "indptr"))
    return {t: (rows[ptr[c]:ptr[c + 1]].tolist(), data[ptr[c]:ptr[c + 1]].tolist()) if c + 1 < len(ptr) else c
            for t, c in vocab.items()}


def test_a_changed_collection_or_a_damaged_copy_is_rebuilt(built):
    settings, store = built
    key = store.generation()
    stale = (key[0], "another-stamp", key[2])
    chunks = Counting(store)
    assert SavedBM25(settings, chunks, _node).retriever(stale, 2).retrieve("Anthropic")
    assert chunks.calls == 1 and json.loads((folder(settings) / KEY_FILE).read_text()) == list(stale)
    for f in folder(settings).glob("*.npy"):
        f.write_bytes(b"garbage")
    (folder(settings) / KEY_FILE).write_text(json.dumps(list(key)))
    chunks = Counting(store)
    assert SavedBM25(settings, chunks, _node).retriever(key, 2).retrieve("Anthropic")
    assert chunks.calls == 1  # rebuilt, not fatal


def test_cold_ask_loads_the_saved_index(built):
    settings, _ = built
    out = run_rag("ask", "-v", "When did Microsoft announce the Maia 200?", env=rag_env(settings.corpus, settings.index))
    assert out.returncode == 0, out.stderr
    assert "loaded BM25" in out.stderr and "building BM25" not in out.stderr


def test_server_mode_keeps_its_copy_in_the_cache(tmp_path):
    s = make_settings(tmp_path, tmp_path / "index", chroma_host="10.0.0.1", chroma_port=8123, cache_dir=tmp_path / "c")
    assert folder(s) == tmp_path / "c" / "bm25" / "10.0.0.1_8123" / s.collection


def test_the_signature_reads_no_count_unless_a_write_is_open_and_catches_an_unstamped_one(built):
    """generation() is one request in the steady state; a writer marks the collection before
    its first row, so rows that land after a reader's copy (an ingest killed before it could
    stamp its batch) still change the signature, through the count, until a stamp ends it."""
    settings, reader = built
    key = reader.generation()
    assert key[2] == -1  # no count read
    row = reader.chunks.get(limit=1, include=["embeddings", "documents", "metadatas"])
    writer = Store(settings)  # as another process would hold it

    def add(n, by=writer):
        by.add("chunks", [f"{row['ids'][0]}-copy{n}"], [list(row["embeddings"][0])], row["documents"],
               row["metadatas"])

    add(1)
    during = reader.generation()
    assert during[1] != key[1] and during[2] == key_count(reader) > 0
    add(2)  # no new stamp: the writer's mark is up already; the count tells
    later = reader.generation()
    assert later[1] == during[1] and later[2] == during[2] + 1
    writer.bump_generation("now")
    done = reader.generation()
    assert done[2] == -1 and done[1] not in (key[1], during[1])

    # two writers at once: the first one's stamp does not hide the second one's open write
    other = Store(settings)
    add(3)
    add(4, by=other)
    writer.bump_generation("now")
    assert reader.generation()[2] == key_count(reader)
    add(5, by=other)
    assert reader.generation()[2] == key_count(reader)
    other.bump_generation("now")
    assert reader.generation()[2] == -1

    # another ingest recording its skipped files (no stamp) keeps an open write's mark too
    add(6)
    other.record_skipped([{"name": "x.bin", "category": "unsupported", "reason": "not a text format"}])
    assert reader.generation()[2] == key_count(reader)
    writer.bump_generation("now")
    assert reader.generation()[2] == -1


def key_count(store) -> int:
    return store.chunks.count()


def test_where_it_cannot_be_saved_it_is_built_in_memory(built, tmp_path, caplog):
    settings, store = built
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    lexical = SavedBM25(settings, Counting(store), _node)
    lexical.dir = blocker / "bm25"  # its parent cannot be made a folder: as a read-only index folder
    with caplog.at_level("WARNING", logger="rag.lexical"):
        hits = lexical.retriever(store.generation(), 3).retrieve("Maia 200")
    assert len(hits) == 3 and "could not save the BM25 index" in caplog.text
    assert not (blocker.parent / "bm25").exists() and blocker.read_text() == "not a folder"


def test_a_write_removes_what_a_killed_writer_left_and_keeps_a_running_ones(built):
    import os
    import subprocess
    import sys

    from rag import lexical

    settings, store = built
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    parent = folder(settings).parent
    dead = parent / f"{lexical._TMP}{lexical._HOST}-{int(gone.stdout)}-x1"
    running = parent / f"{lexical._TMP}{lexical._HOST}-{os.getpid()}-x2"
    other_host = parent / f"{lexical._TMP}elsewhere-{int(gone.stdout)}-x3"
    for d in (dead, running, other_host):
        d.mkdir()
        (d / "data.csc.index.npy").write_bytes(b"half")
    SavedBM25(settings, store.iter_chunks, _node).refresh(("another", "stamp", 1))
    assert not dead.exists() and running.exists() and other_host.exists()
    assert json.loads((folder(settings) / KEY_FILE).read_text()) == ["another", "stamp", 1]
