"""Provenance from real git checkouts, and graceful None values without one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_pipelines.lib.integrity import sha256_file
from mlops_pipelines.lib.registry.provenance import LOCK_FILE, Provenance, collect_provenance

REPO = Path(__file__).resolve().parents[3]


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", "-C", str(repo), *identity, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / LOCK_FILE).write_text("pandas==2.3.3\n")
    (repo / "pkg" / "code.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    return repo


def test_clean_checkout_records_commit_and_lock_hash(checkout: Path) -> None:
    found = collect_provenance(checkout / "pkg")  # a subdirectory still finds the root's lock file
    assert found.git_commit == _git(checkout, "rev-parse", "HEAD")
    assert found.git_dirty is False
    assert found.lock_sha256 == sha256_file(checkout / LOCK_FILE)
    assert found.python.count(".") == 2
    assert {"mlflow", "pandas", "scikit-learn", "numpy"} <= set(found.libraries)


def test_modified_tracked_file_is_dirty_but_untracked_file_is_not(checkout: Path) -> None:
    (checkout / "scratch.txt").write_text("notes\n")
    assert collect_provenance(checkout).git_dirty is False
    (checkout / "pkg" / "code.py").write_text("x = 2\n")
    assert collect_provenance(checkout).git_dirty is True


def test_directory_without_git_gives_none_values_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("numpy==2.4.0\n")
    found = collect_provenance(tmp_path)
    assert (found.git_commit, found.git_dirty) == (None, None)
    assert found.lock_sha256 == sha256_file(tmp_path / LOCK_FILE)
    nothing = collect_provenance(None)
    assert (nothing.git_commit, nothing.git_dirty, nothing.lock_sha256) == (None, None, None)


def test_this_repository_lock_file_is_hashed() -> None:
    assert collect_provenance(REPO).lock_sha256 == sha256_file(REPO / LOCK_FILE)


def test_tags_spell_unknown_values_and_flatten_libraries() -> None:
    tags = Provenance(None, None, None, "3.11.7", {"mlflow": "3.17.2"}).as_tags()
    assert tags["provenance.git_commit"] == "unknown"
    assert tags["provenance.git_dirty"] == "unknown"
    assert tags["provenance.lib.mlflow"] == "3.17.2"
    assert Provenance("c" * 40, True, None, "3.11.7").as_tags()["provenance.git_dirty"] == "true"
