"""The one network guard: every HTTP request llmspell makes (tools, providers, event
webhooks) goes through httpx with the transport built here.

What it enforces, and for whom:

- **Private addresses** (``check_url``/``check_host``): a URL a script chose (web tools,
  an agent's own ``base_url``, a redirect hop of an event webhook) may only reach a public
  address over http(s): a host that is or resolves to a private, loopback, link-local,
  reserved, multicast or unspecified address is refused, unless the user's own config
  says ``[tools.network] allow_private_addresses = true``. URLs the user configured
  (``providers.<name>.base_url``, ``events.export.webhook``) are trusted as written.
- **DNS rebinding** (``GuardBackend``): checking a name and then connecting by name would
  resolve it twice, and the second answer may differ. A guarded connection is opened to
  the address the check just returned; TLS still verifies the certificate for the name.
- **Redirects** (``fetch``): followed by hand, each hop checked like a script's URL.
- **Time** (``io_deadline``): httpx's timeouts bound each socket operation only, so a
  server trickling one byte at a time would never trip them. Inside ``io_deadline(t)``
  every connect, TLS handshake, read and write of our transports ends by ``t``.
- **Size** (``fetch``'s ``max_bytes``, ``read_capped``): a body past the cap (after
  decompression, so a gzip bomb too) is an error, never a buffer.

It plugs into httpx through public seams only: ``GuardedTransport`` is an
``httpx.BaseTransport`` over an ``httpcore.ConnectionPool`` given our
``httpcore.NetworkBackend``. The one private attribute (``Response._content`` in
``read_capped``) is named there and pinned by ``tests/test_netguard.py``.

Errors: the policy raises ``Refused`` (a scheme or address not allowed), ``BadURL`` and
``Unreachable`` (``TimedOut``, ``TooLarge``); a refusal at connect time reaches httpx
callers as ``ConnectRefused``, an ``httpx.ConnectError``. Each caller translates them
once at its border (``tools/net.py`` to tool errors, ``providers/http.py`` to provider
errors, the event exporter to one warning).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

PRIVATE_HINT = "; set [tools.network] allow_private_addresses = true to allow it"
_io = threading.local()  # the deadline of the call doing socket I/O on this thread


class NetError(Exception):
    """Base of the guard's errors; the message is written for the user."""


class Refused(NetError):
    """The policy refuses this URL: its scheme, or a private/local address."""


class BadURL(NetError):
    """Not a URL: empty, no host, a bad port."""


class Unreachable(NetError):
    """The host cannot be resolved, or the request failed on the network."""


class TimedOut(Unreachable):
    """No complete reply within the time cap."""


class TooLarge(NetError):
    """The reply is larger than the size cap."""


class ConnectRefused(httpx.ConnectError):
    """The guard refused a connection (a private address seen at connect time)."""


class _RefusedAtConnect(httpcore.ConnectError):
    """Raised inside httpcore by ``GuardBackend``; ``GuardedTransport`` maps it to
    ``ConnectRefused``."""


# -- the address policy -------------------------------------------------------------------

def is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Private, loopback, link-local, reserved, multicast or unspecified (also when an
    IPv4 address hides in an IPv6 one)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


def check_host(host: str, port: int) -> str:
    """Refuse a private/local host; return the public address to connect to."""
    bare = host.strip("[]")
    try:
        literal = ipaddress.ip_address(bare.split("%")[0])
    except ValueError:
        literal = None
    if literal is not None:
        if is_private(literal):
            raise Refused(f"Access to private or local address {host} is "
                          f"blocked{PRIVATE_HINT}")
        return bare
    lowered = host.lower()
    if lowered in ("localhost", "localhost.localdomain") or lowered.endswith(".localhost"):
        raise Refused(f"Access to {host} is blocked{PRIVATE_HINT}")
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Unreachable(f"Cannot resolve host {host}: {exc}") from None
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if is_private(addr):
            raise Refused(f"Host {host} resolves to a private or local address "
                          f"({addr}){PRIVATE_HINT}")
    return str(infos[0][4][0])


