"""Rights come from the user, not the script: a config a script could write grants nothing.

Run 1 writes a config granting itself everything where discovery would find it; run 2
must start with the same rights as run 1 (issue 10, class 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lua_text import lua_fmt

from llmspell import config

GRANTS = """
[runtime]
module_paths = ["/"]
script_timeout_seconds = 100000
[runtime.security]
allow_file_access = true
allow_process_spawn = true
allowed_paths = ["*"]
max_memory_bytes = 0
max_execution_time_ms = 100000000
[tools.file_operations]
allowed_paths = ["*"]
[tools.system]
allow_process_execution = true
allowed_commands = "sh,bash,cat,curl"
[tools.database]
allow_ddl = true
allow_dml = true
[tools.network]
allow_private_addresses = true
"""

WRITE_CONFIG = """
local path = ARGS[1]
local r = Tool.invoke("file_operations", {{operation = "write", path = path,
                                          input = [==[{grants}]==]}})
print("wrote", path)
"""

PROBE = """
local spawn_ok = pcall(io.popen, "echo pwned")
local open_ok = pcall(io.open, "/etc/passwd")
local tool_ok = pcall(Tool.invoke, "file_operations", {operation = "read", path = "/etc/passwd"})
print("spawn", spawn_ok, "open", open_ok, "tool", tool_ok,
      "file_access", Config.isFileAccessAllowed())
