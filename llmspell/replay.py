"""Replay helpers (spec § 17): modes, configs, parameter modifications, schedules and a
JSON result comparator. Plain Python; ``llmspell/api/replay.py`` exposes it to Lua.

Beyond upstream's value objects, these do their job: ``ReplayConfig.apply(value)``
applies the enabled modifications to a JSON value (paths like ``a.b.1`` or
``$.a.b[0]``), ``Schedule.next_run(after)`` computes when a schedule fires next (cron
expressions by ``croniter``, imported only when a cron schedule is made), and
``compare_json`` reports every difference.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

# upstream's own forms: the next run is this long after the previous one (not aligned)
STEP_FORMS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0}
MAX_CRON_LENGTH = 256


def parse_cron(expr: str) -> Any:
    """A croniter for ``expr`` (checked), or raise ReplayError saying what is wrong.

    Five fields (minute hour day month weekday), six (seconds first, as upstream's cron
    crate writes them) or a nickname (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``,
    ``@yearly``/``@annually``, ``@midnight``). When both day-of-month and day-of-week are
    restricted, either one matching fires the schedule (Vixie cron). Times are UTC.
    """
    text = " ".join(expr.split())
    if not text:
        raise ReplayError("cron expression is empty")
    if len(text) > MAX_CRON_LENGTH:
        raise ReplayError(f"cron expression is longer than {MAX_CRON_LENGTH} characters")
    fields = text.split(" ")
    if not text.startswith("@") and len(fields) not in (5, 6):
        raise ReplayError(f"cron expression '{text}' needs 5 fields (minute hour day month "
                          "weekday), 6 with seconds first, or a name such as @daily")
    from croniter import croniter

    try:
        return croniter(text, datetime.fromtimestamp(0, UTC), ret_type=float,
                        second_at_beginning=len(fields) == 6)
    except (ValueError, KeyError, TypeError) as exc:  # croniter's errors are ValueErrors
        why = str(exc)
        if "out of range" in why:
            why = ("a value is out of range (second 0-59, minute 0-59, hour 0-23, day 1-31, "
                   "month 1-12 or jan-dec, weekday 0-7 or sun-sat)")
        raise ReplayError(f"cron expression '{text}': {why}") from None


def _cron_next(cron: Any, after: float) -> float | None:
    """The first time the croniter fires strictly after ``after`` (None: never)."""
    from croniter import CroniterBadDateError

    cron.set_current(datetime.fromtimestamp(after, UTC), force=True)
    try:
        return float(cron.get_next(float))
    except CroniterBadDateError:  # a date that never comes (30 February)
        return None


@dataclass
class Schedule:
    kind: str  # once | interval | cron
    delay: float = 0.0
    interval: float = 0.0
    max_executions: int | None = None
    expression: str | None = None
    created: float = field(default_factory=time.time)
    _cron: Any = None

    def __post_init__(self) -> None:
        if self.kind == "cron":
            expr = (self.expression or "").strip()
            if expr.lower() not in STEP_FORMS:
                self._cron = parse_cron(expr)
                if _cron_next(self._cron, self.created) is None:
                    raise ReplayError(f"cron expression '{expr}' never fires")
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
        if self._cron is None:  # hourly / daily / weekly
            return now + STEP_FORMS[(self.expression or "").strip().lower()]
        return _cron_next(self._cron, now)


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
