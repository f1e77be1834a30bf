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
from ..lua import args, convert
from ..lua.objects import LuaObject, lua_objects

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


def _publish_options(opts: Any) -> dict[str, Any]:
    """``Event.publish``'s third argument as ``EventBus.publish`` keywords; anything but a
    table is ignored, as are invalid correlation ids (as upstream)."""
    options = args.data(opts, "Event.publish") if convert.lua_type(opts) == "table" else {}
    if not isinstance(options, dict):
        options = {}
    correlation = options.get("correlation_id")
    if isinstance(correlation, str):
        try:
            correlation = str(uuid.UUID(correlation))
        except ValueError:
            correlation = None
    else:
        correlation = None
    ttl = options.get("ttl_seconds")
    language = options.get("language")
    return {"language": language if isinstance(language, str) else "lua",
            "correlation_id": correlation,
            "ttl_seconds": int(ttl) if isinstance(ttl, int | float) else None}


def _name(value: Any, fn: str) -> str:
    """A type or subscription id (a Lua string is the common case: decoded at once)."""
    if type(value) is bytes:
        return value.decode("utf-8", "surrogateescape")
    return args.text(value, fn, 1)


class EventGlobal(LuaObject):
    """The ``Event`` table: its methods are the dot-call functions (``Event.emit`` is the
    same function as ``Event.publish``)."""

    lua_name = "Event"

    def __init__(self, rt: Runtime, bus: EventBus) -> None:
        self._rt = rt
        self._bus = bus

    def publish(self, event_type: Any = None, data: Any = None, opts: Any = None) -> bool:
        name = _name(event_type, "Event.publish")
        try:
            payload = convert.to_python(data)
        except TypeError as exc:
            raise ApiError(f"Event.publish: cannot convert data: {exc}") from None
        if opts is None:
            self._bus.publish(name, payload)
        else:
            self._bus.publish(name, payload, **_publish_options(opts))
        return True

    def subscribe(self, pattern: Any = None, opts: Any = None) -> str:
        text = args.text(pattern, "Event.subscribe", 1, name="pattern")
        options = args.data(opts, "Event.subscribe") if convert.lua_type(opts) == "table" \
            else {}
        language = options.get("language") if isinstance(options, dict) else None
        return self._bus.subscribe(text, language if isinstance(language, str) else "lua")

    def receive(self, sub_id: Any = None, timeout_ms: Any = None) -> Any:
        """The next event, or nil after ``timeout_ms`` (bounded by the script's deadline):
        blocks in Python, never in Lua."""
        sid = _name(sub_id, "Event.receive")
        if not self._bus.exists(sid):
            raise ApiError(f"Event.receive: unknown subscription id '{sid}'")
        ms = args.optional_number(timeout_ms, "Event.receive", 2, name="timeout_ms",
                                  default=DEFAULT_TIMEOUT_MS)
        timeout = max(0.0, (ms or 0) / 1000)
        left = self._rt.remaining_seconds()
        if left is not None:
            timeout = min(timeout, left)
        event = self._bus.receive(sid, timeout)
        return None if event is None else _event_table(self._rt.lua, event)

    def unsubscribe(self, sub_id: Any = None) -> bool:
        if not isinstance(sub_id, bytes):
            return False
        return self._bus.unsubscribe(convert.decode(sub_id))

    def list_subscriptions(self) -> list[dict[str, Any]]:
        return self._bus.list_subscriptions()

    def get_stats(self) -> dict[str, Any]:
        return self._bus.stats()


def install(rt: Runtime, table: Any) -> None:
    lua_objects(rt).install(table, EventGlobal(rt, event_bus(rt)))
    # upstream documents Event.emit as an alias used by workflow:emit
    table[b"emit"] = table[b"publish"]
