"""``kg serve``: one uvicorn process with the HTTP API and the chatbot.

Safe by default: loopback only, no Gradio share link; binding another interface without a
password or API key prints a loud warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from kg.config import Settings
from kg.procs import Stopped, raise_on_stop_signals

if TYPE_CHECKING:
    from fastapi import FastAPI


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth: str | None, api_key: str | None) -> str | None:
    """The warning to print when the server is reachable from other machines unprotected."""
    if is_loopback(host):
        return None
    missing = [name for name, value in (("--auth", auth), ("--api-key", api_key)) if not value]
    if not missing:
        return None
    return (
        f"WARNING: kg is listening on {host}, reachable from other machines, without "
        f"{' and '.join(missing)}. Anyone who can reach this port can read your notes"
        + (" and query the API." if "--api-key" in missing else ".")
        + " Bind 127.0.0.1 or set KG_AUTH=user:pass and KG_API_KEY=…"
    )


def build(
    settings: Settings,
    *,
    auth: str | None = None,
    api_key: str | None = None,
    use_llm: bool = True,
    mount_ui: bool = True,
    host: str = "127.0.0.1",
) -> FastAPI:
    from app.api import create_app, parse_auth
    from app.service import KG

    ui_auth = parse_auth(auth)
    app = create_app(
        KG(settings, use_llm=use_llm), api_key=api_key, mount_ui=mount_ui, ui_auth=ui_auth
    )
    _mount_mcp(app, api_key, host)
    app.add_middleware(CancelledGuard)
    return app


class CancelledGuard:
    """Outermost ASGI middleware: a request still running when a stop's grace period ends is
    cancelled by uvicorn; answer it with a clean 503 (if nothing was sent yet) instead of
    uvicorn's "Exception in ASGI application" CancelledError traceback and a bare 500."""

    BODY = (
        b'{"type":"about:blank","title":"Service stopping","status":503,'
        b'"detail":"kg is shutting down; retry when it is back"}'
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def tracking(message: Any) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except asyncio.CancelledError:
            if scope.get("type") != "http" or started:
                return  # a stream cut short: the client sees the connection close
            with contextlib.suppress(Exception):
                await send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"application/problem+json"), (b"connection", b"close"),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": self.BODY})


def _mount_mcp(app: FastAPI, api_key: str | None, host: str) -> None:
    """The MCP server at /mcp (streamable HTTP), when the `mcp` extra is installed."""
    try:
        from app.mcp_server import mount
    except ImportError:  # pip install 'kg[mcp]'
        return
    mount(app, app.state.kg, api_key=api_key, host=host)


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    api_key: str | None = None,
    share: bool = False,
    use_llm: bool = True,
    *,
    exit_process: bool = True,
    store_port: int | None = None,
) -> int:
    """Run the API and chatbot until SIGTERM (exit 0) or Ctrl-C (exit 130), at any moment, even
    while starting; then stop what this process started (its FalkorDB, its LLM server).

    With ``exit_process`` the process then ends with ``os._exit``: interpreter shutdown with
    native threads still running (ONNX Runtime, tokenizers) can abort with "terminate called
    without an active exception"."""
    raise_on_stop_signals()
    started: dict[str, Any] = {}
    code = 1
    try:
        code = _run(started, settings, host, port, auth, api_key, share, use_llm, store_port)
    except Stopped as stop:
        code = stop.exit_code
    except KeyboardInterrupt:
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the cleanup must finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if exit_process:  # nothing may hold the exit up: the children die with us anyway
            _exit_after(STOP_DEADLINE_S, code)
        stop_started(started.get("app"))
    if exit_process:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    return code


STOP_DEADLINE_S = 20.0  # the most a stop may take (the store saves, the LLM server ends)


def _exit_after(seconds: float, code: int) -> None:
    """Exit with ``code`` after ``seconds`` even if the cleanup is stuck (a store that does not
    answer, a thread holding a lock): the servers kg started die with it (PDEATHSIG)."""

    def later() -> None:
        time.sleep(seconds)
        print(f"kg: stopping took over {seconds:.0f}s; exiting anyway", file=sys.stderr)
        os._exit(code)

    threading.Thread(target=later, name="kg-stop-deadline", daemon=True).start()


def _run(
    started: dict[str, Any],
    settings: Settings,
    host: str,
    port: int,
    auth: str | None,
    api_key: str | None,
    share: bool,
    use_llm: bool,
    store_port: int | None = None,
) -> int:
    import uvicorn

    auth = auth or os.environ.get("KG_AUTH") or None
    api_key = api_key or os.environ.get("KG_API_KEY") or None
    warning = exposure_warning(host, auth, api_key)
    if warning:
        print("\n" + "!" * 78 + f"\n{warning}\n" + "!" * 78 + "\n", file=sys.stderr, flush=True)
    if share:
        print(
            "kg does not create Gradio share links (they tunnel your notes through a third "
            "party); use --host with --auth instead.",
            file=sys.stderr,
        )
    app = started["app"] = build(settings, auth=auth, api_key=api_key, use_llm=use_llm, host=host)
    if store_port is not None:
        from app.cli_integrations import expose_store

        expose_store(app.state.kg, store_port)
    threading.Thread(target=warm_up, args=(app.state.kg,), name="kg-warm-up", daemon=True).start()
    shown = "localhost" if is_loopback(host) else host
    print(f"kg: chatbot at http://{shown}:{port}/ui/ · API docs at http://{shown}:{port}/docs")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=5,  # an open chat stream must not hold up a stop
    )
    server = uvicorn.Server(config)
    # uvicorn handles SIGINT/SIGTERM while it runs, then re-raises them: they become Stopped
    server.run()
    return 0 if server.started else 1  # not started: the port is taken (uvicorn said so)


def stop_started(app: FastAPI | None) -> None:
    """Stop the embedded FalkorDB and the offline LLM server this process started."""
    kg = getattr(getattr(app, "state", None), "kg", None)
    if kg is not None:
        try:
            kg.close()
        except Exception as exc:  # report, and still stop the LLM server
            print(f"kg: could not close the store cleanly: {exc}", file=sys.stderr)
    runtime = sys.modules.get("kg.llm.runtime")  # imported only if an LLM server was started
    if runtime is not None:
        with contextlib.suppress(Exception):
            runtime.stop_own_servers()


def warm_up(kg: object) -> None:
    """Load the indexes before the first question, so it does not pay for them."""
    try:
        kg.search("warm up", mode="hybrid", k=1)  # type: ignore[attr-defined]
    except Exception as exc:  # a missing workspace is reported by /readyz and the UI
        print(f"kg: indexes not loaded yet ({exc})", file=sys.stderr)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory app.server:app_from_env`` (several workers).

    Reads the usual ``KG_*`` settings, plus ``KG_NO_LLM=1`` and ``KG_NO_UI=1``. With
    ``--workers N`` also pass ``--http app.server:NoDelayHTTPProtocol`` (see below).
    """
    return build(
        Settings.from_env(),
        auth=os.environ.get("KG_AUTH") or None,
        api_key=os.environ.get("KG_API_KEY") or None,
        use_llm=os.environ.get("KG_NO_LLM") != "1",
        mount_ui=os.environ.get("KG_NO_UI") != "1",
    )


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection.

    With ``--workers N`` uvicorn binds its socket with protocol 0, so asyncio does not set
    TCP_NODELAY on accepted connections, and Nagle's algorithm plus the client's delayed ACK
    add about 40 ms to each keep-alive response (measured with bench/serve.py).
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]
