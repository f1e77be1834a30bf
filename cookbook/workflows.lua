-- workflows.lua: the four workflow kinds, passing data between steps, error handling.
-- Run: llmspell run cookbook/workflows.lua
-- Offline: steps are Lua functions and built-in tools (no API keys). Swap a step for
-- {type = "agent", agent = "<name>"} to bring a model in; nothing else changes.

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

---------------------------------------------------------------------------
-- 1. Sequential: each step receives the previous step's output.
--    Tool inputs can pull values in with {{prev}}, {{input.x}}, {{step.NAME.field}}.
---------------------------------------------------------------------------
header("sequential: clean -> measure -> shout")
local pipeline = Workflow.sequential({
  name = "text_pipeline",
  steps = {
    { name = "clean", type = "custom", ["function"] = function(input)
        return (input.text:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
      end },
    { name = "measure", type = "custom", ["function"] = function(text, ctx)
        return { text = text, words = select(2, text:gsub("%S+", "")), chars = #text }
      end },
    { name = "shout", type = "tool", tool = "text_manipulator",
      input = { operation = "uppercase", input = "{{step.measure.text}}" } },
  },
})
local result = pipeline:execute({ text = "   workflows   pass   data along  " })
local extra = result.metadata.extra
print("words counted:   " .. extra.outputs.measure.words)
print("final output:    " .. result.output.result.result)
print(string.format("steps: %d ok of %d, %d ms", extra.successful_steps, extra.total_steps,
  result.metadata.execution_time_ms))

---------------------------------------------------------------------------
-- 2. Parallel: branches run at the same time (tool and agent steps overlap on I/O).
---------------------------------------------------------------------------
header("parallel: three calculations at once")
local fanout = Workflow.parallel({
  name = "fan_out",
  max_concurrency = 3,
  branches = {
    { name = "area", steps = { { name = "calc", type = "tool", tool = "calculator",
        input = { operation = "evaluate", input = "3.14159 * 2 * 2" } } } },
    { name = "hypotenuse", steps = { { name = "calc", type = "tool", tool = "calculator",
        input = { operation = "evaluate", input = "sqrt(3^2 + 4^2)" } } } },
    { name = "local_sum", steps = { { name = "sum", type = "custom",
        ["function"] = function() local s = 0 for i = 1, 100 do s = s + i end return s end } } },
  },
})
local par = fanout:execute({})
print(string.format("area=%.2f hypotenuse=%s sum=%s", par.output.area.result.result,
  tostring(par.output.hypotenuse.result.result), tostring(par.output.local_sum)))

---------------------------------------------------------------------------
-- 3. Conditional: the builder form, with shared data deciding the branch.
---------------------------------------------------------------------------
header("conditional: route by priority")
local router = Workflow.builder():name("router"):conditional()
  :condition({ type = "shared_data_equals", key = "priority", value = "high" })
  :add_then_step({ name = "page_oncall", type = "custom",
    ["function"] = function(input) return "paged on-call about: " .. input.title end })
  :add_else_step({ name = "file_ticket", type = "custom",
    ["function"] = function(input) return "filed a ticket for: " .. input.title end })
  :build()
router:set_shared_data("priority", "high")
print(router:execute({ title = "database down" }).output)
router:set_shared_data("priority", "low")
print(router:execute({ title = "typo on the about page" }).output)

---------------------------------------------------------------------------
-- 4. Loop: over a collection, with a break condition.
---------------------------------------------------------------------------
header("loop: process orders until the budget runs out")
local spent = 0
local orders = Workflow.loop({
  name = "orders",
  iterator = { collection = { 120, 80, 300, 50, 75 } },
  body = { { name = "buy", type = "custom", ["function"] = function(price, ctx)
    spent = spent + price
    return { order = ctx.iteration, price = price, total = spent }
  end } },
  break_conditions = { function(ctx) return ctx.prev.total >= 400 end },
})
local loop = orders:execute({})
for _, o in ipairs(loop.output) do
  print(string.format("order %d: %d (running total %d)", o.order, o.price, o.total))
end
print("stopped because: " .. loop.metadata.extra.loop_exit)

---------------------------------------------------------------------------
-- 5. Errors: continue past a failing step, retry a flaky one, react with on_error.
---------------------------------------------------------------------------
header("error strategies")
local attempts = 0
local resilient = Workflow.sequential({
  name = "resilient",
  error_strategy = "continue",
  steps = {
    { name = "flaky", retry_count = 2, type = "custom", ["function"] = function()
        attempts = attempts + 1
        if attempts < 3 then error("temporary glitch") end
        return "succeeded on attempt " .. attempts
      end },
    { name = "broken", type = "custom", ["function"] = function() error("always fails") end },
    { name = "after", type = "custom", ["function"] = function(prev) return prev .. ", then went on" end },
  },
})
local r = resilient:execute({})
print(r.output)
print(string.format("failed steps: %d (%s)", r.metadata.extra.failed_steps, r.metadata.extra.errors[1]))

local strict = Workflow.sequential({ name = "strict", steps = {
  { name = "boom", type = "custom", ["function"] = function() error("disk full") end } } })
local reported
strict:on_error(function(ctx) reported = ctx.failed_step end)
local ok, err = pcall(strict.execute, strict, {})
print("fail_fast raised: " .. tostring(not ok) .. ", on_error saw step '" .. tostring(reported) .. "'")

---------------------------------------------------------------------------
-- Metrics are counted for every run.
---------------------------------------------------------------------------
header("metrics")
pipeline:execute({ text = "once more" })
local m = pipeline:get_metrics().execution
print(string.format("text_pipeline: %d runs, %d ok, avg %.2f ms", m.total_executions,
  m.successful_executions, m.average_duration_ms))

return {
  words = extra.outputs.measure.words,
  parallel_sum = par.output.local_sum,
  orders_processed = #loop.output,
  flaky_attempts = attempts,
  runs = m.total_executions,
}
