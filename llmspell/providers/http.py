"""The HTTP layer under every provider client: httpx, retries, errors, cassettes, debug log.

Every request names its provider and endpoint (``chat/completions``, ``messages``,
``api/chat``, ...); the cassette transport (record/playback) keys on them. Failures become
``ProviderError`` messages that name the provider and the cause: connection refused (with
the URL), timeouts, HTTP status with the server's own message, malformed replies.

Time: ``timeout_seconds`` is a deadline for the whole call (connect, send, headers, body,
a stream to its end, and any retries), clipped to the time the script or agent has left.
httpx's own timeouts bound each socket operation only, so a server trickling one byte at
a time would never trip them: every socket read, write and connect of our transports is
capped by the call's deadline (``netguard.io_deadline``), and streams also give up after
``STREAM_IDLE_SECONDS`` without data.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from .. import netguard
from ..errors import ProviderConnectError, ProviderError, ProviderHTTPError, ProviderTimeout
from ..secret_filter import redact_urls
from . import cassette as cassette_mod
from .retry import RETRY_STATUSES, Retryable, RetryPolicy, parse_retry_after, with_retry

DEFAULT_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
STREAM_IDLE_SECONDS = 60.0  # a stream silent this long is stalled (if the deadline is later)
MAX_REPLY_BYTES = 64 * 1024 * 1024  # a reply (after gzip), or one stream line, past this fails
SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")
_local = threading.local()


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound every request made inside the block (an agent's max_execution_time)."""
    previous = getattr(_local, "deadline", None)
    if seconds is not None and seconds > 0:
        mine = time.monotonic() + seconds
        _local.deadline = mine if previous is None else min(previous, mine)
    try:
        yield
    finally:
        _local.deadline = previous


def _left() -> float | None:
    until = getattr(_local, "deadline", None)
    return None if until is None else max(0.0, until - time.monotonic())


def _network_transport(base_url: str | None = None, guard_private: bool = False
                       ) -> httpx.BaseTransport:
    """The network guard's transport (``netguard.py``): every socket operation capped by
    the call's deadline; with ``guard_private`` (a script-chosen base URL) each
    connection checked again for a private address. A provider whose base URL is
    ``http://`` gets a TLS context that costs nothing to build (``netguard.no_tls``)."""
    plain = base_url is not None and base_url.lower().startswith("http://")
    return netguard.transport(verify=netguard.no_tls() if plain else True,
                              guard_private=guard_private)


@dataclass(frozen=True)
class _Deadline:
    """One call's time bound: when it ends, how long it was, what set it."""

    until: float
    seconds: float
    source: str

    def left(self) -> float:
        return max(0.0, self.until - time.monotonic())

    def describe(self) -> str:
        return f"{round(self.seconds, 2):g}s ({self.source})"


def redact(value: str) -> str:
    """``Bearer sk-abc...xyz`` -> ``Bearer sk-a***``: enough to tell keys apart, no more."""
    scheme, _, rest = value.partition(" ")
    if not rest:
        scheme, rest = "", value
    shown = rest[:4] + "***" if len(rest) > 12 else "***"
    return f"{scheme} {shown}".strip()


class _TeeStream(httpx.SyncByteStream):
    """Passes a streamed reply through unchanged and records it once fully read.

    A reader may stop before the body ends (an SSE reader stops at ``data: [DONE]``; the
    end of the chunked body can come later). When the stream's terminator has been seen,
    the rest is then read for the cassette from the same open iterator, before anything
    closes the connection: when our generator is closed (outer generators close first,
    so the connection's iterator is still open then) or, if ``close()`` comes first,
    there. A reader that gave up mid-stream (an error, a callback that raised) is not
    kept waiting for the rest of a reply that will not be recorded anyway.
    """

    # the last event of each provider's stream: OpenAI, Anthropic, Ollama
    TERMINATORS = (b"data: [DONE]", b"message_stop", b'"done":true', b'"done": true')

    def __init__(self, inner: httpx.SyncByteStream, done: Callable[[bytes], None]) -> None:
        self.inner = inner
        self.done = done
        self.parts: list[bytes] = []
        self.finished = False
        self.recorded = False
        self._source: Iterator[bytes] | None = None

    def _iterator(self) -> Iterator[bytes]:
        if self._source is None:
            self._source = iter(self.inner)
        return self._source

    def __iter__(self) -> Iterator[bytes]:
        source = self._iterator()
        try:
            for part in source:
                self.parts.append(part)
                yield part
            self.finished = True
        except GeneratorExit:
            if self._at_end():
                self._drain()
            raise

    def _at_end(self) -> bool:
        tail = b"".join(self.parts[-3:])  # a terminator may straddle two parts
        return any(t in tail for t in self.TERMINATORS)

    def _drain(self) -> None:
        if self.finished:
            return
        try:
            for part in self._iterator():
                self.parts.append(part)
            self.finished = True
        except (httpx.HTTPError, ValueError):  # ValueError: a generator already running
            pass

    def close(self) -> None:
        if not self.parts or self._at_end():
            self._drain()
        self.inner.close()
        if self.finished and not self.recorded:
            self.recorded = True
            self.done(b"".join(self.parts))


