"""The reader's data (eval/reader.toml): every set agrees with its corpus, and none of it is
a dev corpus or a collection kept for independent checks."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "eval" / "reader.toml"
_spec = importlib.util.spec_from_file_location("check_set", ROOT / "eval" / "check_set.py")
check_set = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_set)
ENTRIES = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["corpus"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_each_reader_set_passes_the_checks(entry):
    problems, kinds = check_set.problems(ROOT / entry["corpus"], ROOT / entry["questions"])
    assert not problems, problems[:5]
    assert sum(kinds.values()) >= 80


def test_reader_corpora_are_not_dev_corpora_and_some_are_kept_for_validation():
    dev = tomllib.loads((ROOT / "eval" / "dev.toml").read_text(encoding="utf-8"))["corpus"]
    dev_paths = {(ROOT / e["corpus"]).resolve() for e in dev}
    assert not dev_paths & {(ROOT / e["corpus"]).resolve() for e in ENTRIES}
    roles = [e.get("role", "train") for e in ENTRIES]
    assert roles.count("valid") >= 2 and roles.count("train") >= 5
    total = sum(sum(1 for ln in (ROOT / e["questions"]).read_text().splitlines() if ln.strip()) for e in ENTRIES)
    assert total >= 900
