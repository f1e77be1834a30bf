"""The one network guard (``llmspell/netguard.py``) against real loopback servers: its
transport speaks plain HTTP and TLS through httpx's public seams, maps httpcore's
errors to httpx's, caps time and size, and keeps working with this httpx (the one
private attribute it touches is pinned here)."""

from __future__ import annotations

import gzip
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmspell import netguard

BODY = b'{"ok": true, "pad": "' + b"x" * 5000 + b'"}'


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/gzip":
            data = gzip.compress(BODY)
            self.send_response(200)
            self.send_header("content-encoding", "gzip")
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("content-length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[str]:
    for server in _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler)):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS server on loopback whose self-signed certificate names ``tls.example``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", "/CN=tls.example", "-addext", "subjectAltName=DNS:tls.example"],
                   check=True, capture_output=True, timeout=60)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server):
        yield running.server_address[1], cert


def test_plain_http_and_gzip_through_the_guarded_transport(plain: str) -> None:
    with httpx.Client(transport=netguard.transport()) as client:
        reply = client.get(plain + "/gzip")
    assert reply.status_code == 200 and reply.json()["ok"] is True


def test_read_capped_keeps_the_body_where_httpx_reads_it(plain: str) -> None:
    """Pins the one private attribute: if a new httpx stores a read body elsewhere,
    ``content``/``json()`` after ``read_capped`` break here."""
    with httpx.Client(transport=netguard.transport()) as client:
        reply = client.send(client.build_request("GET", plain + "/gzip"), stream=True)
        assert netguard.read_capped(reply, 1 << 20) is True
        assert reply.content == BODY and reply.json()["ok"] is True
        big = client.send(client.build_request("GET", plain + "/gzip"), stream=True)
        assert netguard.read_capped(big, 1000) is False  # decompressed size counts
        assert big.is_closed


def test_tls_verifies_the_name_while_connecting_to_the_checked_address(
        tls: tuple[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A guarded connection goes to the address the check returned; the certificate is
    still verified for the host name (SNI and hostname check)."""
    port, cert = tls
    checked: list[str] = []

    def public_for_the_test(host: str, port: int) -> str:
        checked.append(host)
        return "127.0.0.1"  # what a public name's check would return

    monkeypatch.setattr(netguard, "check_host", public_for_the_test)
    context = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(transport=netguard.transport(verify=context, guard_private=True)
                      ) as client:
        assert client.get(f"https://tls.example:{port}/").text == "ok"
    assert checked == ["tls.example"]
    wrong = ssl.create_default_context()  # the system's CAs do not know this cert
    with httpx.Client(transport=netguard.transport(verify=wrong, guard_private=True)
                      ) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        client.get(f"https://tls.example:{port}/")


def test_a_private_address_at_connect_time_is_a_connect_error(plain: str) -> None:
    with httpx.Client(transport=netguard.transport(guard_private=True)) as client, \
            pytest.raises(netguard.ConnectRefused, match="private or local address"):
        client.get(plain + "/")


def test_httpcore_errors_arrive_as_httpx_errors() -> None:
    closed = _closed_port()
    with httpx.Client(transport=netguard.transport()) as client, \
            pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{closed}/")


def test_the_deadline_ends_a_trickling_reply(plain: str) -> None:
    """Each byte comes well within the read timeout; the whole call still ends in time."""
    started = time.monotonic()
    with httpx.Client(transport=netguard.transport(), timeout=5) as client, \
            netguard.io_deadline(time.monotonic() + 0.5), \
            pytest.raises(httpx.ReadTimeout):
        client.get(plain + "/trickle")
    assert time.monotonic() - started < 3


def test_fetch_maps_time_and_size_caps(plain: str) -> None:
    policy = netguard.Policy(allow_private=True, timeout=0.5, max_bytes=1000)
    with pytest.raises(netguard.TimedOut, match="timed out after 0.5 s"):
        netguard.fetch(policy, "GET", plain + "/trickle")
    with pytest.raises(netguard.TooLarge, match="exceeds 1000 bytes"):
        netguard.fetch(policy, "GET", plain + "/gzip")
    assert netguard.fetch(policy, "GET", plain + "/").content == b"ok"


@pytest.mark.parametrize(("url", "error"), [
    ("http://127.0.0.1/", netguard.Refused), ("http://[::ffff:10.0.0.1]/", netguard.Refused),
    ("http://0.0.0.0/", netguard.Refused), ("gopher://example.com/", netguard.Refused),
    ("http://x.localhost/", netguard.Refused), ("", netguard.BadURL),
    ("http://:80/", netguard.BadURL), ("http://example.com:99999/", netguard.BadURL)])
def test_check_url_refuses(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        netguard.check_url(url)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_tls_context_is_built_once() -> None:
    first: Any = netguard.tls_context()
    assert netguard.tls_context() is first and first.get_ca_certs()
