-- llmspell sandbox prelude.
--
-- Runs once in a fresh LuaJIT state, before any script. It receives a table of
-- Python callbacks (`py`), keeps private handles to the dangerous parts of the
-- standard library, and rebuilds the globals a script sees:
--   * no `python`, `ffi`, `jit`, `string.dump`, `package.loadlib`, C loaders;
--   * `load`/`loadstring` accept text only, `require` reads .lua files from the
--     script's folder and configured module paths;
--   * `io`/`os` only as far as [runtime.security] allows;
--   * `print`/`io.write` write through Python (upstream number formatting);
--   * Lua 5.4 conveniences: table.pack/unpack/move, math.type/tointeger, utf8,
--     string.format that refuses non-integral %d like 5.4;
--   * a count hook (the JIT is off so it fires in every loop) that stops the
--     script on timeout, Ctrl-C or os.exit, through an error value that pcall
--     cannot swallow.
-- Every Python callback uses one protocol: it returns `true, ...` on success,
-- `false, message` on error, and `false, ABORT` when the run must stop.

local py = ...
local INTERNAL = "=llmspell"  -- the chunk name of our own code (tracebacks drop its frames)

local _G = _G
local error, type, select, tostring, tonumber = error, type, select, tostring, tonumber
local pcall, xpcall, setmetatable, getmetatable = pcall, xpcall, setmetatable, getmetatable
local rawget, rawset, pairs, ipairs, next = rawget, rawset, pairs, ipairs, next
local sformat, sfind, ssub, sbyte, schar, sgsub, srep, smatch =
  string.format, string.find, string.sub, string.byte, string.char, string.gsub, string.rep,
  string.match
local floor, huge, abs = math.floor, math.huge, math.abs
local tconcat, tinsert, unpack = table.concat, table.insert, unpack
local co_resume, co_create, co_status, co_wrap_orig, co_running, co_yield =
  coroutine.resume, coroutine.create, coroutine.status, coroutine.wrap, coroutine.running,
  coroutine.yield
local real_load = load
local real_setfenv, real_getfenv, rawequal, assert = setfenv, getfenv, rawequal, assert
local collectgarbage = collectgarbage
local real_io = io
local real_os = os
local dbg = debug
local traceback = debug.traceback
local getinfo = debug.getinfo

-- The JIT is off so the count hook fires inside every loop (LuaJIT does not run
-- hooks in compiled traces); the interpreter is still fast.
jit.off()
jit.flush()

local ABORT = setmetatable({}, { __tostring = function() return "script aborted" end,
                                 __metatable = false })

-- Python callback protocol -------------------------------------------------

-- A Python exception that escaped the protocol (a bug, or Ctrl-C at an unlucky moment)
-- would reach Lua as a Python object: it becomes the abort (when the run is stopping) or a
-- plain string, never the object itself.
local function lost(level)
  local asked, stop = pcall(py.check)
  if asked and stop then error(ABORT, 0) end
  error("internal error in an llmspell function (run with --debug for details)", level)
end

local NO_MEMORY = "not enough memory"  -- preallocated by LuaJIT: raising it allocates nothing

-- The end of a wrapped call: its results, or its error raised `level` levels up.
local function finisher(level)
  return function(called, ok, ...)
    if ok == true then return ... end
    if not called then lost(level + 1) end
    local err = ...
    if err == ABORT then error(ABORT, 0) end
    if err == NO_MEMORY then error(NO_MEMORY, 0) end
    error(err, level)
  end
end

local finish = finisher(2)

local function wrap(f)
  return function(...) return finish(pcall(f, ...)) end
end

-- For callbacks used inside the prelude's own functions: the error names the line of
-- the script that called that function (one level further up).
local finish_up = finisher(3)

local function wrap_up(f)
  return function(...) return finish_up(pcall(f, ...)) end
end

-- lupa gives every Python object one shared metatable; a script that could reach it
-- would rewrite `__call` of every permission check. `__metatable` hides it from
-- getmetatable and makes setmetatable refuse (lupa itself reads it with the C API).
do
  local pymt = getmetatable(py.check)
  if type(pymt) == "table" then rawset(pymt, "__metatable", false) end
end

-- The hook: every HOOK_COUNT VM instructions ask Python whether to stop.
local check = py.check
dbg.sethook(function()
  if check() then error(ABORT, 0) end
end, "", py.hook_count)

