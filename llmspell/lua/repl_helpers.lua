-- The REPL's Lua helpers (llmspell/cli/repl.py). Compiled before the first entry runs, in the
-- prelude's private environment (see prelude.lua, "Our own chunks"): an entry that
-- replaces `load`, `tostring` or the string library changes none of them.
--   show(...)   the values of an expression entry as one line (strings/tables as JSON)
--   check(src)  whether src compiles (true, or false and the message)
--   names(path) completion candidates: the fields of the global table at "A.b.c"
local stringify = ...
local select, type, tostring, pcall, next, getmetatable, rawget, load =
  select, type, tostring, pcall, next, getmetatable, rawget, load
local concat, sort = table.concat, table.sort
local gmatch, find, sub = string.gmatch, string.find, string.sub
local G = script_globals

local function show(...)
  local n = select("#", ...)
  if n == 0 then return nil end
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    local t = type(v)
    if t == "string" or t == "table" then
      local ok, s = pcall(stringify, v)
      parts[i] = ok and s or tostring(v)
    else
      parts[i] = tostring(v)
    end
  end
  return concat(parts, "\t")
end

local function check(src)
  local f, err = load(src, "=repl", "t")
  if f then return true end
  return false, err
end

local function names(path)
  local t = G
  if path ~= "" then
    for part in gmatch(path, "[^.]+") do
      if type(t) ~= "table" then return {} end
      t = t[part]
    end
  end
  if type(t) ~= "table" then return {} end
  if next(t) == nil and getmetatable(t) ~= nil then local _ = t[""] end -- a lazy global
  local out, seen = {}, {}
  local function add(tbl)
    for k in next, tbl do
      if type(k) == "string" and not seen[k] and find(k, "^[%a_][%w_]*$")
         and sub(k, 1, 2) ~= "__" then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  add(t)
  local mt = getmetatable(t)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then add(mt.__index) end
  sort(out)
  return out
end

return { show = show, check = check, names = names }
