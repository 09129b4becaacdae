"""tests.conftest.need: a missing browser or model server skips locally, fails in CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # each test runs pytest in fresh interpreters

TINY = '''
from tests.conftest import need

def test_has_it():
    need(True, "never said")

def test_lacks_it():
    need(None, "frobnicator is not installed: apt-get install frobnicator")
'''


def _pytest(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    test = tmp_path / "test_tiny.py"
    test.write_text(TINY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_locally_a_missing_dependency_skips_with_its_reason(tmp_path):
    for ci in (None, ""):  # unset, or set but empty
        out = _pytest(tmp_path, ci)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "1 passed, 1 skipped" in out.stdout and "frobnicator is not installed" in out.stdout


def test_in_ci_a_missing_dependency_fails_with_its_reason(tmp_path):
    out = _pytest(tmp_path, "true")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed, 1 passed" in out.stdout and "frobnicator is not installed" in out.stdout
    assert "skipped" not in out.stdout