-- pcall / xpcall / coroutines cannot swallow an abort --------------------
-- A failed call is re-raised as ABORT when its error is ABORT, and also whenever the run
-- must stop: an abort raised inside an xpcall message handler (one that loops, errors or
-- catches it) reaches xpcall as "error in error handling", not as ABORT. Asking `check`
-- costs a Python call, on the failure path only.

local function rethrow(ok, ...)
  if not ok and ((...) == ABORT or check()) then error(ABORT, 0) end
  return ok, ...
end

local function safe_pcall(f, ...)
  return rethrow(pcall(f, ...))
end

local function safe_xpcall(f, handler, ...)
  return rethrow(xpcall(f, function(e)
    if e == ABORT then return ABORT end
    return handler(e)
  end, ...))
end

local coroutine_safe = {}
for k, v in pairs(coroutine) do coroutine_safe[k] = v end
coroutine_safe.resume = function(co, ...)
  return rethrow(co_resume(co, ...))
end
coroutine_safe.wrap = function(f)
  local co = co_create(f)
  return function(...)
    local function pass(ok, ...)
      if not ok then
        local e = ...
        if e == ABORT or check() then error(ABORT, 0) end
        error(e, 2)
      end
      return ...
    end
    return pass(co_resume(co, ...))
  end
end

-- Finalizers: LuaJIT runs __gc with hooks off, so a looping finalizer could never be
-- stopped. Tables take no __gc in LuaJIT (5.1 semantics); `newproxy` (userdata with a
-- metatable) is removed from the globals; file handles' shared metatable is locked so a
-- script given file access cannot put a __gc on it. The one finalizer left is ours,
-- counting collections for Debug (`gc_count`).
local newproxy = newproxy
local gc_count = 0
local function arm_gc_counter()
  local p = newproxy(true)
  getmetatable(p).__gc = function() gc_count = gc_count + 1; arm_gc_counter() end
end
arm_gc_counter()
do
  local file_mt = getmetatable(real_io.stdout)
  if type(file_mt) == "table" then file_mt.__metatable = "file" end
end

-- Number formatting as upstream prints it (Rust f64 Display) ---------------

