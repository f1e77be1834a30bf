"""Shared fixtures: an isolated home for every test, a Lua runner, a CLI runner, and the
fake LLM server (``fake_llm``, ``fake_llm_server``, ``stub``; see ``tests/fakellm.py``)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakellm import fake_llm, fake_llm_server, stub  # noqa: F401 (fixtures)

from llmspell import config as config_mod
from llmspell.lua.runtime import Output, Runtime

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> Path:
    """No test reads or writes the real user's config or data."""
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("HOME", str(home))
    for var in list(os.environ):
        if var.startswith("LLMSPELL_"):
            monkeypatch.delenv(var)
    return home


@dataclass
class LuaRun:
    value: Any
    stdout: str
    runtime: Runtime


class LuaRunner:
    """Run Lua code in a fresh sandboxed runtime with a config given as a dict."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def runtime(self, config: dict[str, Any] | None = None, timeout: float | None = None,
                script_args: dict[str, str] | None = None) -> tuple[Runtime, io.BytesIO]:
        settings = config_mod.from_dict(config or {}, environ={})
        stream = io.BytesIO()
        rt = Runtime(settings, script_path=self.tmp_path / "test.lua", script_args=script_args,
                     output=Output(stream=stream), timeout_seconds=timeout)
        return rt, stream

    def __call__(self, code: str, config: dict[str, Any] | None = None,
                 timeout: float | None = None) -> LuaRun:
        rt, stream = self.runtime(config, timeout)
        try:
            value = rt.run_source(code.encode(), "test.lua")
        finally:
            rt.close()
        return LuaRun(value, stream.getvalue().decode("utf-8", "replace"), rt)


@pytest.fixture
def lua(tmp_path: Path) -> LuaRunner:
    return LuaRunner(tmp_path)


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path, isolated_home: Path) -> CliRunner:
    """Run the real `llmspell` CLI in a subprocess (cwd = tmp_path)."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "llmspell", *args], cwd=cwd or tmp_path,
                              env=full_env, input=input, capture_output=True, text=True,
                              timeout=timeout)

    return run


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    """One real PostgreSQL server for the session (``tests/pgserver.py``), in a folder of
    its own (pytest's numbered temp folders may be pruned by a parallel pytest)."""
    import shutil
    import tempfile

    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="llmspell-pg-"))
    try:
        server = pgserver.start_session_server(folder)
    except ImportError:
        shutil.rmtree(folder, ignore_errors=True)
        message = f"PostgreSQL tests need the pgtest extra: {pgserver.INSTALL}"
        if os.environ.get(pgserver.REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get(pgserver.REQUIRE_ENV) == "1":
            pytest.fail(f"the PostgreSQL test server did not start: {detail}")
        pytest.skip(f"the PostgreSQL test server did not start: {detail}")
    yield server
    if server.running():
        server.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh database (with pgvector) on the session's server."""
    if not postgres_server.running():
        postgres_server.start()
    return postgres_server.create_database()
