"""One error hierarchy: the CLI and the API map every KGError by isinstance; anything else is a bug.

A bug prints a short "internal error, please report" (exit 70 / HTTP 500) and no traceback, unless
KG_DEBUG=1 asks for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient

import kg.errors as errors
from app.api import create_app
from app.cli_common import _friendly_errors
from app.errors import describe
from kg.errors import EXIT_INTERNAL, INTERNAL_MESSAGE, KGError
from tests.fake_kg import FakeKG

ROOT = Path(__file__).resolve().parents[1]


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


USER_ERRORS = sorted(
    {c for c in _all_subclasses(KGError) if c.__module__ == "kg.errors"}, key=lambda c: c.__name__
)
EXPECTED = {  # class name -> (HTTP status, exit code)
    "BadInput": (400, 1),
    "NotFound": (404, 1),
    "GoldFileError": (400, 2),
    "MissingDependency": (501, 1),
    "FileSystemError": (503, 1),
    "WorkspaceError": (503, 1),
    "WorkspaceLocked": (409, 1),
    "LoadMismatch": (500, 1),
    "StoreError": (500, 1),
    "StoreUnavailable": (503, 1),
    "QueryError": (400, 2),
    "QueryTimeout": (504, 1),
    "UnsafeCypherError": (400, 2),
    "MissingParameter": (400, 2),
    "LLMUnavailable": (503, 1),
    "LLMRuntimeError": (503, 1),
}


def test_every_user_error_has_a_status_and_an_exit_code() -> None:
    assert {c.__name__ for c in USER_ERRORS} == set(EXPECTED)


def test_the_old_homes_raise_the_same_classes() -> None:
    from kg.cypher_guard import UnsafeCypherError, ensure_read_only
    from kg.llm.client import LLMUnavailable
    from kg.store.base import QueryError
    from kg.workspace import WorkspaceLocked
    from pipelines.evaluation.graph import GoldFileError

    assert UnsafeCypherError is errors.UnsafeCypherError
    assert (LLMUnavailable, QueryError) == (errors.LLMUnavailable, errors.QueryError)
    assert (WorkspaceLocked, GoldFileError) == (errors.WorkspaceLocked, errors.GoldFileError)
    with pytest.raises(KGError):
        ensure_read_only("CREATE (n)")


def _cli_exit(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(typer.Exit) as stop, _friendly_errors():
        raise exc
    return stop.value.exit_code, capsys.readouterr().err


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_cli_maps_each_class_to_one_line_and_its_exit_code(
    cls: type[KGError], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KG_DEBUG", raising=False)
    code, err = _cli_exit(cls("the [thing]\n is wrong"), capsys)
    assert code == EXPECTED[cls.__name__][1]
    assert err.strip() == "error: the [thing] is wrong"


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_api_maps_each_class_to_its_status(cls: type[KGError]) -> None:
    class Failing(FakeKG):
        def search(self, query: str, mode: str = "hybrid", k: int = 8):  # type: ignore[override]
            raise cls("the thing is wrong")

    client = TestClient(create_app(Failing(), api_key=None, mount_ui=False))
    r = client.post("/v1/search", json={"query": "x", "mode": "bm25", "k": 2})
    assert r.status_code == EXPECTED[cls.__name__][0]
    assert r.json() == {"status": r.status_code, "title": cls.title, "detail": "the thing is wrong"}


def test_an_os_error_on_a_named_path_is_the_machine_not_a_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        (tmp_path / "gone.txt").read_text()
    except FileNotFoundError as exc:
        assert describe(exc).status == 404
        code, err = _cli_exit(exc, capsys)
    assert code == 1 and "gone.txt" in err
    assert describe(FileNotFoundError("no filename given")).status == 500


def test_a_bare_value_error_is_an_internal_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KG_DEBUG", raising=False)
    code, err = _cli_exit(ValueError("oops"), capsys)
    assert code == EXIT_INTERNAL
    assert INTERNAL_MESSAGE in err and "Traceback" not in err
    problem = describe(ValueError("oops"))
    assert problem.status == 500 and "Traceback" not in problem.detail
    monkeypatch.setenv("KG_DEBUG", "1")
    try:
        int("oops")
    except ValueError as raised:
        assert "Traceback" in describe(raised).detail
    with pytest.raises(ValueError), _friendly_errors():
        raise ValueError("oops")  # KG_DEBUG: the traceback goes through


def test_api_hides_the_traceback_of_a_bug_unless_kg_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    class Buggy(FakeKG):
        def search(self, query: str, mode: str = "hybrid", k: int = 8):  # type: ignore[override]
            return {}["missing"]

    client = TestClient(create_app(Buggy(), api_key=None, mount_ui=False))
    monkeypatch.delenv("KG_DEBUG", raising=False)
    r = client.post("/v1/search", json={"query": "x", "mode": "bm25", "k": 2})
    assert r.status_code == 500 and INTERNAL_MESSAGE in r.json()["detail"]
    assert "Traceback" not in r.json()["detail"]
    monkeypatch.setenv("KG_DEBUG", "1")
    r = client.post("/v1/search", json={"query": "x", "mode": "bm25", "k": 2})
    assert r.status_code == 500 and "Traceback" in r.json()["detail"]
    assert "KeyError: 'missing'" in r.json()["detail"]


def _kg_with_a_bug(*args: str, debug: bool) -> subprocess.CompletedProcess[str]:
    """The real `kg` CLI, with Settings.from_env broken the way a bug would break it."""
    code = (
        "import sys\n"
        "from kg.config import Settings\n"
        "def broken(cls, **kw):\n"
        "    raise ZeroDivisionError('a bug')\n"
        "Settings.from_env = classmethod(broken)\n"
        "from app.cli import app\n"
        "sys.argv = ['kg', *sys.argv[1:]]\n"
        "app()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KG_DEBUG"}
    env["NO_COLOR"] = "1"
    if debug:
        env["KG_DEBUG"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_the_cli_reports_a_bug_in_one_line_and_exit_70(tmp_path: Path) -> None:
    proc = _kg_with_a_bug("status", "-w", str(tmp_path), debug=False)
    assert proc.returncode == EXIT_INTERNAL, proc.stderr
    assert INTERNAL_MESSAGE in proc.stderr and "ZeroDivisionError" in proc.stderr
    assert "Traceback" not in proc.stderr
    debug = _kg_with_a_bug("status", "-w", str(tmp_path), debug=True)
    assert debug.returncode not in (0, EXIT_INTERNAL)
    assert "Traceback" in debug.stderr and "a bug" in debug.stderr


def test_a_corrupt_manifest_is_a_workspace_error(tmp_path: Path) -> None:
    from kg.workspace import Workspace

    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(errors.WorkspaceError, match="not a valid manifest"):
        Workspace(tmp_path).manifest()
