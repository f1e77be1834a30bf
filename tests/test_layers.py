"""The layers of the package, guarded (in the spirit of httpx's test_exported_members.py).

    front      llmspell.cli.* (the commands: Typer, rich) and llmspell.__main__
    adapters   llmspell.lua.* (the sandbox, the converter) and llmspell.api.* (one per global)
    services   everything else: agents, providers, tools, rag, state, sessions, workflows,
               hooks, events, config, errors, secret_filter, run (the per-run Services)...

A layer may import the layers below it, never above: services never import ``lupa``,
the adapters or the front, so they stay plain Python, usable and testable without Lua.
And no module imports itself back through a chain of imports.

How imports are read: ``ast`` over every ``llmspell/**/*.py``; every ``import`` counts —
at module level, inside functions (lazy imports) and under ``TYPE_CHECKING`` — because a
lazy or type-only import back is still a circle a reader must keep in mind (name the
other side with a ``typing.Protocol`` instead, as ``lua/globals.py`` does). ``from pkg
import sub`` is an edge to ``pkg.sub`` when that is a module, otherwise to ``pkg``.
A second test imports every service module in a fresh interpreter and looks at
``sys.modules``, which also catches an import made through ``importlib``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import llmspell

PACKAGE = Path(llmspell.__file__).parent

FRONT = {"llmspell.cli", "llmspell.__main__"}
ADAPTER_PACKAGES = ("llmspell.api", "llmspell.lua")
# what a service must never import (lupa: the Lua runtime itself)
FORBIDDEN_FOR_SERVICES = ("lupa", *ADAPTER_PACKAGES, *sorted(FRONT))

# Known circles, to be removed by the helper that fixes them. Each names its issue.
ALLOWED_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, anywhere in the file (see the module docstring)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES else module)
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> str:
    if _is_under(name, tuple(sorted(FRONT))):
        return "front"
    if name.startswith(tuple(p + "." for p in ADAPTER_PACKAGES)) or name in ADAPTER_PACKAGES:
        return "adapter"
    return "service"


def _is_under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


SERVICES = sorted(n for n in MODULES if _layer(n) == "service" and n != "llmspell")


def test_the_layers_are_what_this_test_thinks():
    assert {"llmspell.tools.service", "llmspell.agents.registry", "llmspell.hooks",
            "llmspell.errors", "llmspell.providers.http", "llmspell.rag.service",
            "llmspell.workflows.engine", "llmspell.config", "llmspell.run"} <= set(SERVICES)
    assert _layer("llmspell.api.tool") == "adapter" and _layer("llmspell.lua.runtime") == \
        "adapter"


def test_services_never_import_lupa_adapters_or_the_cli():
    wrong = {f"{name} imports {module}" for name in SERVICES for module in IMPORTS[name]
             if _is_under(module, FORBIDDEN_FOR_SERVICES)}
    assert not wrong, sorted(wrong)


def test_adapters_never_import_the_cli():
    wrong = {f"{name} imports {module}" for name in MODULES if _layer(name) == "adapter"
             for module in IMPORTS[name] if _is_under(module, tuple(sorted(FRONT)))}
    assert not wrong, sorted(wrong)


def test_importing_every_service_loads_no_lua_adapter_or_cli():
    code = ("import importlib, sys\n"
            f"for name in {SERVICES!r}:\n"
            "    importlib.import_module(name)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] == 'lupa' or "
            f"any(m == p or m.startswith(p + '.') for p in {FORBIDDEN_FOR_SERVICES[1:]!r}))\n"
            "print(','.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(frozenset(members))
    return found


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = {name: {m for m in IMPORTS[name] if m in MODULES and m != name}
             for name in MODULES}
    cycles = [sorted(c) for c in _cycles(graph) if c not in ALLOWED_CYCLES]
    assert not cycles, cycles
