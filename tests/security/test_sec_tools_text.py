"""text_manipulator: small inputs cannot ask for huge results."""

from __future__ import annotations

from tools_helpers import run_cli


def test_amplifying_text_operations_are_refused(tmp_path):
    done = run_cli("""
        local x = string.rep("a", 20000)
        local calls = {
            {input = x, operation = "replace", options = {from = "", to = string.rep("b", 20000)}},
            {input = x, operation = "replace", options = {from = "a", to = string.rep("c", 20000)}},
            {input = string.rep("l\\n", 1000), operation = "indent",
             options = {spaces = 1000000}},
        }
        for _, params in ipairs(calls) do
            local ok, err = pcall(Tool.invoke, "text_manipulator", params)
            print(ok, err)
        end
    """, tmp_path)
    lines = [x for x in done.stdout.splitlines() if x.startswith(("true", "false"))]
    assert len(lines) == 3, done
    for line in lines:
        assert line.startswith("false") and "limit" in line, line
    assert done.max_rss_mb < 250, done.max_rss_mb
