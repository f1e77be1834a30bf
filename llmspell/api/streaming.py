"""The Streaming global (spec § 16): coroutine-backed streams for scripts.

    local s = Streaming.create(function()
      for i = 1, 3 do Streaming.yield(i) end     -- or coroutine.yield(i)
    end)
    s:next()  --> 1      s:isDone()  --> false      s:collect()  --> {2, 3}

``s:next()`` resumes the body and returns the next yielded value (nil once finished);
an error inside the body is raised from ``next`` and ends the stream. ``collect``
gathers every remaining non-nil value. Unlike upstream (a no-op there),
``Streaming.yield(v)`` really yields from the stream body, and raises when called
outside one. Pure Lua: nothing crosses into Python per value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def install(rt: Runtime, table: Any) -> None:
    rt.chunk("streaming")(table)  # pure Lua: llmspell/lua/streaming.lua
