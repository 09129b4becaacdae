from collections import Counter

import numpy as np
import pytest

from rag.errors import RagError
from rag.store import Store


def _ids_by_path(pipe):
    store = Store(pipe.settings)
    return Counter(meta["path"] for _i, _d, meta in store.all_chunks()), store


def test_second_run_embeds_nothing(small_pipeline):
    first = small_pipeline.ingest(progress=False)
    assert first.added == 2 and first.embedded > 0
    second = small_pipeline.ingest(progress=False)
    assert (second.added, second.updated, second.removed, second.embedded) == (0, 0, 0, 0)
    assert second.unchanged == 2 and second.chunks == first.chunks
    assert "nothing embedded" in second.summary()


def test_the_model_loads_only_when_there_is_text_to_embed(small_pipeline, corpus_dir):
    """An up-to-date re-run (the common one) needs no model: loading it was 10 of its 14 s."""
    from rag.ingest import Ingestor
    from rag.models import sentence_model, tokenizer

    small_pipeline.ingest(progress=False)
    loads = []

    def load(embedded):
        loads.append(embedded)
        return sentence_model(small_pipeline.embedder)

    report = Ingestor(small_pipeline.settings, load, tokenizer(small_pipeline.settings.model)).run(progress=False)
    assert report.unchanged == 2 and report.embedded == 0 and not loads
    (corpus_dir / "new.md").write_text("# Notes\n\nQuokkas run the cafeteria on Tuesdays.\n", encoding="utf-8")
    report = Ingestor(small_pipeline.settings, load, tokenizer(small_pipeline.settings.model)).run(progress=False)
    assert report.added == 1 and report.embedded > 0 and loads


def test_changed_added_deleted_files(small_pipeline, corpus_dir):
    small_pipeline.ingest(progress=False)
    before, _ = _ids_by_path(small_pipeline)
    a, b = sorted(corpus_dir.iterdir())
    a.write_text(a.read_text(encoding="utf-8") + "\n\nThe zebra count at the data centre was 4242.\n", encoding="utf-8")
    b.unlink()
    (corpus_dir / "new.md").write_text("# Notes\n\nQuokkas run the cafeteria on Tuesdays.\n", encoding="utf-8")
    report = small_pipeline.ingest(progress=False)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 0)
    after, store = _ids_by_path(small_pipeline)
    assert str(b.resolve()) not in after
    assert set(after) == {str(a.resolve()), str((corpus_dir / "new.md").resolve())}
    # every chunk of the changed file carries the new hash: no stale chunk survives
    hashes = {m["file_hash"] for _i, _d, m in store.all_chunks() if m["path"] == str(a.resolve())}
    assert len(hashes) == 1
    answer = small_pipeline.ask("Who runs the cafeteria on Tuesdays?")
    assert not answer.refused and answer.citations[0].file == "new.md"
    removed = small_pipeline.cite("zebra count data centre")
    assert all(p.file != b.name for p in removed)


def test_bad_files_skipped_others_indexed(small_pipeline, corpus_dir):
    (corpus_dir / "bad.txt").write_bytes(b"\xff\xfe\x00broken")
    (corpus_dir / "empty.txt").write_text("", encoding="utf-8")
    report = small_pipeline.ingest(progress=False)
    assert report.added == 2
    assert {s.name for s in report.skipped} == {"bad.txt", "empty.txt"}


