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

LUA = rb"""
local target = ...
local create, resume, status, yield, running =
  coroutine.create, coroutine.resume, coroutine.status, coroutine.yield, coroutine.running
local type, error, tostring, setmetatable = type, error, tostring, setmetatable
local bodies = setmetatable({}, {__mode = "k"})

local Stream = {}
Stream.__index = Stream
Stream.__tostring = function() return "Stream" end

function Stream:next()
  if type(self) ~= "table" or not self._co then
    error("stream:next() must be called with ':' (stream:next())", 2)
  end
  if self._done then return nil end
  local ok, value = resume(self._co)
  if not ok then
    self._done = true
    error(value, 2)
  end
  if status(self._co) == "dead" then
    self._done = true
  end
  return value
end

function Stream:isDone()
  if self._done then return true end
  return status(self._co) == "dead"
end
Stream.is_done = Stream.isDone

function Stream:collect()
  local out = {}
  while not self._done do
    local v = self:next()
    if v ~= nil then out[#out + 1] = v end
  end
  return out
end

target.create = function(fn)
  if type(fn) ~= "function" then
    error("Streaming.create: argument #1 must be a function, got " .. type(fn), 2)
  end
  local co = create(fn)
  bodies[co] = true
  return setmetatable({ _co = co, _done = false }, Stream)
end

target.yield = function(...)
  local co = running()
  if not co or not bodies[co] then
    error("Streaming.yield: call it inside the function given to Streaming.create", 2)
  end
  return yield(...)
end
"""


def install(rt: Runtime, table: Any) -> None:
    loader = rt.lua.execute(b"return function(src, ...) return load(src, '=Streaming', 't')(...)"
                            b" end")
    loader(LUA, table)
