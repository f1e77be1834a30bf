-- Fast paths of State.save/load/set/get (see llmspell/api/state.py, "fast paths").
-- Compiled before the script runs, in the prelude's private environment (see
-- prelude.lua, "Our own chunks"); the Python callables it gets stay in its locals.
--
-- save: the value is turned into JSON text here, in one walk that also builds the copy a
-- JSON round trip would give (same rules as convert.py: a table whose 1..#t are all set is
-- an array, other tables are objects with string and integral number keys, NaN/inf become
-- null). Python gets two strings instead of walking the table through lupa. Anything
-- unusual (a function, a non-integral number key, deep nesting, a nil or NaN value,
-- non-string scope or key) falls back to the Python path, which raises the usual errors.
--
-- load (memory backend): Lua keeps the copy made at save time (or the value converted by
-- the last load); Python answers whether the stored value is still the one this copy came
-- from (nobody wrote the key since). If so, load returns a fresh deep copy of it made
-- here; otherwise Python's value, converted, becomes the new copy.
--
-- The copies live in the script's Lua heap, so they are bounded: two generations
-- (`young`, `old`); when `young` reaches MAX_ENTRIES copies or MAX_BYTES of JSON text it
-- becomes `old` and the previous `old` is dropped. A copy read from `old` moves back to
-- `young`. A value bigger than a quarter of MAX_BYTES is not kept at all.
local py_save, py_set, py_load, ABORT, lost, use_cache, MAXD, MAX_ENTRIES, MAX_BYTES,
      slow_save, slow_load, slow_set, slow_get = ...

local type, next, tostring, error, pcall, rawget = type, next, tostring, error, pcall, rawget
-- the plain pcall: around `enc` an abort is passed on below; a Python callable never
-- raises one (its errors come back as values; anything else escaping goes to `lost`)
local raw_pcall = raw_pcall
local find, gsub, format, char = string.find, string.gsub, string.format, string.char
local concat, floor, huge = table.concat, math.floor, math.huge

local FALLBACK = {}
local esc = { ['"'] = '\\"', ['\\'] = '\\\\', ['\127'] = '\\u007f' }
for i = 0, 31 do esc[char(i)] = format("\\u%04x", i) end

local buf, nb = {}, 0

local function put_string(s)
  if find(s, '[%c"\\]') then s = gsub(s, '[%c"\\]', esc) end
  nb = nb + 1; buf[nb] = '"'
  nb = nb + 1; buf[nb] = s
  nb = nb + 1; buf[nb] = '"'
end

local function integral(x)
  if x > -1e14 and x < 1e14 then return tostring(x) end
  return format("%.0f", x)
end

local enc
enc = function(v, depth)
  local t = type(v)
  if t == "string" then
    put_string(v)
    return v
  elseif t == "number" then
    if v ~= v or v == huge or v == -huge then
      nb = nb + 1; buf[nb] = "null"
      return nil
    end
    if v == floor(v) and v >= -9223372036854775808 and v < 9223372036854775808 then
      if v == 0 then v = 0 end -- -0 round-trips as 0
      nb = nb + 1; buf[nb] = integral(v)
    else
      nb = nb + 1; buf[nb] = format("%.17g", v)
    end
    return v
  elseif t == "boolean" then
    nb = nb + 1; buf[nb] = v and "true" or "false"
    return v
  elseif t == "table" then
    if depth > MAXD then error(FALLBACK) end
    local out = {}
    local n = #v
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
        local kt, ks = type(k), nil
        if kt == "string" then
          ks = k
        elseif kt == "number" then
          if k ~= floor(k) then error(FALLBACK) end
          ks = integral(k)
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
    return out
  end
  error(FALLBACK)
end

-- the JSON text of v and its round-trip copy, or nil when the Python path must decide
local function encode(v)
  if v == nil or v ~= v or v == huge or v == -huge then return nil end
  nb = 0
  local ok, copy = raw_pcall(enc, v, 0)
  if not ok then
    if copy == FALLBACK then return nil end
    error(copy, 0) -- an abort or a memory error: pass it on
  end
  local text = concat(buf, "", 1, nb)
  if nb > 64 then buf = {} end -- do not keep a big value's pieces alive
  return text, copy
end

local function deep_copy(t)
  local out = {}
  for k, v in next, t do
    if type(v) == "table" then v = deep_copy(v) end
    out[k] = v
  end
  return out
end

local young, old, young_size, old_size = {}, {}, {}, {}
local young_n, young_bytes = 0, 0
local TOO_BIG = MAX_BYTES / 4

local function forget_all()
  young, old, young_size, old_size = {}, {}, {}, {}
  young_n, young_bytes = 0, 0
end

local function rotate()
  old, old_size = young, young_size
  young, young_size, young_n, young_bytes = {}, {}, 0, 0
end

-- A key is in `young` or in `old`, never both.
local function drop(full)
  local before = young_size[full]
  if before then
    young_n, young_bytes = young_n - 1, young_bytes - before
    young[full], young_size[full] = nil, nil
  elseif old[full] ~= nil then
    old[full], old_size[full] = nil, nil
  end
end

local function remember(full, copy, size)
  local before = young_size[full]
  if before then
    young_n, young_bytes = young_n - 1, young_bytes - before
  elseif old[full] ~= nil then
    old[full], old_size[full] = nil, nil
  end
  if copy == nil or size > TOO_BIG then
    if before then young[full], young_size[full] = nil, nil end
    return
  end
  young[full], young_size[full] = copy, size
  young_n, young_bytes = young_n + 1, young_bytes + size
  if young_n >= MAX_ENTRIES or young_bytes >= MAX_BYTES then rotate() end
end

local function recall(full)
  local copy = young[full]
  if copy ~= nil then return copy end
  copy = old[full]
  if copy ~= nil then remember(full, copy, old_size[full] or 0) end
  return copy
end

local function fail(err)
  if err == ABORT then error(ABORT, 0) end
  error(err, 4) -- fail < save_full/load_full < save/load/set/get < the script
end

local function save_full(full, value, py)
  local text, copy = encode(value)
  if text == nil then return false end
  local called, ok, err = raw_pcall(py, full, text)
  if not called then lost(4) end
  if ok ~= true then fail(err) end
  if use_cache then remember(full, copy, #text) end
  return true
end

local function load_full(full)
  local cached
  if use_cache then cached = recall(full) end
  local called, ok, valid, value, size = raw_pcall(py_load, full, cached ~= nil)
  if not called then lost(4) end
  if ok ~= true then fail(valid) end
  if valid then
    if type(cached) == "table" then return deep_copy(cached) end
    return cached
  end
  if use_cache then
    -- Python now remembers this value as the one Lua holds a copy of
    remember(full, value, size or 0)
    if type(value) == "table" then return deep_copy(value) end
  end
  return value
end

local function save(scope, key, value)
  if type(scope) == "string" and type(key) == "string"
      and save_full(scope .. ":" .. key, value, py_save) then
    return
  end
  return slow_save(scope, key, value)
end

local function set(key, value)
  if type(key) == "string" and save_full("global:" .. key, value, py_set) then
    return
  end
  return slow_set(key, value)
end

local function load(scope, key)
  if type(scope) == "string" and type(key) == "string" then
    return (load_full(scope .. ":" .. key))
  end
  return slow_load(scope, key)
end

local function get(key)
  if type(key) == "string" then return (load_full("global:" .. key)) end
  return slow_get(key)
end

local function forget(full)  -- nil: everything
  if full == nil then forget_all() else drop(full) end
end

return save, load, set, get, forget
