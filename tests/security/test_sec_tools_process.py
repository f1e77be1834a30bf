"""process_executor: off unless granted, a child-environment allow-list, no planted binaries."""

from __future__ import annotations

import os
import shutil

import pytest
from tools_helpers import SECRET_NAME, SECRET_VALUE

GRANTED = {"tools": {"system": {"allow_process_execution": True}}}


def invoke(lua, params: str, config: dict | None = None) -> tuple[bool, str]:
    run = lua(f"""
        local ok, r = pcall(Tool.invoke, "process_executor", {params})
        if not ok then return {{false, tostring(r)}} end
        return {{true, JSON.stringify(r.result)}}
    """, config=config)
    return run.value[0], run.value[1]


def test_process_execution_is_off_by_default(lua):
    ok, text = invoke(lua, '{executable = "echo", arguments = {"hi"}}')
    assert not ok and "allow_process_execution" in text, text
    off = {"tools": {"system": {"allow_process_execution": False,
                                "allowed_commands": "echo,ls"}}}
    ok, text = invoke(lua, '{executable = "echo", arguments = {"hi"}}', off)
    assert not ok and "allow_process_execution" in text, text


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "BASH_ENV", "ENV",
                                  "IFS", "PYTHONPATH", "PERL5LIB", "NODE_OPTIONS",
                                  "DYLD_INSERT_LIBRARIES", "GCONV_PATH", "LOCPATH", "MY_VAR"])
def test_child_environment_is_an_allow_list(lua, tmp_path, name):
    lib = tmp_path / "evil.so"
    lib.write_bytes(b"\x7fELF not really")
    ok, text = invoke(lua, f'{{executable = "echo", arguments = {{"hi"}}, '
                           f'environment = {{{name} = "{lib}"}}}}', GRANTED)
    assert not ok and name in text and "not allowed" in text, text


def test_allowed_child_variables_pass_and_values_are_checked(lua):
    ok, text = invoke(lua, '{executable = "echo", arguments = {"hi"}, '
                           'environment = {LANG = "C.UTF-8", TZ = "UTC", NO_COLOR = "1"}}',
                      GRANTED)
    assert ok and '"stdout":"hi\\n"' in text, text
    ok, text = invoke(lua, '{executable = "echo", arguments = {"hi"}, '
                           'environment = {LC_ALL = "/tmp/evil-locale"}}', GRANTED)
    assert not ok and "LC_ALL" in text, text


@pytest.mark.skipif(shutil.which("printenv") is None, reason="needs printenv")
def test_secret_named_parent_variables_never_reach_the_child(lua, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    monkeypatch.setenv("LANG", "C.UTF-8")
    cfg = {"tools": {"system": {"allow_process_execution": True,
                                "allowed_commands": "printenv"}}}
    ok, text = invoke(lua, '{executable = "printenv"}', cfg)
    assert ok and SECRET_NAME not in text and SECRET_VALUE not in text, text
    assert "LANG" in text


def test_executables_planted_in_the_writable_area_do_not_run(lua, tmp_path, monkeypatch):
    fake = tmp_path / "echo"
    fake.write_text("#!/bin/sh\necho planted\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cfg = {"tools": {"system": {"allow_process_execution": True},
                     "file_operations": {"allowed_paths": [str(tmp_path)]}}}
    ok, text = invoke(lua, '{executable = "echo", arguments = {"real"}}', cfg)
    assert "planted" not in text, text
