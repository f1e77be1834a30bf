-- Lua side of the Debug global (llmspell/api/debug.py): value dumps and stack reports
-- need the Lua values and frames themselves. Compiled before the script runs, in the
-- prelude's private environment (see prelude.lua, "Our own chunks").
local type, tostring, next, error, pcall, getmetatable, collectgarbage =
  type, tostring, next, error, pcall, getmetatable, collectgarbage
local sort, concat = table.sort, table.concat
local rep, format, ssub, sfind = string.rep, string.format, string.sub, string.find
local floor = math.floor
local sorted_keys = sorted_keys  -- the prelude's: numbers, then strings, then the rest
local getinfo, getlocal, getupvalue = debug.getinfo, debug.getlocal, debug.getupvalue

local function opt_table(opts)
  return type(opts) == "table" and opts or {}
end

local function dump(value, opts, label)
  opts = opt_table(opts)
  local max_depth = type(opts.max_depth) == "number" and opts.max_depth or 10
  local unit = rep(" ", type(opts.indent_size) == "number" and opts.indent_size or 2)
  local compact = opts.compact_mode
  local show_types = opts.show_types
  local show_addresses = opts.show_addresses
  local max_str = type(opts.max_string_length) == "number" and opts.max_string_length or 0
  local max_entries = type(opts.max_table_entries) == "number" and opts.max_table_entries or 0
  local seen = {}
  local function scalar(v)
    local t = type(v)
    if t == "string" then
      if max_str > 0 and #v > max_str then v = ssub(v, 1, max_str) .. "..." end
      return format("%q", v)
    elseif t == "number" or t == "boolean" or t == "nil" then
      return tostring(v)
    end
    return show_addresses and tostring(v) or ("<" .. t .. ">")
  end
  local function key_repr(k)
    if type(k) == "string" and sfind(k, "^[%a_][%w_]*$") then return k end
    return "[" .. scalar(k) .. "]"
  end
  local function render(v, depth)
    if type(v) ~= "table" then
      local s = scalar(v)
      if show_types then s = s .. " (" .. type(v) .. ")" end
      return s
    end
    if seen[v] then return "<cycle>" end
    if depth >= max_depth then return "{...}" end
    seen[v] = true
    local keys = sorted_keys(v)
    local parts = {}
    local n = #v
    for i = 1, #keys do
      local k = keys[i]
      if max_entries > 0 and i > max_entries then
        parts[#parts + 1] = "... (" .. (#keys - max_entries) .. " more)"
        break
      end
      local item = render(v[k], depth + 1)
      if type(k) == "number" and k >= 1 and k <= n and k == floor(k) and compact then
        parts[#parts + 1] = item
      else
        parts[#parts + 1] = key_repr(k) .. " = " .. item
      end
    end
    seen[v] = nil
    local head = show_addresses and (tostring(v) .. " ") or ""
    if #parts == 0 then return head .. "{}" end
    if compact then return head .. "{" .. concat(parts, ", ") .. "}" end
    local pad = rep(unit, depth + 1)
    return head .. "{\n" .. pad .. concat(parts, ",\n" .. pad) .. "\n" .. rep(unit, depth) .. "}"
  end
  local s = render(value, 0)
  if label ~= nil then s = tostring(label) .. ":\n" .. s end
  return s
end

-- upstream's value_to_debug_string: how a local or upvalue shows in a trace
local function debug_string(v)
  local t = type(v)
  if t == "string" then
    if #v > 100 then return '"' .. ssub(v, 1, 97) .. '..." (' .. #v .. ")" end
    return '"' .. v .. '"'
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return t
end

local function frame_locals(level)
  local out = {}
  for i = 1, 100 do
    local name, value = getlocal(level + 1, i) -- level + 1: counted from trace()
    if name == nil then break end
    if ssub(name, 1, 1) ~= "(" then out[name] = debug_string(value) end
  end
  return out
end

local function frame_upvalues(fn)
  local out = {}
  for i = 1, 50 do
    local name, value = getupvalue(fn, i)
    if name == nil then break end
    out[name] = debug_string(value)
  end
  return out
end

-- The script's frames (ours and C functions skipped), the innermost first, in the shape
-- of upstream's StackTrace: {frames, max_depth, truncated, error}.
local function trace(opts, skip)
  opts = opt_table(opts)
  local max_depth = type(opts.max_depth) == "number" and floor(opts.max_depth) or 50
  local with_locals, with_upvalues = opts.capture_locals == true, opts.capture_upvalues == true
  local with_source = opts.include_source ~= false
  local frames, truncated = {}, false
  local level = skip
  while true do
    local info = getinfo(level, "nSluf")
    if not info then break end
    if info.what ~= "C" and info.short_src ~= "llmspell" then
      if #frames >= max_depth then truncated = true; break end
      frames[#frames + 1] = {
        name = info.name, source = with_source and info.short_src or nil,
        line = info.currentline, line_defined = info.linedefined, what = info.what,
        num_upvalues = info.nups or 0, num_params = info.nparams or 0,
        locals = with_locals and frame_locals(level) or {},
        upvalues = with_upvalues and frame_upvalues(info.func) or {},
      }
    end
    level = level + 1
  end
  return { frames = frames, max_depth = max_depth, truncated = truncated }
end

-- upstream's StackTrace::format
local function trace_text(t)
  local frames = t.frames
  if #frames == 0 then return "No stack frames available" end
  local lines = { "Stack trace:" }
  for i = 1, #frames do
    local f = frames[i]
    local line = "  #" .. (i - 1) .. ": in " ..
      (f.name and ("function '" .. f.name .. "'") or "<unknown>")
    if f.source then
      line = line .. " (" .. f.source .. (f.line and f.line >= 0 and (":" .. f.line) or "") .. ")"
    end
    lines[#lines + 1] = line
    for _, section in next, { { "    Locals:", f.locals }, { "    Upvalues:", f.upvalues } } do
      local names = {}
      for name in next, section[2] do names[#names + 1] = name end
      if #names > 0 then
        sort(names)
        lines[#lines + 1] = section[1]
        for j = 1, #names do
          lines[#lines + 1] = "      " .. names[j] .. " = " .. section[2][names[j]]
        end
      end
    end
  end
  if t.truncated then lines[#lines + 1] = "  ... (truncated at " .. t.max_depth .. " frames)" end
  return concat(lines, "\n") .. "\n"
end

return {
  dump = function(v, label) return dump(v, nil, label) end,
  dumpCompact = function(v, label) return dump(v, { compact_mode = true }, label) end,
  dumpVerbose = function(v, label)
    return dump(v, { show_types = true, show_addresses = true, max_depth = 20 }, label)
  end,
  dumpWithOptions = function(v, opts, label) return dump(v, opts, label) end,
  -- from level 1: our own frames (this chunk, the Debug wrappers) are skipped anyway
  stackTrace = function(opts) return trace_text(trace(opts, 1)) end,
  trace = function(opts) return trace(opts, 1) end,
  heap_bytes = function() return floor(collectgarbage("count") * 1024) end,
}
