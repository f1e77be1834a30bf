"""The port against a real model server: per-request overhead and first-token latency.

A llama.cpp server (llama-cpp-python, SmolLM2-135M-Instruct, as in tests/realmodel) is
started once; then, interleaved in one run, the same prompt goes

    raw     a plain httpx POST of the same request body (the floor)
    agent   agent:invoke / agent:invokeStream from Lua through the CLI runtime

    overhead     = p50(agent:invoke) - p50(raw POST)                  (max_tokens 1)
    first token  = p50(first chunk seen by the Lua callback) vs p50(first content event
                   read by raw httpx), streaming with max_tokens 16
    first call   = the first agent:invoke in a fresh process minus a later one
                   (imports, client set-up)

The server answers the same prompt from its prompt cache, so the model's work is the
same every time and the differences are ours. Skips with one line without the extra.
Run: .venv/bin/python benchmarks/bench_realmodel.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "realmodel"))

from realmodel_support import INSTALL, MODEL, LlamaServer, missing  # noqa: E402

SYSTEM = "You are terse."
PROMPT = "Say one word."


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def body(max_tokens: int, stream: bool = False) -> dict[str, object]:
    out: dict[str, object] = {"model": MODEL, "temperature": 0, "max_tokens": max_tokens,
                              "messages": [{"role": "system", "content": SYSTEM},
                                           {"role": "user", "content": PROMPT}]}
    if stream:
        out["stream"] = True
    return out


FIRST_CALL = """
import os, sys, time
from llmspell import config
from llmspell.lua.runtime import Output, Runtime
settings = config.from_dict({"providers": {"local": {"provider_type": "openai_compatible",
                                                     "base_url": sys.argv[1]}}}, environ={})
rt = Runtime(settings, output=Output(stream=open(os.devnull, "wb")))
f = rt.lua.execute(b'''
  local a = Agent.builder():name("b"):model("local/MODEL"):system_prompt("SYSTEM")
    :temperature(0):max_tokens(1):max_conversation_length(0):build()
  return function() return a:invoke({text = "PROMPT"}).text end''')
t1 = time.perf_counter(); f(); t2 = time.perf_counter(); f(); t3 = time.perf_counter()
print((t2 - t1) * 1000, (t3 - t2) * 1000)
""".replace("MODEL", MODEL).replace("SYSTEM", SYSTEM).replace("PROMPT", PROMPT)


def first_call(base: str, runs: int = 5) -> tuple[float, float]:
    """p50 of (first invoke, second invoke) in fresh processes, in ms."""
    firsts, seconds = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", FIRST_CALL, base], capture_output=True,
                             text=True, timeout=120, check=True).stdout.split()
        firsts.append(float(out[0]))
        seconds.append(float(out[1]))
    return statistics.median(firsts), statistics.median(seconds)


def main() -> int:
    why = missing()
    if why:
        print(f"bench_realmodel: skipped: {why}; install with: {INSTALL}")
        return 0
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(var, None)
    os.environ["NO_PROXY"] = "127.0.0.1"
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_realmodel_{os.getpid()}.log"
    server = LlamaServer("bench", log, ["--chat_format", "chatml-function-calling"])
    t0 = time.monotonic()
    server.start().wait_ready()
    start_s = time.monotonic() - t0
    base = server.base_url
    try:
        import httpx

        from llmspell import config
        from llmspell.lua.runtime import Output, Runtime

        settings = config.from_dict({"providers": {"local": {
            "provider_type": "openai_compatible", "base_url": base}}}, environ={})
        rt = Runtime(settings, output=Output(stream=open(os.devnull, "wb")))
        invoke, stream = rt.lua.execute(f"""
          local a = Agent.builder():name("bench"):model("local/{MODEL}")
            :system_prompt("{SYSTEM}"):temperature(0):max_tokens(1)
            :max_conversation_length(0):build()
          local s = Agent.builder():name("bench_stream"):model("local/{MODEL}")
            :system_prompt("{SYSTEM}"):temperature(0):max_tokens(16)
            :max_conversation_length(0):build()
          local function invoke() return a:invoke({{text = "{PROMPT}"}}).text end
          local function stream()
            local clock = Debug.timer("first")
            local first = nil
            s:invokeStream({{text = "{PROMPT}"}}, function(c)
              if first == nil then first = clock:elapsed() end
            end)
            return first
          end
          return invoke, stream
        """.encode())
        client = httpx.Client(timeout=60)
        headers = {"content-type": "application/json"}
        short = json.dumps(body(1)).encode()
        streamed = json.dumps(body(16, stream=True)).encode()

        def raw() -> None:
            client.post(base + "/chat/completions", content=short, headers=headers).json()

        def raw_first() -> float:
            t = time.perf_counter()
            with client.stream("POST", base + "/chat/completions", content=streamed,
                               headers=headers) as r:
                first = None
                for line in r.iter_lines():
                    if first is None and line.startswith("data:") and '"content"' in line:
                        first = time.perf_counter() - t
            if first is None:
                raise RuntimeError("no content event in the stream")
            return first

        for _ in range(5):  # warm-up: connections, prompt cache, JIT
            raw()
            invoke()
            raw_first()
            stream()
        raw_t: list[float] = []
        agent_t: list[float] = []
        raw_ft: list[float] = []
        agent_ft: list[float] = []
        for i in range(n):  # interleaved, order alternating, so drift hits both equally
            order = ((raw, raw_t), (invoke, agent_t))
            for fn, samples in order[::1 if i % 2 else -1]:
                t = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t)
            if i % 2:
                raw_ft.append(raw_first())
                agent_ft.append(float(stream()) / 1000)
            else:
                agent_ft.append(float(stream()) / 1000)
                raw_ft.append(raw_first())
        rt.close()
        cold, warm = first_call(base)
    finally:
        server.stop()
    floor, agent = p50(raw_t), p50(agent_t)
    ffloor, fagent = p50(raw_ft), p50(agent_ft)
    print(f"bench_realmodel: llama.cpp server + SmolLM2-135M, {n} interleaved rounds "
          f"(server ready in {start_s:.1f} s)")
    print(f"  request  raw httpx POST (max_tokens 1)   p50 {floor:8.2f} ms")
    print(f"  request  agent:invoke from Lua           p50 {agent:8.2f} ms")
    print(f"  overhead per request (agent - raw)           {agent - floor:8.2f} ms")
    print(f"  first token  raw httpx stream            p50 {ffloor:8.2f} ms")
    print(f"  first token  agent:invokeStream callback p50 {fagent:8.2f} ms   "
          f"(+{fagent - ffloor:.2f} ms)")
    print(f"  first call in a fresh process            p50 {cold:8.2f} ms   later call "
          f"{warm:.2f} ms (+{cold - warm:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
