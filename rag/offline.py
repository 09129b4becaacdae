"""The offline and telemetry switches, set by an explicit call at each entry point.

``setup()`` is called first thing by every program that may load a model, open Chroma or
start Gradio -- ``rag.cli.main``, ``rag.ui.serve``, ``Pipeline()``, ``load_embedder``,
the benchmark (bench/run.py) and the test session (tests/conftest.py) -- before those
libraries are imported: Hugging Face and Gradio read these variables when they are
imported. Importing a rag module changes nothing in ``os.environ``; it once did (rag.models
set them at import, and two modules imported it for that effect alone), so what a
library saw depended on which module happened to be imported first.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's posthog telemetry
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",  # no "sequence longer than" noise from the chunker's counting
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

# Defaults the user may override in the environment (set before torch is first imported).
# OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads otherwise spin while they wait for each
# other; on a machine busy with other work one descheduled thread leaves the other spinning
# its whole time slice. Measured on 2 cores with other jobs running: one question's
# embedding took 1100-1600 ms instead of 12-21 ms, and batches were up to 3x slower.
# Spinning only pays where cores sit idle, and rag must run well on a busy laptop too.
THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def setup() -> None:
    """Set the switches; idempotent, cheap, and safe to call from any thread of start-up."""
    os.environ.update(OFFLINE_ENV)
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)
