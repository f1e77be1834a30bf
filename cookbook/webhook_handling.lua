-- webhook_handling.lua: receiving webhooks safely, in plain Lua.
-- Run: llmspell run cookbook/webhook_handling.lua
-- Shows a handler registry keyed by event type, signature and timestamp checks,
-- de-duplication by delivery id, and an outgoing retry queue with exponential
-- backoff and a dead-letter list. Time is a manual clock so runs are repeatable.
--
-- The signature here is a keyed polynomial checksum so the script needs no
-- libraries. It shows the protocol (sign "timestamp.body" with a shared secret,
-- compare in constant time, reject stale timestamps) but it is NOT a
-- cryptographic MAC: real receivers must use HMAC-SHA256.

print("Webhook patterns: signature checks, handler registry, retry queue")

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

local clock = { t = 1700000000 }
local function now() return clock.t end

---------------------------------------------------------------------------
-- Signing
---------------------------------------------------------------------------
local function checksum(text, seed, modulus)
  local h = seed
  for i = 1, #text do
    h = (h * 257 + text:byte(i)) % modulus
  end
  return h
end

local function sign(secret, timestamp, body)
  local message = secret .. "|" .. timestamp .. "." .. body .. "|" .. secret
  return string.format("v1=%08x%08x", checksum(message, 7, 2147483647),
    checksum(message, 13, 4294967291))
end

-- Compares every character so the time taken does not reveal where they differ.
local function constant_time_equal(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then diff = diff + 1 end
  end
  return diff == 0
end

---------------------------------------------------------------------------
-- Receiver: verify, de-duplicate, dispatch
---------------------------------------------------------------------------
local Receiver = {}
Receiver.__index = Receiver

function Receiver.new(secret, tolerance)
  return setmetatable({ secret = secret, tolerance = tolerance, handlers = {}, seen = {},
                        stats = { accepted = 0, rejected = 0, duplicates = 0 } }, Receiver)
end

function Receiver:on(event_type, handler)
  self.handlers[event_type] = self.handlers[event_type] or {}
  table.insert(self.handlers[event_type], handler)
end

-- Returns an HTTP-like status code and a reason.
function Receiver:receive(request)
  local h = request.headers
  local expected = sign(self.secret, h.timestamp, request.body)
  if not h.signature or not constant_time_equal(h.signature, expected) then
    self.stats.rejected = self.stats.rejected + 1
    return 401, "bad signature"
  end
  if math.abs(now() - tonumber(h.timestamp)) > self.tolerance then
    self.stats.rejected = self.stats.rejected + 1
    return 401, "stale timestamp"
  end
  if self.seen[h.delivery_id] then
    self.stats.duplicates = self.stats.duplicates + 1
    return 200, "duplicate ignored"
  end
  local ok, event = pcall(JSON.parse, request.body)
  if not ok or type(event) ~= "table" or not event.type then
    self.stats.rejected = self.stats.rejected + 1
    return 400, "malformed body"
  end
  local handlers = self.handlers[event.type]
  if not handlers then
    return 202, "no handler for " .. event.type
  end
  for _, handler in ipairs(handlers) do handler(event) end
  self.seen[h.delivery_id] = true
  self.stats.accepted = self.stats.accepted + 1
  return 200, "handled by " .. #handlers .. " handler(s)"
end

local function make_request(secret, delivery_id, event, timestamp)
  local body = JSON.stringify(event)
  local ts = tostring(timestamp or now())
  return { body = body, headers = { delivery_id = delivery_id, timestamp = ts,
                                    signature = sign(secret, ts, body) } }
end

header("1. Signature verification and dispatch")
local SECRET = "whsec_cookbook"
local receiver = Receiver.new(SECRET, 300)
local revenue, new_users = 0, {}
receiver:on("payment.succeeded", function(e) revenue = revenue + e.amount end)
receiver:on("user.created", function(e) new_users[#new_users + 1] = e.user end)
receiver:on("user.created", function(e) print("   welcome mail queued for " .. e.user) end)

local sample = make_request(SECRET, "d-1", { type = "payment.succeeded", amount = 4200 })
print("signature of d-1: " .. sample.headers.signature)

local tampered = make_request(SECRET, "d-3", { type = "payment.succeeded", amount = 10 })
tampered.body = tampered.body:gsub("10", "99999")

local cases = {
  { "valid payment", sample },
  { "valid signup", make_request(SECRET, "d-2", { type = "user.created", user = "ada" }) },
  { "replayed d-1", sample },
  { "tampered body", tampered },
  { "wrong secret", make_request("guess", "d-4", { type = "payment.succeeded", amount = 1 }) },
  { "stale (1h old)", make_request(SECRET, "d-5", { type = "user.created", user = "eve" },
                                   now() - 3600) },
  { "unknown type", make_request(SECRET, "d-6", { type = "invoice.voided" }) },
}
for _, case in ipairs(cases) do
  local status, reason = receiver:receive(case[2])
  print(string.format("%-15s -> %d %s", case[1], status, reason))
end
print(string.format("revenue=%d new_users=%s accepted=%d rejected=%d duplicates=%d",
  revenue, table.concat(new_users, ","), receiver.stats.accepted, receiver.stats.rejected,
  receiver.stats.duplicates))

---------------------------------------------------------------------------
-- Sender: retry queue with exponential backoff and a dead-letter list
---------------------------------------------------------------------------
header("2. Outgoing retry queue (max 4 attempts, backoff 1s, 2s, 4s)")

-- Endpoints simulated as functions: how many times each fails before succeeding.
local failures_left = { ["https://crm.example/hook"] = 2, ["https://down.example/hook"] = 99,
                        ["https://ok.example/hook"] = 0 }
local function deliver(url)
  if failures_left[url] > 0 then
    failures_left[url] = failures_left[url] - 1
    return false, 503
  end
  return true, 200
end

local queue, dead_letters, delivered, log = {}, {}, {}, {}
local MAX_ATTEMPTS, BASE_DELAY = 4, 1
for i, url in ipairs({ "https://crm.example/hook", "https://down.example/hook",
                       "https://ok.example/hook" }) do
  queue[#queue + 1] = { id = "out-" .. i, url = url, attempts = 0, due = now() }
end

local start = now()
while #queue > 0 do
  table.sort(queue, function(a, b) return a.due < b.due or (a.due == b.due and a.id < b.id) end)
  local job = table.remove(queue, 1)
  clock.t = math.max(clock.t, job.due)
  job.attempts = job.attempts + 1
  local ok, status = deliver(job.url)
  log[#log + 1] = string.format("t+%ds %s attempt %d -> %d", clock.t - start, job.id,
    job.attempts, status)
  if ok then
    delivered[#delivered + 1] = job.id
  elseif job.attempts >= MAX_ATTEMPTS then
    dead_letters[#dead_letters + 1] = job.id
  else
    job.due = clock.t + BASE_DELAY * 2 ^ (job.attempts - 1)
    queue[#queue + 1] = job
  end
end
for _, entry in ipairs(log) do print(entry) end
print("delivered: " .. table.concat(delivered, ", "))
print("dead letters: " .. table.concat(dead_letters, ", "))

return {
  accepted = receiver.stats.accepted,
  rejected = receiver.stats.rejected,
  duplicates = receiver.stats.duplicates,
  revenue = revenue,
  delivered = #delivered,
  dead_letters = #dead_letters,
}
