-- The JSON global, in Lua: JSON.stringify(value) / JSON.parse(text) (spec § 11, § 0.3).
--
-- Written in Lua rather than crossing into Python because a round trip through the
-- Lua<->Python boundary costs several times Python's own json module; here a small
-- table round-trips in about the time Python takes.
--   stringify: compact, object keys sorted, integral numbers without a decimal part,
--              NaN/inf -> null, {} -> {}, a table with 1..#t set -> array (other keys
--              dropped), number keys -> decimal strings, functions/userdata -> error.
--   parse:     null -> nil, arrays 1-based; errors read "JSON parse error: ...".
local type, pairs, tostring, error, select, pcall = type, pairs, tostring, error, select, pcall
local sformat, sfind, ssub, sbyte, schar, sgsub =
  string.format, string.find, string.sub, string.byte, string.char, string.gsub
local floor, huge, abs = math.floor, math.huge, math.abs
local concat, sort = table.concat, table.sort
local tonumber = tonumber

local MAX_DEPTH = 200

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c)
  return escapes[c] or sformat("\\u%04x", sbyte(c))
end

local function quote(s)
  if sfind(s, '[%c"\\]') then s = sgsub(s, '[%c"\\]', escape_char) end
  return '"' .. s .. '"'
end

local function number(v)
  if v ~= v or v == huge or v == -huge then return "null" end
  if v == floor(v) and abs(v) < 2^63 then
    if v == 0 then return "0" end
    return sformat("%.0f", v)
  end
  local s
  for p = 15, 17 do
    s = sformat("%." .. p .. "g", v)
    if tonumber(s) == v then break end
  end
  -- 1e-07 -> 1e-7, 1e+300 -> 1e300 (as serde_json writes them)
  return (sgsub(sgsub(s, "e%+", "e"), "e(%-?)0+(%d)", "e%1%2"))
end

local function key_string(k)
  local t = type(k)
  if t == "string" then return k end
  if t == "number" then
    if k == floor(k) and abs(k) < 1e15 then return sformat("%d", k) end
    return number(k)
  end
  return nil
end

local encode

