"""System tools: environment_reader, process_executor, service_checker, system_monitor."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from llmspell.config import from_dict
from llmspell.errors import ToolError
from llmspell.tools.service import ToolService


def service(tmp_path=None, **tools) -> ToolService:
    """A service whose config grants process execution (its own test turns it off)."""
    cfg = dict(tools)
    cfg["system"] = {"allow_process_execution": True, **cfg.get("system", {})}
    if tmp_path is not None:
        cfg["file_operations"] = {"allowed_paths": [str(tmp_path)]}
    return ToolService(from_dict({"tools": cfg}, environ={}))


def test_environment_reader_hides_secrets(monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("LC_SECRET_THING", "hidden")  # allowed by LC_* but blocked by *SECRET*
    svc = service()
    got = svc.invoke("environment_reader", {"operation": "get", "variable_name": "LANG"})
    assert got["result"] == {"variable_name": "LANG", "value": "C.UTF-8", "found": True}
    key = svc.invoke("environment_reader", {"operation": "get",
                                            "variable_name": "OPENAI_API_KEY"})
    assert key["result"]["found"] is False and "value" not in key["result"] or \
        key["result"].get("value") is None
    listed = svc.invoke("environment_reader", {"operation": "list"})["result"]["variables"]
    assert "LANG" in listed and "OPENAI_API_KEY" not in listed
    assert "LC_SECRET_THING" not in listed
    assert "sk-secret" not in str(listed)
    pat = svc.invoke("environment_reader", {"operation": "pattern", "pattern": "LC_*"})
    assert "LC_SECRET_THING" not in pat["result"]["variables"]
    with pytest.raises(ToolError, match="Security violation: Setting environment variables"):
        svc.invoke("environment_reader", {"operation": "set", "variable_name": "X",
                                          "value": "1"})


def test_process_executor_runs_allowed(tmp_path):
    svc = service(tmp_path)
    r = svc.invoke("process_executor", {"executable": "echo",
                                        "arguments": ["hello", "$HOME", ";", "ls"]})
    res = r["result"]
    assert res["stdout"] == "hello $HOME ; ls\n"  # no shell: nothing expanded or chained
    assert res["exit_code"] == 0 and res["success"] is True and res["timed_out"] is False
    (tmp_path / "f.txt").write_text("content")
    cat = svc.invoke("process_executor", {"executable": "cat", "arguments": ["f.txt"],
                                          "working_directory": str(tmp_path)})
    assert cat["result"]["stdout"] == "content"
    fail = svc.invoke("process_executor", {"executable": "ls", "arguments": ["nope-x"],
                                           "working_directory": str(tmp_path)})
    assert fail["success"] is True and fail["result"]["success"] is False


@pytest.mark.parametrize("exe", ["rm", "bash", "sh", "curl", "/bin/echo", "python3", "sleep"])
def test_process_executor_refuses_unlisted(tmp_path, exe):
    with pytest.raises(ToolError, match="Security violation: Executable"):
        service(tmp_path).invoke("process_executor", {"executable": exe, "arguments": []})


def test_process_executor_blocklist_beats_config(tmp_path):
    svc = service(tmp_path, system={"allowed_commands": "echo,rm"})
    with pytest.raises(ToolError, match="not allowed"):
        svc.invoke("process_executor", {"executable": "rm", "arguments": ["x"]})


def test_process_executor_file_arguments_sandboxed(tmp_path):
    with pytest.raises(ToolError, match="Security violation"):
        service(tmp_path).invoke("process_executor", {"executable": "cat",
                                                      "arguments": ["/etc/passwd"]})
    with pytest.raises(ToolError, match="Security violation"):
        service(tmp_path).invoke("process_executor", {"executable": "ls",
                                                      "working_directory": "/etc"})


def test_process_executor_timeout(tmp_path):
    svc = service(tmp_path, system={"allowed_commands": "sleep"})
    r = svc.invoke("process_executor", {"executable": "sleep", "arguments": ["5"],
                                        "timeout_seconds": 0.3})
    assert r["result"]["timed_out"] is True and r["result"]["success"] is False


def test_process_executor_does_not_leak_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-leak")
    svc = service(tmp_path, system={"allowed_commands": "env,printenv"})
    # env itself is block-listed (it runs other programs); printenv shows the child's env
    r = svc.invoke("process_executor", {"executable": "printenv",
                                        "environment": {"TZ": "Europe/Paris"}})
    assert "TZ=Europe/Paris" in r["result"]["stdout"]
    assert "sk-leak" not in r["result"]["stdout"]


def test_service_checker_tcp_and_http():
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    port = srv.server_port
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        svc = service(network={"service_checker_ports": [port]})
        t = svc.invoke("service_checker", {"target": f"127.0.0.1:{port}", "check_type": "tcp"})
        assert t["result"]["available"] is True and t["result"]["status"] == "open"
        h = svc.invoke("service_checker", {"target": f"http://127.0.0.1:{port}/",
                                           "check_type": "http"})
        assert h["result"]["available"] is True and h["result"]["status"] == "HTTP 200"
    finally:
        srv.shutdown()
        srv.server_close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    svc = service(network={"service_checker_ports": [free]})
    down = svc.invoke("service_checker", {"target": f"127.0.0.1:{free}", "check_type": "tcp"})
    assert down["success"] is True and down["result"]["available"] is False
    dns = svc.invoke("service_checker", {"target": "localhost", "check_type": "dns"})
    assert dns["result"]["available"] is True


def test_service_checker_policy():
    svc = service()
    with pytest.raises(ToolError, match="Host 'example.com' is not allowed"):
        svc.invoke("service_checker", {"target": "example.com:80", "check_type": "tcp"})
    with pytest.raises(ToolError, match="Port 445 is not allowed"):
        svc.invoke("service_checker", {"target": "127.0.0.1:445", "check_type": "tcp"})
    with pytest.raises(ToolError, match="Port 12345 is not allowed"):
        svc.invoke("service_checker", {"target": "127.0.0.1:12345", "check_type": "tcp"})


def test_system_monitor():
    svc = service()
    r = svc.invoke("system_monitor", {})
    res = r["result"]
    assert r["operation"] == "all" and res["cpu_count"] >= 1
    assert res["total_memory_bytes"] > res["available_memory_bytes"] > 0
    assert res["process_count"] > 0 and res["disk_usage"]
    assert res["formatted"]["total_memory"].endswith("B")
    assert r["message"].startswith("System stats: CPU ")
    mem = svc.invoke("system_monitor", {"operation": "memory"})["result"]
    assert "cpu_count" not in mem and mem["total_memory_formatted"].endswith("B")
