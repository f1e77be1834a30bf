-- state_management.lua: versioned state with rollback, and event sourcing, in plain Lua.
-- Run: llmspell run cookbook/state_management.lua
-- Everything lives in ordinary Lua tables (no State global needed): a store that
-- keeps every committed version, transactions that roll back on error, and an
-- event log from which state is rebuilt, with snapshots to shorten replays.

print("State management patterns: versions, rollback, transactions, event sourcing")

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

local function deep_copy(value)
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = deep_copy(v) end
  return out
end

---------------------------------------------------------------------------
-- Versioned store: commit() freezes a copy of the state; rollback(n) restores it.
---------------------------------------------------------------------------
local Store = {}
Store.__index = Store

function Store.new(initial)
  local s = setmetatable({ versions = {}, messages = {} }, Store)
  s.current = deep_copy(initial)
  s:commit("initial")
  return s
end

function Store:commit(message)
  self.versions[#self.versions + 1] = deep_copy(self.current)
  self.messages[#self.versions] = message
  return #self.versions
end

function Store:version() return #self.versions end

function Store:rollback(version)
  assert(self.versions[version], "no such version: " .. tostring(version))
  self.current = deep_copy(self.versions[version])
  -- Rolling back is itself recorded, so history is never rewritten.
  return self:commit("rollback to v" .. version)
end

-- Run fn on a scratch copy; keep the result only if fn finishes without error.
function Store:transaction(message, fn)
  local draft = deep_copy(self.current)
  local ok, err = pcall(fn, draft)
  if not ok then return false, err end
  self.current = draft
  return true, self:commit(message)
end

header("1. Versioned state with rollback")
local store = Store.new({ config = { model = "small", temperature = 0.2 }, users = {} })
store.current.config.temperature = 0.7
store:commit("raise temperature")
store.current.config.model = "large"
table.insert(store.current.users, "ada")
store:commit("switch model, add ada")
print(string.format("v%d: model=%s temperature=%.1f users=%d", store:version(),
  store.current.config.model, store.current.config.temperature, #store.current.users))
local v = store:rollback(2)
print(string.format("v%d (%s): model=%s temperature=%.1f users=%d", v, store.messages[v],
  store.current.config.model, store.current.config.temperature, #store.current.users))
print("v1 still intact: temperature=" .. store.versions[1].config.temperature)

header("2. Transactions: all or nothing")
local ok1, v1 = store:transaction("add two users", function(s)
  table.insert(s.users, "grace")
  table.insert(s.users, "linus")
end)
print("add two users       -> " .. (ok1 and ("committed as v" .. v1) or "failed"))
local ok2, err2 = store:transaction("bad budget", function(s)
  table.insert(s.users, "mallory")
  s.budget = -5
  if s.budget < 0 then error("budget must not be negative", 0) end
end)
print("bad budget          -> " .. (ok2 and "committed" or ("rolled back: " .. err2)))
print(string.format("users now: %s (version %d, budget=%s)",
  table.concat(store.current.users, ", "), store:version(), tostring(store.current.budget)))
local history = {}
for i = 1, store:version() do history[#history + 1] = "v" .. i .. " " .. store.messages[i] end
print("history: " .. table.concat(history, " | "))

---------------------------------------------------------------------------
-- Event sourcing: the log of events is the truth; state is a fold over it.
---------------------------------------------------------------------------
header("3. Event sourcing (bank account)")
local reducers = {
  opened = function(s, e) s.owner, s.balance, s.open = e.owner, 0, true end,
  deposited = function(s, e) s.balance = s.balance + e.amount end,
  withdrew = function(s, e) s.balance = s.balance - e.amount end,
  closed = function(s) s.open = false end,
}

local EventLog = {}
EventLog.__index = EventLog

function EventLog.new() return setmetatable({ events = {}, snapshots = {} }, EventLog) end

function EventLog:append(kind, data)
  assert(reducers[kind], "unknown event: " .. kind)
  data = data or {}
  data.kind, data.seq = kind, #self.events + 1
  self.events[#self.events + 1] = data
end

-- Rebuild state up to event `upto`, starting from the latest snapshot before it.
function EventLog:replay(upto)
  upto = upto or #self.events
  local state, from = {}, 1
  for i = #self.snapshots, 1, -1 do
    local snap = self.snapshots[i]
    if snap.seq <= upto then
      state, from = deep_copy(snap.state), snap.seq + 1
      break
    end
  end
  for i = from, upto do reducers[self.events[i].kind](state, self.events[i]) end
  return state, upto - from + 1
end

function EventLog:snapshot()
  local state = self:replay()
  self.snapshots[#self.snapshots + 1] = { seq = #self.events, state = state }
end

-- Commands check the current state before emitting events.
local function withdraw(log, amount)
  local state = log:replay()
  if amount > state.balance then
    return false, string.format("insufficient funds (balance %d, asked %d)", state.balance,
      amount)
  end
  log:append("withdrew", { amount = amount })
  return true
end

local account = EventLog.new()
account:append("opened", { owner = "ada" })
account:append("deposited", { amount = 500 })
account:append("withdrew", { amount = 120 })
account:snapshot()
account:append("deposited", { amount = 80 })
local ok3, why = withdraw(account, 1000)
print("withdraw 1000 -> " .. (ok3 and "ok" or why))
withdraw(account, 60)

local state, applied = account:replay()
print(string.format("events=%d balance=%d (replayed %d events after the snapshot)",
  #account.events, state.balance, applied))
local past = account:replay(3)
print("balance as of event 3 (time travel): " .. past.balance)
local kinds = {}
for _, e in ipairs(account.events) do
  kinds[#kinds + 1] = e.kind .. (e.amount and ("(" .. e.amount .. ")") or "")
end
print("log: " .. table.concat(kinds, ", "))
print("log as JSON: " .. JSON.stringify(account.events[2]))

return {
  versions = store:version(),
  users = #store.current.users,
  balance = state.balance,
  balance_at_3 = past.balance,
  events = #account.events,
}
