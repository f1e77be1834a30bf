"""Red team 2: nested parallel workflows must not multiply threads.

The limit of 64 worker threads applied per parallel run, so nesting multiplied it (three
levels of 64: ~262k threads). The cap is now per script run: a nested parallel run that
finds no free slot runs its branches in the thread it already has, so it still finishes
(no deadlock, three levels deep).
"""

from __future__ import annotations

import threading
import time

from lua_text import lua_fmt

STEP = 'type = "custom", ["function"] = '


def _peak_threads(fn) -> tuple[object, int]:
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            workers = sum(t.name == "llmspell-workflow" for t in threading.enumerate())
            peak[0] = max(peak[0], workers)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        value = fn()
    finally:
        done.set()
        sampler.join()
    return value, peak[0]


def test_three_levels_of_parallel_stay_under_the_run_cap_and_finish(lua) -> None:
    code = lua_fmt("""
      local function leaf(i)
        local s = 0
        for k = 1, 20000 do s = s + k end
        return i.n + 1
      end
      local function level(width, make)
        local steps = {}
        for b = 1, width do steps[b] = make(b) end
        return Workflow.parallel({name = "p" .. width, steps = steps})
      end
      local inner = level(20, function(b)
        return {name = "l" .. b, ${STEP} leaf} end)
      local middle = level(8, function(b)
        return {name = "m" .. b, type = "workflow", workflow = inner} end)
      local outer = level(8, function(b)
        return {name = "o" .. b, type = "workflow", workflow = middle} end)
      local r = outer:execute({n = 1})
      local leaves = 0
      for _, m in pairs(r.output) do
        for _, l in pairs(m) do
          for _, v in pairs(l) do if v == 2 then leaves = leaves + 1 end end
        end
      end
      return {success = r.success, leaves = leaves}
    """, STEP=STEP)
    run, peak = _peak_threads(lambda: lua(code, timeout=60))
    assert run.value == {"success": True, "leaves": 8 * 8 * 20}
    assert peak <= 64, peak  # old code: 8 + 64 + 1280 worker threads


def test_sibling_parallel_runs_reuse_the_slots(lua) -> None:
    """Slots come back when a run ends: many parallel runs one after another all work."""
    run = lua(lua_fmt("""
      local wf = Workflow.parallel({name = "p", steps = {
        {name = "a", ${STEP} function() return 1 end},
        {name = "b", ${STEP} function() return 2 end}}})
      local total = 0
      for _ = 1, 100 do
        local r = wf:execute({})
        total = total + r.output.a + r.output.b
      end
      return total
    """, STEP=STEP))
    assert run.value == 300
