"""The Event global (spec § 10): publish, subscribe (glob patterns), receive, unsubscribe.

    Event.publish(type, data, {correlation_id=?, ttl_seconds=?, language=?}) -> true
    Event.subscribe(pattern) -> id        Event.receive(id, timeout_ms=5000) -> event|nil
    Event.unsubscribe(id) -> bool         Event.list_subscriptions()  Event.get_stats()

Backed by ``llmspell.events.EventBus`` (shared as ``rt.services.events``), which also
carries the lifecycle events of tools, agents and workflows. ``receive`` blocks in
Python (never in Lua) and is bounded by the script's own deadline.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..events import DEFAULT_TIMEOUT_MS, EventBus, rfc3339
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def event_bus(rt: Runtime) -> EventBus:
    """The run's bus (``rt.services.events``: other services may have made it first); it
    is closed when the run ends, which flushes the file and webhook exports."""
    return rt.services.events


def to_lua_event(event: dict[str, Any]) -> dict[str, Any]:
    """The received-event table (spec § 10), as plain Python."""
    out = dict(event)
    out["timestamp"] = rfc3339(event["timestamp"])
    out["language"] = _language(event.get("language"))
    out["target_language"] = "Lua"
    out["serialization_version"] = "1.0"
    if out.get("ttl") is None:
        out.pop("ttl", None)
    return out


def _language(value: Any) -> str:
    text = str(value or "")
    return "Lua" if text.lower() == "lua" else text.capitalize()


def _event_table(lua: Any, event: dict[str, Any]) -> Any:
    """``to_lua_event`` built straight into a Lua table (receive is a hot path)."""
    fields = {b"id": event["id"].encode(), b"event_type": convert.encode(event["event_type"]),
              b"timestamp": rfc3339(event["timestamp"]).encode(),
              b"sequence": event["sequence"],
              b"correlation_id": event["correlation_id"].encode(),
              b"language": convert.encode(_language(event["language"])),
              b"target_language": b"Lua", b"serialization_version": b"1.0"}
    if event.get("ttl") is not None:
        fields[b"ttl"] = event["ttl"]
    table = lua.table_from(fields)
    data = event["data"]
    if data is not None:
        table[b"data"] = convert.to_lua(lua, data)
    meta = event["metadata"]
    table[b"metadata"] = convert.to_lua(lua, meta) if meta else lua.table()
    return table


def install(rt: Runtime, table: Any) -> None:
    bus = event_bus(rt)

    def publish(event_type: Any = None, data: Any = None, opts: Any = None) -> bool:
        if type(event_type) is not bytes:
            convert.text_arg(event_type, "Event.publish", 1)  # raises the usual error
        name = event_type.decode("utf-8", "surrogateescape")
        try:
            payload = convert.to_python(data)
        except TypeError as exc:
            raise ApiError(f"Event.publish: cannot convert data: {exc}") from None
        if opts is None:
            bus.publish(name, payload)
            return True
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
        if type(sub_id) is not bytes:
            convert.text_arg(sub_id, "Event.receive", 1)  # raises the usual error
        sid = sub_id.decode("utf-8", "surrogateescape")
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
        return None if event is None else _event_table(rt.lua, event)

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
