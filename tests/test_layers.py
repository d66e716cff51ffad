"""Imports point one way (issue 18): the shell (mlserve) → deployments → models_registry and
accounts → core. Read from the source with ast, so a new import against the grain fails here,
not in a reviewer's head; and no project import hides inside a function to dodge a cycle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each package, and the project packages it must never import.
FORBIDDEN = {
    "core": {"mlserve", "accounts", "models_registry", "deployments"},
    "accounts": {"mlserve", "models_registry", "deployments"},
    "models_registry": {"mlserve", "deployments"},
    "deployments": {"mlserve"},
}
PROJECT = {"core", "accounts", "models_registry", "deployments", "mlserve"}
# Project imports that may sit inside a function, and why: an AppConfig.ready() runs once the
# models are loaded; the runners' supervisor and zygote import the least before they fork.
FUNCTION_IMPORTS_ALLOWED = ("apps.py", "runtimes/__init__.py", "runners/supervisor.py", "runners/zygote.py", "runners/client.py")


def sources(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        yield path, ast.parse(path.read_text(), filename=str(path))


def imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package):
    wrong = [
        f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
        for path, tree in sources(package)
        for node in ast.walk(tree)
        for name in imported(node)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(PROJECT))
def test_no_project_import_hides_inside_a_function(package):
    hidden = []
    for path, tree in sources(package):
        if str(path.relative_to(ROOT / package)).endswith(FUNCTION_IMPORTS_ALLOWED):
            continue
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    hidden += [
                        f"{path.relative_to(ROOT)}:{node.lineno} imports {name} inside {function.name}()"
                        for name in imported(node)
                        if name.split(".")[0] in PROJECT
                    ]
    assert not hidden, "\n".join(hidden)


def test_the_runners_code_needs_no_django_and_no_web_package():
    """What the sandbox mounts (models_registry/runners, runtimes, and core.errors) imports no shell."""
    for path, tree in sources("models_registry/runners"):
        names = [name for node in ast.walk(tree) for name in imported(node)]
        assert not [n for n in names if n.split(".")[0] in {"mlserve", "deployments", "accounts"}], path
