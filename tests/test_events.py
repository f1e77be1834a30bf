"""Event bus (llmspell/events.py) and the Event global."""

from __future__ import annotations

import json
import threading

import pytest

from llmspell import config as config_mod
from llmspell.events import EventBus


def test_bus_glob_patterns_route_events():
    bus = EventBus()
    users = bus.subscribe("user.*")
    everything = bus.subscribe("*")
    one_char = bus.subscribe("job.?")
    bus.publish("user.login", {"id": 1})
    bus.publish("system.boot", None)
    bus.publish("job.1", "x")
    bus.publish("job.10", "y")
    assert bus.receive(users, 0)["event_type"] == "user.login"
    assert bus.receive(users, 0) is None
    assert [bus.receive(everything, 0)["event_type"] for _ in range(4)] == [
        "user.login", "system.boot", "job.1", "job.10"]
    assert bus.receive(one_char, 0)["data"] == "x"
    assert bus.receive(one_char, 0) is None


def test_bus_sequence_ttl_and_buffer_limit():
    bus = EventBus(buffer_size=2)
    sid = bus.subscribe("*")
    for i in range(3):
        bus.publish("e", i)
    first = bus.receive(sid, 0)
    assert first["data"] == 1 and first["sequence"] == 2  # the oldest was dropped
    assert bus.stats()["event_bus_stats"]["events_dropped"] == 1
    bus.publish("old", 1, ttl_seconds=0)
    bus._subs[sid].queue[-1]["timestamp"] -= 5  # pretend it waited 5 s
    assert bus.receive(sid, 0)["data"] == 2
    assert bus.receive(sid, 0) is None  # the expired event was skipped


def test_bus_receive_waits_for_a_publisher_thread():
    bus = EventBus()
    sid = bus.subscribe("ping")
    timer = threading.Timer(0.05, lambda: bus.publish("ping", "pong"))
    timer.start()
    event = bus.receive(sid, 5)
    timer.join()
    assert event is not None and event["data"] == "pong"


def test_bus_unsubscribe_and_unknown_ids():
    bus = EventBus()
    sid = bus.subscribe("*")
    assert bus.unsubscribe(sid) is True
    assert bus.unsubscribe(sid) is False
    with pytest.raises(KeyError):
        bus.receive(sid, 0)


def test_bus_filtering_and_file_export(tmp_path):
    out = tmp_path / "events.jsonl"
    settings = config_mod.from_dict({"events": {
        "filtering": {"exclude_types": ["debug.*"]},
        "export": {"file": str(out)}}}, environ={})
    bus = EventBus.from_settings(settings)
    sid = bus.subscribe("*")
    assert bus.publish("debug.noise", 1) is False
    assert bus.publish("app.ready", {"ok": True}) is True
    bus.close()
    assert bus.exists(sid) is False
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["event_type"] for x in lines] == ["app.ready"]
    assert lines[0]["timestamp"].endswith("Z")


def test_lifecycle_emit_is_free_without_listeners():
    bus = EventBus()
    bus.emit("tool.execution.started", {})
    assert bus.published == 0
    sid = bus.subscribe("tool.*")
    bus.emit("tool.execution.started", {"tool_name": "x"})
    assert bus.receive(sid, 0)["language"] == "python"


def test_event_global_round_trip(lua):
    run = lua("""
      local sid = Event.subscribe("user.*")
      assert(Event.publish("user.login", {name = "ann", tags = {"a", "b"}},
                           {correlation_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}))
      Event.publish("other.thing", 1)
      local e = Event.receive(sid, 100)
      local none = Event.receive(sid, 10)
      return {type = e.event_type, name = e.data.name, tag = e.data.tags[2],
              corr = e.correlation_id, lang = e.language, target = e.target_language,
              ver = e.serialization_version, seq = e.sequence, ts = e.timestamp,
              none = none == nil, subs = #Event.list_subscriptions(),
              removed = Event.unsubscribe(sid), again = Event.unsubscribe(sid)}
    """)
    v = run.value
    assert v["type"] == "user.login" and v["name"] == "ann" and v["tag"] == "b"
    assert v["corr"] == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert v["lang"] == "Lua" and v["target"] == "Lua" and v["ver"] == "1.0"
    assert v["seq"] == 1 and v["ts"].endswith("Z") and v["none"] is True
    assert v["subs"] == 1 and v["removed"] is True and v["again"] is False


