"""`llmspell tools list` / `tools show`: plain text in pipes, rich on a terminal, JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmspell.cli import main as cli_mod
from llmspell.cli import tools as tools_cli


def test_tools_list_plain(cli):
    r = cli("tools", "list")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 37
    assert any(line.split()[:2] == ["web-scraper", "data"] for line in lines)
    assert "\x1b[" not in r.stdout  # no colour codes in a pipe


def test_tools_list_category_and_json(cli):
    r = cli("--output", "json", "tools", "list", "--category", "filesystem")
    data = json.loads(r.stdout)
    assert {t["name"] for t in data} == {"archive_handler", "file_converter", "file_operations",
                                         "file_search", "file_watcher"}


def test_tools_show(cli):
    r = cli("tools", "show", "file_operations")
    assert r.returncode == 0
    assert "security level: privileged" in r.stdout
    assert "  operation (string, required)" in r.stdout
    j = json.loads(cli("--output", "json", "tools", "show", "calculator").stdout)
    assert j["parameters"]["properties"]["input"]["type"] == "string"
    bad = cli("tools", "show", "nonexistent_tool")
    assert bad.returncode == 1 and "Tool 'nonexistent_tool' not found" in bad.stderr


def test_tools_rich_on_terminal(monkeypatch):
    monkeypatch.setattr(tools_cli, "_tty", lambda: True)
    runner = CliRunner()
    r = runner.invoke(cli_mod.app, ["tools", "list"])
    assert r.exit_code == 0 and "37 built-in tools" in r.output
    s = runner.invoke(cli_mod.app, ["tools", "show", "uuid_generator"])
    assert s.exit_code == 0 and "Parameters" in s.output and "namespace" in s.output
