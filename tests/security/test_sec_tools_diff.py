"""diff_calculator: difflib's worst cases are stopped by the time limit."""

from __future__ import annotations

from tools_helpers import run_cli, stopped


def test_slow_text_diff_is_stopped_by_the_time_limit(tmp_path):
    done = run_cli("""
        local a, b = {}, {}
        for i = 1, 4000 do
            a[i] = string.format("line %d alpha %d beta", i, i * 7919 % 1000)
            b[i] = string.format("row %d gamma %d delta", i, i * 104729 % 1000)
        end
        local ok, err = pcall(Tool.invoke, "diff_calculator", {type = "text",
            old_text = table.concat(a, "\\n"), new_text = table.concat(b, "\\n"),
            format = "inline"})
        print("after", ok)
    """, tmp_path, "--timeout", "2", timeout=60)
    stopped(done)
