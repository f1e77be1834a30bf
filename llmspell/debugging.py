"""The service behind the `Debug` and `Logger` globals: levelled logging, filters, timers.

Plain Python (no Lua): messages go to stderr when the level and the module filters let
them through, and are kept in a bounded in-memory capture either way (while enabled).
"""

from __future__ import annotations

import fnmatch
import re
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS = ["trace", "debug", "info", "warn", "error", "off"]
PATTERN_TYPES = ("exact", "wildcard", "regex", "hierarchical")


def level_index(level: str) -> int | None:
    name = level.lower()
    if name == "warning":
        name = "warn"
    return LEVELS.index(name) if name in LEVELS else None


def _level_name(level: str) -> str:
    """Upstream's name of a level in captured entries: upper case (``WARNING`` is ``WARN``)."""
    name = level.lower()
    return "WARN" if name == "warning" else name.upper()


@dataclass
class FilterRule:
    pattern: str
    pattern_type: str
    enabled: bool

    def matches(self, module: str) -> bool:
        if self.pattern_type == "exact":
            return module == self.pattern
        if self.pattern_type == "wildcard":
            return fnmatch.fnmatchcase(module, self.pattern)
        if self.pattern_type == "regex":
            return re.search(self.pattern, module) is not None
        return (module == self.pattern or module.startswith(self.pattern + ".")
                or module.startswith(self.pattern + "::"))


