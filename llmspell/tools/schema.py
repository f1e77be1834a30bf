"""Tool parameter declarations, their JSON schema, and typed reading of a call's params.

A tool declares ``Param``s (name, type, description, required, default). They give:
- ``Tool.get(name).schema.parameters`` for Lua (upstream's ParameterDef list);
- a JSON schema (``json_schema``) for provider function calling;
- documentation (``llmspell tools show NAME``).

``Params`` reads the arguments of one call with the error texts upstream uses
("Missing required parameter 'x'"), so every tool checks its input the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ToolValidationError

MISSING: Any = object()
TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str
    required: bool = False
    default: Any = MISSING

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown parameter type {self.type!r}")

    def lua_def(self) -> dict[str, Any]:
        """Upstream's ParameterDef as Lua sees it (``number`` for integers too)."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": "number" if self.type == "integer" else self.type,
            "description": self.description,
            "required": self.required,
        }
        if self.default is not MISSING:
            out["default"] = self.default
        return out


def json_schema(params: list[Param]) -> dict[str, Any]:
    """A JSON-schema object for these parameters (for provider function calling)."""
    props: dict[str, Any] = {}
    for p in params:
        prop: dict[str, Any] = {"type": p.type, "description": p.description}
        if p.default is not MISSING and p.default is not None:
            prop["default"] = p.default
        props[p.name] = prop
    return {
        "type": "object",
        "properties": props,
        "required": [p.name for p in params if p.required],
    }


_KIND_NAMES = {str: "a string", bool: "a boolean", dict: "an object", list: "an array"}


class Params:
    """Typed access to one invocation's parameters."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __contains__(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str, default: Any = None) -> Any:
        value = self.data.get(name)
        return default if value is None else value

    def require(self, name: str) -> Any:
        value = self.data.get(name)
        if value is None:
            raise ToolValidationError(f"Missing required parameter '{name}'")
        return value

    def _typed(self, name: str, kind: type, default: Any, required: bool) -> Any:
        value = self.data.get(name)
        if type(value) is kind:  # the common case, checked first
            return value
        if value is None:
            if required:
                raise ToolValidationError(f"Missing required parameter '{name}'")
            return default
        if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ToolValidationError(
                f"Parameter '{name}' must be {_KIND_NAMES.get(kind, kind.__name__)}")
        return value

    def str(self, name: str, default: str | None = None, required: bool = False) -> Any:
        return self._typed(name, str, default, required)

    def req_str(self, name: str) -> str:
        value = self._typed(name, str, None, True)
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ToolValidationError(f"Parameter '{name}' must be a boolean")

    def number(self, name: str, default: float | None = None, required: bool = False) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                raise ToolValidationError(f"Missing required parameter '{name}'")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    return float(value) if "." in value else int(value)
                except ValueError:
                    pass
            raise ToolValidationError(f"Parameter '{name}' must be a number")
        return value

    def int(self, name: str, default: int | None = None, required: bool = False) -> Any:
        value = self.number(name, default, required)
        if value is None:
            return None
        if isinstance(value, float) and not value.is_integer():
            raise ToolValidationError(f"Parameter '{name}' must be an integer")
        return int(value)

    def obj(self, name: str, default: dict[str, Any] | None = None,
            required: bool = False) -> Any:
        value = self.data.get(name)
        if value == [] or (value == {} and default is None and not required):
            return {} if default is None else default
        return self._typed(name, dict, default, required)

    def list(self, name: str, default: list[Any] | None = None, required: bool = False) -> Any:
        value = self.data.get(name)
        if value == {}:  # an empty Lua table arrives as {}
            return []
        return self._typed(name, list, default, required)

    def str_list(self, name: str, default: list[str] | None = None,
                 required: bool = False) -> Any:
        """An array of strings, or one comma-separated string."""
        value = self.data.get(name)
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        items = self.list(name, default, required)
        if items is None:
            return None
        if not all(isinstance(x, str) for x in items):
            raise ToolValidationError(f"Parameter '{name}' must be an array of strings")
        return items
