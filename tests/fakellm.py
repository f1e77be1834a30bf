"""fakellm: the project's own fake LLM server for tests (a real loopback HTTP server).

It speaks enough of three wire formats for llmspell's real httpx clients to run
unchanged against it, with no network, no keys of value and nothing outside this
repository:

==========  ==============================================  ===========================
API         Endpoints                                        Auth demanded
==========  ==============================================  ===========================
OpenAI      POST /v1/chat/completions (SSE when stream),     ``Authorization: Bearer K``
            POST /v1/embeddings, GET /v1/models
Anthropic   POST /v1/messages (SSE when stream),             ``x-api-key: K`` and
            GET /v1/models (when sent with x-api-key)        ``anthropic-version``
Ollama      POST /api/chat (NDJSON unless stream=false),     none
            POST /api/embed, POST /api/embeddings (legacy),
            GET /api/tags, GET /api/version, GET /
==========  ==============================================  ===========================

``K`` is ``OPENAI_KEY`` or ``ANTHROPIC_KEY`` below. Replies are a pure function of the
request unless a test scripts them: the chat text is ``[stub <model> <12 hex>] ...``
(the hex is a digest of the last user message), cut to ``max_tokens`` words when that is
smaller (finish reason ``length`` / ``max_tokens``). Embeddings are unit vectors hashed
from the words of the text (equal texts, equal vectors; shared words, closer vectors);
their size is ``dimensions`` if the request gives one, else the model's usual size.

Fixtures (every test module gets them from ``tests/conftest.py``):

``fake_llm``
    The running server, reset for this test (no faults, no scripted replies, an empty
    log), with ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``OPENAI_BASE_URL``,
    ``ANTHROPIC_BASE_URL`` and ``OLLAMA_HOST`` set to it (proxies and
    ``LLMSPELL_PLAYBACK`` removed). ``stub`` is the same fixture under its older name.
``fake_llm_server``
    The session-wide server without the reset and the environment.

What a test can do with it (``fake_llm`` is a ``FakeLLM``)::

    fake_llm.url                      # http://127.0.0.1:PORT (Anthropic / Ollama base)
    fake_llm.env()                    # the env vars above, for a CLI subprocess
    fake_llm.log()                    # the requests of this test, oldest first: dicts
        # with seq, method, path, provider ("openai"|"anthropic"|"ollama"), endpoint
        # ("chat"|"messages"|"embeddings"|"embed"|"models"|"tags"...), headers (keys
        # redacted), auth ("ok"|"missing"|"invalid"|"none"), body (parsed JSON), stream,
        # status, fault, response_text, dimensions (embeddings)
    fake_llm.enqueue(text="hi")       # the next API request gets this reply (FIFO)
    fake_llm.enqueue(tool_calls=[{"name": "calculator", "arguments": {"input": "1+2"}}])
    fake_llm.enqueue(status=429, retry_after=0.2)   # an error in the provider's shape
    fake_llm.enqueue(cut_after=2)     # stream: 2 pieces, then a clean end, no terminator
    fake_llm.enqueue(trickle=0.5)     # the body one byte every 0.5 s
    fake_llm.enqueue(drop="headers")  # close the connection instead of answering
    fake_llm.enqueue(drop="body")     # send half the body, then close the connection
    fake_llm.enqueue(delay=1.5)       # hold the reply back
    fake_llm.enqueue(hold_after=2)    # stream: 2 events, then wait for fake_llm.release()
    fake_llm.faults(fail_first=2, fail_status=503, retry_after=0.1, delay=0,
                    delay_first=None)  # standing faults for every API request
    fake_llm.wait_for_log(n)          # until n requests of this test are logged

``enqueue`` takes ``endpoint="embeddings"`` (etc.) to answer only that endpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OPENAI_KEY = "test-key-openai"
ANTHROPIC_KEY = "test-key-anthropic"
KEYS = frozenset({OPENAI_KEY, ANTHROPIC_KEY})
SENTENCE = ("Here is a made-up answer from llmspell's fake model server; it is long enough "
            "to arrive in several stream pieces and it never changes, so tests can compare "
            "what one agent said with what the next one was asked.")
DEFAULT_DIMENSIONS = 1536
MODEL_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                    "text-embedding-ada-002": 1536, "nomic-embed-text": 768,
                    "mxbai-embed-large": 1024, "all-minilm": 384}
OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
ANTHROPIC_MODELS = ("claude-3-5-haiku-latest", "claude-3-5-sonnet-latest")
OLLAMA_MODELS = ("llama3.1:8b", "nomic-embed-text:latest")
CREATED = 1_700_000_000


# -- content -------------------------------------------------------------------------------

def digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def reply_text(model: str, user_text: str) -> str:
    return f"[stub {model} {digest(user_text)}] {SENTENCE}"


def limit_words(text: str, limit: Any) -> tuple[str, bool]:
    """``text`` cut to ``limit`` words (one word = one token here) and whether it was cut."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return text, False
    words = text.split(" ")
    return (" ".join(words[:limit]), True) if len(words) > limit else (text, False)


