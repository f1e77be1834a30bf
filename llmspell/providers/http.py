"""The HTTP layer under every provider client: httpx, retries, errors, cassettes, debug log.

Every request names its provider and endpoint (``chat/completions``, ``messages``,
``api/chat``, ...); the cassette transport (record/playback) keys on them. Failures become
``ProviderError`` messages that name the provider and the cause: connection refused (with
the URL), timeouts, HTTP status with the server's own message, malformed replies.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ..errors import ProviderError
from . import cassette as cassette_mod
from .retry import RETRY_STATUSES, Retryable, RetryPolicy, parse_retry_after, with_retry

DEFAULT_TIMEOUT = 120.0
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


def redact(value: str) -> str:
    """``Bearer sk-abc...xyz`` -> ``Bearer sk-a***``: enough to tell keys apart, no more."""
    scheme, _, rest = value.partition(" ")
    if not rest:
        scheme, rest = "", value
    shown = rest[:4] + "***" if len(rest) > 12 else "***"
    return f"{scheme} {shown}".strip()


class _TeeStream(httpx.SyncByteStream):
    """Passes a streamed reply through unchanged and records it once fully read."""

    def __init__(self, inner: httpx.SyncByteStream, done: Callable[[bytes], None]) -> None:
        self.inner = inner
        self.done = done
        self.parts: list[bytes] = []
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        for part in self.inner:
            self.parts.append(part)
            yield part
        self.finished = True

    def close(self) -> None:
        if not self.finished:  # the reader stopped early (e.g. at "data: [DONE]"): keep the rest
            try:
                for part in self.inner:
                    self.parts.append(part)
                self.finished = True
            except httpx.HTTPError:
                pass
        self.inner.close()
        if self.finished:
            self.done(b"".join(self.parts))
            self.finished = False


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
                 transport: httpx.BaseTransport | None = None) -> None:
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
                transport = CassetteTransport(cassette, httpx.HTTPTransport())
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

    def _timeout(self) -> httpx.Timeout:
        total = self.timeout
        left = self.budget()
        if left is not None:
            total = max(0.05, min(total, left))
        return httpx.Timeout(total, connect=min(total, 10.0))

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

        def attempt(n: int) -> httpx.Response:
            timeout = self._timeout()
            request = self.client.build_request(
                method, url, headers=all_headers, content=content, timeout=timeout,
                extensions={"llmspell": (p, endpoint)})
            started = time.perf_counter()
            try:
                response = self.client.send(request, stream=stream)
            except httpx.ConnectTimeout:
                self._log(request, "connect timeout", started)
                raise Retryable(ProviderError(
                    f"{p}: connecting to {url} timed out after {timeout.connect:g}s")) from None
            except httpx.TimeoutException:
                self._log(request, "timeout", started)
                raise Retryable(ProviderError(
                    f"{p}: request to {url} timed out after {timeout.read:g}s "
                    f"(providers.{p}.timeout_seconds)")) from None
            except httpx.ConnectError as exc:
                self._log(request, "connect error", started)
                reason = str(exc) or type(exc).__name__
                if "refused" in reason.lower():
                    reason = "connection refused"
                raise ProviderError(f"{p}: cannot connect to {url} ({reason}); is the server "
                                    f"running and is providers.{p}.base_url right?") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                self._log(request, "transport error", started)
                raise Retryable(ProviderError(
                    f"{p}: connection to {url} failed: {exc or type(exc).__name__}")) from None
            except httpx.HTTPError as exc:
                raise ProviderError(f"{p}: request to {url} failed: {exc}") from None
            self._log(request, response.status_code, started)
            if response.status_code < 400:
                return response
            response.read()
            response.close()
            error = self.status_error(response, url, body)
            if response.status_code in RETRY_STATUSES:
                raise Retryable(error, parse_retry_after(response.headers))
            raise error

        return with_retry(attempt, self.policy, budget=self.budget)

    def status_error(self, response: httpx.Response, url: str, body: Any) -> ProviderError:
        p = self.provider
        status = response.status_code
        message = _server_message(response)
        model = body.get("model") if isinstance(body, dict) else None
        if status in (401, 403):
            hint = f"; check {self.key_hint}" if self.key_hint else ""
            return ProviderError(f"{p}: authentication failed (HTTP {status}): {message}{hint}")
        if status == 404 and model and ("model" in message.lower() or "not found" in
                                        message.lower()):
            return ProviderError(f"{p}: unknown model '{model}' (HTTP 404): {message}")
        if status == 404:
            return ProviderError(f"{p}: {url} not found (HTTP 404): {message}")
        if status == 429:
            return ProviderError(f"{p}: rate limited (HTTP 429): {message}")
        if status >= 500:
            return ProviderError(f"{p}: server error (HTTP {status}): {message}")
        return ProviderError(f"{p}: request rejected (HTTP {status}): {message}")

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
        """The lines of a streamed reply; a timeout or dropped connection mid-stream becomes
        a ProviderError naming the provider and URL."""
        try:
            yield from response.iter_lines()
        except httpx.TimeoutException:
            raise ProviderError(f"{self.provider}: the stream from {url} stalled (no data for "
                                f"{self.timeout:g}s; providers.{self.provider}.timeout_seconds)"
                                ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.provider}: the stream from {url} broke off: "
                                f"{exc or type(exc).__name__}") from None

    def malformed(self, url: str, what: str) -> ProviderError:
        return ProviderError(f"{self.provider}: malformed reply from {url}: {what}")