"""


def _two_runs(cli, tmp_path: Path, target: Path) -> tuple[str, str]:
    (tmp_path / "w.lua").write_text(WRITE_CONFIG.format(grants=GRANTS))
    (tmp_path / "p.lua").write_text(PROBE)
    first = cli("run", "w.lua", "--", str(target))
    assert first.returncode == 0, first.stderr
    second = cli("run", "p.lua")
    assert second.returncode == 0, second.stderr
    return second.stdout, second.stderr


@pytest.mark.parametrize("name", ["llmspell.toml", ".llmspell.toml", "config/llmspell.toml",
                                  ".config/llmspell.toml"])
def test_a_config_written_into_the_cwd_grants_nothing(cli, tmp_path: Path, name: str) -> None:
    if "/" in name:
        (tmp_path / name).parent.mkdir()
    target = tmp_path / name
    # run 1 writes it through the file tool (whose default root holds the temp dir)
    stdout, stderr = _two_runs(cli, tmp_path, target)
    if not target.exists():  # the tools refused to write it: nothing to escalate with
        return
    assert "spawn\tfalse\topen\tfalse\ttool\tfalse\tfile_access\tfalse" in stdout
    assert "runtime.security.allow_process_spawn" in stderr
    assert "-c" in stderr  # the warning says how to grant it


def test_a_config_written_into_the_users_config_dir_is_refused(cli, tmp_path: Path,
                                                              isolated_home: Path) -> None:
    # The user's XDG dir may lie under the temp dir (it does here and in CI sandboxes).
    xdg = isolated_home / "xdg_config_home" / "llmspell"
    xdg.mkdir(parents=True, exist_ok=True)
    target = xdg / "config.toml"
    stdout, _ = _two_runs(cli, tmp_path, target)
    assert not target.exists()
    assert "spawn\tfalse\topen\tfalse\ttool\tfalse" in stdout


def test_a_script_with_file_access_cannot_write_the_users_config(lua, isolated_home: Path
                                                                 ) -> None:
    target = isolated_home / ".llmspell" / "config.toml"
    target.parent.mkdir()
    run = lua(lua_fmt("""
      local ok, err = pcall(io.open, "${target}", "w")
      local ok2, err2 = pcall(os.rename, "${isolated_home}/x", "${target}")
      local ok3 = pcall(io.open, "${isolated_home}/.llmspell.toml", "w")
      return {ok, tostring(err), ok2, ok3}
    """, target=target, isolated_home=isolated_home),
              config={"runtime": {"security": {"allow_file_access": True,
                                               "allowed_paths": [str(isolated_home)]}}})
    ok, err, ok2, ok3 = run.value
    assert ok is False and "config" in err
    assert ok2 is False and ok3 is False
    assert not target.exists()


# -- the loader's rules -------------------------------------------------------------------

def test_discovered_cwd_config_keeps_ordinary_settings(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "llmspell.toml").write_text(GRANTS + "\n[events]\nbuffer_size = 7\n"
                                            "[rag]\nenabled = true\n")
    monkeypatch.chdir(tmp_path)
    settings = config.load()
    assert settings.source == tmp_path / "llmspell.toml"
    assert settings.get("events.buffer_size") == 7 and settings.get("rag.enabled") is True
    assert settings.get("runtime.security.allow_file_access") is False
    assert settings.get("runtime.security.allow_process_spawn") is False
    assert settings.get("runtime.security.allowed_paths") == []
    assert settings.get("runtime.security.max_memory_bytes") == 50_000_000
    assert settings.get("runtime.module_paths") == []
    assert settings.get("tools.file_operations.allowed_paths") == ["/tmp"]
    assert settings.get("tools.system.allow_process_execution") is False
    assert settings.get("tools.system.allowed_commands") == "ls,cat,echo,pwd"
    assert not settings.get("tools.database.allow_ddl")
    assert not settings.get("tools.network.allow_private_addresses")
    warning = "\n".join(settings.warnings)
    assert "runtime.security.allow_file_access" in warning and "LLMSPELL_CONFIG" in warning


def test_discovered_cwd_config_may_lower_rights(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "llmspell.toml").write_text(
        "[runtime.security]\nmax_memory_bytes = 20000000\nallow_network_access = false\n"
        "max_execution_time_ms = 500\n")
    monkeypatch.chdir(tmp_path)
    settings = config.load()
    assert settings.get("runtime.security.max_memory_bytes") == 20_000_000
    assert settings.get("runtime.security.allow_network_access") is False
    assert settings.get("runtime.security.max_execution_time_ms") == 500
    assert not any("ignored" in w and "rights" in w for w in settings.warnings)


def test_explicit_and_user_configs_grant_rights(tmp_path: Path, isolated_home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GRANTS)
    monkeypatch.chdir(tmp_path)
    assert config.load(path).get("runtime.security.allow_process_spawn") is True
    monkeypatch.setenv("LLMSPELL_CONFIG", str(path))
    assert config.load().get("runtime.security.allow_process_spawn") is True
    monkeypatch.delenv("LLMSPELL_CONFIG")
    xdg = isolated_home / "xdg_config_home" / "llmspell"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text(GRANTS)
    assert config.load().get("tools.system.allow_process_execution") is True


def test_env_vars_still_grant_rights_over_a_cwd_config(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "llmspell.toml").write_text("[events]\nbuffer_size = 7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMSPELL_ALLOW_FILE_ACCESS", "true")
    assert config.load().get("runtime.security.allow_file_access") is True


def test_a_script_cannot_rewrite_the_config_named_with_c(cli, tmp_path: Path) -> None:
    # the -c file lies in the temp dir, inside both the tools' and Lua's allowed roots
    target = tmp_path / "mine.toml"
    target.write_text("[runtime.security]\nallow_file_access = true\n")
    (tmp_path / "s.lua").write_text(lua_fmt("""
      local grant = "[runtime.security]\\nallow_process_spawn = true\\n"
      local ok, r = pcall(Tool.invoke, "file_operations",
                          {operation = "write", path = "${target}", input = grant})
      local l = pcall(io.open, "${target}", "w")
      print("tool", ok and not tostring(r.text):find("config location"), "lua", l)
    """, target=target))
    proc = cli("-c", "mine.toml", "run", "s.lua")
    assert proc.returncode == 0, proc.stderr
    assert "tool\tfalse\tlua\tfalse" in proc.stdout
    assert "allow_process_spawn" not in target.read_text()


def test_a_folder_moved_over_the_users_config_dir_is_refused(lua, tmp_path: Path,
                                                            isolated_home: Path) -> None:
    xdg = isolated_home / "xdg_config_home"  # not created yet, and under the temp dir
    assert not xdg.exists()
    evil = tmp_path / "evil"
    run = lua(lua_fmt("""
      local grant = "[runtime.security]\\nallow_process_spawn = true\\n"
      Tool.invoke("file_operations", {operation = "write",
        path = "${evil}/llmspell/config.toml", input = grant})
      local out = {}
      for _, op in ipairs({"copy", "move"}) do
        local ok, r = pcall(Tool.invoke, "file_operations", {operation = op,
          source_path = "${evil}", target_path = "${xdg}"})
        out[#out + 1] = tostring(ok and r.text)
      end
      return out
    """, evil=evil, xdg=xdg))
    assert not (xdg / "llmspell" / "config.toml").exists(), run.value
    assert config.load().get("runtime.security.allow_process_spawn") is False
