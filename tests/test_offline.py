"""The offline switches: set by the entry points' explicit call, never by importing a module.

Each check runs in a fresh interpreter whose environment lacks the switches (this test
session has set them already, in conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rag.offline import OFFLINE_ENV, THREAD_ENV
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # fresh interpreters, one importing gradio

SWITCHES = sorted({*OFFLINE_ENV, *THREAD_ENV})


def _python(code: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES and not k.startswith("RAG_")}
    env.update(extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def test_importing_rag_modules_sets_nothing_and_setup_sets_everything():
    out = _python(f"""
import os
switches = {SWITCHES!r}
before = dict(os.environ)
import rag, rag.config, rag.models, rag.store, rag.ingest, rag.retrieve, rag.pipeline, rag.cli, rag.ui
import rag.ui_app  # imports gradio: its analytics switch is preset below, the rest is checked here
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
assert changed == [], changed
from rag import offline
offline.setup()
offline.setup()  # idempotent
assert all(os.environ[k] == v for k, v in offline.OFFLINE_ENV.items())
assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
print("ok")
""", GRADIO_ANALYTICS_ENABLED="False")  # gradio is imported by rag.ui_app: never let it phone home
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_setup_keeps_the_users_thread_policy():
    out = _python("import os; from rag import offline; offline.setup(); print(os.environ['OMP_WAIT_POLICY'])",
                  OMP_WAIT_POLICY="ACTIVE")
    assert out.stdout.strip() == "ACTIVE", out.stderr[-3000:]


def test_entry_points_set_the_switches():
    out = _python("""
import os
from rag.config import Settings
from rag.pipeline import Pipeline
assert "HF_HUB_OFFLINE" not in os.environ
Pipeline(Settings())
assert os.environ["HF_HUB_OFFLINE"] == "1", "Pipeline() did not set the switches"
for k in list(os.environ):
    if k.startswith(("HF_", "TRANSFORMERS_", "GRADIO_", "ANONYMIZED_", "TOKENIZERS_", "OMP_")):
        del os.environ[k]
from rag import cli
try:
    cli.main(["--help"])
except SystemExit as exc:
    assert exc.code == 0
assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False", "rag.cli.main did not set the switches"
print("ok")
""")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_rag_help_works_offline():
    dead = "http://127.0.0.1:9"  # nothing listens: any attempt to reach the network fails at once
    out = _python("import sys; from rag.cli import main; sys.exit(main(sys.argv[1:]))",
                  HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead, NO_PROXY="")
    assert out.returncode != 0  # no command: argparse's usage error, not a traceback
    assert "usage: rag" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "rag.cli", "--help"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, env={**{k: v for k, v in os.environ.items() if k not in SWITCHES},
                                           "HTTP_PROXY": dead, "HTTPS_PROXY": dead})
    assert out.returncode == 0 and "usage: rag" in out.stdout and "ingest" in out.stdout, out.stderr[-3000:]
