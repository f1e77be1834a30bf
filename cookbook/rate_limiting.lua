-- rate_limiting.lua: a token bucket and a sliding-window limiter, in plain Lua.
-- Run: llmspell run cookbook/rate_limiting.lua
-- Both limiters take a clock function. The demo drives a manual clock so the
-- decisions are identical on every run; pass os.time (or os.clock) in real code.

print("Rate limiting patterns: token bucket, sliding window, per-client limits")

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

local clock = { t = 0 }
function clock.now() return clock.t end
function clock.set(t) clock.t = t end

---------------------------------------------------------------------------
-- Token bucket: holds up to `capacity` tokens, refilled at `rate` tokens per
-- second. A request spends tokens; bursts up to the capacity are allowed.
---------------------------------------------------------------------------
local TokenBucket = {}
TokenBucket.__index = TokenBucket

function TokenBucket.new(capacity, rate, now)
  return setmetatable({ capacity = capacity, rate = rate, tokens = capacity, now = now,
                        last = now(), allowed = 0, denied = 0 }, TokenBucket)
end

function TokenBucket:_refill()
  local t = self.now()
  local elapsed = t - self.last
  if elapsed > 0 then
    self.tokens = math.min(self.capacity, self.tokens + elapsed * self.rate)
    self.last = t
  end
end

-- Returns true, or false plus the seconds to wait until `cost` tokens exist.
function TokenBucket:take(cost)
  cost = cost or 1
  self:_refill()
  if self.tokens >= cost then
    self.tokens = self.tokens - cost
    self.allowed = self.allowed + 1
    return true
  end
  self.denied = self.denied + 1
  return false, (cost - self.tokens) / self.rate
end

header("1. Token bucket (capacity 5, refill 2 tokens/s)")
local bucket = TokenBucket.new(5, 2, clock.now)
local line = {}
for i = 1, 7 do
  local ok, wait = bucket:take()
  line[#line + 1] = ok and "ok" or string.format("wait %.1fs", wait)
  if i == 7 then print("t=0.0  burst of 7: " .. table.concat(line, ", ")) end
end
clock.set(1.5)
local ok15 = bucket:take()
print(string.format("t=1.5  after refill: take -> %s, tokens left %.1f", tostring(ok15),
  bucket.tokens))
local big_ok, big_wait = bucket:take(4)
print(string.format("t=1.5  take(4) -> %s, retry in %.1fs", tostring(big_ok), big_wait))
clock.set(3.5)
print("t=3.5  take(4) -> " .. tostring(bucket:take(4)))
print(string.format("bucket: allowed=%d denied=%d", bucket.allowed, bucket.denied))

---------------------------------------------------------------------------
-- Sliding window log: keeps the timestamps of accepted requests and allows a
-- new one only while fewer than `limit` fall inside the last `window` seconds.
-- Unlike fixed windows it never lets 2x the limit through at a boundary.
---------------------------------------------------------------------------
local SlidingWindow = {}
SlidingWindow.__index = SlidingWindow

function SlidingWindow.new(limit, window, now)
  return setmetatable({ limit = limit, window = window, now = now, log = {} }, SlidingWindow)
end

function SlidingWindow:_trim(t)
  local log, first = self.log, 1
  while log[first] and log[first] <= t - self.window do first = first + 1 end
  if first > 1 then
    local kept = {}
    for i = first, #log do kept[#kept + 1] = log[i] end
    self.log = kept
  end
end

function SlidingWindow:allow()
  local t = self.now()
  self:_trim(t)
  if #self.log < self.limit then
    self.log[#self.log + 1] = t
    return true
  end
  return false, self.log[1] + self.window - t
end

header("2. Sliding window (3 requests per 10 s)")
local window = SlidingWindow.new(3, 10, clock.now)
local arrivals = { 0, 2, 4, 6, 9.5, 10.5, 12, 13, 14.5 }
local accepted = 0
for _, t in ipairs(arrivals) do
  clock.set(t)
  local ok, retry = window:allow()
  if ok then accepted = accepted + 1 end
  print(string.format("t=%4.1f  %s", t,
    ok and "accepted" or string.format("rejected (retry in %.1fs)", retry)))
end
print(string.format("sliding window accepted %d of %d", accepted, #arrivals))

---------------------------------------------------------------------------
-- Per-client limits: one bucket per API key, created on first use, with a
-- bigger bucket for a premium tier.
---------------------------------------------------------------------------
header("3. Per-client buckets (free: 2 burst, premium: 4 burst)")
clock.set(100)
local tiers = { free = { 2, 0.5 }, premium = { 4, 2 } }
local clients = { alice = "premium", bob = "free" }
local buckets = {}
local function allow(client)
  local b = buckets[client]
  if not b then
    local tier = tiers[clients[client] or "free"]
    b = TokenBucket.new(tier[1], tier[2], clock.now)
    buckets[client] = b
  end
  return (b:take())
end
local served = { alice = 0, bob = 0 }
for _ = 1, 5 do
  for _, who in ipairs({ "alice", "bob" }) do
    if allow(who) then served[who] = served[who] + 1 end
  end
end
print(string.format("5 rapid requests each: alice (premium) served %d, bob (free) served %d",
  served.alice, served.bob))

return {
  bucket_allowed = bucket.allowed,
  bucket_denied = bucket.denied,
  window_accepted = accepted,
  premium_served = served.alice,
  free_served = served.bob,
}