local function encode_table(t, buf, depth)
  if depth > MAX_DEPTH then
    error("JSON.stringify: table nesting too deep (is there a cycle?)", 0)
  end
  local n = #t
  if n > 0 then
    local ok = true
    for i = 1, n do
      if t[i] == nil then ok = false break end
    end
    if ok then
      buf[#buf + 1] = "["
      for i = 1, n do
        if i > 1 then buf[#buf + 1] = "," end
        encode(t[i], buf, depth + 1)
      end
      buf[#buf + 1] = "]"
      return
    end
  end
  local keys, map = {}, {}
  for k, v in pairs(t) do
    local ks = key_string(k)
    if ks ~= nil then
      keys[#keys + 1] = ks
      map[ks] = v
    end
  end
  sort(keys)
  buf[#buf + 1] = "{"
  for i = 1, #keys do
    local k = keys[i]
    if i > 1 then buf[#buf + 1] = "," end
    buf[#buf + 1] = quote(k)
    buf[#buf + 1] = ":"
    encode(map[k], buf, depth + 1)
  end
  buf[#buf + 1] = "}"
end

encode = function(v, buf, depth)
  local t = type(v)
  if t == "string" then buf[#buf + 1] = quote(v)
  elseif t == "number" then buf[#buf + 1] = number(v)
  elseif t == "boolean" then buf[#buf + 1] = v and "true" or "false"
  elseif t == "nil" then buf[#buf + 1] = "null"
  elseif t == "table" then encode_table(v, buf, depth)
  else error("JSON.stringify: Unsupported Lua type for JSON conversion (" .. t .. ")", 0) end
end

local function stringify(value)
  local t = type(value)
  if t == "string" then return quote(value) end
  if t == "number" then return number(value) end
  local buf = {}
  encode(value, buf, 0)
  return concat(buf)
end

-- Parsing -------------------------------------------------------------------

local function fail(s, i, what)
  local line, col = 1, 1
  for p = 1, i - 1 do
    if sbyte(s, p) == 10 then line = line + 1; col = 1 else col = col + 1 end
  end
  error("JSON parse error: " .. what .. " at line " .. line .. " column " .. col, 0)
end

local function skip(s, i)
  local _, e = sfind(s, "^[ \t\r\n]*", i)
  return e + 1
end

local function utf8_char(c)
  if c < 0x80 then return schar(c) end
  if c < 0x800 then return schar(0xC0 + floor(c / 0x40), 0x80 + c % 0x40) end
  if c < 0x10000 then
    return schar(0xE0 + floor(c / 0x1000), 0x80 + floor(c / 0x40) % 0x40, 0x80 + c % 0x40)
  end
  return schar(0xF0 + floor(c / 0x40000), 0x80 + floor(c / 0x1000) % 0x40,
               0x80 + floor(c / 0x40) % 0x40, 0x80 + c % 0x40)
end

local simple = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                 n = "\n", r = "\r", t = "\t" }

local function parse_string(s, i)
  -- i is at the opening quote
  local j = sfind(s, '["\\%c]', i + 1)
  if j and sbyte(s, j) == 34 then return ssub(s, i + 1, j - 1), j + 1 end
  local parts = {}
  local pos = i + 1
  while true do
    j = sfind(s, '["\\%c]', pos)
    if not j then fail(s, i, "EOF while parsing a string") end
    local c = sbyte(s, j)
    parts[#parts + 1] = ssub(s, pos, j - 1)
    if c == 34 then return concat(parts), j + 1 end
    if c ~= 92 then fail(s, j, "control character in string") end
    local e = ssub(s, j + 1, j + 1)
    if e == "u" then
      local hex = ssub(s, j + 2, j + 5)
      if not sfind(hex, "^%x%x%x%x$") then fail(s, j, "invalid unicode escape") end
      local code = tonumber(hex, 16)
      pos = j + 6
      if code >= 0xD800 and code <= 0xDBFF and ssub(s, pos, pos + 1) == "\\u" then
        local low = tonumber(ssub(s, pos + 2, pos + 5), 16)
        if low and low >= 0xDC00 and low <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          pos = pos + 6
        end
      end
      parts[#parts + 1] = utf8_char(code)
    else
      local r = simple[e]
      if not r then fail(s, j, "invalid escape") end
      parts[#parts + 1] = r
      pos = j + 2
    end
  end
end

local parse_value

-- After an array element or object member ending at `i`: the start of the next one,
-- or false and the position past the `close` byte (93 `]`, 125 `}`).
local function after_member(s, i, close, message)
  i = skip(s, i)
  local c = sbyte(s, i)
  if c == close then return false, i + 1 end
  if c ~= 44 then fail(s, i, message) end
  return skip(s, i + 1)
end

local function parse_array(s, i, depth)
  local out, n = {}, 0
  i = skip(s, i + 1)
  if sbyte(s, i) == 93 then return out, i + 1 end
  while true do
    local v, past
    v, i = parse_value(s, i, depth + 1)
    n = n + 1
    out[n] = v
    i, past = after_member(s, i, 93, "expected ',' or ']'")
    if not i then return out, past end
  end
end

local function parse_object(s, i, depth)
  local out = {}
  i = skip(s, i + 1)
  if sbyte(s, i) == 125 then return out, i + 1 end
  while true do
    if sbyte(s, i) ~= 34 then fail(s, i, "key must be a string") end
    local k
    k, i = parse_string(s, i)
    i = skip(s, i)
    if sbyte(s, i) ~= 58 then fail(s, i, "expected ':'") end
    local v, past
    v, i = parse_value(s, skip(s, i + 1), depth + 1)
    out[k] = v
    i, past = after_member(s, i, 125, "expected ',' or '}'")
    if not i then return out, past end
  end
end

parse_value = function(s, i, depth)
  if depth > MAX_DEPTH then fail(s, i, "recursion limit exceeded") end
  local c = sbyte(s, i)
  if c == 34 then return parse_string(s, i) end
  if c == 123 then return parse_object(s, i, depth) end
  if c == 91 then return parse_array(s, i, depth) end
  if c == 116 and ssub(s, i, i + 3) == "true" then return true, i + 4 end
  if c == 102 and ssub(s, i, i + 4) == "false" then return false, i + 5 end
  if c == 110 and ssub(s, i, i + 3) == "null" then return nil, i + 4 end
  local a, e = sfind(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if a then
    local v = tonumber(ssub(s, a, e))
    if v == nil then fail(s, i, "invalid number") end
    return v, e + 1
  end
  if c == nil then fail(s, i, "EOF while parsing a value") end
  fail(s, i, "expected value")
end

local function parse(text)
  if type(text) ~= "string" then
    error("JSON.parse: expected a string, got " .. type(text), 2)
  end
  local v, i = parse_value(text, skip(text, 1), 0)
  i = skip(text, i)
  if i <= #text then fail(text, i, "trailing characters") end
  return v
end

return {
  stringify = function(value)
    local ok, res = pcall(stringify, value)
    if not ok then error(res, 2) end
    return res
  end,
  parse = function(text)
    local ok, res = pcall(parse, text)
    if not ok then error(res, 2) end
    return res
  end,
}