local function expand_exponent(s)
  local sign, mant, exp = smatch(s, "^(-?)([%d%.]+)e([-+]%d+)$")
  if not mant then return s end
  exp = tonumber(exp)
  local int, frac = smatch(mant, "^(%d*)%.?(%d*)$")
  local digits = int .. frac
  local point = #int + exp
  local out
  if point <= 0 then
    out = "0." .. srep("0", -point) .. digits
  elseif point >= #digits then
    out = digits .. srep("0", point - #digits)
  else
    out = ssub(digits, 1, point) .. "." .. ssub(digits, point + 1)
  end
  out = sgsub(out, "^0+(%d)", "%1")
  if sfind(out, "%.") then out = sgsub(sgsub(out, "0+$", ""), "%.$", "") end
  return sign .. out
end

local function format_number(x)
  if x ~= x then return "NaN" end
  if x == huge then return "inf" end
  if x == -huge then return "-inf" end
  if x == floor(x) and abs(x) < 1e15 then return sformat("%d", x) end
  local s
  for p = 15, 17 do
    s = sformat("%." .. p .. "g", x)
    if tonumber(s) == x then break end
  end
  return expand_exponent(s)
end

local function print_value(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return format_number(v) end
  if t == "nil" then return "nil" end
  if t == "boolean" then return v and "true" or "false" end
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then return tostring(v) end
    return "table"
  end
  if t == "function" then return "function" end
  if t == "thread" then return "thread" end
  return "userdata"
end

local write_out = wrap_up(py.write_out)
local write_err = wrap_up(py.write_err)
local flush_out = wrap_up(py.flush_out)

local function lua_print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = print_value((select(i, ...))) end
  write_out(tconcat(parts, "\t", 1, n) .. "\n", true)
end

-- tostring: integral numbers past %.14g precision print as integers (as 5.4's do).
local function lua_tostring(v)
  if type(v) == "number" and v == floor(v) and abs(v) >= 1e14 and abs(v) < 2^63 then
    return sformat("%.0f", v)
  end
  return tostring(v)
end

-- string.format with Lua 5.4's rules for integer conversions -------------

local function lua_format(fmt, ...)
  if type(fmt) == "string" and sfind(fmt, "%%[-+ #0]*%d*%.?%d*[dicoxX]") then
    local pos, argi = 1, 0
    while true do
      local s, e, conv = sfind(fmt, "%%[-+ #0]*%d*%.?%d*(.)", pos)
      if not s then break end
      pos = e + 1
      if conv ~= "%" then
        argi = argi + 1
        if sfind("dicoxX", conv, 1, true) then
          local v = select(argi, ...)
          if type(v) == "string" then v = tonumber(v) end
          if type(v) == "number" and (v ~= floor(v) or v ~= v) then
            error("bad argument #" .. (argi + 1) ..
                  " to 'format' (number has no integer representation)", 2)
          end
        end
      end
    end
  end
  return sformat(fmt, ...)
end

-- load / require (text only, from allowed folders) ------------------------

local function lua_load(chunk, name, mode, ...)
  if select("#", ...) > 0 then return real_load(chunk, name, "t", ...) end
  return real_load(chunk, name, "t")
end

local function lua_loadstring(s, name)
  return real_load(s, name, "t")
end

local module_source = wrap_up(py.module_source)
local loaded = {}
local preload = {}
local package_safe = { loaded = loaded, preload = preload, path = py.package_path,
                       config = "/\n;\n?\n!\n-\n" }

local function lua_require(name)
  if type(name) ~= "string" then
    error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
  end
  local hit = loaded[name]
  if hit ~= nil then return hit end
  local loader = preload[name]
  local value
  if type(loader) == "function" then
    value = loader(name)
  else
    local src, chunkname = module_source(name)
    local fn, err = real_load(src, chunkname, "t")
    if not fn then error(err, 2) end
    value = fn(name)
  end
  if value == nil then value = true end
  if loaded[name] == nil then loaded[name] = value end
  return loaded[name]
end

-- io / os limited by [runtime.security] ----------------------------------

local path_check = wrap_up(py.path_check)
local spawn_check = wrap_up(py.spawn_check)
local read_stdin = wrap_up(py.read_stdin)

local stdout_proxy, stderr_proxy, stdin_proxy
local proxy_mt = { __metatable = false, __tostring = function(f) return f.__name end }

local function write_values(writer, self_proxy, ...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    local t = type(v)
    if t == "number" then v = format_number(v)
    elseif t ~= "string" then
      error("bad argument #" .. i .. " to 'write' (string expected, got " .. t .. ")", 3)
    end
    parts[i] = v
  end
  writer(tconcat(parts, "", 1, n), false)
  return self_proxy
end

stdout_proxy = setmetatable({ __name = "file (stdout)" }, proxy_mt)
stdout_proxy.write = function(self, ...) return write_values(write_out, stdout_proxy, ...) end
stdout_proxy.flush = function() flush_out() return stdout_proxy end
stdout_proxy.setvbuf = function() return true end
stdout_proxy.close = function() return true end

stderr_proxy = setmetatable({ __name = "file (stderr)" }, proxy_mt)
stderr_proxy.write = function(self, ...) return write_values(write_err, stderr_proxy, ...) end
stderr_proxy.flush = function() return stderr_proxy end
stderr_proxy.setvbuf = function() return true end
stderr_proxy.close = function() return true end

local function stdin_read(...)
  local n = select("#", ...)
  if n == 0 then return read_stdin("l") end
  local out = {}
  for i = 1, n do out[i] = read_stdin((select(i, ...))) end
  return unpack(out, 1, n)
end

stdin_proxy = setmetatable({ __name = "file (stdin)" }, proxy_mt)
stdin_proxy.read = function(self, ...) return stdin_read(...) end
stdin_proxy.lines = function(self, fmt)
  return function() return read_stdin(fmt or "l") end
end
stdin_proxy.close = function() return true end

local io_safe = {
  stdout = stdout_proxy, stderr = stderr_proxy, stdin = stdin_proxy,
  write = function(...) return write_values(write_out, stdout_proxy, ...) end,
  flush = function() flush_out() return stdout_proxy end,
  read = stdin_read,
  open = function(path, mode)
    mode = mode or "r"
    if type(path) ~= "string" then
      error("bad argument #1 to 'open' (string expected, got " .. type(path) .. ")", 2)
    end
    local real = path_check(path, mode, "io.open")
    return real_io.open(real, mode)
  end,
  lines = function(path, ...)
    if path == nil then return stdin_proxy:lines(...) end
    local real = path_check(path, "r", "io.lines")
    return real_io.lines(real, ...)
  end,
  close = function(f)
    if f == nil or f == stdout_proxy or f == stderr_proxy or f == stdin_proxy then return true end
    return f:close()
  end,
  type = function(obj)
    if obj == stdout_proxy or obj == stderr_proxy or obj == stdin_proxy then return "file" end
    return real_io.type(obj)
  end,
  tmpfile = function()
    path_check("", "tmpfile", "io.tmpfile")
    return real_io.tmpfile()
  end,
  popen = function(cmd, mode)
    spawn_check("io.popen")
    return real_io.popen(cmd, mode)
  end,
  input = function() error("io.input is not available in the llmspell sandbox; use io.open", 2) end,
  output = function() error("io.output is not available in the llmspell sandbox; use io.open", 2) end,
}

local exit_now = wrap(py.exit)

local os_safe = {
  time = real_os.time, clock = real_os.clock, date = real_os.date,
  difftime = real_os.difftime, getenv = wrap(py.getenv),  -- secrets read as nil
  exit = function(code) exit_now(code) end,
  execute = function(cmd)
    spawn_check("os.execute")
    return real_os.execute(cmd)
  end,
  remove = function(path)
    local real = path_check(path, "w", "os.remove")
    return real_os.remove(real)
  end,
  rename = function(a, b)
    local ra = path_check(a, "w", "os.rename")
    local rb = path_check(b, "w", "os.rename")
    return real_os.rename(ra, rb)
  end,
  tmpname = function()
    path_check("", "tmpfile", "os.tmpname")
    return real_os.tmpname()
  end,
}

-- A debug library without the parts that reach into other functions ------

local debug_safe = {
  traceback = traceback,
  getinfo = function(what, ...)
    -- count levels from the caller's point of view (this wrapper is one more frame)
    if type(what) == "number" and what >= 0 then what = what + 1 end
    local info = getinfo(what, ...)
    if type(info) == "table" then info.func = nil end
    return info
  end,
}

-- Lua 5.4 conveniences ------------------------------------------------------

local function table_pack(...) return { n = select("#", ...), ... } end

local function table_move(a1, f, e, t, a2)
  a2 = a2 or a1
  if e >= f then
    if t > e or t <= f or a1 ~= a2 then
      for i = 0, e - f do a2[t + i] = a1[f + i] end
    else
      for i = e - f, 0, -1 do a2[t + i] = a1[f + i] end
    end
  end
  return a2
end

local function math_type(x)
  if type(x) ~= "number" then return nil end
  if x == floor(x) and abs(x) < 2^63 then return "integer" end
  return "float"
end

local function math_tointeger(x)
  if type(x) == "number" and x == floor(x) and abs(x) < 2^63 then return x end
  return nil
end

local utf8 = { charpattern = "[\0-\x7F\xC2-\xFD][\x80-\xBF]*" }
function utf8.char(...)
  local out = {}
  for i = 1, select("#", ...) do
    local c = select(i, ...)
    if c < 0x80 then out[i] = schar(c)
    elseif c < 0x800 then out[i] = schar(0xC0 + floor(c / 0x40), 0x80 + c % 0x40)
    elseif c < 0x10000 then
      out[i] = schar(0xE0 + floor(c / 0x1000), 0x80 + floor(c / 0x40) % 0x40, 0x80 + c % 0x40)
    else
      out[i] = schar(0xF0 + floor(c / 0x40000), 0x80 + floor(c / 0x1000) % 0x40,
                     0x80 + floor(c / 0x40) % 0x40, 0x80 + c % 0x40)
    end
  end
  return tconcat(out)
end

-- Decode the character starting at byte i; returns code point and next index, or nil.
local function decode(s, i)
  local c = sbyte(s, i)
  if not c then return nil end
  if c < 0x80 then return c, i + 1 end
  local n, cp
  if c >= 0xF0 and c < 0xF8 then n, cp = 3, c - 0xF0
  elseif c >= 0xE0 then n, cp = 2, c - 0xE0
  elseif c >= 0xC0 then n, cp = 1, c - 0xC0
  else return nil end
  for j = 1, n do
    local b = sbyte(s, i + j)
    if not b or b < 0x80 or b > 0xBF then return nil end
    cp = cp * 0x40 + (b - 0x80)
  end
  return cp, i + n + 1
end

function utf8.len(s, i, j)
  i = i or 1
  j = j or #s
  if i < 0 then i = #s + i + 1 end
  if j < 0 then j = #s + j + 1 end
  local count = 0
  while i <= j do
    local cp, nxt = decode(s, i)
    if not cp then return nil, i end
    count = count + 1
    i = nxt
  end
  return count
end

function utf8.codepoint(s, i, j)
  i = i or 1
  if i < 0 then i = #s + i + 1 end
  j = j or i
  if j < 0 then j = #s + j + 1 end
  local out = {}
  while i <= j do
    local cp, nxt = decode(s, i)
    if not cp then error("invalid UTF-8 code", 2) end
    out[#out + 1] = cp
    i = nxt
  end
  return unpack(out)
end

function utf8.codes(s)
  local i = 1
  return function()
    if i > #s then return nil end
    local cp, nxt = decode(s, i)
    if not cp then error("invalid UTF-8 code", 2) end
    local at = i
    i = nxt
    return at, cp
  end
end

function utf8.offset(s, n, i)
  local function iscont(p) local b = sbyte(s, p) return b and b >= 0x80 and b <= 0xBF end
  i = i or (n >= 0 and 1 or #s + 1)
  if i < 0 then i = #s + i + 1 end
  if n == 0 then
    while i > 1 and iscont(i) do i = i - 1 end
    return i
  end
  if iscont(i) then error("initial position is a continuation byte", 2) end
  if n > 0 then
    n = n - 1
    while n > 0 and i <= #s do
      i = i + 1
      while iscont(i) do i = i + 1 end
      n = n - 1
    end
    if n == 0 then return i end
    return nil
  end
  while n < 0 and i > 1 do
    i = i - 1
    while i > 1 and iscont(i) do i = i - 1 end
    n = n + 1
  end
  if n == 0 then return i end
  return nil
end

-- Build the script-visible globals ------------------------------------------

local string_safe = string
string_safe.dump = nil
string_safe.format = lua_format

local table_safe = table
table_safe.pack = table_pack
table_safe.unpack = unpack
table_safe.move = table_move

local math_safe = math
math_safe.type = math_type
math_safe.tointeger = math_tointeger
math_safe.maxinteger = 9007199254740991
math_safe.mininteger = -9007199254740991
math.randomseed(py.seed)
for _ = 1, 3 do math.random() end

for _, name in ipairs({ "python", "jit", "ffi", "package", "require", "module", "dofile",
                        "loadfile", "io", "os", "debug", "coroutine", "load", "loadstring",
                        "print", "pcall", "xpcall", "tostring", "newproxy" }) do
  rawset(_G, name, nil)
end

for _, name in ipairs({ "string", "table", "math", "bit" }) do loaded[name] = rawget(_G, name) end

local function not_available(name)
  return function() error(name .. " is not available in the llmspell sandbox; use require", 2) end
end

for name, value in pairs({
  print = lua_print, tostring = lua_tostring, pcall = safe_pcall, xpcall = safe_xpcall,
  load = lua_load, loadstring = lua_loadstring, require = lua_require,
  dofile = not_available("dofile"), loadfile = not_available("loadfile"),
  package = package_safe, io = io_safe, os = os_safe, debug = debug_safe,
  coroutine = coroutine_safe, utf8 = utf8,
}) do
  rawset(_G, name, value)
end
loaded.io, loaded.os, loaded.debug, loaded.coroutine, loaded.utf8, loaded._G =
  io_safe, os_safe, debug_safe, coroutine_safe, utf8, _G

-- Our own chunks: a private environment, out of the script's reach --------------
--
-- Every Lua chunk of llmspell's own (JSON, the State cache, Streaming, the Debug/Utils/
-- REPL helpers, the workflow-condition compiler) is compiled here, before the script's
-- first line, with the original `load` and this environment: a snapshot of the globals
-- and copies of the library tables. Whatever a script later does to `_G`, `string`,
-- `load`, `setmetatable`, `pairs`... changes nothing our chunks see. Chunks must not call
-- string methods with `s:method()` (the string metatable is shared with the script).

local function copy_table(t)
  local out = {}
  for k, v in next, t do out[k] = v end
  return out
end

-- The keys of `t` in the one order our chunks show them in (Debug dumps, Utils.keys):
-- numbers first, then strings, each ascending; other kinds by their text.
local tsort = table.sort
local function key_before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta == "number" end
  if ta == "number" or ta == "string" then return a < b end
  return lua_tostring(a) < lua_tostring(b)
end
local function sorted_keys(t)
  local out = {}
  for k in next, t do out[#out + 1] = k end
  tsort(out, key_before)
  return out
end

local private = {
  type = type, pairs = pairs, ipairs = ipairs, next = next, select = select,
  tostring = lua_tostring, tonumber = tonumber, error = error, assert = assert,
  pcall = safe_pcall, xpcall = safe_xpcall, setmetatable = setmetatable,
  raw_pcall = pcall,  -- catches an abort too: only for code that passes it on
  getmetatable = getmetatable, rawget = rawget, rawset = rawset, rawequal = rawequal,
  unpack = unpack, collectgarbage = collectgarbage,
  setfenv = real_setfenv, load = lua_load,
  string = copy_table(string_safe), table = copy_table(table_safe),
  math = copy_table(math_safe), coroutine = copy_table(coroutine_safe),
  bit = copy_table(bit), utf8 = copy_table(utf8), os = copy_table(os_safe),
  debug = { getinfo = getinfo, traceback = traceback, getlocal = dbg.getlocal,
            getupvalue = dbg.getupvalue },
  format_number = format_number, sorted_keys = sorted_keys,
  script_globals = _G,  -- the script's globals (workflow conditions read them)
}

local function compile(src, name)
  local fn, err = real_load(src, name or INTERNAL, "t", private)
  if not fn then error(err, 0) end
  return fn
end

-- getfenv/setfenv would hand the private environment to the script (or let it swap one):
-- both refuse functions that run in it, whether named or by stack level.
local function fenv_target(f)
  if f == nil then return 2 end
  if type(f) == "number" and f > 0 then return f + 1 end -- count from the caller
  return f
end

-- The environment getfenv/setfenv would act on; `target` counts levels from the wrapper
-- that called this (level 1 = the wrapper). Refuses the private environment.
local function env_of(target, fname)
  local env
  if type(target) == "number" then
    if target < 0 or (target > 0 and not getinfo(target + 1, "S")) then
      error("bad argument #1 to '" .. fname .. "' (invalid level)", 3)
    end
    env = real_getfenv(target == 0 and 0 or target + 1) -- + 1: this function's frame
  elseif type(target) == "function" then
    env = real_getfenv(target)
  else
    error("bad argument #1 to '" .. fname .. "' (function or level expected)", 3)
  end
  if rawequal(env, private) then
    error(fname .. ": llmspell's own functions cannot be inspected or changed", 3)
  end
  return env
end

_G.getfenv = function(f)
  local env = env_of(fenv_target(f), "getfenv")
  return env
end

_G.setfenv = function(f, env)
  local target = fenv_target(f)
  env_of(target, "setfenv")
  local result = real_setfenv(target, env) -- not a tail call: levels count this frame
  return result
end

-- The driver: run a chunk and report how it ended ---------------------------

local function error_handler(e)
  if e == ABORT then return ABORT end
  local msg
  if type(e) == "string" then msg = e
  elseif type(e) == "table" and type(getmetatable(e)) == "table"
         and rawget(getmetatable(e), "__tostring") then msg = tostring(e)
  elseif type(e) == "number" then msg = format_number(e)
  else msg = "(error object is a " .. type(e) .. " value)" end
  return { message = msg, traceback = traceback("", 2) }
end

local function run(src, chunkname)
  local fn, err = real_load(src, chunkname, "t")
  if not fn then return false, { message = err, syntax = true } end
  return xpcall(fn, error_handler)
end

-- Lazy globals: a table that fills itself on first access (once, and only itself: its
-- metatable's functions, called on another table, install nothing there). An installer
-- that fails (a store that cannot be opened) leaves the table lazy and raises at the
-- script's line (level 3: fill <- the metamethod <- the script), not at this file's.
local function lazy(name, install)
  local proxy = {}
  local done = false
  local mt
  local function fill()
    if done then return end
    done = true
    setmetatable(proxy, nil)
    local ok, err = pcall(install, proxy)
    if ok then return end
    done = false
    setmetatable(proxy, mt)
    if err == ABORT then error(ABORT, 0) end
    if type(err) == "string" then err = sgsub(err, "^llmspell:%d+: ", "") end
    error(err, 3)
  end
  mt = {
    __index = function(_, k)
      fill()
      return proxy[k]  -- not rawget: an installer may give the table a metatable
    end,
    __newindex = function(_, k, v)
      fill()
      rawset(proxy, k, v)
    end,
  }
  setmetatable(proxy, mt)
  rawset(_G, name, proxy)
  return proxy
end

return {
  ABORT = ABORT,
  wrap = wrap,
  run = run,
  lazy = lazy,
  compile = compile,
  lost = lost,
  setmetatable = setmetatable,
  format_number = format_number,
  gc_count = function() return gc_count end,
  set_hook = function(count)
    dbg.sethook(function() if check() then error(ABORT, 0) end end, "", count)
  end,
}
