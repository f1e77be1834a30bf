"""Workflow, Event and Hook overheads, each with a floor measured in the same run.

    step overhead  = (wf:execute() of N empty Lua-function steps - the same N calls made
                      in a plain Lua loop) / N                        target <= 50 us
    event          = Event.publish + Event.receive from Lua, per event  target <= 20 us
    hook dispatch  = (HookRegistry.run with K Lua hooks - with none) / K  target <= 5 us

Floors: one Python->Lua call of the same function (what a step cannot avoid), two
Lua->Python calls of a no-op adapter function (what publish+receive cannot avoid), one
Python->Lua call (what a Lua hook cannot avoid). Ratio = figure / floor.
Also shown: the same 4 agent steps (the fake server holds replies back 200 ms) run sequentially and
in parallel, to show parallel branches overlapping on I/O.
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
    registry = rt.services.hooks
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

    overlap = parallel_overlap()

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
    if overlap is not None:
        seq_s, par_s, n, delay = overlap
        label = f"I/O overlap: {n} agent steps, {delay * 1000:.0f} ms each"
        print(f"{label:42s} "
              f"sequential {seq_s * 1000:7.1f} ms   parallel {par_s * 1000:7.1f} ms   "
              f"speed-up {seq_s / par_s:4.1f}x (ideal {n}x)")
    return 1 if failed else 0


def parallel_overlap() -> tuple[float, float, int, float] | None:
    """The same agent steps against the loopback fake LLM server (each reply held back ``delay``),
    run by a sequential and by a parallel workflow: parallel branches overlap on I/O."""
    import subprocess
    from pathlib import Path

    server = Path(__file__).resolve().parent.parent / "tests" / "fakellm.py"
    n, delay, key = 4, 0.2, "test-key-openai"  # the key the fake server demands
    proc = subprocess.Popen([sys.executable, str(server), "--delay", str(delay),
                             "--max-seconds", "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            os.environ.pop(var, None)
        os.environ.update(OPENAI_API_KEY=key, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
                          NO_PROXY="127.0.0.1")
        from llmspell import config
        from llmspell.lua.runtime import Output, Runtime

        rt = Runtime(config.from_dict({}, environ={}),
                     output=Output(stream=open(os.devnull, "wb")))
        seq, par = rt.lua.execute(f"""
          local steps = {{}}
          for i = 1, {n} do
            Agent.builder():name("a" .. i):model("openai/gpt-4o-mini"):build()
            steps[i] = {{name = "s" .. i, type = "agent", agent = "a" .. i, input = "q" .. i}}
          end
          local s = Workflow.sequential({{name = "seq", steps = steps}})
          local p = Workflow.parallel({{name = "par", steps = steps}})
          return function() return s:execute({{}}) end, function() return p:execute({{}}) end
        """.encode())
        seq()  # warm-up: connections, imports
        t0 = time.perf_counter()
        seq()
        t1 = time.perf_counter()
        par()
        t2 = time.perf_counter()
        rt.close()
        return t1 - t0, t2 - t1, n, delay
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
