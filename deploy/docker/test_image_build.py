"""Build the image and look inside it, where a container engine can. Run by hand, outside the
suite (`.venv/bin/pytest deploy/docker/test_image_build.py`): a build downloads every dependency,
needs about 4 GB of disk and takes minutes, and CI machines have no container engine and reach no
registry of images. buildah must be on PATH. MLOPS_TEST_BASE_IMAGE replaces python:3.11-slim (a
local stand-in where no registry of images is reachable). Inside a sandbox,
MLOPS_TEST_ENGINE_FLAGS (e.g. `--storage-driver vfs`), MLOPS_TEST_BUILD_FLAGS (`--isolation chroot
--network host`) and MLOPS_TEST_RUN_FLAGS (`--isolation chroot`) go to the engine, to `build` and
to `run`. MLOPS_TEST_IMAGE names an image built before: the test then only looks inside it.

Checked in the built image: the user, entrypoint and healthcheck the Dockerfile declares; the
entrypoint runs `mlops-pipelines` and hands `dagster` its own commands; the package's
Definitions import; no compiler, no make and no uv in the final stage."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = shutil.which("buildah")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _engine_present() -> None:
    # Run by hand only: a missing engine is a failure that says what to install, not a skip.
    assert ENGINE is not None, "no buildah on PATH: install Debian's buildah (apt-get install buildah)"


def _flags(name: str) -> list[str]:
    return shlex.split(os.environ.get(name, ""))


def _engine(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [str(ENGINE), *_flags("MLOPS_TEST_ENGINE_FLAGS"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if os.environ.get("MLOPS_TEST_IMAGE"):  # an image built before (or elsewhere): only look inside
        yield os.environ["MLOPS_TEST_IMAGE"]
        return
    tag = f"localhost/mlops-pipelines-test:{uuid.uuid4().hex[:8]}"
    base = os.environ.get("MLOPS_TEST_BASE_IMAGE", "python:3.11-slim")
    build = ["build", *_flags("MLOPS_TEST_BUILD_FLAGS"), "--format", "docker"]
    built = _engine(*build, "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, str(ROOT), timeout=3600)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    yield tag
    _engine("rmi", "-f", tag)


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    created = _engine("from", "--name", f"mlops-test-{uuid.uuid4().hex[:8]}", image)
    assert created.returncode == 0, created.stderr
    name = created.stdout.strip().splitlines()[-1]
    yield name
    _engine("rm", name)


def _run(
    container: str, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    settings = [f"--env={k}={v}" for k, v in (env or {}).items()]
    flags = _flags("MLOPS_TEST_RUN_FLAGS")
    return _engine("run", *flags, *settings, "--user", "10001:10001", container, "--", *command)


def test_the_image_declares_its_user_entrypoint_and_healthcheck(image: str) -> None:
    inspected = _engine("inspect", "--type", "image", image)
    assert inspected.returncode == 0, inspected.stderr
    config = json.loads(inspected.stdout)["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["mlops-entrypoint"]
    assert config["Healthcheck"]["Test"] == ["CMD", "mlops-healthcheck"]


def test_the_entrypoint_runs_the_cli_and_dagster(container: str) -> None:
    cli = _run(container, "mlops-entrypoint", "--help")
    assert cli.returncode == 0 and "serve" in cli.stdout, cli.stderr
    dagster = _run(container, "mlops-entrypoint", "dagster", "--version")
    assert dagster.returncode == 0 and "1.13.27" in dagster.stdout, dagster.stderr
    imported = _run(container, "python", "-c", "import mlops_pipelines.definitions")
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert _run(container, "mlops-healthcheck", env={"MLOPS_HEALTHCHECK": "none"}).returncode == 0


def test_the_final_stage_has_no_build_tools(container: str) -> None:
    present = _run(container, "sh", "-c", "command -v python")  # the probe itself works as uid 10001
    assert present.returncode == 0 and present.stdout.strip(), present.stderr
    for tool in ("gcc", "cc", "make", "uv"):
        found = _run(container, "sh", "-c", f"command -v {tool}")
        assert found.returncode != 0, f"{tool} is in the image: {found.stdout.strip()}"
    whoami = _run(container, "id", "-u")
    assert whoami.stdout.strip() == "10001"
