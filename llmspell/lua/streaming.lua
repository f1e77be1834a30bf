-- The Streaming global (llmspell/api/streaming.py): coroutine-backed streams. Compiled
-- before the script runs, in the prelude's private environment (see prelude.lua, "Our own
-- chunks"); `resume` is the sandbox's, which lets a stop (timeout, Ctrl-C) through.
local target = ...
local create, resume, status, yield, running =
  coroutine.create, coroutine.resume, coroutine.status, coroutine.yield, coroutine.running
local type, error, setmetatable = type, error, setmetatable
local bodies = setmetatable({}, { __mode = "k" })

local Stream = {}
Stream.__index = Stream
Stream.__tostring = function() return "Stream" end

local function next_value(self)
  if type(self) ~= "table" or type(self._co) ~= "thread" then
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

Stream.next = next_value

function Stream.isDone(self)
  if self._done then return true end
  return status(self._co) == "dead"
end
Stream.is_done = Stream.isDone

function Stream.collect(self)
  local out = {}
  while not self._done do
    local v = next_value(self)
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
