"""The reader (rag.answer.reader, rag.reader_model): assembled from the shipped MiniLM and a
saved adapter, exported to ONNX, and read on the question path without torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.answer import reader

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def perturbed_adapter(tmp_path_factory):
    """An adapter whose LoRA matrices are not zero (a fresh one equals the base model), so
    the export is shown to carry what training changes."""
    import torch

    from rag.reader_model import base_dir, fresh, save

    config = {"base_dir": str(base_dir()), "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "seed": 3,
              "version": "test", "max_length": 96}
    model, tok = fresh(config)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    out = tmp_path_factory.mktemp("adapter")
    save(model, config, out)
    return out, model.eval(), tok


PAIRS = [("What read size does the example use?", "BUFSZ is the size of each read from the socket."),
         ("What read size does the example use?", "#define BUFSZ 4096"),
         ("Which account runs the daemon?", "daemon | runs as this account"),
         ("When was the Maia 200 announced?", "Microsoft announced the Maia 200 in January 2026."),
         ("When was the Maia 200 announced?", "x " * 300)]  # truncated to the adapter's length


@pytest.mark.slow
def test_onnx_export_orders_pairs_as_the_torch_model_does(perturbed_adapter, tmp_path):
    import torch

    adapter, model, tok = perturbed_adapter
    out = reader.ensure_exported(tmp_path, adapter)
    assert out is not None and reader.is_exported(out)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["max_length"] == 96 and meta["adapter"] == "test"
    with torch.no_grad():
        enc = tok([q for q, _ in PAIRS], [t for _, t in PAIRS], truncation=True, max_length=96, padding=True,
                  return_tensors="pt")
        want = model(**enc).logits[:, 0].numpy()
    r = reader.Reader(out)
    got = np.concatenate([r.score(q, [t]) for q, t in PAIRS])  # one at a time: no padding
    batched = r.score(PAIRS[0][0], [t for _, t in PAIRS[:2]])
    if meta["int8"]:
        assert list(np.argsort(got)) == list(np.argsort(want))
    else:
        assert np.allclose(got, want, atol=1e-3)
    assert np.allclose(batched, got[:2], atol=1e-3)  # padding does not change a score


@pytest.mark.slow
def test_a_changed_adapter_is_exported_anew(perturbed_adapter, tmp_path):
    adapter, _, _ = perturbed_adapter
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("reader.json", "adapter.safetensors"):
        (copy / name).write_bytes((adapter / name).read_bytes())
    assert reader.folder(tmp_path, copy) == reader.folder(tmp_path, adapter)
    cfg = json.loads((copy / "reader.json").read_text())
    (copy / "reader.json").write_text(json.dumps({**cfg, "version": "other"}))
    assert reader.folder(tmp_path, copy) != reader.folder(tmp_path, adapter)


def test_no_adapter_means_no_reader_and_no_export(tmp_path):
    assert not reader.adapter_present(tmp_path)
    assert reader.ensure_exported(tmp_path, tmp_path) is None
    assert reader.load(tmp_path, tmp_path) is None


@pytest.mark.slow
def test_a_damaged_adapter_fails_the_export_and_says_so(tmp_path, caplog):
    (tmp_path / "reader.json").write_text(json.dumps({"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}))
    (tmp_path / "adapter.safetensors").write_bytes(b"not a safetensors file")
    assert reader.ensure_exported(tmp_path / "cache", tmp_path) is None
    assert "could not export the reader" in caplog.text
    assert not list((tmp_path / "cache").rglob("model.onnx"))


def test_pair_text_keeps_the_headers_last_words():
    header = " | ".join(f"part{i}" for i in range(40))
    text = reader.pair_text("the body", header)
    assert text.endswith("| the body") and "part39" in text and "part0 " not in text
    assert reader.pair_text("alone", "") == "alone"
