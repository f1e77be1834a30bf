"""Red team: every way a script reads a file goes through the same guard as ``io.open``.

With ``allow_file_access`` granted, ``io.open`` refuses the config given with ``-c`` (it
holds the user's keys) and the user's config folders; ``Artifact.store_file`` read the
file itself and handed its content back through ``Artifact.get``.
"""

from __future__ import annotations

from pathlib import Path

from tools_helpers import run_cli

KEY = "sk-redteam-cfg-9d2e4f61a7"


def test_artifact_store_file_refuses_the_run_config(tmp_path: Path) -> None:
    config = ("[runtime.security]\nallow_file_access = true\n"
              "[runtime.sessions]\nenabled = true\n"
              f'[providers.openai]\napi_key = "{KEY}"\n')
    script = f"""
        local sid = Session.create({{name = "x"}})
        local ok, id = pcall(Artifact.store_file, sid, "{tmp_path / 'attack.toml'}",
                             "user_input", {{}})
        if ok then
          local a = Artifact.get(sid, id)
          print("read", (a.content:gsub(".", function(c) return c .. " " end)))
        else
          print("refused", id)
        end
    """
    done = run_cli(script, tmp_path, config=config)
    assert done.code == 0, done.stderr
    assert KEY not in done.stdout.replace(" ", ""), done.stdout
    assert done.stdout.startswith("refused") and "config location" in done.stdout, done.stdout


def test_artifact_store_file_still_reads_allowed_files(tmp_path: Path) -> None:
    config = ("[runtime.security]\nallow_file_access = true\n"
              "[runtime.sessions]\nenabled = true\n")
    (tmp_path / "notes.txt").write_text("hello notes")
    script = f"""
        local sid = Session.create({{name = "x"}})
        local id = Artifact.store_file(sid, "{tmp_path / 'notes.txt'}", "user_input", {{}})
        print(Artifact.get(sid, id).content)
    """
    done = run_cli(script, tmp_path, config=config)
    assert done.stdout.startswith("hello notes"), done.stdout + done.stderr


STAR = ('[runtime.security]\nallow_file_access = true\nallowed_paths = ["*"]\n'
        '[tools.file_operations]\nallowed_paths = ["*"]\n')
PROC_SECRET = "tok-redteam-proc-3e9a7c15"


def test_all_paths_still_hide_the_process_environment(tmp_path: Path) -> None:
    """``allowed_paths = ["*"]`` grants the user's files, not the secrets that ``os.getenv``
    hides: /proc/<pid>/environ (ours or another process's) and /proc/<pid>/mem hold them,
    raw for Lua's io and, base64-encoded, past the tools' secret filter."""
    script = """
        for _, p in ipairs({"/proc/self/environ", "/proc/" .. "self/mem",
                            "/proc/thread-self/environ"}) do
          local ok, f = pcall(io.open, p)
          print("io", p, ok and (f and "opened" or "nil") or "refused: " .. tostring(f))
        end
        local ok, r = pcall(Tool.invoke, "base64_encoder",
                            {operation = "encode", input_file = "/proc/self/environ"})
        print("tool", ok and JSON.stringify(r) or "refused: " .. tostring(r))
    """
    done = run_cli(script, tmp_path, config=STAR, env={"MY_SERVICE_TOKEN": PROC_SECRET})
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len([x for x in lines if "refused" in x]) == 4, done.stdout
    assert "opened" not in done.stdout, done.stdout


def test_all_paths_still_read_ordinary_proc_files(tmp_path: Path) -> None:
    done = run_cli('print(io.open("/proc/cpuinfo") ~= nil)', tmp_path, config=STAR)
    assert done.stdout.startswith("true"), done.stdout + done.stderr