def tokens(text: str) -> int:
    return max(1, len(text.split()))


def pieces(text: str, words: int = 3) -> list[str]:
    """Stream pieces of a few words each; joined they give back ``text``."""
    parts = re.findall(r"\S+\s*|\s+", text)
    return ["".join(parts[i:i + words]) for i in range(0, len(parts), words)] or [""]


def vector(text: str, size: int) -> list[float]:
    """A unit vector from the words of ``text`` (signed hashing; raw bytes if no words)."""
    out = [0.0] * size
    words = re.findall(r"\w+", text.lower()) or [text]
    for word in words:
        h = hashlib.sha1(word.encode("utf-8")).digest()
        out[int.from_bytes(h[:4], "big") % size] += -1.0 if h[4] % 2 else 1.0
    norm = math.sqrt(sum(x * x for x in out)) or 1.0
    return [x / norm for x in out]


def text_of(content: Any) -> str:
    """The text of a message's content: a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p)
                         for p in content if isinstance(p, dict | str))
    return ""


def last_user(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def redact(value: str) -> str:
    scheme, _, rest = value.partition(" ")
    if not rest:
        scheme, rest = "", value
    return f"{scheme} {rest[:4]}***".strip()


# -- scripted replies and faults ---------------------------------------------------------------

@dataclass
class Reply:
    """One scripted answer (see the module docstring for each field's effect)."""

    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    status: int = 200
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    cut_after: int | None = None
    trickle: float | None = None
    drop: str | None = None  # "headers" | "body"
    endpoint: str | None = None
    hold_after: int | None = None  # stream: pause after this many events until release()


@dataclass
class Faults:
    fail_first: int = 0
    fail_status: int = 429
    retry_after: float = 1.0
    delay: float = 0.0
    delay_first: int | None = None


class Aborted(Exception):
    """The server was reset while a reply was held back or trickling: stop answering."""


class FakeLLM:
    """The server's state and the methods tests call (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []
        self.queue: list[Reply] = []
        self.standing = Faults()
        self.seq = 0
        self.generation = 0
        self.wake = threading.Event()  # set by reset(): held-back replies give up
        self.released = threading.Event()  # set by release(): held streams go on
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self.server.handle_error = lambda *a: None  # type: ignore[method-assign]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> FakeLLM:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.reset()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        """Forget faults, scripted replies and the log; cut off replies still in flight."""
        with self.lock:
            self.generation += 1
            self.entries.clear()
            self.queue.clear()
            self.standing = Faults()
            old, self.wake = self.wake, threading.Event()
            self.released = threading.Event()
        old.set()

    # -- what tests use -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                "OPENAI_BASE_URL": self.url + "/v1", "ANTHROPIC_BASE_URL": self.url,
                "OLLAMA_HOST": self.url, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"}

    def log(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.entries]

    def wait_for_log(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.log()) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def enqueue(self, **fields: Any) -> None:
        with self.lock:
            self.queue.append(Reply(**fields))

    def faults(self, **fields: Any) -> None:
        with self.lock:
            self.standing = Faults(**fields)

    def release(self) -> None:
        """Let streams held by ``hold_after`` send the rest of their events."""
        self.released.set()

    # -- used by the handler --------------------------------------------------------------

    def begin(self, entry: dict[str, Any]) -> tuple[Reply, int, threading.Event]:
        """The reply for this request: scripted, else the standing faults, else plain."""
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            for i, reply in enumerate(self.queue):
                if reply.endpoint in (None, entry["endpoint"]):
                    return self.queue.pop(i), self.generation, self.wake
            reply = Reply()
            f = self.standing
            if f.fail_first > 0:
                f.fail_first -= 1
                reply = Reply(status=f.fail_status, retry_after=f.retry_after)
            elif f.delay > 0 and (f.delay_first is None or f.delay_first > 0):
                if f.delay_first is not None:
                    f.delay_first -= 1
                reply = Reply(delay=f.delay)
            return reply, self.generation, self.wake

    def record(self, entry: dict[str, Any], generation: int) -> None:
        with self.lock:
            if generation == self.generation:
                self.entries.append(entry)


# -- the HTTP side ----------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakellm/1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> FakeLLM:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:  # noqa: N802
        self.handle_api("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self.handle_api("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self.handle_api("POST")

    # -- dispatch -------------------------------------------------------------------------

    ROUTES: dict[tuple[str, str], tuple[str, str]] = {
        ("POST", "/v1/chat/completions"): ("openai", "chat"),
        ("POST", "/v1/embeddings"): ("openai", "embeddings"),
        ("GET", "/v1/models"): ("openai", "models"),
        ("POST", "/v1/messages"): ("anthropic", "messages"),
        ("POST", "/api/chat"): ("ollama", "chat"),
        ("POST", "/api/embed"): ("ollama", "embed"),
        ("POST", "/api/embeddings"): ("ollama", "embeddings"),
        ("GET", "/api/tags"): ("ollama", "tags"),
        ("GET", "/api/version"): ("ollama", "version"),
        ("GET", "/"): ("ollama", "root"),
        ("HEAD", "/"): ("ollama", "root"),
    }

    def handle_api(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if not path.startswith(("/v1/", "/api/")) and path != "/":
            path = "/v1" + path  # OpenAI-style clients whose base URL has no /v1
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        provider, endpoint = self.ROUTES.get((method, path), ("unknown", "unknown"))
        if endpoint == "models" and self.headers.get("x-api-key") is not None:
            provider = "anthropic"
        entry: dict[str, Any] = {
            "method": method, "path": self.path, "provider": provider, "endpoint": endpoint,
            "headers": self.logged_headers(), "auth": "none", "body": body,
            "stream": False, "status": None, "fault": None}
        reply, self.generation, wake = self.fake.begin(entry)
        self.recorded = False
        try:
            self.answer(entry, reply, wake)
        except Aborted:
            self.close_connection = True
            return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            entry["status"] = entry["status"] or 499
        self.logged(entry)

    def logged(self, entry: dict[str, Any]) -> None:
        """Log the request once, as its reply starts (the client may finish reading before
        this handler returns; the entry is updated in place after)."""
        if not self.recorded:
            self.recorded = True
            self.fake.record(entry, self.generation)

    def logged_headers(self) -> dict[str, str]:
        out = {}
        for name, value in self.headers.items():
            lower = name.lower()
            out[lower] = redact(value) if lower in ("authorization", "x-api-key") else value
        return out

    def answer(self, entry: dict[str, Any], reply: Reply, wake: threading.Event) -> None:
        provider, endpoint = entry["provider"], entry["endpoint"]
        if provider == "unknown":
            return self.send(entry, reply, wake, 404, {"error": {
                "message": f"Invalid URL ({entry['method']} {entry['path']})",
                "type": "invalid_request_error"}})
        if not self.authorised(entry, reply, wake):
            return None
        if reply.drop == "headers":
            entry["fault"] = "drop"
            self.logged(entry)
            return self.hang_up()
        if reply.delay:
            entry["fault"] = entry["fault"] or f"delay {reply.delay:g}s"
            if wake.wait(reply.delay):
                raise Aborted
        if reply.status >= 400:
            entry["fault"] = reply.status
            return self.error(entry, reply, wake, reply.status,
                              reply.message or "the fake server was told to fail")
        body = entry["body"]
        if not isinstance(body, dict) and endpoint not in ("models", "tags", "version", "root"):
            return self.error(entry, reply, wake, 400, "the request body is not a JSON object")
        handler = getattr(self, f"{provider}_{endpoint}")
        return handler(entry, reply, wake, body)

    def authorised(self, entry: dict[str, Any], reply: Reply, wake: threading.Event) -> bool:
        provider = entry["provider"]
        if provider == "openai":
            header = self.headers.get("Authorization") or ""
            scheme, _, key = header.partition(" ")
            if not header:
                entry["auth"] = "missing"
                self.send(entry, reply, wake, 401, {"error": {
                    "message": "You didn't provide an API key (Authorization: Bearer KEY).",
                    "type": "invalid_request_error", "code": None}})
                return False
            if scheme.lower() != "bearer" or key.strip() not in KEYS:
                entry["auth"] = "invalid"
                self.send(entry, reply, wake, 401, {"error": {
                    "message": f"Incorrect API key provided: {redact(key or header)}.",
                    "type": "invalid_request_error", "code": "invalid_api_key"}})
                return False
            entry["auth"] = "ok"
        elif provider == "anthropic":
            key = (self.headers.get("x-api-key") or "").strip()
            if key not in KEYS:
                entry["auth"] = "invalid" if key else "missing"
                self.error(entry, reply, wake, 401,
                           "invalid x-api-key" if key else "x-api-key header is required",
                           kind="authentication_error")
                return False
            entry["auth"] = "ok"
            if not self.headers.get("anthropic-version"):
                self.error(entry, reply, wake, 400, "anthropic-version: header is required")
                return False
        return True

    # -- writing --------------------------------------------------------------------------

    def hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, entry: dict[str, Any], reply: Reply, wake: threading.Event, status: int,
             payload: Any, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> None:
        """One whole reply with a Content-Length (trickled or dropped half-way if told)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        entry["status"] = status
        if reply.drop == "body" or reply.trickle:
            entry["fault"] = "drop mid-body" if reply.drop else f"trickle {reply.trickle:g}s"
        self.logged(entry)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.write_body(data, reply, wake)

    def write_body(self, data: bytes, reply: Reply, wake: threading.Event) -> None:
        if reply.drop == "body":
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            return self.hang_up()
        if reply.trickle:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                if wake.wait(reply.trickle):
                    raise Aborted
            return None
        self.wfile.write(data)
        self.wfile.flush()
        return None

    def send_stream(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                    content_type: str, events: list[str], terminator: list[str]) -> None:
        """A chunked stream of ``events`` then ``terminator``; ``cut_after`` ends it cleanly
        after that many events with no terminator; ``drop="body"`` ends it with no final
        chunk; ``trickle`` sends it one byte at a time."""
        entry["status"] = 200
        entry["stream"] = True
        if reply.cut_after is not None:
            entry["fault"] = f"cut after {reply.cut_after}"
        elif reply.drop == "body":
            entry["fault"] = "drop mid-body"
        elif reply.trickle:
            entry["fault"] = f"trickle {reply.trickle:g}s"
        self.logged(entry)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if reply.cut_after is not None:
            events, terminator = events[:reply.cut_after], []
        framed = b"".join(b"%x\r\n%s\r\n" % (len(e.encode()), e.encode())
                          for e in events + terminator if e)
        if reply.drop == "body":
            half = b"".join(b"%x\r\n%s\r\n" % (len(e.encode()), e.encode())
                            for e in events[:max(1, len(events) // 2)])
            self.wfile.write(half)
            self.wfile.flush()
            return self.hang_up()
        if reply.trickle:
            return self.write_body(framed + b"0\r\n\r\n", reply, wake)
        started = time.monotonic()
        released = self.fake.released
        for i, e in enumerate(events + terminator):
            if e:
                data = e.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if reply.hold_after == i + 1:
                while not released.wait(0.05):  # at most a minute, as a test would
                    if wake.is_set() or time.monotonic() - started > 60:
                        raise Aborted
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return None

    def error(self, entry: dict[str, Any], reply: Reply, wake: threading.Event, status: int,
              message: str, kind: str | None = None) -> None:
        """An error in the provider's own shape (with Retry-After where servers send it)."""
        headers = {}
        if reply.retry_after is not None and status in (429, 503, 529):
            headers["Retry-After"] = f"{reply.retry_after:g}"
            headers["retry-after-ms"] = str(int(reply.retry_after * 1000))
        provider = entry["provider"]
        if provider == "anthropic":
            kind = kind or {429: "rate_limit_error", 529: "overloaded_error",
                            400: "invalid_request_error"}.get(status, "api_error")
            payload: Any = {"type": "error", "error": {"type": kind, "message": message}}
        elif provider == "ollama":
            payload = {"error": message}
        else:
            payload = {"error": {"message": message, "type": kind or "server_error",
                                 "param": None, "code": None}}
        self.send(entry, reply, wake, status, payload, headers=headers)

    # -- OpenAI ---------------------------------------------------------------------------

    def openai_chat(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                    body: dict[str, Any]) -> None:
        model = body.get("model")
        if not isinstance(model, str) or not isinstance(body.get("messages"), list):
            return self.error(entry, reply, wake, 400, "'model' and 'messages' are required")
        text, finish, calls = self.content(reply, model, last_user(body["messages"]),
                                           body.get("max_tokens"), "length")
        finish = "tool_calls" if calls else finish
        usage = {"prompt_tokens": sum(tokens(text_of(m.get("content")))
                                      for m in body["messages"] if isinstance(m, dict)),
                 "completion_tokens": tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        wire_calls = [{"id": f"call_{i}", "type": "function",
                       "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                      for i, c in enumerate(calls)]
        entry["response_text"] = text
        base = {"id": "chatcmpl-" + digest(json.dumps(body)), "created": CREATED,
                "model": model}
        if body.get("stream") is not True:
            message = {"role": "assistant", "content": text or None}
            if wire_calls:
                message["tool_calls"] = wire_calls
            return self.send(entry, reply, wake, 200, {
                **base, "object": "chat.completion", "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}]})

        def chunk(delta: dict[str, Any], reason: str | None = None) -> str:
            return "data: " + json.dumps({**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": delta, "finish_reason": reason}]}) + "\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": p}) for p in pieces(text)] if text else []
        for i, call in enumerate(wire_calls):
            args = call["function"]["arguments"]
            events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"],
                                                              "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                       for part in (args[:len(args) // 2], args[len(args) // 2:])]
        events.append(chunk({}, finish))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append("data: " + json.dumps({**base, "object": "chat.completion.chunk",
                                                 "choices": [], "usage": usage}) + "\n\n")
        return self.send_stream(entry, reply, wake, "text/event-stream", events,
                                ["data: [DONE]\n\n"])

    def openai_embeddings(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                          body: dict[str, Any]) -> None:
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(body.get("model"), str) or not isinstance(texts, list) or not texts \
                or not all(isinstance(t, str) and t for t in texts):
            return self.error(entry, reply, wake, 400,
                              "'model' and a non-empty 'input' (string or list) are required")
        size = self.dimensions(body)
        if size is None:
            return self.error(entry, reply, wake, 400, "'dimensions' must be 1..8192")
        entry["dimensions"] = size
        return self.send(entry, reply, wake, 200, {
            "object": "list", "model": body["model"],
            "data": [{"object": "embedding", "index": i, "embedding": vector(t, size)}
                     for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": sum(map(tokens, texts)),
                      "total_tokens": sum(map(tokens, texts))}})

    def openai_models(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                      body: Any) -> None:
        return self.send(entry, reply, wake, 200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "fakellm"}
            for m in OPENAI_MODELS]})

    # -- Anthropic ------------------------------------------------------------------------

    def anthropic_messages(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                           body: dict[str, Any]) -> None:
        model, messages, limit = body.get("model"), body.get("messages"), body.get("max_tokens")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return self.error(entry, reply, wake, 400, "model and messages: Field required")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return self.error(entry, reply, wake, 400, "max_tokens: Field required")
        text, stop, calls = self.content(reply, model, last_user(messages), limit,
                                         "max_tokens")
        stop = "tool_use" if calls else ("end_turn" if stop == "stop" else stop)
        usage = {"input_tokens": sum(tokens(text_of(m.get("content")))
                                     for m in messages if isinstance(m, dict)),
                 "output_tokens": tokens(text)}
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        blocks += [{"type": "tool_use", "id": f"toolu_{i}", "name": c["name"],
                    "input": c["arguments"]} for i, c in enumerate(calls)]
        entry["response_text"] = text
        message = {"id": "msg_" + digest(json.dumps(body)), "type": "message",
                   "role": "assistant", "model": model}
        if body.get("stream") is not True:
            return self.send(entry, reply, wake, 200, {
                **message, "content": blocks, "stop_reason": stop, "stop_sequence": None,
                "usage": usage})

        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        events = [event("message_start", {"message": {
            **message, "content": [], "stop_reason": None,
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1}}}),
            event("ping", {})]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(event("content_block_start", {
                    "index": index, "content_block": {"type": "text", "text": ""}}))
                events += [event("content_block_delta", {
                    "index": index, "delta": {"type": "text_delta", "text": p}})
                    for p in pieces(text)]
            else:
                events.append(event("content_block_start", {"index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
                raw = json.dumps(block["input"])
                events += [event("content_block_delta", {
                    "index": index, "delta": {"type": "input_json_delta", "partial_json": part}})
                    for part in (raw[:len(raw) // 2], raw[len(raw) // 2:])]
            events.append(event("content_block_stop", {"index": index}))
        events.append(event("message_delta", {
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]}}))
        return self.send_stream(entry, reply, wake, "text/event-stream", events,
                                [event("message_stop", {})])

    def anthropic_models(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                         body: Any) -> None:
        return self.send(entry, reply, wake, 200, {"data": [
            {"type": "model", "id": m, "display_name": m} for m in ANTHROPIC_MODELS],
            "has_more": False})

    # -- Ollama ---------------------------------------------------------------------------

    def ollama_chat(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                    body: dict[str, Any]) -> None:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error(entry, reply, wake, 400, "model is required")
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        user = last_user(body.get("messages"))
        text, reason, calls = self.content(reply, model, user, options.get("num_predict"),
                                           "length")
        entry["response_text"] = text
        stats = {"total_duration": 1_000_000, "prompt_eval_count": tokens(user),
                 "eval_count": tokens(text)}
        head = {"model": model, "created_at": "2024-01-01T00:00:00Z"}
        wire_calls = [{"function": {"name": c["name"], "arguments": c["arguments"]}}
                      for c in calls]
        if body.get("stream", True) is False:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if wire_calls:
                message["tool_calls"] = wire_calls
            return self.send(entry, reply, wake, 200, {**head, "message": message,
                                                       "done": True, "done_reason": reason,
                                                       **stats})
        lines = [json.dumps({**head, "message": {"role": "assistant", "content": p},
                             "done": False}) + "\n" for p in (pieces(text) if text else [])]
        if wire_calls:
            lines.append(json.dumps({**head, "message": {"role": "assistant", "content": "",
                                                         "tool_calls": wire_calls},
                                     "done": False}) + "\n")
        final = json.dumps({**head, "message": {"role": "assistant", "content": ""},
                            "done": True, "done_reason": reason, **stats}) + "\n"
        return self.send_stream(entry, reply, wake, "application/x-ndjson", lines, [final])

    def ollama_embed(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                     body: dict[str, Any], legacy: bool = False) -> None:
        texts = body.get("prompt" if legacy else "input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(body.get("model"), str) or not isinstance(texts, list) or not texts \
                or not all(isinstance(t, str) for t in texts):
            return self.error(entry, reply, wake, 400, "invalid input type")
        size = self.dimensions(body)
        if size is None:
            return self.error(entry, reply, wake, 400, "invalid dimensions")
        entry["dimensions"] = size
        vectors = [vector(t, size) for t in texts]
        if legacy:
            return self.send(entry, reply, wake, 200, {"embedding": vectors[0]})
        return self.send(entry, reply, wake, 200, {
            "model": body["model"], "embeddings": vectors,
            "prompt_eval_count": sum(map(tokens, texts))})

    def ollama_embeddings(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                          body: dict[str, Any]) -> None:
        return self.ollama_embed(entry, reply, wake, body, legacy=True)

    def ollama_tags(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                    body: Any) -> None:
        return self.send(entry, reply, wake, 200, {"models": [
            {"name": m, "model": m, "size": 1, "digest": digest(m)} for m in OLLAMA_MODELS]})

    def ollama_version(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                       body: Any) -> None:
        return self.send(entry, reply, wake, 200, {"version": "0.0.0-fakellm"})

    def ollama_root(self, entry: dict[str, Any], reply: Reply, wake: threading.Event,
                    body: Any) -> None:
        return self.send(entry, reply, wake, 200, b"Ollama is running", "text/plain")

    # -- shared pieces --------------------------------------------------------------------

    @staticmethod
    def content(reply: Reply, model: str, user: str, limit: Any, cut_reason: str
                ) -> tuple[str, str, list[dict[str, Any]]]:
        """(text, finish reason, tool calls) for a chat reply."""
        calls = list(reply.tool_calls or [])
        if reply.text is not None or calls:
            return reply.text or "", "stop", calls
        text, cut = limit_words(reply_text(model, user), limit)
        return text, cut_reason if cut else "stop", []

    @staticmethod
    def dimensions(body: dict[str, Any]) -> int | None:
        size = body.get("dimensions")
        if size is None:
            name = str(body.get("model") or "").split(":")[0]
            return MODEL_DIMENSIONS.get(name, DEFAULT_DIMENSIONS)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 8192:
            return None
        return size


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """The fake server, reset, with the provider env vars pointing at it."""
    fake_llm_server.reset()
    for key in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY", "LLMSPELL_PLAYBACK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in fake_llm_server.env().items():
        monkeypatch.setenv(key, value)
    return fake_llm_server


@pytest.fixture
def stub(fake_llm: FakeLLM) -> FakeLLM:
    """The older name of ``fake_llm``."""
    return fake_llm


# -- as a program (benchmarks run it in a process of its own) ---------------------------------

def main(argv: list[str] | None = None) -> None:
    """``python tests/fakellm.py [--delay S] [--max-seconds N]``: serve, print the port."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="hold every reply back")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="then exit")
    args = parser.parse_args(argv)
    server = FakeLLM().start()
    if args.delay:
        server.faults(delay=args.delay)
    print(server.port, flush=True)
    time.sleep(args.max_seconds)
    server.stop()


if __name__ == "__main__":
    main()
