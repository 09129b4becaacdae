"""The ONNX question encoder: the same vectors as sentence-transformers, made by ingest and
never at question time, and the same answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag import onnx_model
from rag.evaluate_dev import load_dev
from rag.models import load_embedder, model_path, sentence_model
from tests.conftest import ROOT, SEEDS, make_settings

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
    slow = Pipeline(seed_settings.replace(onnx_encoder=False), embedder=seed_pipeline.embedder)
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


def test_ingest_makes_the_export_then_embeds_with_it_without_torch(tmp_path):
    from rag.pipeline import Pipeline
    from rag.store import Store
    from tests.test_ingest import contents

    corpus_dir = _one_seed(tmp_path)
    settings = make_settings(corpus_dir, tmp_path / "index", cache_dir=tmp_path / "cache")
    Pipeline(settings).ingest(progress=False)  # no export yet: sentence-transformers, then the export
    assert onnx_model.is_exported(onnx_model.folder(tmp_path / "cache", model_path(settings.model)))

    # a new index of the same files, by a new `rag ingest` process: the export embeds, and
    # torch (10 s of a cold ingest) is never imported
    again = settings.replace(index=tmp_path / "again")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
           "RAG_CORPUS": str(corpus_dir), "RAG_INDEX": str(again.index), "RAG_CACHE_DIR": str(tmp_path / "cache")}
    code = "import sys; from rag.cli import main; rc = main(['ingest', '-q']); print('torch' in sys.modules); sys.exit(rc)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"
    assert contents(again) == contents(settings)
    for name in ("chunks", "sentences"):
        a, b = (getattr(Store(s), name).get(include=["embeddings"]) for s in (settings, again))
        va, vb = dict(zip(a["ids"], a["embeddings"])), dict(zip(b["ids"], b["embeddings"]))
        assert set(va) == set(vb) and len(va) > 2
        assert max(float(np.abs(np.asarray(va[i]) - np.asarray(vb[i])).max()) for i in va) < 1e-4


def _one_seed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(sorted(SEEDS.iterdir())[-1], corpus)  # the smallest: a few dozen texts
    return corpus


def _encoders_used(pipe) -> list[str]:
    seen = []
    choose = pipe._ingest_encoder
    pipe._ingest_encoder = lambda embedded: seen.append(type(choose(embedded)).__name__) or choose(embedded)
    pipe.ingest(progress=False)
    return seen


def test_a_long_ingest_switches_to_sentence_transformers_with_the_same_vectors(exported, tmp_path, monkeypatch):
    """The first onnx_ingest_texts texts of a run go through the export, the rest through the
    model (faster per text once loaded); a run under the limit never loads the model; a
    process that has the model loaded already uses it."""
    import rag.models
    from rag.pipeline import Pipeline
    from rag.store import Store
    from tests.test_ingest import contents

    corpus = _one_seed(tmp_path)
    cache, _ = exported
    monkeypatch.setattr(rag.models, "_LOADED", set())  # as in a process that has not loaded it
    short = Pipeline(make_settings(corpus, tmp_path / "short", cache_dir=cache, onnx_ingest_texts=100_000))
    assert set(_encoders_used(short)) == {"OnnxEncoder"} and short._embedder is None
    long = Pipeline(make_settings(corpus, tmp_path / "long", cache_dir=cache, onnx_ingest_texts=5,
                                  ingest_batch_texts=8))
    used = _encoders_used(long)
    assert used[0] == "OnnxEncoder" and used[-1] == "SentenceTransformer"
    monkeypatch.setattr(rag.models, "_LOADED", {"all-MiniLM-L6-v2"})
    loaded = Pipeline(make_settings(corpus, tmp_path / "loaded", cache_dir=cache))
    assert set(_encoders_used(loaded)) == {"SentenceTransformer"}
    for other in (long, loaded):
        assert contents(short.settings) == contents(other.settings)
        for name in ("chunks", "sentences"):
            a, b = (getattr(Store(p.settings), name).get(include=["embeddings"]) for p in (short, other))
            va, vb = dict(zip(a["ids"], a["embeddings"])), dict(zip(b["ids"], b["embeddings"]))
            assert max(float(np.abs(np.asarray(va[i]) - np.asarray(vb[i])).max()) for i in va) < 1e-4
