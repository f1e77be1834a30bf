"""The tool registry: what a tool is, what it returns, and the catalog of built-ins.

A ``ToolSpec`` is a name, a category, a description, its ``Param``s and an ``execute``
function ``(ctx, params) -> ToolOutput``. ``ToolOutput`` mirrors upstream's AgentOutput:
``text`` (usually the JSON envelope) and ``metadata`` (mostly empty; some tools put
their envelope in ``metadata["response"]``). When the text is JSON we made ourselves,
``parsed`` keeps the value so nobody parses it back.

Families live in one module each and expose ``TOOLS``; ``Registry.builtin()`` loads them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .schema import MISSING, Param, Params, json_schema

if TYPE_CHECKING:
    from .context import ToolContext

VERSION = "0.1.0"
FAMILIES = (
    "utility", "data", "web", "filesystem", "system", "media", "communication",
)


@dataclass(slots=True)
class ToolOutput:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    parsed: Any = MISSING  # the JSON value ``text`` encodes, when we built it


Execute = Callable[["ToolContext", Params], ToolOutput]


@dataclass
class ToolSpec:
    name: str
    category: str
    description: str
    params: list[Param]
    execute: Execute
    security_level: str = "safe"
    version: str = VERSION
    tags: tuple[str, ...] = ()

    def parameters_schema(self) -> dict[str, Any]:
        return json_schema(self.params)

    def lua_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "parameters": [p.lua_def() for p in self.params]}


def envelope(operation: str, *, success: bool = True, message: str | None = None,
             result: Any = MISSING, error: str | dict[str, Any] | None = None,
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The standard response object (spec §0.7): unset keys are left out."""
    out: dict[str, Any] = {"operation": operation, "success": success}
    if message is not None:
        out["message"] = message
    if result is not MISSING:
        out["result"] = result
    if error is not None:
        out["error"] = ({"message": error, "code": None, "details": None}
                        if isinstance(error, str) else error)
    if metadata is not None:
        out["metadata"] = metadata
    return out


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON through the C scanner, built once (``json.dumps`` rebuilds it per call)."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    chunks = make(None, str, encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(chunks(value, 0))


_COMPACT = _compact_encoder()


def to_json(value: Any, pretty: bool = False) -> str:
    """JSON text of a tool result: compact (C encoder, fast) unless ``pretty``.

    Upstream pretty-prints most envelopes; scripts read the parsed fields, and ``_raw_text``
    differs only in whitespace.
    """
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return _COMPACT(value)


def json_output(value: Any, pretty: bool = False,
                metadata: dict[str, Any] | None = None) -> ToolOutput:
    """Output whose text is the JSON of ``value`` (the common case)."""
    return ToolOutput(to_json(value, pretty), metadata or {}, value)


def ok(operation: str, result: Any = MISSING, message: str | None = None,
       **extra: Any) -> ToolOutput:
    """A successful envelope as the tool's text."""
    env = envelope(operation, message=message, result=result)
    env.update(extra)
    return json_output(env)


def wrapped_ok(tool: str, operation: str, payload: Any) -> ToolOutput:
    """Upstream's doubly wrapped result (graph-builder, pdf-processor, citation-formatter):
    ``<tool>_execute`` whose result is ``{operation, success, result, metadata{tool,
    operation}}``."""
    inner = {"operation": operation, "success": True, "result": payload,
             "metadata": {"tool": tool, "operation": operation}}
    return ok(f"{tool.replace('-', '_')}_execute", inner)


def timestamp(ts: float | None = None) -> str:
    """RFC 3339 UTC time of ``ts`` (now by default) as results show it: ``...Z``."""
    from datetime import UTC, datetime

    moment = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def message_output(message: str, env: dict[str, Any], text: str | None = None) -> ToolOutput:
    """Upstream's ``build_for_output``: a human text, the envelope in metadata.response."""
    return ToolOutput(message if text is None else text,
                      {"response": env, "operation": env.get("operation")})


class Registry:
    """Tools by name, in registration order."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def register(self, tool: ToolSpec) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool '{tool.name}' registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def all(self) -> list[ToolSpec]:
        return list(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def categories(self) -> list[str]:
        return list(dict.fromkeys(t.category for t in self._tools.values()))

    @classmethod
    def builtin(cls) -> Registry:
        reg = cls()
        for family in FAMILIES:
            module = importlib.import_module(f"{__package__}.{family}")
            for tool in module.TOOLS:
                reg.register(tool)
        return reg


_BUILTIN: list[Registry] = []


def builtin_registry() -> Registry:
    """The built-in catalog (tool specs are immutable, so one per process)."""
    if not _BUILTIN:
        _BUILTIN.append(Registry.builtin())
    return _BUILTIN[0]
