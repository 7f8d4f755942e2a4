"""A small Dockerfile reader and the image rules this project holds its Dockerfile to (besides
hadolint's): multi-stage, a slim final stage with no build tools, dependencies from
requirements.lock installed before the source is copied, a numeric non-root USER before the
ENTRYPOINT, and a HEALTHCHECK."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# pip or uv installing with the lock's pins: as requirements, as constraints, or synced.
_LOCK_INSTALL = re.compile(
    r"pip install [^&;]*(-r|--requirement|-c|--constraint) +requirements\.lock|pip sync +requirements\.lock"
)
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "clang", "libc6-dev", "python3-dev", "cargo")


@dataclass
class Instruction:
    keyword: str
    value: str


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued RUN
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), parts[0])
            stages.append(Stage(image, name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, value))
        elif keyword == "ARG" and "=" in value:
            key, _, default = value.partition("=")
            args[key] = default
    return args, stages


def violations(text: str) -> list[str]:
    """Every rule the Dockerfile breaks, each named."""
    _, stages = parse(text)
    if len(stages) < 2:
        return ["not multi-stage: build tools and caches would ship in the image"]
    found: list[str] = []
    builder, final = stages[0], stages[-1]
    if not re.fullmatch(r"python:3\.11-slim(-\w+)?", final.image):
        found.append(f"final stage FROM {final.image}: expected python:3.11-slim")
    runs = " ".join(i.value for i in final.of("RUN"))
    found += [f"final stage installs build tool {t.strip()!r}" for t in BUILD_TOOLS if t in runs + " "]
    if re.search(r"\b(apt-get|apt|pip|uv) +install\b", runs):
        found.append("final stage installs packages: it should only copy the virtualenv")
    copies = [i.value for i in final.of("COPY")]
    if not any(f"--from={builder.name}" in c for c in copies):
        found.append("final stage does not copy the builder's virtualenv")
    found += _lock_rules(builder)
    keywords = [i.keyword for i in final.instructions]
    users = [i.value for i in final.of("USER")]
    if not users:
        found.append("no USER in the final stage: the image would run as root")
    else:
        user = users[-1].split(":")[0]
        if not user.isdigit() or int(user) == 0:
            found.append(f"USER {users[-1]}: expected a numeric non-root uid (Kubernetes runAsNonRoot)")
        last_user = max(n for n, k in enumerate(keywords) if k == "USER")
        if "ENTRYPOINT" in keywords and keywords.index("ENTRYPOINT") < last_user:
            found.append("USER comes after ENTRYPOINT")
    if "ENTRYPOINT" not in keywords:
        found.append("no ENTRYPOINT")
    if "HEALTHCHECK" not in keywords:
        found.append("no HEALTHCHECK")
    return found


def _lock_rules(builder: Stage) -> list[str]:
    """Dependencies from the lock, pinned, in a layer before the source is copied."""
    found = []
    steps = builder.instructions
    lock_copy = next(
        (n for n, i in enumerate(steps) if i.keyword == "COPY" and "requirements.lock" in i.value), None
    )
    source_copy = next(
        (
            n
            for n, i in enumerate(steps)
            if i.keyword == "COPY" and re.search(r"\bmlops_pipelines\b", i.value)
        ),
        None,
    )
    install = next(
        (n for n, i in enumerate(steps) if i.keyword == "RUN" and _LOCK_INSTALL.search(i.value)), None
    )
    if lock_copy is None or install is None:
        return ["dependencies are not installed from requirements.lock"]
    if source_copy is None or not lock_copy < install < source_copy:
        found.append("the lock is not copied and installed before the source (layer caching)")
    package = next((i.value for i in steps[(source_copy or 0) :] if i.keyword == "RUN"), "")
    if "--no-deps" not in package:
        found.append("the package is installed with its dependencies re-resolved (expected --no-deps)")
    return found
