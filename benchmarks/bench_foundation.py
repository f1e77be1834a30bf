"""Foundation benchmarks: cold start and JSON round trips, each against a floor.

    python benchmarks/bench_foundation.py

Cold start: `llmspell run cookbook/hello.lua` against the floor
`python -c "import lupa.luajit21 as l; l.LuaRuntime()"`, median of N runs, same machine,
same moment. JSON: `JSON.parse(JSON.stringify(t))` of a small table in a Lua loop against
Python's own `json.loads(json.dumps(d))` of the same data.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def median_ms(cmd: list[str], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=ROOT)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cold_start() -> None:
    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent)) or "llmspell"
    script = ROOT / "cookbook" / "hello.lua"
    if not script.exists():
        script = ROOT / "benchmarks" / "_hello.lua"
        script.write_text("print('hello')\n")
    # pip byte-compiles an installed package; do the same for an editable checkout (and
    # whatever PYTHONDONTWRITEBYTECODE says) so the cold start is not paying for compile().
    import compileall

    compileall.compile_dir(str(ROOT / "llmspell"), quiet=1)
    floor_cmd = [sys.executable, "-c", "import lupa.luajit21 as l; l.LuaRuntime()"]
    median_ms(floor_cmd, 3)  # warm the page cache
    median_ms([exe, "run", str(script)], 3)
    floor = median_ms(floor_cmd)
    ours = median_ms([exe, "run", str(script)])
    print(f"cold start: llmspell run {script.name}: {ours:.1f} ms median of {RUNS}; "
          f"floor (python + lupa LuaRuntime): {floor:.1f} ms; ratio {ours / floor:.2f}x "
          f"(target <= 4x)")


def json_round_trip() -> None:
    from llmspell import config
    from llmspell.lua.runtime import Output, Runtime

    n = 20000
    data = {"name": "alice", "age": 30, "tags": ["a", "b"], "active": True,
            "nested": {"x": 1.5}}
    start = time.perf_counter()
    for _ in range(n):
        json.loads(json.dumps(data, sort_keys=True, separators=(",", ":")))
    floor_us = (time.perf_counter() - start) / n * 1e6

    import io

    rt = Runtime(config.from_dict({}, environ={}), output=Output(stream=io.BytesIO()))
    code = f"""
        local t = {{name = "alice", age = 30, tags = {{"a", "b"}}, active = true,
                   nested = {{x = 1.5}}}}
        local stringify, parse = JSON.stringify, JSON.parse
        local clock = os.clock
        local start = clock()
        for i = 1, {n} do parse(stringify(t)) end
        return (clock() - start) / {n} * 1e6
    """
    ours_us = rt.run_source(code.encode(), "bench.lua")
    rt.close()
    print(f"JSON round trip of a small table: {ours_us:.2f} us per op in Lua; "
          f"floor (Python json.loads(json.dumps(d))): {floor_us:.2f} us; "
          f"ratio {ours_us / floor_us:.2f}x (target <= 2x)")


if __name__ == "__main__":
    cold_start()
    json_round_trip()
