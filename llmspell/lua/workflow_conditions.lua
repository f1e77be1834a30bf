-- The compiler of workflow condition strings (llmspell/api/workflow.py, `expression`):
-- "iteration < 3" becomes a function of the step context whose variables are the context's
-- fields, then the script's globals. Compiled before the script runs, in the prelude's
-- private environment (see prelude.lua, "Our own chunks"): the `load` used here is the
-- sandbox's own (text only), whatever the script did to its global `load`.
local src = ...
local load, setfenv, setmetatable, type = load, setfenv, setmetatable, type
local G = script_globals

if type(src) ~= "string" then return nil, "condition must be a string" end
local f, err = load("return " .. src, "=condition", "t")
if not f then return nil, err end
return function(ctx)
  setfenv(f, setmetatable({}, { __index = function(_, k)
    local v = ctx[k]
    if v == nil then return G[k] end
    return v
  end }))
  return f()
end
