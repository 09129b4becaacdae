"""Settings: the one definition of what each shell offers."""

from __future__ import annotations

import argparse

import pytest

from rag.config import RETRIEVAL_MODES, Settings, validate
from rag.errors import RagError


def _choices(parser: argparse.ArgumentParser, command: str, flag: str):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return next(a for a in sub._actions if flag in a.option_strings)


def test_every_shell_offers_exactly_the_retrieval_modes():
    from rag import cli, evaluate, ui_app
    from rag.retrieve import Retriever

    parser = cli.build_parser()
    for command in ("ask", "cite"):
        assert list(_choices(parser, command, "--mode").choices) == list(RETRIEVAL_MODES)
    configs = _choices(parser, "eval", "--configs").help
    assert all(mode in configs for mode in RETRIEVAL_MODES) and evaluate.BASELINE in configs
    assert list(ui_app.MODES) == list(RETRIEVAL_MODES)
    assert list(evaluate.MODES) == list(RETRIEVAL_MODES)
    assert [c.mode for c in evaluate.parse_configs(",".join(RETRIEVAL_MODES))] == list(RETRIEVAL_MODES)
    assert set(Retriever.BUILDERS) == set(RETRIEVAL_MODES)
    assert all(callable(getattr(Retriever, name)) for name in Retriever.BUILDERS.values())


@pytest.mark.parametrize("mode", RETRIEVAL_MODES)
def test_validation_accepts_every_mode(mode):
    validate(Settings(retrieval_mode=mode))


def test_validation_names_the_modes():
    with pytest.raises(RagError) as err:
        validate(Settings(retrieval_mode="sparse"))
    assert all(mode in str(err.value) for mode in RETRIEVAL_MODES)
