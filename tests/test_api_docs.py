"""/docs works offline: the page and every asset it loads come from kg itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.api import create_app
from tests.fake_kg import FakeKG


def test_docs_page_loads_nothing_from_other_hosts() -> None:
    client = TestClient(create_app(FakeKG(), mount_ui=False))
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"/docs loads {url}"
    assets = [u for u in urls if u.endswith((".js", ".css"))]
    assert any(u.endswith(".js") for u in assets) and any(u.endswith(".css") for u in assets)
    for url in assets:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, url
    assert client.get("/openapi.json").json()["info"]["title"] == "kg"
    redoc = client.get("/redoc")
    assert redoc.status_code == 404 or "cdn" not in redoc.text.lower()
