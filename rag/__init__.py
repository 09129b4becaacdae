"""rag: retrieval question answering with verbatim file:line citations.

Library use (the CLI, the chat and the eval all go through this one object)::

    from rag import Pipeline, load_settings
    pipe = Pipeline(load_settings())
    answer = pipe.ask("How much did Microsoft invest in Anthropic?")
    print(answer.to_dict())       # or rag.cite.answer_text(answer) / answer_markdown(answer)

Heavy libraries are imported lazily so that `import rag` and `rag --help` stay fast.
"""

from rag.config import Settings, load_settings
from rag.errors import RagError

__all__ = ["Pipeline", "Settings", "load_settings", "RagError"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "Pipeline":
        from rag.pipeline import Pipeline

        return Pipeline
    raise AttributeError(name)
