"""`kg extract` keeps to the folder it is given: a link out of it is skipped unless asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KG = [str(Path(sys.executable).parent / "kg")]


def _dry_run(notes: Path, workspace: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*KG, "extract", str(notes), "--dry-run", "-w", str(workspace), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_link_to_a_file_outside_the_corpus_is_skipped_unless_follow_links(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.md").write_text("# PCA\nMy own note about PCA.\n", encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (notes / "passwd_link.txt").symlink_to(secret)

    plain = _dry_run(notes, tmp_path / "ws")
    assert plain.returncode == 0, plain.stderr
    said = plain.stdout + plain.stderr
    assert "skipped passwd_link.txt: link to" in said and "--follow-links" in said
    assert "│ passwd_link.txt" not in said  # not a row of the files to extract
    assert "│ mine.md" in said

    followed = _dry_run(notes, tmp_path / "ws", "--follow-links")
    assert followed.returncode == 0, followed.stderr
    said = followed.stdout + followed.stderr
    assert "│ passwd_link.txt" in said
    assert "skipped passwd_link.txt" not in said
