"""The Utils global: helpers a script author reaches for.

Strings:  split(s, sep?) -> array, trim(s), startsWith(s, prefix), endsWith(s, suffix)
Tables:   deepCopy(t), merge(t1, t2, ...) -> new table, keys(t) -> sorted array,
          values(t) -> array (key order), count(t), contains(t, value), isEmpty(t),
          map(t, fn), filter(t, fn)
System:   uuid() -> v4 string, now() -> milliseconds since the epoch (float),
          sleep(ms) (bounded by the script's time limit), hash(s, algo?) -> hex digest
          (sha256 default; md5, sha1, sha512, blake2b), base64Encode(s), base64Decode(s)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

LUA_HELPERS = r"""
(function()
  local type, pairs, ipairs, tostring, sort, find, sub, error =
    type, pairs, ipairs, tostring, table.sort, string.find, string.sub, error
  local U = {}
  local function need(v, t, fn, i)
    if type(v) ~= t then
      error("Utils." .. fn .. ": argument #" .. i .. " must be a " .. t .. ", got " .. type(v), 3)
    end
  end
  function U.split(s, sep)
    need(s, "string", "split", 1)
    sep = sep or ","
    need(sep, "string", "split", 2)
    local out = {}
    if sep == "" then
      for i = 1, #s do out[i] = sub(s, i, i) end
      return out
    end
    local pos = 1
    while true do
      local a, b = find(s, sep, pos, true)
      if not a then out[#out + 1] = sub(s, pos); break end
      out[#out + 1] = sub(s, pos, a - 1)
      pos = b + 1
    end
    return out
  end
  function U.trim(s) need(s, "string", "trim", 1) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end
  function U.startsWith(s, p)
    need(s, "string", "startsWith", 1) need(p, "string", "startsWith", 2)
    return sub(s, 1, #p) == p
  end
  function U.endsWith(s, p)
    need(s, "string", "endsWith", 1) need(p, "string", "endsWith", 2)
    return p == "" or sub(s, -#p) == p
  end
  local function copy(v, seen)
    if type(v) ~= "table" then return v end
    if seen[v] then return seen[v] end
    local out = {}
    seen[v] = out
    for k, x in pairs(v) do out[copy(k, seen)] = copy(x, seen) end
    return setmetatable(out, getmetatable(v))
  end
  function U.deepCopy(t) return copy(t, {}) end
  function U.merge(...)
    local out = {}
    for i = 1, select("#", ...) do
      local t = select(i, ...)
      if t ~= nil then
        need(t, "table", "merge", i)
        for k, v in pairs(t) do out[k] = v end
      end
    end
    return out
  end
  local function before(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "number" end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end
  function U.keys(t)
    need(t, "table", "keys", 1)
    local out = {}
    for k in pairs(t) do out[#out + 1] = k end
    sort(out, before)
    return out
  end
  function U.values(t)
    need(t, "table", "values", 1)
    local out = {}
    for _, k in ipairs(U.keys(t)) do out[#out + 1] = t[k] end
    return out
  end
  function U.count(t)
    need(t, "table", "count", 1)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
  end
  function U.contains(t, value)
    need(t, "table", "contains", 1)
    for _, v in pairs(t) do if v == value then return true end end
    return false
  end
  function U.isEmpty(t) need(t, "table", "isEmpty", 1) return next(t) == nil end
  function U.map(t, fn)
    need(t, "table", "map", 1) need(fn, "function", "map", 2)
    local out = {}
    for k, v in pairs(t) do out[k] = fn(v, k) end
    return out
  end
  function U.filter(t, fn)
    need(t, "table", "filter", 1) need(fn, "function", "filter", 2)
    local out = {}
    if #t > 0 then
      for i, v in ipairs(t) do if fn(v, i) then out[#out + 1] = v end end
    else
      for k, v in pairs(t) do if fn(v, k) then out[k] = v end end
    end
    return out
  end
  return U
end)()
"""

ALGORITHMS = ("sha256", "md5", "sha1", "sha512", "blake2b")


def install(rt: Runtime, table: Any) -> None:
    helpers = rt.eval(LUA_HELPERS)
    for key, fn in helpers.items():
        table[key] = fn

    def sleep(ms: Any = None) -> None:
        if not isinstance(ms, int | float) or ms < 0:
            raise ApiError(f"Utils.sleep: expected milliseconds >= 0, got {convert.describe(ms)}")
        seconds = ms / 1000
        remaining = rt.remaining_seconds()
        if remaining is not None and seconds > remaining:
            time.sleep(remaining)
            rt.check()
            return
        time.sleep(seconds)

    def hash_(data: Any = None, algo: Any = None) -> str:
        raw = data if isinstance(data, bytes) else None
        if raw is None:
            raise ApiError(f"Utils.hash: argument #1 must be a string, got "
                           f"{convert.describe(data)}")
        name = convert.decode(algo) if isinstance(algo, bytes) else "sha256"
        if name not in ALGORITHMS:
            raise ApiError(f"Utils.hash: unknown algorithm '{name}' "
                           f"(expected one of {', '.join(ALGORITHMS)})")
        return hashlib.new(name, raw).hexdigest()

    def b64encode(data: Any = None) -> bytes:
        if not isinstance(data, bytes):
            raise ApiError(f"Utils.base64Encode: argument #1 must be a string, got "
                           f"{convert.describe(data)}")
        return base64.b64encode(data)

    def b64decode(data: Any = None) -> bytes:
        if not isinstance(data, bytes):
            raise ApiError(f"Utils.base64Decode: argument #1 must be a string, got "
                           f"{convert.describe(data)}")
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise ApiError(f"Utils.base64Decode: invalid base64: {exc}") from None

    functions: dict[str, Any] = {
        "uuid": lambda: str(uuid.uuid4()),
        "now": lambda: time.time() * 1000,
        "sleep": sleep,
        "hash": hash_,
        "base64Encode": b64encode,
        "base64Decode": b64decode,
    }
    for name, fn in functions.items():
        table[convert.encode(name)] = rt.function(fn, f"Utils.{name}")
