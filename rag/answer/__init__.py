"""The answer stage: question analysis, answer units, features, the fitted scorer, writers.

Only ``make_writer`` is needed by the pipeline; the writers import what they use from the
modules of this package directly, so nothing here imports the optional LLM writer unless
it is asked for.
"""

from __future__ import annotations

from typing import Callable

from rag.answer.units import is_instruction, split_glued  # noqa: F401  (public helpers)
from rag.config import Settings


def make_writer(settings: Settings, embed: Callable[[str], list[float]] | None = None):
    """The writer the settings ask for: "extractive" (default) or "llm" (with extractive fallback)."""
    from rag.answer.writer import ExtractiveWriter

    extractive = ExtractiveWriter(settings, embed)
    if settings.writer == "llm":
        from rag.answer.llm import LLMWriter

        return LLMWriter(settings, extractive)
    return extractive
