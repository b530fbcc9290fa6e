"""The shape of the source tree (issue 9): no import circle, short modules, LIEF kept apart."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from wheelbuild import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = SRC / "wheelfix"

#: The modules that may import LIEF (and so may take its ~0.4 s import time).
LIEF_MODULES = frozenset(
    {
        "wheelfix.elf.lief_io",
        "wheelfix.elf.worker",
        "wheelfix.patchelf.lief_ops",
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every wheelfix module ``name`` imports, at any depth of the file (lazy ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            module = target
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module and module != name:
                found.add(module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    for name, edges in graph.items():  # a package's __init__ runs before its submodules
        parent = name.rpartition(".")[0]
        while parent:
            edges.discard(parent)
            parent = parent.rpartition(".")[0]
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_circle_finder_finds_circles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("directory", ["src", "benchmarks"])
def test_no_file_over_400_lines(directory: str) -> None:
    long = {
        str(p.relative_to(REPO_ROOT)): n
        for p in sorted((REPO_ROOT / directory).rglob("*.py"))
        if not any(part.startswith(".") for part in p.relative_to(REPO_ROOT).parts)
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


def test_only_the_lief_modules_import_lief() -> None:
    names = sorted(n for n in _modules() if n not in LIEF_MODULES and not n.endswith("__main__"))
    code = (
        "import importlib, sys\n"
        "bad = []\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'lief' in sys.modules:\n"
        "        bad.append(name)\n"
        "        break\n"
        "print(bad)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert proc.stdout.strip() == "[]", f"imports LIEF: {proc.stdout}"
