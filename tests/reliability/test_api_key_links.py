"""Under --api-key: /docs offers Authorize (securitySchemes in OpenAPI) and the chat's document
links open without a bearer token because they are signed (issue 25). The real API and a real
small workspace."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest


def test_docs_authorize_and_signed_span_links(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from app import document_page
    from app.api import create_app
    from app.service import KG
    from kg.workspace import Workspace
    from tests.real_kg import build_workspace

    settings = build_workspace(tmp_path)
    docs = Workspace(settings.workspace).read("documents")
    kg = KG(settings, use_llm=False)
    try:
        client = TestClient(create_app(kg, api_key="s3cret", mount_ui=False))
        schema = client.get("/openapi.json").json()
        schemes = schema["components"]["securitySchemes"]
        assert any(s.get("scheme") == "bearer" for s in schemes.values()), schemes
        url = urlsplit(document_page.span_url(docs[0].id, 0, 10))
        assert "sig=" in url.query
        signed = client.get(f"{url.path}?{url.query}")
        assert signed.status_code == 200 and docs[0].title.split()[0] in signed.text
        assert client.get(url.path).status_code == 401  # unsigned, no token
        other = f"/v1/documents/{docs[1].id}?{url.query}"  # doc 0's signature for doc 1
        assert client.get(other).status_code == 401
        assert client.post("/v1/search", json={"query": "x"}).status_code == 401
        headers = {"Authorization": "Bearer s3cret"}
        assert client.get(url.path, headers=headers).status_code == 200
    finally:
        document_page.sign_links(None)
        kg.close()


@pytest.fixture(autouse=True)
def _unsigned_afterwards() -> None:
    from app import document_page

    yield
    document_page.sign_links(None)
