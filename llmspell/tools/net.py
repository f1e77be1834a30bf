"""One HTTP helper for every network tool: SSRF guard, timeouts, size caps, redirects.

Policy (``[tools.network]``): ``allow_private_addresses`` (false) — when false, URLs whose
host is or resolves to a private, loopback, link-local, reserved or multicast address are
refused, and so are non-http(s) schemes; ``timeout_seconds`` (30); ``max_response_bytes``
(10 MiB); ``verify_ssl`` (true); ``max_redirects`` (5). Redirects are followed by hand so
every hop is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import SecurityViolation, ToolError, ToolNetworkError, ToolValidationError

USER_AGENT = "llmspell-tools/0.1"


@dataclass
class Response:
    status_code: int
    reason: str
    headers: dict[str, str]
    content: bytes
    url: str
    elapsed_ms: float

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.content_type.split(";")[1:]:
            if part.strip().lower().startswith("charset="):
                charset = part.split("=", 1)[1].strip().strip('"') or "utf-8"
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def _bad_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


class NetPolicy:
    def __init__(self, allow_private: bool = False, timeout: float = 30.0,
                 max_bytes: int = 10 * 1024 * 1024, verify: bool = True,
                 max_redirects: int = 5,
                 time_left: Callable[[float], float] | None = None) -> None:
        """``time_left(seconds)`` bounds a request's timeout by the time the run has left
        (``ToolContext.timeout``); ``ToolContext.net`` builds the policy from settings."""
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.verify = verify
        self.max_redirects = max_redirects
        self.time_left = time_left

    def check_url(self, url: object, param: str = "input") -> str:
        """Refuse anything but http(s) to a public address (unless private is allowed)."""
        if not isinstance(url, str) or not url.strip():
            raise ToolValidationError(f"Missing required parameter '{param}'")
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError as exc:
            raise ToolValidationError(f"Invalid URL: {url}: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise SecurityViolation(f"URL scheme '{parts.scheme}' is not allowed "
                                    "(only http and https)")
        host = parts.hostname
        if not host:
            raise ToolValidationError(f"Invalid URL (no host): {url}")
        if not self.allow_private:
            self._check_host(host, parts.port or (443 if parts.scheme == "https" else 80))
        return url.strip()

    def _check_host(self, host: str, port: int) -> str:
        """Refuse a private/local host; return the address to connect to."""
        hint = ("; set [tools.network] allow_private_addresses = true to allow it")
        bare = host.strip("[]")
        try:
            literal = ipaddress.ip_address(bare.split("%")[0])
        except ValueError:
            literal = None
        if literal is not None:
            if _bad_address(literal):
                raise SecurityViolation(f"Access to private or local address {host} is "
                                        f"blocked{hint}")
            return bare
        if host.lower() in ("localhost", "localhost.localdomain") or \
                host.lower().endswith(".localhost"):
            raise SecurityViolation(f"Access to {host} is blocked{hint}")
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise ToolNetworkError(f"Cannot resolve host {host}: {exc}") from None
        for info in infos:
            addr = ipaddress.ip_address(info[4][0].split("%")[0])
            if _bad_address(addr):
                raise SecurityViolation(f"Host {host} resolves to a private or local address "
                                        f"({addr}){hint}")
        return str(infos[0][4][0])

    def transport(self) -> Any:
        """An httpx transport whose connections go to the address that was checked.

        The URL check resolves the host name; connecting by name would resolve it again,
        and a DNS answer that changed in between (DNS rebinding) could reach a private
        address. So the TCP connection is opened to a freshly checked address, while TLS
        still verifies the certificate against the host name.
        """
        import httpcore
        import httpx

        policy = self

        class GuardedBackend(httpcore.SyncBackend):  # type: ignore[misc]
            def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                            local_address: str | None = None,
                            socket_options: Any = None) -> Any:
                if not policy.allow_private:
                    host = policy._check_host(host, port)
                return super().connect_tcp(host, port, timeout, local_address,
                                           socket_options)

        transport = httpx.HTTPTransport(verify=self.verify, trust_env=False)
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=self.verify),
            network_backend=GuardedBackend())
        return transport

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                json_body: Any = None, content: bytes | None = None,
                params: dict[str, Any] | None = None, timeout: float | None = None,
                follow_redirects: bool = True) -> Response:
        import httpx

        limit = self.max_bytes
        seconds = timeout if timeout is not None else self.timeout
        if self.time_left is not None:
            seconds = self.time_left(seconds)
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        started = time.perf_counter()
        current = self.check_url(url)
        with httpx.Client(timeout=seconds, verify=self.verify, follow_redirects=False,
                          trust_env=False, transport=self.transport()) as client:
            for _hop in range(self.max_redirects + 1):
                try:
                    req = client.build_request(method, current, headers=hdrs, json=json_body,
                                               content=content, params=params)
                    resp = client.send(req, stream=True)
                    try:
                        if follow_redirects and resp.is_redirect and "location" in resp.headers:
                            nxt = urljoin(str(resp.url), resp.headers["location"])
                            current = self.check_url(nxt, "redirect location")
                            params = None
                            if resp.status_code in (301, 302, 303) and method != "HEAD":
                                method, json_body, content = "GET", None, None
                            continue
                        body = bytearray()
                        for chunk in resp.iter_bytes():
                            body += chunk
                            if len(body) > limit:  # not a network failure: no retry
                                raise ToolError(
                                    f"Response from {current} exceeds {limit} bytes "
                                    "([tools.network] max_response_bytes)")
                    finally:
                        resp.close()
                except httpx.TimeoutException:
                    raise ToolNetworkError(f"Request to {current} timed out after "
                                           f"{seconds:g} s") from None
                except httpx.HTTPError as exc:
                    raise ToolNetworkError(f"Request to {current} failed: {exc}") from None
                return Response(resp.status_code, resp.reason_phrase,
                                {k.lower(): v for k, v in resp.headers.items()}, bytes(body),
                                str(resp.url), (time.perf_counter() - started) * 1000)
        raise ToolNetworkError(f"Too many redirects (max {self.max_redirects}) from {url}")