def check_url(url: object, allow_private: bool = False, param: str = "input") -> str:
    """Refuse anything but http(s), and (unless ``allow_private``) a private address.
    Returns the URL, stripped."""
    if not isinstance(url, str) or not url.strip():
        raise BadURL(f"Missing required parameter '{param}'")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"Invalid URL: {url}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise Refused(f"URL scheme '{parts.scheme}' is not allowed (only http and https)")
    host = parts.hostname
    if not host:
        raise BadURL(f"Invalid URL (no host): {url}")
    if not allow_private:
        check_host(host, port or (443 if parts.scheme == "https" else 80))
    return url.strip()


# -- time caps ----------------------------------------------------------------------------

@contextlib.contextmanager
def io_deadline(until: float) -> Iterator[None]:
    """Cap every socket operation of our transports on this thread at ``until``
    (a ``time.monotonic()`` value; an outer, earlier deadline is kept)."""
    previous = getattr(_io, "until", None)
    _io.until = until if previous is None else min(previous, until)
    try:
        yield
    finally:
        _io.until = previous


def _capped(timeout: float | None, expired: type[Exception]) -> float | None:
    until = getattr(_io, "until", None)
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(
            ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class GuardBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with the deadline on every operation and, when
    ``guard_private``, the address check done again at connect time (DNS rebinding):
    the socket goes to the address that was checked."""

    def __init__(self, guard_private: bool = False,
                 trusted: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.inner = httpcore.SyncBackend()
        self.guard_private = guard_private
        self.trusted = trusted  # (host, port) the user configured: not checked

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        if self.guard_private and (host.strip("[]").lower(), port) not in self.trusted:
            try:
                host = check_host(host, port)
            except NetError as exc:
                raise _RefusedAtConnect(str(exc)) from None
        return _DeadlineStream(self.inner.connect_tcp(
            host, port, _capped(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_unix_socket(
            path, _capped(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


# -- the transport ------------------------------------------------------------------------

# httpcore's exceptions and httpx's public equivalents, most specific first
_MAPPED: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (_RefusedAtConnect, ConnectRefused),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's, the way ``httpx.HTTPTransport`` raises them."""
    try:
        yield
    except Exception as exc:
        for source, target in _MAPPED:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self.inner

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            with _httpx_errors():
                close()


@functools.lru_cache(maxsize=8)
def _tls_context(verify: bool, trust_env: bool, cafile: str | None, capath: str | None
                 ) -> ssl.SSLContext:
    """httpx's TLS context, made once per process (loading the CA bundle takes ~30 ms).
    ``cafile``/``capath`` are the ``SSL_CERT_FILE``/``SSL_CERT_DIR`` it reads."""
    return httpx.create_ssl_context(verify=verify, trust_env=trust_env)


def tls_context(verify: bool = True, trust_env: bool = True) -> ssl.SSLContext:
    return _tls_context(verify, trust_env, os.environ.get("SSL_CERT_FILE"),
                        os.environ.get("SSL_CERT_DIR"))


def no_tls() -> ssl.SSLContext:
    """For a client that only speaks plain http (a provider whose base URL is
    ``http://``): it verifies but trusts no certificate, so any TLS use fails closed,
    and costs nothing to build."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class GuardedTransport(httpx.BaseTransport):
    """``httpx.HTTPTransport``'s job over a pool that connects through ``GuardBackend``."""

    def __init__(self, ssl_context: ssl.SSLContext, guard_private: bool = False,
                 trusted: frozenset[tuple[str, int]] = frozenset()) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                              keepalive_expiry=5.0)  # httpx's defaults
        self.ssl_context = ssl_context
        self.pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=GuardBackend(guard_private, trusted),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions)
        with _httpx_errors():
            reply = self.pool.handle_request(core)
        assert isinstance(reply.stream, Iterable)
        return httpx.Response(status_code=reply.status, headers=reply.headers,
                              stream=_ResponseStream(reply.stream),
                              extensions=reply.extensions)

    def close(self) -> None:
        self.pool.close()


def transport(*, verify: bool | ssl.SSLContext = True, guard_private: bool = False,
              trust_env: bool = True, trusted: frozenset[tuple[str, int]] = frozenset()
              ) -> GuardedTransport:
    """The transport for every client of ours. ``guard_private``: the URLs it will see
    were chosen by a script, so each connection is checked again (``GuardBackend``),
    except to the ``trusted`` (host, port) pairs."""
    context = verify if isinstance(verify, ssl.SSLContext) else tls_context(verify, trust_env)
    return GuardedTransport(context, guard_private, trusted)


# -- one request, redirects and caps included --------------------------------------------

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


