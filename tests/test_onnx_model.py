"""The ONNX question encoder: the same vectors as sentence-transformers, made by ingest and
never at question time, and the same answers."""

from __future__ import annotations

import numpy as np
import pytest

from rag import onnx_model
from rag.evaluate_dev import load_dev
from rag.models import load_embedder, model_path, sentence_model
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    model_dir = model_path("all-MiniLM-L6-v2")
    out = onnx_model.folder(cache, model_dir)
    assert onnx_model.ensure_exported(sentence_model(load_embedder("all-MiniLM-L6-v2")), model_dir, out)
    return cache, out


def test_same_vectors_as_sentence_transformers_on_every_eval_question(exported):
    _, out = exported
    questions = [item.question for c in load_dev(ROOT / "eval" / "dev.toml") for item in c.items]
    questions += ["x " * 600, "Ünïcödé façade — “quotes”", "?"]  # truncated at 256 pieces; odd text
    st = sentence_model(load_embedder("all-MiniLM-L6-v2"))
    enc = onnx_model.OnnxEncoder(out)
    a = st.encode(questions, normalize_embeddings=True)
    one_by_one = np.stack([enc.encode([q])[0] for q in questions])  # how questions are embedded
    # padded batches: the attention mask must matter (32 at a time: one batch pads to 256 pieces)
    batched = np.concatenate([enc.encode(questions[i:i + 32]) for i in range(0, len(questions), 32)])
    assert len(questions) > 300
    assert float((a * one_by_one).sum(1).min()) >= 0.9999
    assert float((a * batched).sum(1).min()) >= 0.9999


def test_ingest_exports_once_and_questions_use_it_with_the_same_answers(exported, seed_settings, seed_pipeline):
    from rag.pipeline import Pipeline

    cache, out = exported
    fast = Pipeline(seed_settings.replace(cache_dir=cache), embedder=seed_pipeline.embedder)
    assert isinstance(fast.query_embedder._model, onnx_model.OnnxEncoder)
    slow = Pipeline(seed_settings.replace(onnx_questions=False), embedder=seed_pipeline.embedder)
    assert not isinstance(slow.query_embedder._model, onnx_model.OnnxEncoder)
    for q in ("When did Microsoft announce the Maia 200?", "Who is the CEO of Samsung?",
              "How much did Microsoft invest in Anthropic?"):
        a, b = fast.ask(q), slow.ask(q)
        assert (a.refused, [(c.file, c.start_char, c.end_char) for c in a.citations]) == \
               (b.refused, [(c.file, c.start_char, c.end_char) for c in b.citations])


def test_no_export_at_question_time(tmp_path, seed_settings, seed_pipeline):
    from rag.pipeline import Pipeline

    pipe = Pipeline(seed_settings.replace(cache_dir=tmp_path / "empty"), embedder=seed_pipeline.embedder)
    pipe.ask("When did Microsoft announce the Maia 200?")
    assert not (tmp_path / "empty").exists()  # the full model answered; nothing was exported


def test_ingest_makes_the_export(tmp_path, corpus_dir):
    from rag.pipeline import Pipeline

    settings = make_settings(corpus_dir, tmp_path / "index", cache_dir=tmp_path / "cache")
    Pipeline(settings).ingest(progress=False)
    assert onnx_model.is_exported(onnx_model.folder(tmp_path / "cache", model_path(settings.model)))
