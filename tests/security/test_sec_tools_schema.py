"""json_processor validate: a schema cannot fetch URLs or backtrack for ever."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from lua_text import lua_fmt
from tools_helpers import run_cli, stopped


def test_remote_ref_is_never_fetched(lua):
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/leak?data=stolen"
        run = lua(lua_fmt("""
            local ok, r = pcall(Tool.invoke, "json_processor", {operation = "validate",
                input = 1, schema = {["$ref"] = "${url}"}})
            return {ok, tostring(r)}
        """, url=url))
    finally:
        server.shutdown()
    assert hits == [], hits
    assert run.value[0] is False and "unresolvable reference" in run.value[1], run.value


def test_backtracking_pattern_is_stopped(tmp_path):
    done = run_cli("""
        local ok, err = pcall(Tool.invoke, "json_processor", {operation = "validate",
            input = string.rep("a", 40) .. "!", schema = {pattern = "^(a+)+$"}})
        print("after", ok)
    """, tmp_path, "--timeout", "2", timeout=40)
    stopped(done)
