"""Lua source in tests without f-strings: ``lua_fmt(code, name=value)`` puts each value
where the code says ``${name}`` (Lua itself never writes ``${``), so the Lua keeps its own
braces instead of doubling them."""

from __future__ import annotations

import re

_FIELD = re.compile(r"\$\{(\w+)\}")


def lua_fmt(code: str, **values: object) -> str:
    """``code`` with every ``${name}`` replaced by ``str(values[name])``; a name without
    a value is an error, not left in the Lua."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"lua_fmt: no value for ${{{name}}}")
        return str(values[name])

    return _FIELD.sub(value, code)
