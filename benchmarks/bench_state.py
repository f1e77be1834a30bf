"""State and artifact benchmarks, each against a floor measured in the same run.

    python benchmarks/bench_state.py

1. State.save + State.load of a small table, 10,000 times from a Lua loop, memory
   backend, each load reading the key just saved; floor: the same data through a Python
   dict with JSON encode/decode (json.dumps on save, json.loads on load).
2. The same loop on the SQLite backend (WAL, one transaction per save), a file in a
   temp dir. Target: <= 150 us per save+load (upstream claims < 1 ms per state op).
3. A mixed workload (see "the mixed workload" below), memory and SQLite, against its own
   floor. 1 and 3 run with both of the converter's State fast paths (saves written as
   JSON in Lua; loads answered from a memo of Lua tables keyed by JSON text, see
   lua/convert.py), without the memo, and without either, in turn in the same run, so
   the figures say whether each pays its weight.
4. Artifact.store of 1 KB (distinct content each time, so each call hashes, writes the
   blob and the row in one transaction), 2,000 times, memory and SQLite. Target: <= 300 us.

Times are CPU time of this process (time.process_time, os.clock), on both sides.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_STATE = 10_000
N_ARTIFACTS = 2_000


def runtime(config: dict):  # type: ignore[no-untyped-def]
    from llmspell import config as config_mod
    from llmspell.lua.runtime import Output, Runtime

    return Runtime(config_mod.from_dict(config, environ={}), output=Output(stream=io.BytesIO()))


def floor_state_us() -> float:
    store: dict[str, str] = {}
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for i in range(1, N_STATE + 1):
            key = "bench:k" + str(i % 100)
            store[key] = json.dumps({"id": i, "name": "item", "tags": ["a", "b"]})
            json.loads(store[key])
        best = min(best, (time.process_time() - start) / N_STATE * 1e6)
    return best


STATE_LOOP = f"""
    local save, load = State.save, State.load
    local clock = os.clock
    local best = math.huge
    for round = 1, 3 do
        local start = clock()
        for i = 1, {N_STATE} do
            local key = "k" .. (i % 100)
            save("bench", key, {{id = i, name = "item", tags = {{"a", "b"}}}})
            local v = load("bench", key)
        end
        local took = (clock() - start) / {N_STATE} * 1e6
        if took < best then best = took end
    end
    return best
"""


def state_us(config: dict) -> float:
    rt = runtime(config)
    try:
        return float(rt.run_source(STATE_LOOP.encode(), "bench_state.lua"))
    finally:
        rt.close()


# -- the mixed workload ------------------------------------------------------------------
# What a script's state traffic looks like rather than one key saved and read back: keys
# spread over scopes (global, user:N, workflow:W:step, agent:A, tool:T), six value shapes
# (a number, a string, a small record, an array of 20 numbers, a list of 10 records, a
# nested record 4 levels deep), all saved once before the clock starts, then a seeded
# random mix: 50% loads of any key (mostly saved long before), 10% loads of the key just
# saved, 30% saves (a fresh value of the key's shape), 5% State.get, 5% State.set. Every
# value is built fresh where a script would build it; the floor does the same in Python
# with a dict and json.dumps/json.loads.

N_KEYS = 5_000
N_GLOBAL = 500
N_MIXED = 20_000
MIXED_SEED = 12

MIXED_SHAPES_LUA = """
local function shape(kind, i)
    if kind == 0 then return i * 1.5 end
    if kind == 1 then return "value number " .. i .. " of the mixed workload" end
    if kind == 2 then return {id = i, name = "item", tags = {"a", "b"}} end
    if kind == 3 then
        local t = {}
        for j = 1, 20 do t[j] = i + j end
        return t
    end
    if kind == 4 then
        local t = {}
        for j = 1, 10 do t[j] = {id = j, title = "entry", score = i / j, ok = j % 2 == 0} end
        return t
    end
    return {user = {id = i, name = "user" .. i, prefs = {theme = "dark", langs = {"en", "fr"},
            limits = {daily = 10, monthly = 300}}},
            history = {{step = 1, ok = true}, {step = 2, ok = false, err = "timeout"}},
            meta = {version = 3, created = 1700000000 + i}}
