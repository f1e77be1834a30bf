-- The Lua half of the converter (see llmspell/lua/convert.py, "Fast paths"). Compiled
-- before the script runs, in the prelude's private environment; the Python callables it
-- gets stay in its locals.
--
-- json_setter(py, slow, n): a function f(s1, [s2,] value) for the adapters whose last
-- argument is stored as JSON (State.save/set/...): when the first n arguments are strings
-- and the value can be written as JSON here, Python gets the strings and the JSON text
-- (one walk in Lua instead of one call through lupa per table); anything else (a
-- function, a non-integral number key, deep nesting, nil, a value past the conversion
-- limits, a number as key) goes to `slow`, the plain Python function, which converts as
-- usual and raises the usual errors.
--
-- The JSON follows convert.py's rules for Lua -> Python: a table whose 1..#t are all set
-- is an array (other keys dropped), other tables are objects with string and integral
-- number keys (other keys dropped), NaN and infinities are null.
local ABORT, NO_MEMORY, lost, MAXD, MAX_NODES, MAX_TEXT = ...

local type, next, tostring, error, rawget, tonumber = type, next, tostring, error, rawget,
  tonumber
-- the plain pcall: around `enc` an abort is passed on below; a Python callable never
-- raises one (its errors come back as values; anything else escaping goes to `lost`)
local raw_pcall = raw_pcall
local find, gsub, format, char = string.find, string.gsub, string.format, string.char
local concat, floor, huge = table.concat, math.floor, math.huge

local FALLBACK = {}
local esc = { ['"'] = '\\"', ['\\'] = '\\\\', ['\127'] = '\127' } -- DEL as Python's json
for i = 0, 31 do esc[char(i)] = format("\\u%04x", i) end
esc["\n"], esc["\r"], esc["\t"], esc["\b"], esc["\f"] = "\\n", "\\r", "\\t", "\\b", "\\f"

local buf, nb, nodes, text = {}, 0, 0, 0

local function put_string(s)
  text = text + #s
  if find(s, '[%c"\\]') then s = gsub(s, '[%c"\\]', esc) end
  nb = nb + 1; buf[nb] = '"'
  nb = nb + 1; buf[nb] = s
  nb = nb + 1; buf[nb] = '"'
end

local function integral(x)
  if x > -1e14 and x < 1e14 then return tostring(x) end
  return format("%.0f", x)
end

-- the shortest of %.15g..%.17g that reads back as x (what Python's repr gives, mostly)
local function real(x)
  local s = format("%.15g", x)
  if tonumber(s) ~= x then
    s = format("%.16g", x)
    if tonumber(s) ~= x then s = format("%.17g", x) end
  end
  return s
end

-- writes v's JSON into buf; returns what a JSON round trip gives back (a fresh copy)
local enc
enc = function(v, depth)
  local t = type(v)
  if t == "string" then
    put_string(v)
    return v
  elseif t == "number" then
    nb = nb + 1
    if v ~= v or v == huge or v == -huge then
      buf[nb] = "null"
      return nil
    elseif v == floor(v) and v >= -9223372036854775808 and v < 9223372036854775808 then
      if v == 0 then v = 0 end -- -0 is written (and read back) as 0
      buf[nb] = integral(v)
    else
      buf[nb] = real(v)
    end
    return v
  elseif t == "boolean" then
    nb = nb + 1; buf[nb] = v and "true" or "false"
    return v
  elseif t == "table" then
    if depth > MAXD then error(FALLBACK) end
    local out = {}
    local n = #v
    nodes = nodes - 1 - n
    local array = n > 0
    if array then
      for i = 1, n do
        if rawget(v, i) == nil then array = false; break end
      end
    end
    if array then
      nb = nb + 1; buf[nb] = "["
      for i = 1, n do
        if i > 1 then nb = nb + 1; buf[nb] = "," end
        out[i] = enc(rawget(v, i), depth + 1)
      end
      nb = nb + 1; buf[nb] = "]"
    else
      nb = nb + 1; buf[nb] = "{"
      local first = true
      for k, x in next, v do
        nodes = nodes - 1
        local kt, ks = type(k), nil
        if kt == "string" then
          ks = k
        elseif kt == "number" then
          if k ~= floor(k) then error(FALLBACK) end
          ks = k == 0 and "0" or integral(k) -- -0 is written as 0
        end
        if ks ~= nil then
          if first then first = false else nb = nb + 1; buf[nb] = "," end
          put_string(ks)
          nb = nb + 1; buf[nb] = ":"
          out[ks] = enc(x, depth + 1)
        end
      end
      nb = nb + 1; buf[nb] = "}"
    end
    if nodes < 0 or text > MAX_TEXT then error(FALLBACK) end
    return out
  end
  error(FALLBACK)
end

-- the JSON text of v and its round-trip copy, or nil when the Python path must decide
local function encode(v)
  if v == nil or v ~= v or v == huge or v == -huge then return nil end
  nb, nodes, text = 0, MAX_NODES, 0
  local ok, copy = raw_pcall(enc, v, 0)
  if not ok then
    if nb > 64 then buf = {} end
    if copy == FALLBACK then return nil end
    error(copy, 0) -- an abort or a memory error: pass it on
  end
  local out = concat(buf, "", 1, nb)
  if nb > 64 then buf = {} end -- do not keep a big value's pieces alive
  return out, copy
end

local function fail(err)
  if err == ABORT then error(ABORT, 0) end
  if err == NO_MEMORY then error(NO_MEMORY, 0) end
  error(err, 3) -- fail < the setter or `copied` < the script
end

local function json_setter(py, slow, n)
  if n == 1 then
    return function(a, v)
      if type(a) == "string" then
        local json, copy = encode(v)
        if json ~= nil then
          local called, ok, err = raw_pcall(py, a, json, copy)
          if not called then lost(3) end
          if ok ~= true then fail(err) end
          return
        end
      end
      return slow(a, v)
    end
  end
  return function(a, b, v)
    if type(a) == "string" and type(b) == "string" then
      local json, copy = encode(v)
      if json ~= nil then
        local called, ok, err = raw_pcall(py, a, b, json, copy)
        if not called then lost(3) end
        if ok ~= true then fail(err) end
        return
      end
    end
    return slow(a, b, v)
  end
end

local function copy_of(t)
  local out = {}
  for k, v in next, t do
    if type(v) == "table" then v = copy_of(v) end
    out[k] = v
  end
  return out
end

local function copied(called, ok, value)
  if not called then lost(3) end -- lost < copied < the script (a tail call)
  if ok ~= true then fail(value) end
  if type(value) == "table" then return copy_of(value) end
  return value
end

-- copying_getter(py): a function whose Python callable answers Converter.from_json's
-- value; a table is one the converter keeps, so the script gets a fresh copy of it.
local function copying_getter(py)
  return function(...) return copied(raw_pcall(py, ...)) end
end

return { json_setter = json_setter, copying_getter = copying_getter, encode = encode }
