"""The reader's torch model: the shipped MiniLM as a cross-encoder, with a LoRA adapter.

Why LoRA (peft) rather than a full fine-tune: the repository keeps only what training
changed (a few MB instead of the 90 MB model), and low-rank updates of a model trained on
little data move it less far from the weights that already read English well. The head
(``classifier``) and the pooler are trained whole and stored with the adapter.

Used by training (rag.reader_train) and by the one-time ONNX export (rag.answer.reader);
never on the question path.
"""

from __future__ import annotations

import json
from pathlib import Path

LORA_TARGETS = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]
SAVED_WHOLE = ["classifier", "pooler"]


def base_dir(model: str = "all-MiniLM-L6-v2") -> Path:
    from rag.models import model_path

    return Path(model_path(model))


def fresh(config: dict):
    """The base model with a new one-logit head and an untrained adapter, seeded."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rag import offline

    offline.setup()
    torch.manual_seed(int(config.get("seed", 0)))
    base = Path(config["base_dir"])
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
    lora = LoraConfig(r=int(config["lora_r"]), lora_alpha=int(config["lora_alpha"]),
                      lora_dropout=float(config["lora_dropout"]), target_modules=LORA_TARGETS,
                      modules_to_save=SAVED_WHOLE, bias="none")
    return get_peft_model(model, lora), AutoTokenizer.from_pretrained(str(base))


def trainable_state(model) -> dict:
    """Only the parameters training changed: the adapter, the head, the pooler."""
    return {k: v.detach().cpu().contiguous() for k, v in model.named_parameters() if v.requires_grad}


def save(model, config: dict, out: Path) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(out / "adapter.safetensors"))
    stored = {k: v for k, v in config.items() if k != "base_dir"}
    (out / "reader.json").write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def assemble(adapter_dir: Path):
    """The saved reader as one plain model (adapter merged in), its tokenizer and config."""
    from safetensors.torch import load_file

    config = json.loads((adapter_dir / "reader.json").read_text(encoding="utf-8"))
    config["base_dir"] = str(base_dir(config.get("model", "all-MiniLM-L6-v2")))
    model, tokenizer = fresh(config)
    state = load_file(str(adapter_dir / "adapter.safetensors"))
    missing = set(state) - {k for k, _ in model.named_parameters()}
    if missing:
        raise ValueError(f"the reader adapter has weights this model lacks: {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)
    return model.merge_and_unload().eval(), tokenizer, config