class CassetteTransport(httpx.BaseTransport):
    """Playback answers from the cassette; record forwards to the network and keeps a copy."""

    def __init__(self, cassette: cassette_mod.Cassette,
                 inner: httpx.BaseTransport | None = None) -> None:
        self.cassette = cassette
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        provider, endpoint = request.extensions.get("llmspell", ("unknown", request.url.path))
        body = request.read()
        if self.cassette.mode == "playback":
            item = self.cassette.lookup(provider, endpoint, request.method, body)
            if "response" in item:
                content = json.dumps(item["response"]).encode("utf-8")
            else:
                content = str(item.get("response_text", "")).encode("utf-8")
            return httpx.Response(int(item.get("status", 200)),
                                  headers={"content-type": item.get("content_type",
                                                                    "application/json")},
                                  content=content, request=request)
        assert self.inner is not None
        self.cassette.refuse_keys(provider, body)
        response = self.inner.handle_request(request)
        if response.status_code == 429 or response.status_code >= 500:
            return response  # transient faults are not part of the exchange
        content_type = response.headers.get("content-type", "")

        def done(data: bytes) -> None:
            self.cassette.record(provider, endpoint, request.method, body,
                                 response.status_code, content_type, data)

        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_TeeStream(response.stream, done),
                              extensions=response.extensions, request=request)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


OPENAI_PATHS = ("/chat/completions", "/embeddings", "/models")


def _base_url_hint(provider: str, url: str) -> str:
    hint = f"is providers.{provider}.base_url right?"
    if url.endswith(OPENAI_PATHS) and "/v1/" not in url:
        hint += " (OpenAI-compatible servers usually answer under /v1: base_url = '.../v1')"
    return hint


def _on_this_machine(url: str) -> bool:
    """A loopback server (llama.cpp, Ollama, ... on this machine): its 500 is its answer to
    this request, not an infrastructure hiccup, so retrying only costs time."""
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip()
        return text[:300] if text else response.reason_phrase
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if data.get("message"):
            return str(data["message"])
    return json.dumps(data)[:300]


