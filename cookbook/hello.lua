-- hello.lua: the smallest llmspell script.
-- Run: llmspell run cookbook/hello.lua -- Ada --greeting Hi
-- Shows printing, script arguments (ARGS) and the JSON global; no keys or services needed.

local name = (ARGS and ARGS[1]) or "world"
local greeting = (ARGS and ARGS.greeting) or "Hello"
print(string.format("%s, %s! This is llmspell running %s.", greeting, name, _VERSION))

-- ARGS holds the script name at [0], positional arguments at 1..n and --name value pairs.
local positional, named = {}, {}
for k, v in pairs(ARGS or {}) do
  if type(k) == "number" then
    if k >= 1 then positional[#positional + 1] = v end
  else
    named[#named + 1] = k .. "=" .. v
  end
end
table.sort(named)
if #positional > 0 or #named > 0 then
  print("script: " .. tostring(ARGS[0]))
  print("positional args: " .. (#positional > 0 and table.concat(positional, ", ") or "(none)"))
  print("named args: " .. (#named > 0 and table.concat(named, ", ") or "(none)"))
end

-- A JSON round trip: Lua table -> JSON text -> Lua table.
local original = { language = "lua", tags = { "cookbook", "hello" }, version = 1 }
local text = JSON.stringify(original)
print("JSON.stringify: " .. text)
local back = JSON.parse(text)
print(string.format("JSON.parse: language=%s, tags=%d, second tag=%s",
  back.language, #back.tags, back.tags[2]))

return { greeted = name, json_bytes = #text }
