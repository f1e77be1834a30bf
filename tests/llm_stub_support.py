"""The shared conformance LLM stub as a pytest fixture (a real loopback HTTP server)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STUB = Path(__file__).resolve().parent.parent.parent / "shared" / "conformance" / "llm_stub.py"
OPENAI_KEY = "test-key-openai"
ANTHROPIC_KEY = "test-key-anthropic"


@dataclass
class Stub:
    port: int
    proc: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def faults(self, **kwargs: Any) -> None:
        self.control("/_stub/faults", kwargs)

    start: int = 0  # log entries before this index belong to earlier tests

    def log(self) -> list[dict[str, Any]]:
        """The requests logged since the current test began."""
        return self.control("/_stub/log")["entries"][self.start:]

    def wait_for_log(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` requests are logged (a delayed reply is logged when sent,
        after its client may have given up; later tests must not see it arrive)."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.log()) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def env(self) -> dict[str, str]:
        return {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                "OPENAI_BASE_URL": self.url + "/v1", "ANTHROPIC_BASE_URL": self.url,
                "OLLAMA_HOST": self.url, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"}


@pytest.fixture(scope="session")
def stub_server() -> Iterator[Stub]:
    proc = subprocess.Popen([sys.executable, str(STUB), "--port", "0", "--key", OPENAI_KEY,
                             "--key", ANTHROPIC_KEY, "--max-seconds", "900"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().strip())
    try:
        yield Stub(port, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def stub(stub_server: Stub, monkeypatch: pytest.MonkeyPatch) -> Stub:
    """The stub with faults cleared and the provider env vars pointing at it."""
    stub_server.control("/_stub/reset", {})
    stub_server.start = 0
    stub_server.start = len(stub_server.log())
    for key in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY", "LLMSPELL_PLAYBACK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in stub_server.env().items():
        monkeypatch.setenv(key, value)
    return stub_server
