"""The JSON global: JSON.stringify(value) and JSON.parse(text) (spec § 11).

Implemented in Lua (llmspell/lua/json.lua): crossing into Python and back for every
call costs several times Python's own json module, while the Lua version keeps a
small-table round trip near Python's speed. Python code uses llmspell.jsonutil, which
writes the same format (compact, sorted keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def install(rt: Runtime, table: Any) -> None:
    module = rt.chunk("json")()
    table[b"stringify"] = module[b"stringify"]
    table[b"parse"] = module[b"parse"]
