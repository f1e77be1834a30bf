-- Lua side of the Utils global (llmspell/api/utils.py): the string and table helpers.
-- Compiled before the script runs, in the prelude's private environment (see
-- prelude.lua, "Our own chunks"): no `s:method()` calls, every library function a local.
local type, next, tostring, select, error, setmetatable, getmetatable =
  type, next, tostring, select, error, setmetatable, getmetatable
local find, sub, gsub = string.find, string.sub, string.gsub

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

function U.trim(s)
  need(s, "string", "trim", 1)
  return (gsub(gsub(s, "^%s+", ""), "%s+$", ""))
end

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
  for k, x in next, v do out[copy(k, seen)] = copy(x, seen) end
  local mt = getmetatable(v)
  if type(mt) == "table" then setmetatable(out, mt) end
  return out
end

function U.deepCopy(t) return copy(t, {}) end

function U.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t ~= nil then
      need(t, "table", "merge", i)
      for k, v in next, t do out[k] = v end
    end
  end
  return out
end

local sorted_keys = sorted_keys  -- the prelude's: numbers, then strings, then the rest

function U.keys(t)
  need(t, "table", "keys", 1)
  return sorted_keys(t)
end

function U.values(t)
  need(t, "table", "values", 1)
  local out = {}
  local keys = sorted_keys(t)
  for i = 1, #keys do out[i] = t[keys[i]] end
  return out
end

function U.count(t)
  need(t, "table", "count", 1)
  local n = 0
  for _ in next, t do n = n + 1 end
  return n
end

function U.contains(t, value)
  need(t, "table", "contains", 1)
  for _, v in next, t do if v == value then return true end end
  return false
end

function U.isEmpty(t) need(t, "table", "isEmpty", 1) return next(t) == nil end

function U.map(t, fn)
  need(t, "table", "map", 1) need(fn, "function", "map", 2)
  local out = {}
  for k, v in next, t do out[k] = fn(v, k) end
  return out
end

function U.filter(t, fn)
  need(t, "table", "filter", 1) need(fn, "function", "filter", 2)
  local out = {}
  if #t > 0 then
    for i = 1, #t do
      local v = t[i]
      if v == nil then break end
      if fn(v, i) then out[#out + 1] = v end
    end
  else
    for k, v in next, t do if fn(v, k) then out[k] = v end end
  end
  return out
end

return U
