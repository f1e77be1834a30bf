"""Workflow, Event and Hook overheads, each with a floor measured in the same run.

    step overhead  = (wf:execute() of N empty Lua-function steps - the same N calls made
                      in a plain Lua loop) / N                        target <= 50 us
    event          = Event.publish + Event.receive from Lua, per event  target <= 20 us
    hook dispatch  = (HookRegistry.run with K Lua hooks - with none) / K  target <= 5 us

Floors: one Python->Lua call of the same function (what a step cannot avoid), two
Lua->Python calls of a no-op adapter function (what publish+receive cannot avoid), one
Python->Lua call (what a Lua hook cannot avoid). Ratio = figure / floor.
Run: .venv/bin/python benchmarks/bench_workflows.py [ROUNDS]
"""

from __future__ import annotations

import os
import sys
import time

TARGETS = {"step": 50.0, "event": 20.0, "hook": 5.0}


def best(fn, rounds: int) -> float:
    """Fastest of ``rounds`` runs of ``fn()`` in seconds (after a warm-up): the least
    disturbed by other processes, as timeit recommends."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return min(samples)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    from llmspell import config
    from llmspell.hooks import registry_for
    from llmspell.lua.runtime import Output, Runtime

    rt = Runtime(config.from_dict({}, environ={}), output=Output(stream=open(os.devnull, "wb")))
    steps = 200
    lua = rt.lua

    # -- workflow step overhead ----------------------------------------------------
    run_wf, run_loop, fn = lua.execute(f"""
      local function id(x) return x end
      local steps = {{}}
      for i = 1, {steps} do
        steps[i] = {{name = "s" .. i, type = "custom", ["function"] = id}}
      end
      local wf = Workflow.sequential({{name = "bench", steps = steps}})
      return function() return wf:execute({{}}) end,
             function() local v = {{}} for i = 1, {steps} do v = id(v) end return v end,
             id
    """.encode())
    t_wf = best(run_wf, rounds)
    t_loop = best(run_loop, rounds)
    step_us = (t_wf - t_loop) / steps * 1e6
    arg = {"a": 1}

    def floor_call() -> None:
        for _ in range(steps):
            rt.call(fn, arg)

    step_floor = best(floor_call, rounds) / steps * 1e6

    # -- event publish -> receive ------------------------------------------------------
    events = 500
    run_events = lua.execute(f"""
      local sid = Event.subscribe("bench.*")
      local publish, receive = Event.publish, Event.receive
      local data = {{i = 1, name = "x"}}
      return function()
        for i = 1, {events} do
          publish("bench.tick", data)
          local e = receive(sid, 0)
        end
      end
    """.encode())
    noop = rt.function(lambda *a: None, "noop")
    run_noop = lua.execute(
        f"return function(f) local data = {{i = 1, name = 'x'}} "
        f"for i = 1, {events} do f('bench.tick', data); f('sid', 0) end end".encode())
    event_us = best(run_events, rounds) / events * 1e6
    event_floor = best(lambda: run_noop(noop), rounds) / events * 1e6

    # -- hook dispatch -------------------------------------------------------------------
    hooks = 10
    lua.execute(f"""
      for i = 1, {hooks} do
        Hook.register("BeforeToolExecution", function(ctx) return nil end)
      end
    """.encode())
    registry = registry_for(rt.services)
    data = {"tool_name": "calculator", "parameters": {"input": "1+1"}}
    calls = 300

    def dispatch() -> None:
        for _ in range(calls):
            registry.run("BeforeToolExecution", data, component=("tool", "calculator"))

    def dispatch_none() -> None:
        for _ in range(calls):
            registry.run("AfterToolExecution", data, component=("tool", "calculator"))

    hook_fn = lua.execute(b"return function(ctx) return nil end")
    ctx_table = rt.table({"point": "x"})

    def floor_hook() -> None:
        for _ in range(calls):
            hook_fn(ctx_table)

    t_with = best(dispatch, rounds) / calls
    t_none = best(dispatch_none, rounds) / calls
    hook_us = (t_with - t_none) / hooks * 1e6
    hook_floor = best(floor_hook, rounds) / calls * 1e6

    # Python hooks, for comparison (no Lua crossing)
    registry.register("AfterToolExecution", lambda ctx: None)
    py_hook_us = (best(dispatch_none, rounds) / calls - t_none) * 1e6
    rt.close()

    rows = [("workflow step overhead (empty Lua step)", step_us, step_floor, "step"),
            ("event publish -> receive (from Lua)", event_us, event_floor, "event"),
            ("hook dispatch per registered Lua hook", hook_us, hook_floor, "hook")]
    failed = False
    for label, value, floor, key in rows:
        ok = value <= TARGETS[key]
        failed |= not ok
        print(f"{label:42s} {value:8.2f} us   floor {floor:6.2f} us   ratio "
              f"{value / floor if floor else float('inf'):5.1f}x   target <= {TARGETS[key]:.0f} us"
              f"  {'ok' if ok else 'MISSED'}")
    print(f"{'hook dispatch per Python hook':42s} {py_hook_us:8.2f} us")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
