from collections import Counter

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

    small_pipeline.ingest(progress=False)
    loads = []

    def load():
        loads.append(1)
        return small_pipeline.embedder

    report = Ingestor(small_pipeline.settings, load).run(progress=False)
    assert report.unchanged == 2 and report.embedded == 0 and not loads
    (corpus_dir / "new.md").write_text("# Notes\n\nQuokkas run the cafeteria on Tuesdays.\n", encoding="utf-8")
    report = Ingestor(small_pipeline.settings, load).run(progress=False)
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
