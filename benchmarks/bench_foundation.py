"""Foundation benchmarks: cold start and JSON round trips, each against a floor.

    python benchmarks/bench_foundation.py

Cold start: `llmspell run cookbook/hello.lua` against the floor
`python -c "import lupa.luajit21 as l; l.LuaRuntime()"`, median of N runs, same machine,
same moment, both from a temp venv with a regular `pip install .` (BENCH_EDITABLE=1: the
editable .venv instead, whose import finder adds ~15 ms to every start); wall and CPU
time are both reported. JSON: `JSON.parse(JSON.stringify(t))` of a small table in a Lua loop against
Python's own `json.loads(json.dumps(d))` of the same data.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def timed(cmd: list[str], runs: int = RUNS) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system of the child) in ms. The CPU
    time moves less when other work shares the machine."""
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=ROOT)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                    * 1000)
    return statistics.median(walls), statistics.median(cpus)


def regular_install(where: Path) -> Path | None:
    """A venv in ``where`` with ``pip install .`` (a regular, non-editable install, as a
    user gets: an editable install's import finder adds ~15 ms to every start). pip uses
    its configured indexes and cache; None, with one line saying why, when it cannot."""
    venv = where / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--no-input", "--disable-pip-version-check", str(ROOT)],
                       check=True, capture_output=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        last = detail.decode("utf-8", "replace").strip().splitlines()[-1:] or [str(exc)]
        print(f"cold start (regular install): skipped, `pip install .` into a temp venv "
              f"failed: {last[0][:200]}")
        return None
    return venv


def cold_start() -> None:
    script = ROOT / "cookbook" / "hello.lua"
    if not script.exists():
        script = ROOT / "benchmarks" / "_hello.lua"
        script.write_text("print('hello')\n")
    with tempfile.TemporaryDirectory(prefix="llmspell-bench-") as tmp:
        venv = None if os.environ.get("BENCH_EDITABLE") else regular_install(Path(tmp))
        if venv is not None:
            python, exe, kind = venv / "bin" / "python", venv / "bin" / "llmspell", "regular"
        else:
            # pip byte-compiles an installed package; do the same for an editable checkout
            # so the cold start is not paying for compile().
            import compileall

            compileall.compile_dir(str(ROOT / "llmspell"), quiet=1)
            python = Path(sys.executable)
            exe = Path(shutil.which("llmspell", path=str(python.parent)) or "llmspell")
            kind = "editable (adds ~15 ms to every start)"
        floor_cmd = [str(python), "-c", "import lupa.luajit21 as l; l.LuaRuntime()"]
        ours_cmd = [str(exe), "run", str(script)]
        timed(floor_cmd, 3)  # warm the page cache
        timed(ours_cmd, 3)
        floor, floor_cpu = timed(floor_cmd)
        ours, ours_cpu = timed(ours_cmd)
    print(f"cold start ({kind} install): llmspell run {script.name}: {ours:.1f} ms "
          f"median of {RUNS} (CPU {ours_cpu:.1f} ms); floor (python + lupa LuaRuntime): "
          f"{floor:.1f} ms (CPU {floor_cpu:.1f} ms); ratio {ours / floor:.2f}x "
          f"(CPU {ours_cpu / floor_cpu:.2f}x) (target <= 4x)")


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
