"""Replay helpers (spec § 17): modes, configs, parameter modifications, schedules and a
JSON result comparator. Plain Python; ``llmspell/api/replay.py`` exposes it to Lua.

Beyond upstream's value objects, these do their job: ``ReplayConfig.apply(value)``
applies the enabled modifications to a JSON value (paths like ``a.b.1`` or
``$.a.b[0]``), ``Schedule.next_run(after)`` computes when a schedule fires next (cron
expressions are parsed and checked), and ``compare_json`` reports every difference.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .jsonutil import json_type

MODES = ("exact", "modified", "simulate", "debug")


class ReplayError(ValueError):
    pass


@dataclass
class Modification:
    path: str
    value: Any
    enabled: bool = True


def _parts(path: str) -> list[str | int]:
    text = path.strip()
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    out: list[str | int] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        if token.startswith("["):
            out.append(int(token[1:-1]))
        else:
            out.append(token)
    if not out:
        raise ReplayError(f"empty modification path '{path}'")
    return out


def apply_modification(value: Any, path: str, new: Any) -> Any:
    """A copy of ``value`` with ``path`` set to ``new`` (intermediate objects created).

    Numeric segments index lists 0-based in ``[n]`` form and 1-based in ``.n`` form
    (Lua style), e.g. ``items.1`` and ``items[0]`` are the same element.
    """
    root = copy.deepcopy(value) if value is not None else {}
    parts = _parts(path)
    node = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            index = part if isinstance(part, int) else (int(part) - 1 if str(part).isdigit()
                                                       else None)
            if index is None or index < 0 or index > len(node):
                raise ReplayError(f"path '{path}': no list index '{part}'")
            if index == len(node):
                node.append({})
            if last:
                node[index] = new
            else:
                if node[index] is None or node[index] == {}:
                    node[index] = {}
                node = node[index]
        elif isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = new
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            raise ReplayError(f"path '{path}': '{part}' is inside a {type(node).__name__}")
    return root


@dataclass
class ReplayConfig:
    mode: str = "exact"
    compare_results: bool = True
    timeout_seconds: float = 30
    stop_on_error: bool = False
    modifications: list[Modification] = field(default_factory=list)

    def apply(self, value: Any) -> Any:
        """``value`` with every enabled modification applied (only in modified mode;
        other modes replay exactly)."""
        if self.mode != "modified":
            return copy.deepcopy(value)
        for mod in self.modifications:
            if mod.enabled:
                value = apply_modification(value, mod.path, mod.value)
        return value


# -- schedules ---------------------------------------------------------------------

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
          "sep": 9, "oct": 10, "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3,
          "thu": 4, "fri": 5, "sat": 6}


def parse_cron(expr: str) -> list[set[int]]:
    """Five fields (minute hour day month weekday) or six (seconds first, ignored)."""
    fields = expr.split()
    if len(fields) == 6:
        fields = fields[1:]
    if len(fields) != 5:
        raise ReplayError(f"cron expression '{expr}' needs 5 fields "
                          "(minute hour day month weekday)")
    out = []
    for text, (low, high) in zip(fields, _CRON_RANGES, strict=True):
        values: set[int] = set()
        for item in text.lower().split(","):
            step = 1
            if "/" in item:
                item, step_text = item.split("/", 1)
                if not step_text.isdigit() or int(step_text) == 0:
                    raise ReplayError(f"cron expression '{expr}': bad step '{step_text}'")
                step = int(step_text)
            if item in ("*", "?"):
                start, end = low, high
            elif "-" in item:
                a, b = item.split("-", 1)
                start, end = _cron_value(a, expr), _cron_value(b, expr)
            else:
                start = _cron_value(item, expr)
                end = high if step > 1 else start
            if start < low or end > high or start > end:
                raise ReplayError(f"cron expression '{expr}': '{item}' is outside "
                                  f"{low}-{high}")
            values.update(range(start, end + 1, step))
        out.append(values)
    if 7 in out[4]:  # Sunday is 0 or 7
        out[4] = (out[4] - {7}) | {0}
    return out


def _cron_value(text: str, expr: str) -> int:
    if text in _NAMES:
        return _NAMES[text]
    if not text.isdigit():
        raise ReplayError(f"cron expression '{expr}': '{text}' is not a number")
    return int(text)


@dataclass
class Schedule:
    kind: str  # once | interval | cron
    delay: float = 0.0
    interval: float = 0.0
    max_executions: int | None = None
    expression: str | None = None
    created: float = field(default_factory=time.time)
    _cron: list[set[int]] | None = None

    def __post_init__(self) -> None:
        if self.kind == "cron":
            self._cron = parse_cron(self.expression or "")
        if self.delay < 0 or self.interval < 0:
            raise ReplayError("schedule delays must not be negative")
        if self.kind == "interval" and self.interval <= 0:
            raise ReplayError("an interval schedule needs an interval above 0 seconds")

    def next_run(self, after: float | None = None, executed: int = 0) -> float | None:
        """When the schedule fires next (unix seconds) after ``after``; None when done."""
        now = time.time() if after is None else after
        if self.kind == "once":
            return self.created + self.delay if executed == 0 else None
        if self.kind == "interval":
            if self.max_executions is not None and executed >= self.max_executions:
                return None
            first = self.created + self.delay
            if now <= first:
                return first
            n = int((now - first) // self.interval) + 1
            return first + n * self.interval
        assert self._cron is not None
        minute, hour, day, month, weekday = self._cron
        t = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0) + timedelta(
            minutes=1)
        for _ in range(366 * 24 * 60):
            if (t.month in month and t.day in day and t.hour in hour and t.minute in minute
                    and (t.weekday() + 1) % 7 in weekday):
                return t.timestamp()
            t += timedelta(minutes=1)
        return None


# -- comparing results -------------------------------------------------------------


def _walk(a: Any, b: Any, path: str, diffs: list[dict[str, str]], counts: list[int]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                counts[1] += 1
                diffs.append({"path": sub, "description": "missing in replayed result"})
            elif key not in a:
                counts[1] += 1
                diffs.append({"path": sub, "description": "added in replayed result"})
            else:
                _walk(a[key], b[key], sub, diffs, counts)
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(b):
                counts[1] += 1
                diffs.append({"path": sub, "description": "missing in replayed result"})
            elif i >= len(a):
                counts[1] += 1
                diffs.append({"path": sub, "description": "added in replayed result"})
            else:
                _walk(a[i], b[i], sub, diffs, counts)
        return
    counts[1] += 1
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)
                                       and not isinstance(a, bool) and not isinstance(b, bool)):
        diffs.append({"path": path or "$", "description":
                      f"type changed from {json_type(a)} to {json_type(b)}"})
    elif a != b:
        diffs.append({"path": path or "$", "description": f"value changed from {a!r} to {b!r}"})
    else:
        counts[0] += 1



def compare_json(original: Any, replayed: Any) -> dict[str, Any]:
    diffs: list[dict[str, str]] = []
    counts = [0, 0]  # equal leaves, all leaves
    _walk(original, replayed, "", diffs, counts)
    score = 1.0 if counts[1] == 0 else counts[0] / counts[1]
    identical = not diffs
    summary = ("Results are identical" if identical else
               f"{len(diffs)} difference{'s' if len(diffs) != 1 else ''} found "
               f"(similarity {score:.0%})")
    return {"identical": identical, "similarity_score": score, "summary": summary,
            "differences": diffs}
