-- caching.lua: an LRU cache, a TTL cache and a memoising loader, in plain Lua.
-- Run: llmspell run cookbook/caching.lua
-- Time is injected (a manual clock), so expiry is shown without sleeping and the
-- output is the same on every run. Pass os.time as the clock in real code.

print("Caching patterns: LRU eviction, TTL expiry, memoised loading")

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

-- A clock we can move forward by hand.
local clock = { t = 1000 }
function clock.now() return clock.t end
function clock.advance(seconds) clock.t = clock.t + seconds end

---------------------------------------------------------------------------
-- LRU: a hash map from key to node plus a doubly linked list ordered by use.
-- get/set are O(1); the node just before the tail sentinel is the eviction victim.
---------------------------------------------------------------------------
local LRU = {}
LRU.__index = LRU

function LRU.new(capacity)
  local head, tail = {}, {}
  head.next, tail.prev = tail, head
  return setmetatable({ capacity = capacity, nodes = {}, count = 0, head = head, tail = tail,
                        hits = 0, misses = 0, evicted = {} }, LRU)
end

local function unlink(node)
  node.prev.next, node.next.prev = node.next, node.prev
end

function LRU:_push_front(node)
  node.prev, node.next = self.head, self.head.next
  self.head.next.prev = node
  self.head.next = node
end

function LRU:get(key)
  local node = self.nodes[key]
  if not node then
    self.misses = self.misses + 1
    return nil
  end
  self.hits = self.hits + 1
  unlink(node)
  self:_push_front(node)
  return node.value
end

function LRU:set(key, value)
  local node = self.nodes[key]
  if node then
    node.value = value
    unlink(node)
    self:_push_front(node)
    return
  end
  if self.count >= self.capacity then
    local victim = self.tail.prev
    unlink(victim)
    self.nodes[victim.key] = nil
    self.count = self.count - 1
    self.evicted[#self.evicted + 1] = victim.key
  end
  node = { key = key, value = value }
  self.nodes[key] = node
  self:_push_front(node)
  self.count = self.count + 1
end

function LRU:keys() -- most recently used first
  local out, node = {}, self.head.next
  while node ~= self.tail do
    out[#out + 1] = node.key
    node = node.next
  end
  return out
end

header("1. LRU cache (capacity 3)")
local lru = LRU.new(3)
lru:set("a", 1); lru:set("b", 2); lru:set("c", 3)
print("after a, b, c:        " .. table.concat(lru:keys(), " "))
lru:get("a")
print("after get(a):         " .. table.concat(lru:keys(), " "))
lru:set("d", 4)
print("after set(d):         " .. table.concat(lru:keys(), " ") ..
      "  (evicted: " .. table.concat(lru.evicted, ", ") .. ")")
print("get(b) -> " .. tostring(lru:get("b")) .. ", get(c) -> " .. tostring(lru:get("c")))
print(string.format("lru hits=%d misses=%d", lru.hits, lru.misses))

---------------------------------------------------------------------------
-- TTL: each entry remembers when it expires; reads drop stale entries and
-- purge() sweeps the rest.
---------------------------------------------------------------------------
local TTL = {}
TTL.__index = TTL

function TTL.new(default_ttl, now)
  return setmetatable({ ttl = default_ttl, now = now, entries = {}, expired = 0 }, TTL)
end

function TTL:set(key, value, ttl)
  self.entries[key] = { value = value, expires_at = self.now() + (ttl or self.ttl) }
end

function TTL:get(key)
  local e = self.entries[key]
  if not e then return nil end
  if self.now() >= e.expires_at then
    self.entries[key] = nil
    self.expired = self.expired + 1
    return nil
  end
  return e.value
end

function TTL:purge()
  local removed, now = 0, self.now()
  for key, e in pairs(self.entries) do
    if now >= e.expires_at then
      self.entries[key] = nil
      removed = removed + 1
    end
  end
  self.expired = self.expired + removed
  return removed
end

header("2. TTL cache (default 60 s)")
local ttl = TTL.new(60, clock.now)
ttl:set("session:42", "alice")
ttl:set("quote:EUR", 1.08, 10)
ttl:set("flag:beta", true, 300)
print("t=+0s   session:42 -> " .. tostring(ttl:get("session:42")) ..
      ", quote:EUR -> " .. tostring(ttl:get("quote:EUR")))
clock.advance(15)
print("t=+15s  quote:EUR -> " .. tostring(ttl:get("quote:EUR")) .. " (10 s TTL passed)")
clock.advance(50)
print("t=+65s  session:42 -> " .. tostring(ttl:get("session:42")) ..
      ", flag:beta -> " .. tostring(ttl:get("flag:beta")))
clock.advance(300)
print("t=+365s purge() removed " .. ttl:purge() .. " entry; total expired: " .. ttl.expired)

---------------------------------------------------------------------------
-- Memoising loader: wrap an expensive function with an LRU so repeated
-- arguments are served from memory.
---------------------------------------------------------------------------
local function memoize(fn, capacity)
  local cache = LRU.new(capacity)
  local calls = 0
  local wrapped = function(n)
    local v = cache:get(n)
    if v == nil then
      calls = calls + 1
      v = fn(n)
      cache:set(n, v)
    end
    return v
  end
  return wrapped, function() return calls, cache end
end

local function slow_square_sum(n) -- stands in for an API call or a big computation
  local s = 0
  for i = 1, n do s = s + i * i end
  return s
end

header("3. Memoised loader (LRU of 4 in front of an expensive function)")
local cached, stats = memoize(slow_square_sum, 4)
local requests = { 100, 200, 100, 300, 100, 200, 400, 500, 100 }
local results = {}
for _, n in ipairs(requests) do results[#results + 1] = cached(n) end
local calls, cache = stats()
print("requests:        " .. table.concat(requests, ", "))
print("sum of squares(100) = " .. results[1])
print(string.format("loader calls: %d of %d requests, hit rate %.1f%%",
  calls, #requests, 100 * cache.hits / #requests))

return {
  lru_evicted = lru.evicted[1],
  ttl_expired = ttl.expired,
  loader_calls = calls,
  hit_rate = math.floor(1000 * cache.hits / #requests + 0.5) / 10,
}
