"""Every command's `--help` runs (click's advice for lazily loaded commands), and the
`llmspell.cli` package keeps its shape: sub-apps never import the root app, nothing
outside the package imports it, the console script points at a real function."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmspell.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "llmspell"

COMMANDS = {
    (), ("run",), ("exec",), ("validate",), ("info",), ("init",), ("providers",), ("repl",),
    ("backup",), ("backup", "create"), ("backup", "list"), ("backup", "restore"),
    ("backup", "validate"), ("backup", "info"), ("backup", "cleanup"),
    ("tools",), ("tools", "list"), ("tools", "show"), ("tools", "invoke"),
    ("keys",), ("keys", "set"), ("keys", "get"), ("keys", "list"), ("keys", "path"),
    ("keys", "remove"),
    ("logs",), ("logs", "list"), ("logs", "path"), ("logs", "status"), ("logs", "on"),
    ("logs", "off"),
    ("db",), ("db", "status"), ("db", "migrate"), ("store",), ("store", "copy"),
}


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _walk(sub, (*path, name))


def test_the_command_tree_is_complete():
    assert set(_walk(typer.main.get_command(app))) == COMMANDS


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "llmspell")
def test_every_help_runs(path, isolated_home):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Usage: ") and " ".join(("root", *path)) in first, first
    assert "Traceback" not in result.output


def test_help_through_python_m(isolated_home):
    proc = subprocess.run([sys.executable, "-m", "llmspell", "backup", "--help"],
                          capture_output=True, text=True, cwd=isolated_home)
    assert proc.returncode == 0
    assert proc.stdout.startswith("Usage: python -m llmspell backup [OPTIONS] COMMAND")


def _imports(path: Path) -> set[str]:
    """Absolute names of the llmspell modules a file imports (any nesting)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = parts if path.name == "__init__.py" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "llmspell"}


def _touches(names: set[str], module: str) -> bool:
    return any(name == module or name.startswith(module + ".") for name in names)


def test_sub_apps_never_import_the_root_app():
    for name in ("backup", "tools", "common", "output", "repl", "execute"):
        imported = _imports(PACKAGE / "cli" / f"{name}.py")
        assert not _touches(imported, "llmspell.cli.main"), name


def test_nothing_outside_the_cli_package_imports_it():
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "cli" and path.parent.parent == PACKAGE:
            continue
        imported = _imports(path)
        if path == PACKAGE / "__main__.py":
            assert imported <= {"llmspell.cli.launch", "llmspell.cli.launch.main"}
            continue
        assert not _touches(imported, "llmspell.cli"), path


def test_the_console_script_points_at_the_entry_function():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["llmspell"].partition(":")
    assert getattr(importlib.import_module(module), attr) is importlib.import_module(
        "llmspell.cli.launch").main


def test_loading_the_command_tree_stays_light(isolated_home):
    """`--version`/`--help` load the commands only: config, the Lua runtime, the services,
    rich and json come when a command runs (new commands keep their imports inside)."""
    code = ("import sys\nimport llmspell.cli.main\n"
            "heavy = ('lupa', 'rich', 'httpx', 'numpy', 'hnswlib', 'sqlite3', 'json',\n"
            "         'llmspell.config', 'llmspell.lua', 'llmspell.tools', 'llmspell.state')\n"
            "print('HEAVY', sorted(m for m in heavy if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=isolated_home)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