end
"""


def shape(kind: int, i: int) -> object:
    if kind == 0:
        return i * 1.5
    if kind == 1:
        return f"value number {i} of the mixed workload"
    if kind == 2:
        return {"id": i, "name": "item", "tags": ["a", "b"]}
    if kind == 3:
        return [i + j for j in range(1, 21)]
    if kind == 4:
        return [{"id": j, "title": "entry", "score": i / j, "ok": j % 2 == 0}
                for j in range(1, 11)]
    return {"user": {"id": i, "name": f"user{i}", "prefs": {
                "theme": "dark", "langs": ["en", "fr"], "limits": {"daily": 10, "monthly": 300}}},
            "history": [{"step": 1, "ok": True}, {"step": 2, "ok": False, "err": "timeout"}],
            "meta": {"version": 3, "created": 1700000000 + i}}


def mixed_keys() -> list[tuple[str, str]]:
    """(scope, key) of every key of the workload (the same list in Lua)."""
    out = []
    for j in range(N_KEYS):
        kind = j % 4
        if kind == 0:
            out.append((f"user:{j % 50}", f"k{j}"))
        elif kind == 1:
            out.append((f"workflow:wf{j % 20}", f"step{j}"))
        elif kind == 2:
            out.append((f"agent:a{j % 10}", f"mem{j}"))
        else:
            out.append((f"tool:t{j % 7}", f"r{j}"))
    return out


def mixed_ops() -> list[tuple[int, int]]:
    """(operation, key index) pairs: 0 load any, 1 load last saved, 2 save, 3 get, 4 set."""
    import random

    rng = random.Random(MIXED_SEED)
    ops = []
    for _ in range(N_MIXED):
        r = rng.random()
        if r < 0.5:
            ops.append((0, rng.randrange(N_KEYS)))
        elif r < 0.6:
            ops.append((1, 0))
        elif r < 0.9:
            ops.append((2, rng.randrange(N_KEYS)))
        elif r < 0.95:
            ops.append((3, rng.randrange(N_GLOBAL)))
        else:
            ops.append((4, rng.randrange(N_GLOBAL)))
    return ops


def floor_mixed_us() -> float:
    keys = [f"{s}:{k}" for s, k in mixed_keys()]
    ops = mixed_ops()
    store: dict[str, str] = {}
    for j, key in enumerate(keys):
        store[key] = json.dumps(shape(j % 6, j))
    for g in range(N_GLOBAL):
        store[f"global:g{g}"] = json.dumps(shape(g % 6, g))
    best = float("inf")
    for _ in range(3):
        last = keys[0]
        start = time.process_time()
        for i, (op, j) in enumerate(ops):
            if op == 0:
                json.loads(store[keys[j]])
            elif op == 1:
                json.loads(store[last])
            elif op == 2:
                last = keys[j]
                store[last] = json.dumps(shape(j % 6, i))
            elif op == 3:
                json.loads(store[f"global:g{j}"])
            else:
                store[f"global:g{j}"] = json.dumps(shape(j % 6, i))
        best = min(best, (time.process_time() - start) / N_MIXED * 1e6)
    return best


def lua_list(values: list) -> str:  # type: ignore[type-arg]
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def mixed_scripts() -> tuple[bytes, bytes]:
    """The set-up script (saves every key) and the timed one (the mix)."""
    keys = mixed_keys()
    ops = mixed_ops()
    setup = MIXED_SHAPES_LUA + f"""
        SCOPES = {lua_list([s for s, _ in keys])}
        KEYS = {lua_list([k for _, k in keys])}
        OPS = {lua_list([op for op, _ in ops])}
        ARGS = {lua_list([j + 1 for _, j in ops])}
        GKEYS = {{}}
        for g = 0, {N_GLOBAL - 1} do GKEYS[g + 1] = "g" .. g end
        SHAPE = shape
        for j = 1, #KEYS do State.save(SCOPES[j], KEYS[j], shape((j - 1) % 6, j - 1)) end
        for g = 1, #GKEYS do State.set(GKEYS[g], shape((g - 1) % 6, g - 1)) end
    """
    timed = b"""
        local save, load, get, set = State.save, State.load, State.get, State.set
        local SCOPES, KEYS, GKEYS, OPS, ARGS, shape = SCOPES, KEYS, GKEYS, OPS, ARGS, SHAPE
        local ls, lk = SCOPES[1], KEYS[1]
        for i = 1, #OPS do
            local op, j = OPS[i], ARGS[i]
            if op == 0 then
                local v = load(SCOPES[j], KEYS[j])
            elseif op == 1 then
                local v = load(ls, lk)
            elseif op == 2 then
                ls, lk = SCOPES[j], KEYS[j]
                save(ls, lk, shape((j - 1) % 6, i - 1))
            elseif op == 3 then
                local v = get(GKEYS[j])
            else
                set(GKEYS[j], shape((j - 1) % 6, i - 1))
            end
        end
    """
    return setup.encode(), timed


def mixed_us(config: dict) -> float:  # type: ignore[type-arg]
    """Best of 3 rounds of the mix in one runtime (CPU time, like the floor: the machine
    may be busy with other work; SQLite commits here do not wait for the disk)."""
    setup, timed = mixed_scripts()
    rt = runtime(config)
    try:
        rt.run_source(setup, "bench_mixed_setup.lua")
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            rt.run_source(timed, "bench_mixed.lua")
            best = min(best, (time.process_time() - start) / N_MIXED * 1e6)
        return best
    finally:
        rt.close()


ARTIFACT_LOOP = f"""
    local sid = Session.create({{name = "bench"}})
    local store = Artifact.store
    local body = string.rep("x", 1016)
    local clock = os.clock
    local start = clock()
    for i = 1, {N_ARTIFACTS} do
        store(sid, "tool_result", "out.txt", body .. string.format("%08d", i), {{step = i}})
    end
    return (clock() - start) / {N_ARTIFACTS} * 1e6
