"""`rag chat`: start the Gradio chat over a shared ``Pipeline``.

This module decides how the app is served (address, auth, share link, queue, building
a missing index first); the layout and handlers are in ``rag.ui_app`` and the HTML in
``rag.ui_render``. Gradio is imported only after the offline switches are set.
"""

from __future__ import annotations

import ipaddress
import sys
import time

from rag.config import Settings
from rag.errors import RagError

# Questions run on the CPU; more at once than a few only makes each slower. Asks beyond
# this wait in Gradio's queue (bounded, so a flood is turned away rather than piling up).
CONCURRENCY = 4
QUEUE_MAX = 256


def parse_auth(value: str) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError("chat auth must look like USER:PASSWORD",
                       hint="e.g. --auth analyst:s3cret or RAG_CHAT_AUTH=analyst:s3cret")
    return user, password


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def exposure_warnings(host: str, has_auth: bool, share: bool) -> list[str]:
    """What a user should hear before their corpus is reachable by others."""
    out = []
    if not is_loopback(host) and not has_auth:
        out.append(f"the chat listens on {host}, reachable from other machines, with no password: "
                   "anyone who reaches it can read the corpus. Add --auth USER:PASSWORD")
    if share and not has_auth:
        out.append("--share opens a public link with no password. Add --auth USER:PASSWORD")
    return out


def check_port(host: str, port: int) -> None:
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.bind(infos[0][4])
    except OSError as exc:
        raise _port_error(host, port, exc) from None


def _port_error(host: str, port: int, exc: OSError) -> RagError:
    busy = getattr(exc, "errno", None) == 98 or "empty port" in str(exc) or "in use" in str(exc)
    why = "the port is in use" if busy else (getattr(exc, "strerror", None) or str(exc))
    return RagError(f"cannot listen on {host}:{port}: {why}",
                    hint="pass another port with --port N (or RAG_CHAT_PORT), or a host of this machine with --host")


def ensure_index(pipe) -> None:
    """Build the index on first start, with the ingest progress bar in the terminal."""
    if pipe.index_exists():
        return
    s = pipe.settings
    print(f"No index yet in {s.index}: building it from {s.corpus} (only the first start does this)…",
          flush=True)
    report = pipe.ingest(progress=True)
    for sk in report.skipped:
        print(f"skipped {sk.name}: {sk.reason}", file=sys.stderr)
    print(report.summary(), flush=True)


def serve(settings: Settings, share: bool = False) -> int:
    from rag import offline

    offline.setup()  # before gradio (analytics) and the model are imported
    from rag.pipeline import Pipeline

    auth = parse_auth(settings.chat_auth)
    for warning in exposure_warnings(settings.chat_host, auth is not None, share):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    check_port(settings.chat_host, settings.chat_port)  # before minutes of indexing, not after
    pipe = Pipeline(settings)
    ensure_index(pipe)
    print("Loading the model and the index…", flush=True)
    pipe.cite("warm up")  # the first user should not wait for the model and BM25

    from rag.ui_app import build_app
    from rag.ui_render import CSS

    demo = build_app(pipe)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX)
    try:
        _, local_url, share_url = demo.launch(
            server_name=settings.chat_host, server_port=settings.chat_port, share=share, auth=auth,
            auth_message="rag chat: sign in with the user and password it was started with.",
            quiet=True, prevent_thread_lock=True, show_error=True, footer_links=["api"], css=CSS,
            ssr_mode=False, mcp_server=False)
    except OSError as exc:
        raise _port_error(settings.chat_host, settings.chat_port, exc) from None
    print(f"rag chat is running at {local_url}", flush=True)
    if share_url:
        print(f"public share link: {share_url}", flush=True)
    if auth:
        print(f"sign in as '{auth[0]}' with the password you gave.", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping…", flush=True)
    finally:
        demo.close()
    return 0
