"""The JSON global: JSON.stringify(value) and JSON.parse(text) (spec § 11).

Implemented in Lua (llmspell/lua/json.lua): crossing into Python and back for every
call costs several times Python's own json module, while the Lua version keeps a
small-table round trip near Python's speed. Python code uses llmspell.jsonutil, which
writes the same format (compact, sorted keys).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

SOURCE = Path(__file__).resolve().parent.parent / "lua" / "json.lua"


def install(rt: Runtime, table: Any) -> None:
    module = rt.lua.execute(SOURCE.read_bytes(), name=b"=llmspell")
    table[b"stringify"] = module[b"stringify"]
    table[b"parse"] = module[b"parse"]
