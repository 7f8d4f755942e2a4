"""The package's rooms keep their shape: no import cycles, lib/ free of dagster, modules of a
readable size. Read from the source text (ast), so nothing here depends on import order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlops_pipelines"
# spec.py is the one documented exception: the whole spec reads best in one file.
SIZE_EXEMPT = {"spec.py"}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """Package modules `path` imports anywhere in its text (top level, functions, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = own.split(".") if is_package else own.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base in known:
                found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    found.discard(own)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported(path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_lib_never_imports_dagster() -> None:
    offenders = []
    for path in (PACKAGE / "lib").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "dagster" or n.startswith(("dagster.", "dagster_")) for n in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_readable(path: Path) -> None:
    if path.name in SIZE_EXEMPT:
        return
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_LINES})"


def test_stage_subpackages_import_nothing_heavy() -> None:
    """Each lib/<stage>/__init__.py is a docstring only: importing a stage costs nothing."""
    for init in (PACKAGE / "lib").glob("*/__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], init


def _distinctive_names() -> dict[str, str]:
    """Values of names.py that cannot be a plain English word: namespaced tags ("mlops/...",
    "dagster/...", "mlops.<tag>"), key prefixes ("cv_", "holdout_", ...) and the pool."""
    from mlops_pipelines import names

    found = {}
    for attr, value in vars(names).items():
        if not (attr.isupper() and isinstance(value, str)):
            continue
        if "/" in value or "." in value or attr.endswith("_PREFIX") or attr.endswith("_POOL"):
            found[value] = attr
    return found


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    """String literals, f-string parts included, except docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            docstrings.add(id(first.value))
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_known_keys_are_spelled_only_in_names() -> None:
    known = _distinctive_names()
    assert "mlops/as_of" in known and "cv_" in known  # the scan looks for what it should
    stray = []
    for name, path in modules().items():
        if name == "mlops_pipelines.names":
            continue
        for node in _string_constants(ast.parse(path.read_text(encoding="utf-8"))):
            if node.value in known:
                stray.append(
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value!r} (names.{known[node.value]})"
                )
    assert not stray, "\n".join(stray)


def test_the_stray_key_scan_finds_a_planted_literal() -> None:
    known = _distinctive_names()
    planted = ast.parse('tags = {"mlops/as_of": "2024-01-01"}\nkey = f"holdout_{metric}"\n')
    assert [n.value for n in _string_constants(planted) if n.value in known] == ["mlops/as_of", "holdout_"]