def test_event_receive_unknown_subscription_raises(lua):
    run = lua("""
      local ok, err = pcall(Event.receive, "nope", 1)
      return {ok = ok, err = tostring(err)}
    """)
    assert run.value["ok"] is False
    assert "unknown subscription id 'nope'" in run.value["err"]


def test_event_stats_count(lua):
    run = lua("""
      local sid = Event.subscribe("*")
      Event.publish("a", 1) Event.publish("b", 2)
      Event.receive(sid, 0)
      return Event.get_stats()
    """)
    stats = run.value
    assert stats["event_bus_stats"]["events_published"] == 2
    assert stats["bridge_stats"]["active_subscriptions"] == 1
    assert stats["bridge_stats"]["events_received"] == 1
    assert stats["bridge_stats"]["events_pending"] == 1


def test_rate_limit_and_component_filters(monkeypatch):
    import llmspell.events as events_mod

    now = [1000.0]
    monkeypatch.setattr(events_mod.time, "monotonic", lambda: now[0])
    bus = EventBus(max_per_second=2)
    sid = bus.subscribe("*")
    assert [bus.publish("tick", i) for i in range(4)] == [True, True, False, False]
    now[0] += 1.0  # the next second has a fresh budget
    assert bus.publish("tick", 4) is True
    assert bus.stats()["event_bus_stats"]["events_rate_limited"] == 2
    assert [bus.receive(sid, 0)["data"] for _ in range(3)] == [0, 1, 4]

    bus2 = EventBus(exclude_components=["secret_*"])
    sid2 = bus2.subscribe("*")
    bus2.emit("tool.execution.started", {"n": 1}, component="secret_tool")
    bus2.emit("tool.execution.started", {"n": 2}, component="calculator")
    assert bus2.receive(sid2, 0)["data"] == {"n": 2} and bus2.receive(sid2, 0) is None


def test_webhook_export_posts_each_event(tmp_path):
    import http.server

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers["content-length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = config_mod.from_dict({"events": {"export": {
            "webhook": f"http://127.0.0.1:{server.server_port}/hook"}}}, environ={})
        bus = EventBus.from_settings(settings)
        bus.publish("order.created", {"id": 1})
        bus.publish("order.paid", {"id": 1})
        bus.close()  # waits for the queue to drain
    finally:
        server.shutdown()
    assert [e["event_type"] for e in received] == ["order.created", "order.paid"]
    assert received[0]["data"] == {"id": 1}


def test_timing_can_be_left_out_of_lifecycle_events():
    settings = config_mod.from_dict({"events": {"emit_timing_events": False}}, environ={})
    bus = EventBus.from_settings(settings)
    sid = bus.subscribe("*")
    bus.emit("workflow.completed", {"workflow_name": "w", "duration_ms": 3.5})
    assert bus.receive(sid, 0)["data"] == {"workflow_name": "w"}


def test_exported_events_include_workflow_lifecycle(lua, tmp_path):
    out = tmp_path / "events.jsonl"
    lua("""
      Workflow.sequential({name = "w", steps = {
        {name = "a", type = "custom", ["function"] = function() return 1 end}}}):execute({})
    """, config={"events": {"export": {"file": str(out)}}})
    kinds = [json.loads(line)["event_type"] for line in out.read_text().splitlines()]
    assert kinds == ["workflow.started", "workflow.step.started", "workflow.step.completed",
                     "workflow.completed"]
