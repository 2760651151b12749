"""A live kg server (real facade, small real workspace, uvicorn in a thread); headless Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from app.api import create_app
    from app.service import KG
    from tests.real_kg import build_workspace, load_into_store

    kg = KG(build_workspace(tmp_path_factory.mktemp("browser")), use_llm=False)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        load_into_store(kg)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(kg), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, name="kg-live-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the kg server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        kg.close()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, live_server: str) -> Iterator[object]:
    page = browser_context.new_page()
    page.set_default_timeout(90_000)  # two shared CPUs: the first answer loads the indexes
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # the same for expect(), whose default is 5 s
    page.goto(f"{live_server}/ui/")
    page.locator("#kg-question textarea").wait_for()
    try:
        yield page
    finally:
        page.close()
