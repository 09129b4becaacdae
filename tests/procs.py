"""Running `rag` as a user does, in a subprocess, and watching what it prints as it runs.

Why subprocesses: a kill -9, a Ctrl-C and a traceback are only real in a separate process,
and chromadb caches one client per index folder per process, so a broken index must be
opened fresh. Every process started here is killed by the test that started it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300


def rag_env(corpus: Path | None = None, index: Path | None = None, **extra: str) -> dict:
    """The caller's environment without the developer's RAG_* settings, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    if corpus is not None:
        env["RAG_CORPUS"] = str(corpus)
    if index is not None:
        env["RAG_INDEX"] = str(index)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_rag(*args: str, env: dict, timeout: float = TIMEOUT_S, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Watched:
    """A `rag` subprocess whose stderr is read as it comes, so a test can act on what it says
    (a progress bar tick, a log line) rather than on a guess of how long things take."""

    def __init__(self, *args: str, env: dict, cwd: Path = ROOT):
        # SIGINT back to its default in the child: a test run started in the background of a
        # non-interactive shell inherits SIGINT *ignored*, and then Python never turns Ctrl-C
        # into KeyboardInterrupt, so the Ctrl-C test would test nothing
        self.proc = subprocess.Popen([sys.executable, "-m", "rag.cli", *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=_default_sigint)
        self.started = time.monotonic()
        self._err = bytearray()
        self._out = bytearray()
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stderr, self._err), (self.proc.stdout, self._out))]
        for t in self._readers:
            t.start()

    def _pump(self, stream, buf: bytearray) -> None:
        for piece in iter(lambda: stream.read1(4096), b""):
            with self._lock:
                buf.extend(piece)

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._err.decode("utf-8", "replace")

    @property
    def stdout(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace")

    def wait_for(self, pattern: str, timeout: float = TIMEOUT_S) -> re.Match:
        """Block until stderr matches ``pattern``; fail (and kill) if the process ends first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.stderr)
            if m:
                return m
            if self.proc.poll() is not None:
                self._join()
                m = rx.search(self.stderr)
                if m:
                    return m
                raise AssertionError(f"rag exited ({self.proc.returncode}) before printing {pattern!r}:\n"
                                     f"{self.stderr[-3000:]}")
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.stderr[-3000:]}")

    def wait_until(self, done, timeout: float = TIMEOUT_S) -> None:
        """Block until ``done(stderr so far)`` is true; the process must not end first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.stderr):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"rag exited ({self.proc.returncode}) first:\n{self.stderr[-3000:]}")
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"condition not met within {timeout}s:\n{self.stderr[-3000:]}")

    def signal(self, sig: int) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait()

    def kill(self) -> int:
        return self.signal(signal.SIGKILL)

    def wait(self, timeout: float = TIMEOUT_S) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._join()
        return self.proc.returncode

    def _join(self) -> None:
        for t in self._readers:
            t.join(timeout=5)

    def __enter__(self) -> "Watched":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._join()
