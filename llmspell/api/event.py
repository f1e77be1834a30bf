"""The Event global (spec § 10): publish, subscribe (glob patterns), receive, unsubscribe.

    Event.publish(type, data, {correlation_id=?, ttl_seconds=?, language=?}) -> true
    Event.subscribe(pattern) -> id        Event.receive(id, timeout_ms=5000) -> event|nil
    Event.unsubscribe(id) -> bool         Event.list_subscriptions()  Event.get_stats()

Backed by ``llmspell.events.EventBus`` (shared in ``rt.services["events"]``), which also
carries the lifecycle events of tools, agents and workflows. ``receive`` blocks in
Python (never in Lua) and is bounded by the script's own deadline.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..events import DEFAULT_TIMEOUT_MS, EventBus, bus_for, rfc3339
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def event_bus(rt: Runtime) -> EventBus:
    bus = rt.services.get("events")
    if bus is None:
        bus = bus_for(rt.services, rt.settings)
        rt.on_close(bus.close)
    return bus


def to_lua_event(event: dict[str, Any]) -> dict[str, Any]:
    out = dict(event)
    out["timestamp"] = rfc3339(event["timestamp"])
    out["language"] = "Lua" if str(event.get("language", "")).lower() == "lua" \
        else str(event.get("language", "")).capitalize()
    out["target_language"] = "Lua"
    out["serialization_version"] = "1.0"
    if out.get("ttl") is None:
        out.pop("ttl", None)
    return out


def install(rt: Runtime, table: Any) -> None:
    bus = event_bus(rt)

    def publish(event_type: Any = None, data: Any = None, opts: Any = None) -> bool:
        name = convert.text_arg(event_type, "Event.publish", 1)
        try:
            payload = convert.to_python(data)
        except TypeError as exc:
            raise ApiError(f"Event.publish: cannot convert data: {exc}") from None
        options = convert.to_python(opts) if convert.lua_type(opts) == "table" else {}
        if not isinstance(options, dict):
            options = {}
        correlation = options.get("correlation_id")
        if isinstance(correlation, str):
            try:
                correlation = str(uuid.UUID(correlation))
            except ValueError:
                correlation = None  # invalid ids are ignored, as upstream
        else:
            correlation = None
        ttl = options.get("ttl_seconds")
        language = options.get("language") if isinstance(options.get("language"), str) \
            else "lua"
        bus.publish(name, payload, language=language, correlation_id=correlation,
                    ttl_seconds=int(ttl) if isinstance(ttl, int | float) else None)
        return True

    def subscribe(pattern: Any = None, opts: Any = None) -> str:
        text = convert.text_arg(pattern, "Event.subscribe", 1)
        options = convert.to_python(opts) if convert.lua_type(opts) == "table" else {}
        language = options.get("language") if isinstance(options, dict) and isinstance(
            options.get("language"), str) else "lua"
        return bus.subscribe(text, language)

    def receive(sub_id: Any = None, timeout_ms: Any = None) -> Any:
        sid = convert.text_arg(sub_id, "Event.receive", 1)
        if not bus.exists(sid):
            raise ApiError(f"Event.receive: unknown subscription id '{sid}'")
        if timeout_ms is None:
            timeout_ms = DEFAULT_TIMEOUT_MS
        if not isinstance(timeout_ms, int | float) or isinstance(timeout_ms, bool):
            raise ApiError("Event.receive: timeout_ms (argument #2) must be a number, "
                           f"got {convert.describe(timeout_ms)}")
        timeout = max(0.0, timeout_ms / 1000)
        left = rt.remaining_seconds()
        if left is not None:
            timeout = min(timeout, left)
        event = bus.receive(sid, timeout)
        return None if event is None else to_lua_event(event)

    def unsubscribe(sub_id: Any = None) -> bool:
        if not isinstance(sub_id, bytes):
            return False
        return bus.unsubscribe(convert.decode(sub_id))

    def list_subscriptions() -> list[dict[str, Any]]:
        return bus.list_subscriptions()

    def get_stats() -> dict[str, Any]:
        return bus.stats()

    for name, fn in (("publish", publish), ("subscribe", subscribe), ("receive", receive),
                     ("unsubscribe", unsubscribe), ("list_subscriptions", list_subscriptions),
                     ("get_stats", get_stats)):
        table[convert.encode(name)] = rt.function(fn, f"Event.{name}")
    # upstream documents Event.emit as an alias used by workflow:emit
    table[b"emit"] = table[b"publish"]
