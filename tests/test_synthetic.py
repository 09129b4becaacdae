"""The benchmark's synthetic vectors (bench/synthetic.py): deterministic unit vectors, and an
index built with them that every rag command refuses -- unless the process itself allowed
it (rag.models.allow_embedder), as only the benchmark's workers do."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bench import synthetic
from rag import models
from rag.errors import RagError
from tests.conftest import ROOT, make_settings

QUESTION = "When did Microsoft announce the Maia 200?"


def test_same_text_same_unit_vector_in_any_process():
    a, b = synthetic.unit_vector("Maia 200"), synthetic.unit_vector("Maia 200")
    assert a.shape == (synthetic.DIM,) == (384,) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
    assert float(a @ synthetic.unit_vector("Maia 201")) < 0.5  # another text, another direction
    # a hash of the text, not Python's hash(): the same in a process with another hash seed
    code = "from bench.synthetic import unit_vector; print(unit_vector('Maia 200').tobytes().hex())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == a.tobytes().hex()


def test_model_encodes_batches_and_counts_like_the_real_tokenizer():
    m = synthetic.SyntheticModel()
    texts = ["one sentence.", "another one, longer than the first.", "one sentence."]
    got = m.encode(texts, batch_size=2, normalize_embeddings=True)
    assert got.shape == (3, 384) and np.array_equal(got[0], got[2])
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(m.encode("one sentence."), got[0]) and m.texts == 4
    # chunks are cut by the real model's word-pieces, not truncated at the file's 128
    long = "word " * 600
    assert len(m.tokenizer.encode(long, add_special_tokens=False)) == 600


@pytest.fixture
def synthetic_index(corpus_dir, tmp_path):
    """An index of two seeds built with synthetic vectors, as bench/scale.py builds one."""
    from rag.pipeline import Pipeline

    s = synthetic.settings(corpus_dir, tmp_path / "index")
    report = Pipeline(s, embedder=synthetic.embedder()).ingest(progress=False)
    assert report.added == 2
    return s


def test_every_command_refuses_a_synthetic_index(synthetic_index, monkeypatch, capsys):
    from rag.cli import main
    from rag.pipeline import Pipeline
    from rag.ui import serve
    from tests.chat_server import free_port

    normal = make_settings(synthetic_index.corpus, synthetic_index.index)
    for call in (lambda: Pipeline(normal).ask(QUESTION), lambda: Pipeline(normal).ingest(progress=False),
                 lambda: Pipeline(normal).info(), lambda: serve(normal.replace(chat_port=free_port()))):
        with pytest.raises(RagError, match="synthetic vectors") as err:
            call()
        assert "--rebuild" in err.value.hint

    for name in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(name)
    assert main(["ask", QUESTION, "--index", str(normal.index), "--corpus", str(normal.corpus)]) == 2
    said = capsys.readouterr().err
    assert "error: " in said and "synthetic vectors" in said and "hint: rebuild" in said

    # naming the synthetic model (RAG_MODEL=synthetic-unit-vectors) is no way in either
    with pytest.raises(RagError, match="not a model"):
        Pipeline(synthetic_index).ask(QUESTION)
    with pytest.raises(RagError, match="not a model"):
        Pipeline(synthetic_index.replace(onnx_encoder=True)).ask(QUESTION)


def test_the_allowance_is_a_call_inside_the_process(synthetic_index, monkeypatch):
    from rag.pipeline import Pipeline

    monkeypatch.setattr(models, "_ALLOWED", {})  # whatever this test adds goes with it
    synthetic.allow()
    answer = Pipeline(synthetic_index).ask(QUESTION)
    assert answer.passages  # the bench's `rag ask` runs end to end (its ranking is noise)
    assert models.load_embedder(models.SYNTHETIC_MODEL).model_name == models.SYNTHETIC_MODEL
