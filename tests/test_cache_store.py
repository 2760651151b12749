"""The per-chunk caches live in one SQLite file per workspace (issue 24, item 4)."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from kg.llm_cache import DB_NAME, LLMCache, cache_key


def _old_layout(root: Path, entries: dict[str, object]) -> None:
    """What kg wrote before: ``<root>/<kk>/<key>.json``, one file per entry."""
    for key, value in entries.items():
        path = root / key[:2] / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")


def test_old_one_file_per_entry_layout_is_migrated_into_the_store(tmp_path: Path) -> None:
    cache_dir = tmp_path / ".kg" / "cache"
    llm = {cache_key("llm", str(i)): {"answer": i, "text": "é"} for i in range(30)}
    spacy = {cache_key("spacy", str(i)): [i, i + 1] for i in range(20)}
    _old_layout(cache_dir / "llm", llm)
    _old_layout(cache_dir / "spacy", spacy)
    (cache_dir / "llm" / "zz").mkdir()
    (cache_dir / "llm" / "zz" / "broken.json").write_text("{not json")

    a = LLMCache.for_workspace(tmp_path / ".kg", "llm")
    b = LLMCache.for_workspace(tmp_path / ".kg", "spacy")
    assert all(a.get(k) == v for k, v in llm.items())
    assert all(b.get(k) == v for k, v in spacy.items())
    assert a.get(next(iter(spacy))) is None, "namespaces do not mix"
    assert dict(a.items()) == llm
    # every migrated file is gone; only the damaged one stays, untouched
    left = [p for p in cache_dir.rglob("*") if p.is_file() and not p.name.startswith(DB_NAME)]
    assert left == [cache_dir / "llm" / "zz" / "broken.json"]
    assert not (cache_dir / "spacy").exists()
    # a second open finds no files to import and the same values
    again = LLMCache.for_workspace(tmp_path / ".kg", "llm")
    assert again.get(next(iter(llm))) == llm[next(iter(llm))]


def _writer(root: str, start: int) -> None:
    cache = LLMCache(Path(root))
    for i in range(start, start + 200):
        cache.put(cache_key(str(i)), {"i": i})
    cache.put_many({cache_key("many", str(start), str(i)): i for i in range(50)})


def test_several_processes_write_one_store(tmp_path: Path) -> None:
    root = tmp_path / "cache" / "trained"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(root), n * 1000)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = LLMCache(root)
    assert len(list(cache.items())) == 3 * 250
    assert cache.get(cache_key("2100")) == {"i": 2100}
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert set(files) <= {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"}
