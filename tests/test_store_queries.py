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