def test_partial_file_is_redone_without_duplicates(small_pipeline):
    small_pipeline.ingest(progress=False)
    counts, store = _ids_by_path(small_pipeline)
    victim = sorted(counts)[0]
    # what a kill part-way through writing leaves: some chunks of the file missing
    ids = [i for i, _d, m in store.all_chunks() if m["path"] == victim]
    store.chunks.delete(ids=ids[: len(ids) // 2])
    report = small_pipeline.ingest(progress=False)
    assert report.updated == 1 and report.unchanged == 1
    again, _ = _ids_by_path(small_pipeline)
    assert again == counts


def test_other_chunking_is_refused_not_mixed(small_pipeline):
    small_pipeline.ingest(progress=False)
    from rag.pipeline import Pipeline

    other = Pipeline(small_pipeline.settings.replace(chunk_size=120))
    with pytest.raises(RagError, match="built differently") as err:
        other.ingest(progress=False)
    assert "--rebuild" in err.value.hint
    rebuilt = other.ingest(progress=False, rebuild=True)
    assert rebuilt.added == 2
    assert other.ask("What is Claude?").citations or other.ask("What is Claude?").refused


# --- a file larger than a batch ---------------------------------------------------------------
# Small texts and a tiny batch: the big file spans many batches, and the test stays fast.
BATCH = 16


def big_file_text(n: int = 70, changed_at: int | None = None) -> str:
    """Short distinct sentences in paragraphs of five: ~n sentences and several chunks."""
    lines = []
    for i in range(n):
        word = "humidity" if i == changed_at else "temperature"
        lines.append(f"Sensor {i} in hall {i % 7} logged a {word} of {20 + i % 13} degrees on day {i}.")
        if i % 5 == 4:
            lines.append("")
    return "\n".join(lines) + "\n"


@pytest.fixture
def big_corpus(corpus_dir):
    (corpus_dir / "big.txt").write_text(big_file_text(), encoding="utf-8")
    return corpus_dir


def contents(settings) -> dict:
    """Every entry of both collections by id: text and metadata without the time written."""
    store = Store(settings)
    out = {}
    for name, col in (("chunks", store.chunks), ("sentences", store.sentences)):
        got = col.get(include=["documents", "metadatas"])
        out[name] = {i: (d, {k: v for k, v in m.items() if k != "indexed_at"})
                     for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
    return out


def _pipeline(corpus, index, batch):
    from rag.pipeline import Pipeline
    from tests.conftest import make_settings

    return Pipeline(make_settings(corpus, index, ingest_batch_texts=batch))


def test_pieces_keep_order_and_never_overfill_a_batch():
    from rag.chunking import Span
    from rag.ingest import _pieces, _Prepared

    span = lambda i: Span(f"t{i}", i, i + 1, 1, 1)  # noqa: E731
    prep = _Prepared(None, [span(100 + i) for i in range(7)], [span(i) for i in range(30)], None)
    pieces = list(_pieces(prep, room=5, size=BATCH))
    assert [p.n_texts for p in pieces] == [5, 16, 16]
    assert [(p.first, p.last) for p in pieces] == [(True, False), (False, False), (False, True)]
    # sentences first, then chunks with their index in the whole file
    assert [s.start_char for p in pieces for s in p.sentences] == list(range(30))
    assert [(i, c.start_char) for p in pieces for i, c in p.chunks] == [(i, 100 + i) for i in range(7)]
    empty = list(_pieces(_Prepared(None, [], [], None), room=3, size=BATCH))
    assert [(p.n_texts, p.first, p.last) for p in empty] == [(0, True, True)]


@pytest.mark.slow  # builds indexes with the real model
def test_big_file_in_small_batches_equals_a_one_batch_build(big_corpus, tmp_path):
    small = _pipeline(big_corpus, tmp_path / "small", BATCH)
    report = small.ingest(progress=False)
    one = _pipeline(big_corpus, tmp_path / "one", 100_000)
    one.ingest(progress=False)
    got, want = contents(small.settings), contents(one.settings)
    assert got == want
    texts = len(want["chunks"]) + len(want["sentences"])
    big = [m for _d, m in want["chunks"].values() if m["file"] == "big.txt"]
    assert len(big) > 2 and big[0]["n_chunks"] == len(big)
    # every batch stamps the collection: many batches were written, each at most BATCH texts
    generation = Store(small.settings).chunks.metadata["rag_generation"]
    assert generation >= texts / BATCH
    assert report.added == 3 and report.updated == 0

    again = small.ingest(progress=False)
    assert (again.added, again.updated, again.removed, again.embedded, again.unchanged) == (0, 0, 0, 0, 3)
    assert contents(small.settings) == want


@pytest.mark.slow  # builds indexes with the real model
def test_changed_big_file_is_reindexed_in_pieces_reusing_vectors(big_corpus, tmp_path):
    small = _pipeline(big_corpus, tmp_path / "small", BATCH)
    first = small.ingest(progress=False)
    (big_corpus / "big.txt").write_text(big_file_text(changed_at=60), encoding="utf-8")
    report = small.ingest(progress=False)
    assert (report.updated, report.unchanged) == (1, 2)
    # one sentence and the chunk holding it are new; the vectors of the rest, fetched with the
    # file's first piece (which deleted them), served its later pieces too
    assert 1 <= report.embedded <= 3 < first.embedded
    clean = _pipeline(big_corpus, tmp_path / "clean", 100_000)
    clean.ingest(progress=False)
    assert contents(small.settings) == contents(clean.settings)
    rows = Store(small.settings).chunks.get(where={"file": "big.txt"}, include=["metadatas"])
    assert len({m["file_hash"] for m in rows["metadatas"]}) == 1
    # and each reused vector is the one of its own text
    for name in ("chunks", "sentences"):
        a, b = (getattr(Store(p.settings), name).get(include=["embeddings"]) for p in (small, clean))
        va, vb = dict(zip(a["ids"], a["embeddings"])), dict(zip(b["ids"], b["embeddings"]))
        assert set(va) == set(vb)
        assert max(float(np.abs(np.asarray(va[i]) - np.asarray(vb[i])).max()) for i in va) < 1e-4


@pytest.mark.slow  # builds two small indexes with the real model
def test_a_text_repeated_batches_later_is_embedded_once(tmp_path):
    """Per-batch de-duplication missed a paragraph repeated after the file was cut into pieces
    (001's repeats: 768 texts embedded instead of 692); the run remembers recent vectors."""
    from rag.pipeline import Pipeline
    from tests.conftest import make_settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    para = "The pump in bay 3 was serviced on 2 May by Hydra Works."
    body = [para] + [f"Sensor {i} in hall {i % 7} logged {20 + i} degrees." for i in range(40)] + [para]
    (corpus / "log.txt").write_text("\n\n".join(body) + "\n", encoding="utf-8")
    pieces = Pipeline(make_settings(corpus, tmp_path / "small", ingest_batch_texts=16)).ingest(progress=False)
    whole = Pipeline(make_settings(corpus, tmp_path / "whole")).ingest(progress=False)
    assert pieces.chunks == whole.chunks and pieces.embedded == whole.embedded
