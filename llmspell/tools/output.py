"""AgentOutput -> the value a script sees (spec §0.5), shared by tools and agents.

``output_to_lua_value(text, metadata)`` returns plain Python (the runtime turns it into
a Lua table):
1. ``text`` is a JSON object with any of ``success``/``result``/``operation``: its keys at
   the top level, plus ``_raw_text`` (and no ``text``);
2. other JSON: ``data`` (the parsed value) and ``text``;
3. not JSON: ``text``;
4. always ``metadata`` (replacing any envelope ``metadata``): pass the output metadata
   flattened, i.e. ``model``, ``token_count``, ``execution_time_ms``, ``confidence`` when
   set, plus every ``extra`` key.
JSON null becomes nil when the dict reaches Lua (the key disappears).
"""

from __future__ import annotations

import json
from typing import Any

_UNSET: Any = object()
ENVELOPE_KEYS = ("success", "result", "operation")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def parse_json(text: str) -> Any:
    """The JSON value of ``text``, or ``_UNSET`` when it is not JSON."""
    if not text or text[0] in " \t\r\n" and not text.strip():
        return _UNSET
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _UNSET


def output_to_lua_value(text: str, metadata: dict[str, Any] | None = None, *,
                        parsed: Any = _UNSET) -> dict[str, Any]:
    """Build the script-visible result of a tool or agent output.

    ``parsed`` may carry the JSON value ``text`` encodes (when the caller built the text
    from it) to save parsing it again.
    """
    value = parse_json(text) if parsed is _UNSET else parsed
    out: dict[str, Any]
    if type(value) is dict and ("success" in value or "result" in value
                                or "operation" in value):
        out = dict(value)
        out["_raw_text"] = text
    elif value is not _UNSET:
        out = {"data": value, "text": text}
    else:
        out = {"text": text}
    out["metadata"] = dict(metadata) if metadata else {}
    return out
