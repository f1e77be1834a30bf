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
