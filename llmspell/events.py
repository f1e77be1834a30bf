"""The in-process event bus behind the `Event` global (spec § 10) and lifecycle events.

Plain Python, thread-safe: tools and agents running in workflow worker threads publish
here too. A subscription is a glob pattern (``"user.*"``, ``"*"``, ``"tool.?"``) with its
own bounded queue (``events.buffer_size``; the oldest event is dropped when full and
counted). ``receive`` blocks up to a timeout. Nothing here calls into Lua.

    bus = EventBus()
    sid = bus.subscribe("workflow.*")
    bus.publish("workflow.started", {"name": "w"})
    bus.receive(sid, 0.1)  ->  {"event_type": "workflow.started", "data": {...}, ...}

Lifecycle events published by llmspell itself (``emit``; only when ``events.enabled``):
``tool.execution.started|completed|failed``, ``agent.execution.started|completed|failed``,
``workflow.started|completed|failed``, ``workflow.step.started|completed|failed``.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .held import size_of

DEFAULT_TIMEOUT_MS = 5000


# Bytes of event data one subscription may hold unread (besides events.buffer_size
# events): the data lives in Python, outside the Lua heap's cap; past it the oldest
# events are dropped, as when the buffer is full.
QUEUE_BYTES = 64 * 1024 * 1024


def data_size(value: Any, budget: int = QUEUE_BYTES) -> int:
    """About how much memory event data holds, counted until past ``budget``."""
    return size_of(value, budget)


class Subscription:
    __slots__ = ("id", "pattern", "language", "_match", "_cache", "queue", "cond",
                 "dropped", "received", "closed", "sizes", "held")

    def __init__(self, pattern: str, language: str, capacity: int) -> None:
        self.id = str(uuid.uuid4())
        self.pattern = pattern
        self.language = language
        self._match = re.compile(fnmatch.translate(pattern)).match
        self._cache: dict[str, bool] = {}
        self.queue: deque[dict[str, Any]] = deque(maxlen=capacity if capacity > 0 else None)
        self.sizes: deque[int] = deque()  # the data size of each queued event (QUEUE_BYTES)
        self.held = 0
        self.cond = threading.Condition(threading.Lock())
        self.dropped = 0
        self.received = 0
        self.closed = False

    def matches(self, event_type: str) -> bool:
        hit = self._cache.get(event_type)
        if hit is None:
            hit = self._match(event_type) is not None
            if len(self._cache) < 4096:
                self._cache[event_type] = hit
        return hit


def _compile(patterns: Iterable[str]) -> Any:
    joined = "|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)
    return re.compile(joined).match if joined else None


class EventBus:
    """Publish/subscribe with glob patterns; see the module docstring."""

    def __init__(self, buffer_size: int = 10000, *, enabled: bool = True,
                 include_types: list[str] | None = None,
                 exclude_types: list[str] | None = None,
                 include_components: list[str] | None = None,
                 exclude_components: list[str] | None = None,
                 max_per_second: int | None = None,
                 export: Any = None) -> None:
        self.buffer_size = buffer_size
        self.enabled = enabled
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self._sequence = 0
        self.published = 0
        self.delivered = 0
        self.filtered = 0
        include = [p for p in (include_types or ["*"])]
        self._include = None if include == ["*"] else _compile(include)
        self._exclude = _compile(exclude_types or [])
        components = list(include_components or ["*"])
        self._include_comp = None if components == ["*"] else _compile(components)
        self._exclude_comp = _compile(exclude_components or [])
        self._rate = max_per_second if max_per_second and max_per_second > 0 else None
        self._window = (0, 0)  # (second, events published in it)
        self.rate_limited = 0
        self._export = export  # callable(event) or None
        self.timing = True  # events.emit_timing_events: durations in lifecycle events

    @classmethod
    def from_settings(cls, settings: Any) -> EventBus:
        export = None
        if settings.get("events.export.stdout") or settings.get("events.export.file") \
                or settings.get("events.export.webhook"):
            export = _Exporter(settings.get("events.export.file"),
                               bool(settings.get("events.export.stdout")),
                               bool(settings.get("events.export.pretty_json")),
                               settings.get("events.export.webhook"),
                               bool(settings.get("tools.network.allow_private_addresses")))
        return cls(settings.get("events.buffer_size"),
                   enabled=bool(settings.get("events.enabled")),
                   include_types=settings.get("events.filtering.include_types"),
                   exclude_types=settings.get("events.filtering.exclude_types"),
                   include_components=settings.get("events.filtering.include_components"),
                   exclude_components=settings.get("events.filtering.exclude_components"),
                   max_per_second=settings.get("events.max_events_per_second"),
                   export=export)._with_timing(settings.get("events.emit_timing_events"))

    def _with_timing(self, flag: Any) -> EventBus:
        self.timing = flag is not False
        return self

    # -- publishing -----------------------------------------------------------

    def publish(self, event_type: str, data: Any = None, *, language: str = "lua",
                correlation_id: str | None = None, ttl_seconds: int | None = None,
                metadata: dict[str, Any] | None = None, _only_if_heard: bool = False
                ) -> bool:
        """Deliver an event to every matching subscription. False if filtered out."""
        if (self._include is not None and not self._include(event_type)) or (
                self._exclude is not None and self._exclude(event_type)):
            self.filtered += 1
            return False
        with self._lock:
            subs = [s for s in self._subs.values() if s.matches(event_type)]
            if _only_if_heard and not subs and self._export is None:
                return False
            if self._rate is not None:
                second = int(time.monotonic())
                start, count = self._window
                if start != second:
                    start, count = second, 0
                if count >= self._rate:
                    self.rate_limited += 1
                    return False
                self._window = (start, count + 1)
            self._sequence += 1
            sequence = self._sequence
        self.published += 1
        event = {
            "id": new_id(),
            "event_type": event_type,
            "data": data,
            "timestamp": time.time(),
            "sequence": sequence,
            "correlation_id": correlation_id or new_id(),
            "language": language,
            "ttl": ttl_seconds,
            "metadata": metadata or {},
        }
        size = data_size(data) if subs else 0
        for sub in subs:
            with sub.cond:
                full = sub.queue.maxlen is not None and len(sub.queue) == sub.queue.maxlen
                while sub.queue and (full or sub.held + size > QUEUE_BYTES):
                    sub.queue.popleft()
                    sub.held -= sub.sizes.popleft()
                    sub.dropped += 1
                    full = False
                sub.queue.append(event)
                sub.sizes.append(size)
                sub.held += size
                sub.cond.notify()
            self.delivered += 1
        if self._export is not None:
            self._export(event)
        return True

    def emit(self, event_type: str, data: Any = None, component: str | None = None,
             **kw: Any) -> None:
        """A lifecycle event from llmspell itself: skipped when events are disabled or
        nobody listens (so the hot paths of tools and agents pay nothing), and when
        ``events.filtering`` excludes its component (a tool, agent or workflow name)."""
        if not self.enabled or (not self._subs and self._export is None):
            return
        if component is not None and (
                (self._include_comp is not None and not self._include_comp(component))
                or (self._exclude_comp is not None and self._exclude_comp(component))):
            self.filtered += 1
            return
        if not self.timing and isinstance(data, dict) and "duration_ms" in data:
            data = {k: v for k, v in data.items() if k != "duration_ms"}
        self.publish(event_type, data, language="python", _only_if_heard=True, **kw)

    def has_listeners(self) -> bool:
        return self.enabled and (bool(self._subs) or self._export is not None)

    # -- subscribing ----------------------------------------------------------

    def subscribe(self, pattern: str, language: str = "lua") -> str:
        sub = Subscription(pattern, language, self.buffer_size)
        with self._lock:
            self._subs[sub.id] = sub
        return sub.id

    def unsubscribe(self, subscription_id: str) -> bool:
        with self._lock:
            sub = self._subs.pop(subscription_id, None)
        if sub is None:
            return False
        with sub.cond:
            sub.closed = True
            sub.cond.notify_all()
        return True

    def exists(self, subscription_id: str) -> bool:
        return subscription_id in self._subs

    def receive(self, subscription_id: str, timeout: float | None = None
                ) -> dict[str, Any] | None:
        """The next event for a subscription, waiting up to ``timeout`` seconds.

        None on timeout or when the subscription is closed; KeyError if unknown.
        Events whose ttl ran out while queued are skipped.
        """
        sub = self._subs.get(subscription_id)
        if sub is None:
            raise KeyError(subscription_id)
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with sub.cond:
            while True:
                while sub.queue:
                    event = sub.queue.popleft()
                    sub.held -= sub.sizes.popleft()
                    ttl = event.get("ttl")
                    if ttl is not None and time.time() - event["timestamp"] > ttl:
                        continue
                    sub.received += 1
                    return event
                if sub.closed:
                    return None
                if deadline is None:
                    sub.cond.wait()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                sub.cond.wait(left)

    def pending(self, subscription_id: str) -> int:
        sub = self._subs.get(subscription_id)
        return len(sub.queue) if sub is not None else 0

    def list_subscriptions(self) -> list[dict[str, Any]]:
        return [{"id": s.id, "pattern": s.pattern, "language": s.language}
                for s in list(self._subs.values())]

    def stats(self) -> dict[str, Any]:
        subs = list(self._subs.values())
        return {
            "event_bus_stats": {
                "events_published": self.published,
                "events_delivered": self.delivered,
                "events_filtered": self.filtered,
                "events_dropped": sum(s.dropped for s in subs),
                "events_rate_limited": self.rate_limited,
                "buffer_size": self.buffer_size,
                "enabled": self.enabled,
            },
            "bridge_stats": {
                "active_subscriptions": len(subs),
                "events_received": sum(s.received for s in subs),
                "events_pending": sum(len(s.queue) for s in subs),
            },
        }

    def close(self) -> None:
        for sid in list(self._subs):
            self.unsubscribe(sid)
        if isinstance(self._export, _Exporter):
            self._export.close()


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    """A version-4-shaped UUID string, unique in this process and cheap to make: random
    per process, then a counter (uuid4() reads the OS random source every time)."""
    n = next(_ID_COUNTER)
    p = _ID_PREFIX
    tail = f"{n:015x}"[-15:]
    return f"{p[:8]}-{p[8:12]}-4{p[12:15]}-a{tail[:3]}-{tail[3:]}"


_second: tuple[int, str] = (-1, "")


def rfc3339(ts: float) -> str:
    """``2026-01-02T03:04:05.123456Z`` (the seconds part is cached)."""
    global _second
    whole = int(ts)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, datetime.fromtimestamp(whole, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{int((ts - whole) * 1e6):06d}Z"


class _Exporter:
    """events.export: every published event as one JSON line to stdout and/or a file,
    and/or POSTed as JSON to a webhook (from a background thread, in order; ``close``
    waits up to WEBHOOK_DRAIN_SECONDS for the queue to empty).

    The webhook goes through the network guard (``netguard.fetch``): the URL is the
    user's (a config that grants rights, or the environment), so its own host is not
    checked, but a redirect elsewhere gets the network tools' policy (a private address
    is refused unless ``allow_private``); each POST ends within WEBHOOK_SECONDS and its
    reply is read up to WEBHOOK_REPLY_BYTES."""

    WEBHOOK_DRAIN_SECONDS = 5.0
    WEBHOOK_SECONDS = 10.0
    WEBHOOK_REPLY_BYTES = 1024 * 1024

    def __init__(self, path: str | None, stdout: bool, pretty: bool,
                 webhook: str | None = None, allow_private: bool = False) -> None:
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._stdout = stdout
        self._pretty = pretty
        self._webhook = webhook
        self._allow_private = allow_private
        self._queue: Any = None
        self.webhook_sent = 0
        self.webhook_failed = 0
        self._warned = False
        if webhook:
            import queue

            self._queue = queue.Queue()
            threading.Thread(target=self._post_loop, name="llmspell-event-webhook",
                             daemon=True).start()

    def __call__(self, event: dict[str, Any]) -> None:
        import json
        import sys

        record = dict(event, timestamp=rfc3339(event["timestamp"]))
        text = json.dumps(record, indent=2 if self._pretty else None, default=str,
                          sort_keys=True)
        with self._lock:
            if self._file is not None:
                self._file.write(text + "\n")
                self._file.flush()
            if self._stdout:
                sys.stdout.flush()
                sys.stdout.buffer.write((text + "\n").encode("utf-8"))
                sys.stdout.buffer.flush()
        if self._queue is not None:
            self._queue.put(json.dumps(record, default=str, sort_keys=True).encode("utf-8"))

    def _post_loop(self) -> None:
        import sys

        while True:
            body = self._queue.get()
            try:
                if body is None:
                    return
                self._post(body)
                self.webhook_sent += 1
            except Exception as exc:  # report once; keep the run going
                self.webhook_failed += 1
                if not self._warned:
                    self._warned = True
                    sys.stderr.write(f"warning: events.export.webhook {self._webhook}: "
                                     f"{exc}\n")
            finally:
                self._queue.task_done()

    def _post(self, body: bytes) -> None:
        from . import netguard

        policy = netguard.Policy(allow_private=self._allow_private,
                                 timeout=self.WEBHOOK_SECONDS,
                                 max_bytes=self.WEBHOOK_REPLY_BYTES, size_hint="")
        reply = netguard.fetch(policy, "POST", str(self._webhook), content=body,
                               headers={"content-type": "application/json",
                                        "user-agent": "llmspell-events"}, trusted=True)
        if reply.status_code >= 400:
            raise netguard.NetError(f"HTTP {reply.status_code} {reply.reason}")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._queue is not None:
            self._queue.put(None)
            deadline = time.monotonic() + self.WEBHOOK_DRAIN_SECONDS
            while self._queue.unfinished_tasks and time.monotonic() < deadline:
                time.sleep(0.01)
            self._queue = None
