"""RAG against a misbehaving embedding server (a real loopback server, real processes):
a vector with an infinite value, or one past float32's range, is refused with a clear
error naming the provider; before, it was stored (as NaN after normalising, with a numpy
RuntimeWarning on stderr) and silently spoilt searches."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class _Embeddings(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"{}"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()




@pytest.mark.parametrize("vector", ["[1e999, 0, 0, 0, 0, 0, 0, 0]",
                                    "[1e39, 0, 0, 0, 0, 0, 0, 0]"],
                         ids=["infinite", "past-float32"])
def test_a_non_finite_embedding_is_refused(server: str, tmp_path: Path, vector: str) -> None:
    _Embeddings.body = ('{"data": [{"embedding": ' + vector + '}]}').encode()
    (tmp_path / "c.toml").write_text(
        f'[providers.openai]\nbase_url = "{server}/v1"\napi_key = "k"\nmax_retries = 0\n'
        '[rag]\nenabled = true\n[rag.vector_storage]\ndimensions = 8\n'
        f'persistence_path = "{tmp_path / "rag"}"\n[rag.embedding]\n'
        'default_provider = "openai"\n')
    (tmp_path / "s.lua").write_text("local ok, err = pcall(RAG.ingest, {content = 'hello'})\n"
                                    "print(ok, err)\n")
    done = subprocess.run([sys.executable, "-m", "llmspell", "-c", "c.toml", "run", "s.lua"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("false\tRAG.ingest: embedding provider 'openai'"), first
    assert "infinite or NaN" in first, first
    assert "RuntimeWarning" not in done.stderr, done.stderr