"""


def artifact_us(config: dict) -> float:
    rt = runtime(config)
    try:
        return float(rt.run_source(ARTIFACT_LOOP.encode(), "bench_artifacts.lua"))
    finally:
        rt.close()


def fast_paths(saves: bool, loads: bool) -> None:
    """Turn the converter's State fast paths on or off (for runtimes made from now on):
    saves written as JSON in Lua, loads answered from the memo of Lua tables."""
    import llmspell.api.state as state_api

    state_api.FAST_SAVES, state_api.FAST_LOADS = saves, loads


def best_of(rounds: int, measures: dict[str, Any]) -> dict[str, float]:
    """Each measure's best time, the measures taken in turn every round, so a busy moment
    on the machine does not land on only one side of a ratio."""
    best = {name: float("inf") for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            best[name] = min(best[name], measure())
    return best


# (the load memo is used on the memory backend only: "sqlite" and "sqlite, no load memo"
# measure the same thing, twice)
VARIANTS = {"": (True, True), ", no load memo": (True, False),
            ", no fast paths": (False, False)}


def variant(name: str, measure: Any) -> Any:
    def run() -> float:
        fast_paths(*VARIANTS[name])
        try:
            return float(measure())
        finally:
            fast_paths(True, True)
    return run


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        def sqlite(name: str) -> dict[str, Any]:
            return {"runtime": {"state_persistence": {
                "backend_type": "sqlite", "path": str(Path(tmp) / f"{name}.db")}}}

        got = best_of(4, {"floor": floor_state_us} | {
            f"memory{name}": variant(name, lambda: state_us({})) for name in VARIANTS})
        floor = got["floor"]
        print(f"State.save+State.load of the key just saved, {N_STATE} ops from Lua; floor "
              f"(Python dict + json.dumps/json.loads) {floor:.2f} us per op:")
        for name in VARIANTS:
            us = got[f"memory{name}"]
            print(f"  memory{name}: {us:.2f} us per op, {us / floor:.2f}x")
        durable = state_us(sqlite("state"))
        print(f"  sqlite (WAL): {durable:.2f} us per op, {durable / floor:.1f}x "
              f"(target <= 150 us per op; upstream claims < 1000 us)")
        counter = iter(range(1_000))
        mixed = best_of(3, {"floor": floor_mixed_us} | {
            f"memory{name}": variant(name, lambda: mixed_us({})) for name in VARIANTS} | {
            f"sqlite{name}": variant(name, lambda: mixed_us(sqlite(f"m{next(counter)}")))
            for name in VARIANTS})
        mfloor = mixed["floor"]
        print(f"State mixed workload ({N_KEYS} keys in 5 scopes, 6 shapes, {N_MIXED} ops: "
              "60% loads mostly of values saved long before, 35% saves, 5% get/set); "
              f"floor (Python dict + json) {mfloor:.2f} us per op:")
        for backend in ("memory", "sqlite"):
            for name in VARIANTS:
                us = mixed[backend + name]
                print(f"  {backend}{name}: {us:.2f} us per op, {us / mfloor:.2f}x")
        mem_art = artifact_us({"runtime": {"sessions": {
            "enabled": True, "max_artifacts_per_session": 100_000}}})
        file_art = artifact_us({"runtime": {"sessions": {
            "enabled": True, "storage_backend": "sqlite", "max_artifacts_per_session": 100_000,
            "path": str(Path(tmp) / "sessions.db")}}})
        print(f"Artifact.store of 1 KB, {N_ARTIFACTS} ops from Lua: memory {mem_art:.1f} us, "
              f"sqlite {file_art:.1f} us per op; floor as above {floor:.2f} us; "
              f"ratio {file_art / floor:.1f}x (target <= 300 us)")


if __name__ == "__main__":
    main()
