-- hooks_events.lua: hooks that change what happens, and events to watch it happen.
-- Run: llmspell run cookbook/hooks_events.lua
-- Offline. A hook returns nothing (go on), "skip", a reason string (cancel), or a table
-- such as {type = "modified", data = ...} / {type = "replace", data = ...}.

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

---------------------------------------------------------------------------
-- 1. Events: publish/subscribe with glob patterns, receive with a timeout.
---------------------------------------------------------------------------
header("events")
local orders = Event.subscribe("order.*")
local everything = Event.subscribe("*")
Event.publish("order.created", { id = 17, total = 42.5 })
Event.publish("order.shipped", { id = 17, carrier = "ferry" })
Event.publish("inventory.low", { sku = "lamp" })

while true do
  local e = Event.receive(orders, 50)
  if not e then break end
  print(string.format("#%d %s order=%d", e.sequence, e.event_type, e.data.id))
end
local seen = 0
while Event.receive(everything, 0) do seen = seen + 1 end
print("the catch-all subscription saw " .. seen .. " events")
print("nothing more within 20 ms: " .. tostring(Event.receive(orders, 20) == nil))
Event.unsubscribe(everything)

---------------------------------------------------------------------------
-- 2. Hooks on workflow stages: skip a step, rewrite a step's input and output.
---------------------------------------------------------------------------
header("hooks on a workflow")
local audit = {}
local before = Hook.register("BeforeWorkflowStage", function(ctx)
  audit[#audit + 1] = ctx.data.step_name
  if ctx.data.step_name == "notify_legacy" then
    return "skip"                                   -- this step does not run at all
  end
  if ctx.data.step_name == "price" then
    return { type = "modified", data = { input = { amount = 100, currency = "EUR" } } }
  end
end, "high")
local after = Hook.register("AfterWorkflowStage", function(ctx)
  if ctx.data.step_name == "price" then
    return { type = "modified", data = { output = ctx.data.output .. " (incl. VAT)" } }
  end
end)

local wf = Workflow.sequential({ name = "checkout", steps = {
  { name = "notify_legacy", type = "custom", ["function"] = function() error("legacy system is gone") end },
  { name = "price", type = "custom", ["function"] = function(input)
      return string.format("%.2f %s", input.amount * 1.2, input.currency)
    end },
} })
local lifecycle = Event.subscribe("workflow.*")
local result = wf:execute({ amount = 1, currency = "USD" })
print("price: " .. result.output)
print("skipped steps: " .. result.metadata.extra.skipped_steps)
print("stages the hook saw: " .. table.concat(audit, ", "))

local kinds = {}
while true do
  local e = Event.receive(lifecycle, 0)
  if not e then break end
  kinds[#kinds + 1] = e.event_type
end
print("lifecycle events: " .. table.concat(kinds, ", "))

---------------------------------------------------------------------------
-- 3. A hook that cancels: a maintenance window blocks every workflow start.
---------------------------------------------------------------------------
header("cancel")
local gate = Hook.register("BeforeWorkflowStart", function(ctx)
  return "maintenance window until 02:00"
end, "highest")
local ok, err = pcall(wf.execute, wf, {})
print("blocked: " .. tostring(not ok) .. " -- " .. tostring(err):match("cancelled by hook: (.*)$"))
gate:unregister()
print("after unregister: " .. wf:execute({ amount = 1, currency = "USD" }).output)

---------------------------------------------------------------------------
-- 4. Hooks on tools: every tool call (Tool.invoke, agents, workflow steps) runs them.
---------------------------------------------------------------------------
header("hooks on tools")
local tool_events = Event.subscribe("tool.execution.*")
local guard = Hook.register("BeforeToolExecution", function(ctx)
  local p = ctx.data.parameters
  if ctx.data.tool_name == "file_operations" and p.operation ~= "read" then
    return "file writes are disabled in this demo"
  end
  if ctx.data.tool_name == "text_manipulator" and p.operation == "uppercase" then
    -- normalise the input before the tool sees it
    return { type = "modified", data = { parameters = { operation = "uppercase",
                                                        input = p.input:gsub("^%s+", "") } } }
  end
end)
local shout = Tool.invoke("text_manipulator", { operation = "uppercase", input = "   quiet" })
print("uppercase of '   quiet': " .. shout.result.result)
local wrote, why = pcall(Tool.invoke, "file_operations",
  { operation = "write", path = "/tmp/llmspell_hooks_demo.txt", input = "x" })
print("write allowed: " .. tostring(wrote) .. " -- " .. tostring(why):match("hook: (.*)$"))
local tool_kinds = {}
while true do
  local e = Event.receive(tool_events, 0)
  if not e then break end
  tool_kinds[#tool_kinds + 1] = e.event_type:match("[^.]+$") .. ":" .. e.data.tool_name
end
print("tool events: " .. table.concat(tool_kinds, ", "))
guard:unregister()

---------------------------------------------------------------------------
-- 5. What is registered.
---------------------------------------------------------------------------
header("registered hooks")
for _, h in ipairs(Hook.list()) do
  print(string.format("%-22s %s", h.point, h.priority))
end
before:unregister()
after:unregister()
print("left after cleanup: " .. #Hook.list())

return { events_seen = seen, price = result.output, lifecycle_events = #kinds,
         cancelled = not ok, shout = shout.result.result, write_blocked = not wrote }