class Http:
    """One provider's HTTP client (connections are reused across calls)."""

    def __init__(self, provider: str, *, timeout: float | None = None,
                 policy: RetryPolicy | None = None, key_hint: str = "",
                 budget: Callable[[], float | None] | None = None, debug: bool = False,
                 transport: httpx.BaseTransport | None = None,
                 base_url: str | None = None, guard_private: bool = False) -> None:
        self.provider = provider
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.policy = policy or RetryPolicy()
        self.key_hint = key_hint
        self.budget = self._combined(budget)
        self.debug = debug
        cassette = cassette_mod.active()
        if transport is None:
            if cassette is not None and cassette.mode == "playback":
                transport = CassetteTransport(cassette)
            elif cassette is not None:
                transport = CassetteTransport(cassette, _network_transport(base_url, guard_private))
            else:
                transport = _network_transport(base_url, guard_private)
        self.cassette = cassette
        self.client = httpx.Client(transport=transport, timeout=self.timeout)

    @staticmethod
    def _combined(budget: Callable[[], float | None] | None) -> Callable[[], float | None]:
        def left() -> float | None:
            limits = [x for x in (budget() if budget else None, _left()) if x is not None]
            return min(limits) if limits else None

        return left

    @property
    def playback(self) -> bool:
        return self.cassette is not None and self.cassette.mode == "playback"

    def close(self) -> None:
        self.client.close()

    def _deadline(self) -> _Deadline:
        """This call's deadline: timeout_seconds, or less if the script/agent has less."""
        seconds, source = self.timeout, f"providers.{self.provider}.timeout_seconds"
        left = self.budget()
        if left is not None and left < seconds:
            seconds, source = max(0.05, left), "the time the script or agent has left"
        return _Deadline(time.monotonic() + seconds, seconds, source)

    @staticmethod
    def _timeout(deadline: _Deadline, stream: bool) -> httpx.Timeout:
        left = max(0.01, deadline.left())
        read = min(left, STREAM_IDLE_SECONDS) if stream else left
        return httpx.Timeout(left, connect=min(left, CONNECT_TIMEOUT), read=read)

    def _log(self, request: httpx.Request, status: Any, started: float) -> None:
        if not self.debug:
            return
        headers = ", ".join(
            f"{k}: {redact(v) if k.lower() in SECRET_HEADERS else v}"
            for k, v in request.headers.items()
            if k.lower() in SECRET_HEADERS or k.lower().startswith(("anthropic", "content-t")))
        sys.stderr.write(f"llmspell[debug] {self.provider} {request.method} {request.url} "
                         f"-> {status} ({(time.perf_counter() - started) * 1000:.0f} ms) "
                         f"[{headers}]\n")

    def request(self, method: str, url: str, endpoint: str, *,
                headers: dict[str, str] | None = None, body: Any = None,
                stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx response (open when ``stream``) or raise."""
        content = (json.dumps(body, ensure_ascii=False).encode("utf-8")
                   if body is not None else None)
        all_headers = {"accept": "application/json"}
        if content is not None:
            all_headers["content-type"] = "application/json"
        all_headers.update(headers or {})
        p = self.provider
        limit = self._deadline()

        def attempt(n: int) -> httpx.Response:
            if limit.left() <= 0:
                raise ProviderTimeout(f"{p}: request to {url} timed out after "
                                      f"{limit.describe()}")
            timeout = self._timeout(limit, stream)
            request = self.client.build_request(
                method, url, headers=all_headers, content=content, timeout=timeout,
                extensions={"llmspell": (p, endpoint)})
            started = time.perf_counter()
            try:
                with netguard.io_deadline(limit.until):
                    response = self.client.send(request, stream=True)
                    if not stream or response.status_code >= 300:
                        self._read_capped(response, url)
            except httpx.TimeoutException as exc:
                self._log(request, "timeout", started)
                if limit.left() <= 0.05:  # the call's own deadline: no time for a retry
                    raise ProviderTimeout(f"{p}: request to {url} timed out after "
                                          f"{limit.describe()}") from None
                what = ("connecting to" if isinstance(exc, httpx.ConnectTimeout)
                        else "waiting for a reply from")
                seconds = timeout.connect if isinstance(exc, httpx.ConnectTimeout) \
                    else timeout.read
                raise Retryable(ProviderTimeout(
                    f"{p}: {what} {url} timed out after {seconds:g}s")) from None
            except httpx.ConnectError as exc:
                self._log(request, "connect error", started)
                reason = str(exc) or type(exc).__name__
                if "refused" in reason.lower():
                    reason = "connection refused"
                raise ProviderConnectError(f"{p}: cannot connect to {url} ({reason}); is the "
                                           f"server running and is providers.{p}.base_url "
                                           "right?") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                self._log(request, "transport error", started)
                raise Retryable(ProviderConnectError(
                    f"{p}: connection to {url} failed: {exc or type(exc).__name__}")) from None
            except httpx.HTTPError as exc:
                raise ProviderError(f"{p}: request to {url} failed: {exc}") from None
            self._log(request, response.status_code, started)
            if response.status_code < 300:
                response.extensions["llmspell.deadline"] = limit
                return response
            with netguard.io_deadline(limit.until):
                try:
                    response.read()
                except httpx.HTTPError:
                    pass  # the status says enough
                finally:
                    response.close()
            error = self.status_error(response, url, body)
            if response.status_code == 500 and _on_this_machine(url):
                raise error
            if response.status_code in RETRY_STATUSES:
                raise Retryable(error, parse_retry_after(response.headers))
            raise error

        return with_retry(attempt, self.policy, budget=limit.left)

    def _read_capped(self, response: httpx.Response, url: str) -> None:
        """Read the body, decompressed, up to MAX_REPLY_BYTES (a gzip bomb is an error)."""
        if not netguard.read_capped(response, MAX_REPLY_BYTES):
            raise self.malformed(url, f"the reply is larger than "
                                      f"{MAX_REPLY_BYTES // 2**20} MiB")

    def status_error(self, response: httpx.Response, url: str, body: Any
                     ) -> ProviderHTTPError:
        p = self.provider
        status = response.status_code
        message = _server_message(response)
        model = body.get("model") if isinstance(body, dict) else None
        if status in (401, 403):
            hint = f"; check {self.key_hint}" if self.key_hint else ""
            return ProviderHTTPError(f"{p}: authentication failed (HTTP {status}): "
                                     f"{message}{hint}", status)
        if status == 404 and model and (str(model).lower() in message.lower()
                                        or "model" in message.lower()):
            return ProviderHTTPError(f"{p}: unknown model '{model}' (HTTP 404): {message}", status)
        if status == 404:  # the URL itself: a base_url without /v1, a wrong path
            return ProviderHTTPError(f"{p}: {url} not found (HTTP 404): {message}; "
                                     f"{_base_url_hint(p, url)}", status)
        if status == 429:
            return ProviderHTTPError(f"{p}: rate limited (HTTP 429): {message}", status)
        if status >= 500:
            return ProviderHTTPError(f"{p}: server error (HTTP {status}): {message}", status)
        if status < 400:  # redirects are not followed: the key must not go elsewhere
            return ProviderHTTPError(f"{p}: {url} redirects (HTTP {status}) to "
                                     f"{redact_urls(response.headers.get('location', '?'))}; "
                                     f"set providers.{p}.base_url to the final address", status)
        return ProviderHTTPError(f"{p}: request rejected (HTTP {status}): {message}", status)

    def json(self, response: httpx.Response, url: str) -> dict[str, Any]:
        """The reply as a JSON object, or a clear 'malformed reply' error."""
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            excerpt = response.text[:120].replace("\n", " ")
            raise ProviderError(f"{self.provider}: malformed reply from {url}: not JSON "
                                f"({excerpt!r})") from None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.provider}: malformed reply from {url}: expected a "
                                f"JSON object, got {type(data).__name__}")
        return data

    def lines(self, response: httpx.Response, url: str) -> Iterator[str]:
        """The lines of a streamed reply, read within the call's deadline. A stall, the
        deadline or a dropped connection mid-stream becomes a ProviderError naming the
        provider and URL. The caller checks that the stream reached its terminator."""
        limit = response.extensions.get("llmspell.deadline")
        until = limit.until if isinstance(limit, _Deadline) else time.monotonic() + self.timeout
        idle = min(STREAM_IDLE_SECONDS, limit.seconds if isinstance(limit, _Deadline)
                   else self.timeout)
        pieces = response.iter_text()
        buffer = ""
        last_data = time.monotonic()
        while True:
            try:
                with netguard.io_deadline(until):
                    piece = next(pieces)
            except StopIteration:
                break
            except httpx.TimeoutException:
                raise self._stream_timeout(url, limit, idle, last_data) from None
            except httpx.HTTPError as exc:
                raise ProviderConnectError(f"{self.provider}: the stream from {url} broke "
                                           f"off: {exc or type(exc).__name__}") from None
            last_data = time.monotonic()
            buffer += piece
            while "\n" in buffer:
                line, buffer = buffer.split("\n", 1)
                yield line.rstrip("\r")
            if len(buffer) > MAX_REPLY_BYTES:
                raise self.malformed(url, f"a stream line is longer than "
                                          f"{MAX_REPLY_BYTES // 2**20} MiB")
            if time.monotonic() >= until:  # also when a proxy bypasses the deadline backend
                raise self._stream_timeout(url, limit, idle, last_data)
        if buffer:
            yield buffer.rstrip("\r")

    def _stream_timeout(self, url: str, limit: Any, idle: float, last_data: float
                        ) -> ProviderTimeout:
        p = self.provider
        if time.monotonic() - last_data >= idle * 0.9:
            return ProviderTimeout(f"{p}: the stream from {url} stalled (no data for "
                                   f"{round(idle, 2):g}s; providers.{p}.timeout_seconds)")
        what = limit.describe() if isinstance(limit, _Deadline) else f"{self.timeout:g}s"
        return ProviderTimeout(f"{p}: the stream from {url} timed out after {what}")

    def cut(self, url: str, terminator: str) -> ProviderError:
        """A stream that ended cleanly but before its terminator: the reply is incomplete."""
        return ProviderError(f"{self.provider}: the stream from {url} was cut off before its "
                             f"end (no {terminator}); the reply is incomplete")

    def malformed(self, url: str, what: str) -> ProviderError:
        return ProviderError(f"{self.provider}: malformed reply from {url}: {what}")
