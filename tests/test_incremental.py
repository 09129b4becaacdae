"""Re-ingesting a changed file embeds only the text that changed, and the vectors it keeps
are the right ones (each stored vector is the model's vector of that entry's own text)."""

from __future__ import annotations

import numpy as np

from rag.chunking import sentences
from rag.context import indexed_text
from rag.corpus import scan
from rag.readers import Limits
from rag.models import sentence_model
from rag.store import Store

ADDED = "\n\nThe zebra count at the Dublin data centre reached 4242 in March.\n"


def test_changed_file_reembeds_only_new_text(small_pipeline, corpus_dir):
    first = small_pipeline.ingest(progress=False)
    victim = sorted(corpus_dir.iterdir())[0]
    victim.write_text(victim.read_text(encoding="utf-8") + ADDED, encoding="utf-8")
    again = small_pipeline.ingest(progress=False)
    assert (again.updated, again.unchanged) == (1, 1)
    # the new sentence, the last chunk (it now ends differently) and little else
    assert 1 <= again.embedded <= 4 < first.embedded

    store = Store(small_pipeline.settings)
    rows = store.chunks.get(where={"path": str(victim.resolve())}, include=["documents", "metadatas", "embeddings"])
    sents = store.sentences.get(where={"path": str(victim.resolve())}, include=["documents", "embeddings"])
    # a chunk is embedded under its document-context header, a sentence alone (rag.ingest)
    docs = [indexed_text(m["context"], d) for d, m in zip(rows["documents"], rows["metadatas"])] + [indexed_text("", d) for d in sents["documents"]]
    stored = np.asarray(list(rows["embeddings"]) + list(sents["embeddings"]), dtype=np.float32)
    fresh = sentence_model(small_pipeline.embedder).encode(docs, normalize_embeddings=True)
    assert np.allclose(stored, fresh, atol=1e-4)
    file = next(f for f in scan([corpus_dir], Limits(extensions=(".txt",))).files if f.path == victim.resolve())
    assert len(sents["ids"]) == len(sentences(file))

    answer = small_pipeline.ask("What did the zebra count at the Dublin data centre reach?")
    assert any("4242" in p.text for p in answer.passages)
