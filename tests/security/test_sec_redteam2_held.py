"""Red team 2: objects that pile up outside the Lua heap have a per-run byte budget.

120 workflows or agents each carrying 5 MB of input held ~600 MB (the Lua heap held the
one 5 MB string; each Python-side copy did not count). Now workflow instances and agents
count what they keep (256 MiB each) and the call past it fails with a Lua error naming
the function and the limit.
"""

from __future__ import annotations

from pathlib import Path

from tools_helpers import run_cli

WORKFLOWS = """
    local big = string.rep("w", 5 * 1024 * 1024)
    local made = 0
    local ok, err = pcall(function()
      for i = 1, 120 do
        Workflow.sequential({name = "w" .. i, steps = {
          {name = "s", type = "tool", tool = "text_manipulator",
           input = {operation = "uppercase", input = big}}}})
        made = i
      end
    end)
    print(made, ok, err)
"""

AGENTS = """
    local big = string.rep("a", 5 * 1024 * 1024)
    local made = 0
    local ok, err = pcall(function()
      for i = 1, 120 do
        Agent.builder():name("a" .. i):model("openai/m"):system_prompt(big):build()
        made = i
      end
    end)
    print(made, ok, err)
"""


def _check(done, fn: str) -> None:
    out = done.stdout + done.stderr
    assert done.code == 0, out
    made = int(done.stdout.split("\t")[0])
    assert 10 < made < 120, out
    assert "\tfalse\t" in done.stdout and fn in out and "limit" in out, out
    assert done.max_rss_mb < 500, done.max_rss_mb


def test_workflows_carrying_big_inputs_hit_the_run_budget(tmp_path: Path) -> None:
    _check(run_cli(WORKFLOWS, tmp_path, "--timeout", "60"), "Workflow.sequential")


def test_agents_carrying_big_configs_hit_the_run_budget(tmp_path: Path) -> None:
    _check(run_cli(AGENTS, tmp_path, "--timeout", "60", env={"OPENAI_API_KEY": "sk-x"}),
           "AgentBuilder:build")


def test_removed_workflows_give_their_bytes_back(tmp_path: Path) -> None:
    script = """
        local big = string.rep("w", 5 * 1024 * 1024)
        for i = 1, 120 do
          local wf = Workflow.sequential({name = "w" .. i, steps = {
            {name = "s", type = "tool", tool = "text_manipulator",
             input = {operation = "uppercase", input = big}}}})
          Workflow.remove(wf:get_info().id)
        end
        print("done")
    """
    done = run_cli(script, tmp_path, "--timeout", "60")
    assert done.stdout.startswith("done"), done.stdout + done.stderr
