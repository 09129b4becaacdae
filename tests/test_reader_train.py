"""rag.reader_train: what the reader is trained on, and that a run that dies loses nothing."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from rag.answer.units import Unit
from rag.errors import RagError
from rag.reader_train import _negatives, _save_atomic, read_manifest


def _unit(start: int, path: str = "/c/a.txt") -> Unit:
    return Unit(f"text {start}", {"path": path, "start_char": start}, np.zeros(3), 0)


def test_negatives_come_first_from_beside_the_answer_and_never_state_every_fact():
    units = [_unit(0), _unit(100), _unit(5000), _unit(200), _unit(9000), _unit(150, "/c/b.txt"), _unit(7000),
             _unit(8000), _unit(6000)]
    recall = [1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    top = list(range(len(units)))
    negs = _negatives(units, top, 0, recall, random.Random(0))
    assert 0 not in negs and 6 not in negs  # the answer, and another unit that states it all
    assert negs[:2] == [1, 3]  # same file, within reach of the answer: the likeliest impostors
    assert len(negs) == len(set(negs)) <= 5


def test_an_interrupted_save_keeps_the_old_reader(tmp_path):
    out = tmp_path / "reader"
    out.mkdir()
    (out / "reader.json").write_text("old")

    def dies(model, config, where):
        (where / "reader.json").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _save_atomic(None, {}, out, dies)
    assert (out / "reader.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["reader"]  # no half-written folder left

    def writes(model, config, where):
        (where / "reader.json").write_text("new")

    _save_atomic(None, {}, out, writes)
    assert (out / "reader.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader"]


def test_a_manifest_without_a_validation_corpus_is_refused(tmp_path):
    root = Path(__file__).resolve().parent.parent
    manifest = tmp_path / "reader.toml"
    manifest.write_text("".join(f'[[corpus]]\nname = "{n}"\ncorpus = "{root}/eval/corpora/{n}"\n'
                                f'questions = "{root}/eval/questions/{n}.jsonl"\n' for n in ("notes", "policy")))
    with pytest.raises(RagError, match="valid"):
        read_manifest(manifest)
