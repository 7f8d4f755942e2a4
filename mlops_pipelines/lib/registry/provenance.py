"""Where a model came from: the code commit, the locked dependency set and library versions.

Recorded on every training run so a registered model can be traced back to (and rebuilt from)
the exact code and environment that produced it.
"""

from __future__ import annotations

import logging
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_pipelines.lib.integrity import sha256_file

log = logging.getLogger(__name__)

LOCK_FILE = "requirements.lock"
TRACKED_DISTRIBUTIONS = (
    "dagster",
    "pandas",
    "scikit-learn",
    "mlflow",
    "evidently",
    "great-expectations",
    "deltalake",
    "numpy",
)
GIT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Provenance:
    git_commit: str | None
    git_dirty: bool | None
    lock_sha256: str | None
    python: str
    libraries: dict[str, str] = field(default_factory=dict)

    def as_tags(self) -> dict[str, str]:
        """Flat string tags for a tracking run; unknown values are spelled 'unknown'."""
        tags = {
            "provenance.git_commit": self.git_commit or "unknown",
            "provenance.git_dirty": "unknown" if self.git_dirty is None else str(self.git_dirty).lower(),
            "provenance.lock_sha256": self.lock_sha256 or "unknown",
            "provenance.python": self.python,
        }
        tags.update({f"provenance.lib.{name}": version for name, version in self.libraries.items()})
        return tags

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _git(repo_dir: Path, *args: str) -> str | None:
    """stdout of one git command, or None when git is missing, slow or not in a repository."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        log.warning("provenance: git is not installed; commit unknown")
        return None
    except subprocess.TimeoutExpired:
        log.warning("provenance: 'git %s' in %s took over %ss", " ".join(args), repo_dir, GIT_TIMEOUT_SECONDS)
        return None
    if done.returncode != 0:
        log.warning("provenance: 'git %s' in %s failed: %s", " ".join(args), repo_dir, done.stderr.strip())
        return None
    return done.stdout


def library_versions(names: tuple[str, ...] = TRACKED_DISTRIBUTIONS) -> dict[str, str]:
    """Installed versions of `names`; a distribution that is not installed is left out."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def collect_provenance(repo_dir: Path | None) -> Provenance:
    """Commit, dirty flag and lock hash of the checkout at `repo_dir` (None values without git)."""
    commit: str | None = None
    dirty: bool | None = None
    lock: str | None = None
    if repo_dir is not None:
        root_out = _git(repo_dir, "rev-parse", "--show-toplevel")
        root = Path(root_out.strip()) if root_out else repo_dir
        head = _git(repo_dir, "rev-parse", "HEAD")
        commit = head.strip() if head else None
        if commit is not None:
            # Like `git describe --dirty`: only tracked changes count; stray untracked files
            # (notebooks, local outputs) would otherwise mark every run dirty.
            status = _git(repo_dir, "status", "--porcelain", "--untracked-files=no")
            dirty = None if status is None else bool(status.strip())
        lock_file = root / LOCK_FILE
        lock = sha256_file(lock_file) if lock_file.is_file() else None
    return Provenance(
        git_commit=commit,
        git_dirty=dirty,
        lock_sha256=lock,
        python=platform.python_version(),
        libraries=library_versions(),
    )