@dataclass(frozen=True)
class Policy:
    """How far a request may go: ``[tools.network]`` for the tools; the event exporter
    uses the same private-address rule with its own caps."""

    allow_private: bool = False
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    verify: bool = True
    max_redirects: int = 5
    size_hint: str = "([tools.network] max_response_bytes)"


def fetch(policy: Policy, method: str, url: str, *, headers: dict[str, str] | None = None,
          json_body: Any = None, content: bytes | None = None,
          params: dict[str, Any] | None = None, timeout: float | None = None,
          follow_redirects: bool = True, trusted: bool = False) -> Response:
    """Send one request under ``policy``: the URL and every redirect hop checked, the
    connection checked again, the whole exchange within ``timeout`` and the body within
    ``max_bytes``. ``trusted``: the user configured this URL, so its origin (scheme, host,
    port) is not checked; hops elsewhere are. 301/302/303 continue as GET without a body,
    as browsers do."""
    seconds = policy.timeout if timeout is None else timeout
    started = time.perf_counter()
    current = check_url(url, policy.allow_private or trusted)
    own = _origin(current) if trusted else None
    backend_trusts = frozenset([own[1:]]) if own else frozenset()
    # no proxies from the environment (they would carry the request past the guard);
    # the TLS context still honours SSL_CERT_FILE/SSL_CERT_DIR
    client = httpx.Client(timeout=seconds, follow_redirects=False, trust_env=False,
                          transport=transport(verify=policy.verify,
                                              guard_private=not policy.allow_private,
                                              trusted=backend_trusts))
    with client, io_deadline(time.monotonic() + seconds):
        for _hop in range(policy.max_redirects + 1):
            reply = _send(client, method, current, headers, json_body, content, params,
                          seconds)
            try:
                if follow_redirects and reply.is_redirect and "location" in reply.headers:
                    hop = urljoin(str(reply.url), reply.headers["location"])
                    current = check_url(hop, policy.allow_private or
                                        (own is not None and _origin(hop) == own),
                                        "redirect location")
                    params = None
                    if reply.status_code in (301, 302, 303) and method != "HEAD":
                        method, json_body, content = "GET", None, None
                    continue
                body = _read_within(reply, policy, current, seconds)
            finally:
                reply.close()
            return Response(reply.status_code, reply.reason_phrase,
                            {k.lower(): v for k, v in reply.headers.items()}, body,
                            str(reply.url), (time.perf_counter() - started) * 1000)
    raise Unreachable(f"Too many redirects (max {policy.max_redirects}) from {url}")


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) as the connection sees them."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").lower(),
            parts.port or (443 if scheme == "https" else 80))


def _send(client: httpx.Client, method: str, url: str, headers: dict[str, str] | None,
          json_body: Any, content: bytes | None, params: dict[str, Any] | None,
          seconds: float) -> httpx.Response:
    try:
        request = client.build_request(method, url, headers=headers, json=json_body,
                                       content=content, params=params)
        return client.send(request, stream=True)
    except ConnectRefused as exc:
        raise Refused(str(exc)) from None
    except httpx.TimeoutException:
        raise TimedOut(f"Request to {url} timed out after {seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise Unreachable(f"Request to {url} failed: {exc}") from None


def _read_within(reply: httpx.Response, policy: Policy, url: str, seconds: float) -> bytes:
    body = bytearray()
    try:
        for chunk in reply.iter_bytes():
            body += chunk
            if len(body) > policy.max_bytes:
                hint = f" {policy.size_hint}" if policy.size_hint else ""
                raise TooLarge(f"Response from {url} exceeds {policy.max_bytes} bytes{hint}")
    except httpx.TimeoutException:
        raise TimedOut(f"Request to {url} timed out after {seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise Unreachable(f"Request to {url} failed: {exc}") from None
    return bytes(body)


def read_capped(response: httpx.Response, limit: int) -> bool:
    """Read a streamed response's body, decompressed, up to ``limit`` bytes, then close
    it. Returns False (body not kept) when it is larger. httpx's own ``read()`` has no
    cap, so the body is stored where ``read()`` stores it, ``Response._content`` — the
    one private attribute of httpx we touch; ``tests/test_netguard.py`` fails if a new
    httpx stores it elsewhere."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                return False
            chunks.append(chunk)
    finally:
        response.close()
    response._content = b"".join(chunks)
    return True