@dataclass
class Timer:
    id: str
    name: str
    started: float
    laps: list[tuple[str, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    stopped: float | None = None
    start_memory: int = 0

    def elapsed_ms(self) -> float:
        end = self.stopped if self.stopped is not None else time.perf_counter()
        return (end - self.started) * 1000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The capture buffer keeps at most this much of each entry's message and metadata (its
# 1000 entries live in Python, outside the Lua heap's cap); the log line itself is whole.
CAPTURE_TEXT = 64 * 1024


def _kept(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` as the capture buffer keeps it: long messages cut, large metadata noted."""
    from .events import data_size

    message, data = entry["message"], entry.get("metadata")
    if len(message) <= CAPTURE_TEXT and (data is None or data_size(data, CAPTURE_TEXT)
                                         <= CAPTURE_TEXT):
        return entry
    kept = dict(entry)
    if len(message) > CAPTURE_TEXT:
        kept["message"] = f"{message[:CAPTURE_TEXT]}... ({len(message)} characters)"
    if data is not None and data_size(data, CAPTURE_TEXT) > CAPTURE_TEXT:
        kept["metadata"] = f"(metadata over {CAPTURE_TEXT} bytes, not kept)"
    return kept


class DebugService:
    """Levelled, filtered logging with a capture buffer, and named timers."""

    def __init__(self, level: str = "info", stream: TextIO | None = None,
                 capture_limit: int = 1000) -> None:
        self.level = level if level_index(level) is not None else "info"
        self.enabled = True
        self.default_enabled = True
        self.rules: list[FilterRule] = []
        self.captured: deque[dict[str, Any]] = deque(maxlen=capture_limit)
        self.timers: dict[str, Timer] = {}
        self.finished: list[Timer] = []
        self._stream = stream
        # Called with each entry that passes level and filters ([events] emit_debug_events).
        self.on_log: Callable[[dict[str, Any]], None] | None = None

    # -- levels and filters ---------------------------------------------------

    def set_level(self, level: str) -> bool:
        if level_index(level) is None:
            return False
        self.level = "warn" if level.lower() == "warning" else level.lower()
        return True

    def add_filter(self, pattern: str, pattern_type: str, enabled: bool) -> bool:
        if pattern_type not in PATTERN_TYPES:
            return False
        if pattern_type == "regex":
            try:
                re.compile(pattern)
            except re.error:
                return False
        self.rules = [r for r in self.rules if r.pattern != pattern]
        self.rules.append(FilterRule(pattern, pattern_type, enabled))
        return True

    def add_module_filter(self, pattern: str, enabled: bool) -> None:
        kind = "wildcard" if any(c in pattern for c in "*?[") else "hierarchical"
        self.add_filter(pattern, kind, enabled)

    def remove_filter(self, pattern: str) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.pattern != pattern]
        return len(self.rules) != before

    def module_allowed(self, module: str | None) -> bool:
        if module is None:
            return self.default_enabled
        verdict = self.default_enabled
        for rule in self.rules:  # the last matching rule wins
            if rule.matches(module):
                verdict = rule.enabled
        return verdict

    def filter_summary(self) -> dict[str, Any]:
        return {
            "default_enabled": self.default_enabled,
            "total_rules": len(self.rules),
            "rules": [{"pattern": r.pattern, "pattern_type": r.pattern_type,
                       "enabled": r.enabled} for r in self.rules],
        }

    # -- logging --------------------------------------------------------------

    def would_log(self, level: str, module: str | None = None) -> bool:
        wanted = level_index(level)
        current = level_index(self.level)
        if wanted is None or current is None or not self.enabled:
            return False
        return wanted >= current and current < LEVELS.index("off") and \
            self.module_allowed(module)

    def log(self, level: str, message: str, module: str | None = None,
            data: Any = None) -> bool:
        """Log one message; returns whether it passed the level and filters."""
        if level_index(level) is None:
            raise ValueError(f"unknown level '{level}' (expected one of "
                             f"{', '.join(LEVELS[:-1])})")
        if not self.would_log(level, module):
            return False
        entry: dict[str, Any] = {"timestamp": _now_iso(), "level": _level_name(level),
                                 "message": message}
        if module is not None:
            entry["module"] = module
        if data is not None:
            entry["metadata"] = data
        self.captured.append(_kept(entry))
        if self.on_log is not None:
            self.on_log(entry)
        stream = self._stream or sys.stderr
        where = f" [{module}]" if module else ""
        extra = ""
        if data is not None:
            from .jsonutil import dumps

            extra = " " + dumps(data)
        stream.write(f"[{level.upper():5}]{where} {message}{extra}\n")
        stream.flush()
        return True

    def captured_entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        items = list(self.captured)
        return items[-limit:] if limit else items

    # -- timers ---------------------------------------------------------------

    def start_timer(self, name: str, memory_bytes: int = 0) -> Timer:
        timer = Timer(id=str(uuid.uuid4()), name=name, started=time.perf_counter(),
                      start_memory=memory_bytes)
        self.timers[timer.id] = timer
        return timer

    def stop_timer(self, timer_id: str) -> float | None:
        timer = self.timers.pop(timer_id, None)
        if timer is None:
            return None
        timer.stopped = time.perf_counter()
        self.finished.append(timer)
        return timer.elapsed_ms()

    def lap(self, timer_id: str, name: str) -> bool:
        timer = self.timers.get(timer_id)
        if timer is None:
            return False
        timer.laps.append((name, timer.elapsed_ms()))
        return True

    def elapsed(self, timer_id: str) -> float | None:
        timer = self.timers.get(timer_id)
        return timer.elapsed_ms() if timer else None

    def record_event(self, timer_id: str, name: str, metadata: Any = None) -> bool:
        timer = self.timers.get(timer_id)
        if timer is None:
            return False
        timer.events.append({"name": name, "at_ms": timer.elapsed_ms(), "metadata": metadata})
        return True

    def _all_timers(self) -> list[Timer]:
        return self.finished + list(self.timers.values())

    def performance_report(self) -> str:
        timers = self._all_timers()
        if not timers:
            return "Performance report: no timers recorded"
        lines = ["Performance report", f"{'timer':30} {'ms':>12}  status"]
        for t in timers:
            status = "running" if t.stopped is None else "done"
            lines.append(f"{t.name[:30]:30} {t.elapsed_ms():12.3f}  {status}")
            for lap_name, at in t.laps:
                lines.append(f"  lap {lap_name[:24]:24} {at:12.3f}")
        return "\n".join(lines)

    def json_report(self) -> dict[str, Any]:
        return {
            "timers": [{"id": t.id, "name": t.name, "elapsed_ms": t.elapsed_ms(),
                        "running": t.stopped is None,
                        "laps": [{"name": n, "at_ms": at} for n, at in t.laps],
                        "events": t.events} for t in self._all_timers()],
            "captured_entries": len(self.captured),
            "level": self.level,
        }

    def flame_graph(self) -> str:
        """Folded stacks (`timer;lap microseconds`), the input format of flamegraph tools."""
        lines = []
        for t in self._all_timers():
            previous = 0.0
            for lap_name, at in t.laps:
                lines.append(f"{t.name};{lap_name} {int((at - previous) * 1000)}")
                previous = at
            lines.append(f"{t.name} {int((t.elapsed_ms() - previous) * 1000)}")
        return "\n".join(lines)

    def memory_snapshot(self, memory_bytes: int) -> dict[str, Any]:
        """Lua heap change since each running timer started (and in total)."""
        deltas = {t.name: memory_bytes - t.start_memory for t in self.timers.values()}
        return {
            "timestamp_secs": int(time.time()),
            "active_trackers": len(self.timers),
            "total_memory_delta_bytes": sum(deltas.values()),
            "tracker_memory_usage": deltas,
        }


def resident_bytes() -> int:
    """Resident set size of this process (Linux /proc, else peak RSS)."""
    try:
        with open("/proc/self/statm") as fh:
            import os

            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
