-- performance_monitoring.lua: timers, counters and latency histograms, in plain Lua.
-- Run: llmspell run cookbook/performance_monitoring.lua
-- Real timings use os.clock (CPU seconds) around small workloads; the histogram
-- section uses a fixed list of latencies so its percentiles are the same every run.

print("Performance monitoring patterns: timers, histograms, percentiles, alerts")

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

---------------------------------------------------------------------------
-- Histogram: keeps raw samples (fine for thousands) and fixed buckets.
---------------------------------------------------------------------------
local Histogram = {}
Histogram.__index = Histogram

function Histogram.new(bounds)
  local counts = {}
  for i = 1, #bounds + 1 do counts[i] = 0 end
  return setmetatable({ bounds = bounds, counts = counts, samples = {}, sum = 0,
                        sorted = true }, Histogram)
end

function Histogram:observe(value)
  self.samples[#self.samples + 1] = value
  self.sum = self.sum + value
  self.sorted = false
  local slot = #self.bounds + 1
  for i, bound in ipairs(self.bounds) do
    if value <= bound then slot = i break end
  end
  self.counts[slot] = self.counts[slot] + 1
end

-- Nearest-rank percentile: the smallest sample with at least p% of samples <= it.
function Histogram:percentile(p)
  local n = #self.samples
  if n == 0 then return nil end
  if not self.sorted then
    table.sort(self.samples)
    self.sorted = true
  end
  local rank = math.max(1, math.ceil(p / 100 * n))
  return self.samples[rank]
end

function Histogram:mean() return #self.samples > 0 and self.sum / #self.samples or 0 end

function Histogram:render(unit)
  local lines, lower = {}, 0
  local total = #self.samples
  for i, count in ipairs(self.counts) do
    local label = self.bounds[i] and string.format("%4d-%-4d%s", lower, self.bounds[i], unit)
      or string.format("%4d+    %s", lower, unit)
    lines[#lines + 1] = string.format("  %s |%-20s| %d", label,
      string.rep("#", math.floor(20 * count / total + 0.5)), count)
    lower = self.bounds[i] and self.bounds[i] + 1 or lower
  end
  return table.concat(lines, "\n")
end

header("1. Latency histogram (40 recorded API latencies, ms)")
local latencies = {
  120, 95, 101, 87, 143, 99, 110, 130, 92, 105, 98, 115, 89, 97, 250, 108, 93, 102, 118, 96,
  104, 91, 125, 100, 94, 890, 106, 99, 112, 103, 88, 97, 135, 109, 95, 101, 420, 98, 107, 100,
}
local api = Histogram.new({ 100, 150, 300, 500 })
for _, ms in ipairs(latencies) do api:observe(ms) end
print(api:render("ms"))
local p50, p95, p99 = api:percentile(50), api:percentile(95), api:percentile(99)
print(string.format("count=%d mean=%.1fms p50=%dms p95=%dms p99=%dms max=%dms",
  #api.samples, api:mean(), p50, p95, p99, api:percentile(100)))

---------------------------------------------------------------------------
-- Timers: wrap a function, record its CPU time in a per-name histogram.
---------------------------------------------------------------------------
local Monitor = { timers = {}, counters = {} }

function Monitor.time(name, fn, ...)
  local t0 = os.clock()
  local result = fn(...)
  local elapsed_ms = (os.clock() - t0) * 1000
  local h = Monitor.timers[name]
  if not h then
    h = Histogram.new({ 1, 5, 20 })
    Monitor.timers[name] = h
  end
  h:observe(elapsed_ms)
  return result, elapsed_ms
end

function Monitor.count(name, by)
  Monitor.counters[name] = (Monitor.counters[name] or 0) + (by or 1)
end

local function build_with_concat(n)
  local s = ""
  for i = 1, n do s = s .. tostring(i) .. "," end
  return #s
end

local function build_with_table(n)
  local parts = {}
  for i = 1, n do parts[#parts + 1] = tostring(i) end
  return #table.concat(parts, ",") + 1
end

header("2. Timing two ways to build a string (5 runs each, os.clock)")
local len_a, len_b
for _ = 1, 5 do
  len_a = Monitor.time("string ..", build_with_concat, 3000)
  len_b = Monitor.time("table.concat", build_with_table, 3000)
  Monitor.count("builds", 2)
end
print(string.format("both produce %d characters: %s", len_a, tostring(len_a == len_b)))
local names = {}
for name in pairs(Monitor.timers) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local h = Monitor.timers[name]
  print(string.format("  %-13s runs=%d mean=%.3fms p50=%.3fms max=%.3fms", name, #h.samples,
    h:mean(), h:percentile(50), h:percentile(100)))
end
print("counter builds = " .. Monitor.counters.builds)

---------------------------------------------------------------------------
-- Threshold alerts: compare a window of samples against an SLO.
---------------------------------------------------------------------------
header("3. SLO check (p95 must stay under 200ms, error rate under 5%)")
local function check_slo(hist, errors, requests, p95_limit, error_limit)
  local alerts = {}
  local p95v = hist:percentile(95)
  if p95v > p95_limit then
    alerts[#alerts + 1] = string.format("p95 %dms exceeds %dms", p95v, p95_limit)
  end
  local rate = 100 * errors / requests
  if rate > error_limit then
    alerts[#alerts + 1] = string.format("error rate %.1f%% exceeds %.1f%%", rate, error_limit)
  end
  return alerts
end
local alerts = check_slo(api, 3, #latencies, 200, 5)
for _, a in ipairs(alerts) do print("ALERT: " .. a) end
print(string.format("%d alert(s) raised", #alerts))

return { p50_ms = p50, p95_ms = p95, p99_ms = p99, alerts = #alerts,
         timed_runs = Monitor.counters.builds }
