"""Content hashes that let a loader refuse an artifact that changed since it was recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# Files tools add beside a model without changing it: `mlflow models serve` writes this one into a
# registered version's folder, and hashing it would make a served model look tampered with.
NOT_MODEL_CONTENT = frozenset({"registered_model_meta"})


def sha256_tree(root: Path) -> str:
    """One hash over every file below `root` (relative path and content, in sorted order)."""
    if not root.exists():
        raise FileNotFoundError(f"{root}: artifact directory does not exist")
    digest = hashlib.sha256()
    files = (
        sorted(p for p in root.rglob("*") if p.is_file() and p.name not in NOT_MODEL_CONTENT)
        if root.is_dir()
        else [root]
    )
    for path in files:
        rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()
