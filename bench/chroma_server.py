"""A real ``chroma run`` server in a subprocess, for the server-mode tests and the benchmark.

Why a helper of our own: the tests must be able to kill the server mid-ingest, restart it on
the same folder and port, and freeze it (SIGSTOP) to see a timeout -- things a fixture
from chromadb does not offer. Every server started here is stopped by ``stop()`` /
``__exit__`` (also on failure), by its own pid, never by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, port: int | None = None, host: str = "127.0.0.1"):
        self.path = Path(path)
        self.host = host
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.path.parent / f"chroma-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "ChromaServer":
        chroma = Path(sys.executable).with_name("chroma")
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(chroma), "run", "--path", str(self.path), "--host", self.host, "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.proc.returncode}; see {self.log}")
            if self.alive():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma run did not answer on {self.url} within {timeout:.0f} s; see {self.log}")

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/api/v2/heartbeat", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def pause(self) -> None:
        """Freeze the server: connections are accepted by the kernel, never answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """What a crash or a pulled plug looks like: no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> "ChromaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
