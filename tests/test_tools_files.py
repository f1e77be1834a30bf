"""file_operations and the path guard: real files in temp dirs, escapes refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmspell.config import from_dict
from llmspell.errors import ToolError
from llmspell.tools.errors import SecurityViolation
from llmspell.tools.paths import PathGuard
from llmspell.tools.service import ToolService


def service(root: Path, **extra) -> ToolService:
    tools = {"file_operations": {"allowed_paths": [str(root)], **extra}}
    return ToolService(from_dict({"tools": tools}, environ={}))


def test_write_read_append_exists(tmp_path):
    svc = service(tmp_path)
    target = tmp_path / "sub" / "a.txt"
    w = svc.invoke("file_operations", {"operation": "write", "path": str(target),
                                       "input": "héllo"})
    assert w["text"] == f"Wrote 6 bytes to {target}"
    assert w["metadata"]["response"]["success"] is True
    assert "success" not in w
    assert target.read_text() == "héllo"
    svc.invoke("file_operations", {"operation": "append", "path": str(target), "input": "!"})
    r = svc.invoke("file_operations", {"operation": "read", "path": str(target)})
    assert r["text"] == "héllo!"
    assert r["metadata"]["response"]["result"] == {"input": "héllo!", "size": 7}
    e = svc.invoke("file_operations", {"operation": "exists", "path": str(target)})
    assert e["text"] == f"Path {target} exists"
    assert e["metadata"]["response"]["result"]["exists"] is True
    gone = svc.invoke("file_operations", {"operation": "exists", "path": str(tmp_path / "n")})
    assert gone["metadata"]["response"]["result"]["exists"] is False


def test_read_of_json_content_is_parsed(tmp_path):
    svc = service(tmp_path)
    (tmp_path / "d.json").write_text('{"a": [1, 2]}')
    r = svc.invoke("file_operations", {"operation": "read", "path": str(tmp_path / "d.json")})
    assert r["data"] == {"a": [1, 2]}


def test_dir_ops_copy_move_metadata_delete(tmp_path):
    svc = service(tmp_path)
    d = tmp_path / "d" / "e"
    with pytest.raises(ToolError, match="recursive=true"):
        svc.invoke("file_operations", {"operation": "mkdir", "path": str(d)})
    svc.invoke("file_operations", {"operation": "mkdir", "path": str(d), "recursive": True})
    assert d.is_dir()
    (d / "f.txt").write_text("x")
    ls = svc.invoke("file_operations", {"operation": "ls", "path": str(d)})
    entries = ls["metadata"]["response"]["result"]["entries"]
    assert [(x["name"], x["type"], x["size"]) for x in entries] == [("f.txt", "file", 1)]
    svc.invoke("file_operations", {"operation": "cp", "source_path": str(d / "f.txt"),
                                   "target_path": str(tmp_path / "g.txt")})
    svc.invoke("file_operations", {"operation": "mv", "source_path": str(tmp_path / "g.txt"),
                                   "target_path": str(tmp_path / "h.txt")})
    assert (tmp_path / "h.txt").read_text() == "x" and not (tmp_path / "g.txt").exists()
    meta = svc.invoke("file_operations", {"operation": "stat", "path": str(tmp_path / "h.txt")})
    info = meta["metadata"]["response"]["result"]
    assert info["type"] == "file" and info["size"] == 1 and info["modified"].endswith("Z")
    with pytest.raises(ToolError, match="not empty"):
        svc.invoke("file_operations", {"operation": "delete", "path": str(tmp_path / "d")})
    svc.invoke("file_operations", {"operation": "delete", "path": str(tmp_path / "d"),
                                   "recursive": True})
    assert not (tmp_path / "d").exists()


def test_errors_raise(tmp_path):
    svc = service(tmp_path)
    with pytest.raises(ToolError, match="Write operation requires 'input' parameter"):
        svc.invoke("file_operations", {"operation": "write", "path": str(tmp_path / "x")})
    with pytest.raises(ToolError, match="Unknown file operation: chmod"):
        svc.invoke("file_operations", {"operation": "chmod", "path": str(tmp_path)})
    with pytest.raises(ToolError, match="File not found"):
        svc.invoke("file_operations", {"operation": "read", "path": str(tmp_path / "nope")})


# -- security: each of these fails if the path guard is removed ----------------------

def test_write_outside_allowed_paths_is_soft_failure(tmp_path):
    inside = tmp_path / "in"
    inside.mkdir()
    svc = service(inside)
    victim = tmp_path / "out.txt"
    w = svc.invoke("file_operations", {"operation": "write", "path": str(victim),
                                       "input": "x"})
    env = w["metadata"]["response"]
    assert env["success"] is False
    assert env["result"]["error_type"] == "security_violation"
    assert w["text"].startswith("Operation 'write' failed: Security violation:")
    assert not victim.exists()


def test_read_outside_raises(tmp_path):
    inside = tmp_path / "in"
    inside.mkdir()
    (tmp_path / "secret").write_text("s")
    svc = service(inside)
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke("file_operations", {"operation": "read", "path": str(tmp_path / "secret")})


def test_dotdot_escape_refused(tmp_path):
    inside = tmp_path / "in"
    inside.mkdir()
    (tmp_path / "secret").write_text("s")
    svc = service(inside)
    sneaky = f"{inside}/../secret"
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke("file_operations", {"operation": "read", "path": sneaky})


def test_symlink_leaving_root_refused(tmp_path):
    inside = tmp_path / "in"
    outside = tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("s")
    os.symlink(outside, inside / "link")
    svc = service(inside)
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke("file_operations", {"operation": "read", "path": str(inside / "link/secret")})
    w = svc.invoke("file_operations", {"operation": "write", "path": str(inside / "link/new"),
                                       "input": "x"})
    assert w["metadata"]["response"]["success"] is False
    assert not (outside / "new").exists()


def test_copy_target_outside_refused(tmp_path):
    inside = tmp_path / "in"
    inside.mkdir()
    (inside / "a").write_text("a")
    svc = service(inside)
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke("file_operations", {"operation": "copy", "source_path": str(inside / "a"),
                                       "target_path": str(tmp_path / "b")})
    assert not (tmp_path / "b").exists()


def test_read_size_cap(tmp_path):
    svc = service(tmp_path, max_file_size=10)
    (tmp_path / "big").write_bytes(b"x" * 11)
    with pytest.raises(ToolError, match="File too large"):
        svc.invoke("file_operations", {"operation": "read", "path": str(tmp_path / "big")})
    w = svc.invoke("file_operations", {"operation": "write", "path": str(tmp_path / "w"),
                                       "input": "y" * 11})
    assert w["metadata"]["response"]["result"]["error_type"] == "validation_error"


def test_default_roots_are_tmp_and_tempdir(tmp_path):
    guard = PathGuard()
    assert os.path.realpath("/tmp") in guard.roots
    with pytest.raises(SecurityViolation):
        guard.check("/etc/passwd")
    guard.check(str(tmp_path / "x"))  # pytest's tmp_path is under the temp dir


def test_star_allows_any(tmp_path):
    assert PathGuard(["*"]).check("/etc/hostname") == Path("/etc/hostname").resolve()


def test_lua_write_outside_default_sandbox(lua, tmp_path):
    run = lua("""
        local ok, r = pcall(Tool.invoke, "file_operations",
            {operation = "write", path = "/etc/llmspell-should-not-exist", input = "x"})
        return {ok, r.text, r.metadata.response.success}
    """)
    assert run.value[0] is True
    assert run.value[1].startswith("Operation 'write' failed: Security violation")
    assert run.value[2] is False
    assert not Path("/etc/llmspell-should-not-exist").exists()


def test_disabled_by_config(tmp_path):
    with pytest.raises(ToolError, match="file_operations is disabled"):
        service(tmp_path, enabled=False).invoke("file_operations", {
            "operation": "exists", "path": str(tmp_path)})


def test_allowed_paths_from_environment(tmp_path):
    settings = from_dict({}, environ={"LLMSPELL_TOOLS_ALLOWED_PATHS": str(tmp_path)})
    svc = ToolService(settings)
    assert svc.context.guard.roots == [os.path.realpath(tmp_path)]
