-- security_patterns.lua: validating and sanitising untrusted input, in plain Lua.
-- Run: llmspell run cookbook/security_patterns.lua
-- Shows a small schema validator, HTML escaping, path and log sanitising,
-- secret redaction, and a password strength score.

print("Security patterns: validation, sanitising, redaction, password strength")

local function header(title)
  print("")
  print("== " .. title .. " ==")
end

---------------------------------------------------------------------------
-- Schema validation: each field declares a type and constraints; every
-- problem is reported, not only the first.
---------------------------------------------------------------------------
local function validate(schema, input)
  local errors = {}
  local function fail(field, msg) errors[#errors + 1] = field .. ": " .. msg end
  for field, rule in pairs(schema) do
    local v = input[field]
    if v == nil then
      if rule.required then fail(field, "is required") end
    elseif type(v) ~= rule.type then
      fail(field, "expected " .. rule.type .. ", got " .. type(v))
    elseif rule.type == "string" then
      if rule.min and #v < rule.min then fail(field, "shorter than " .. rule.min) end
      if rule.max and #v > rule.max then fail(field, "longer than " .. rule.max) end
      if rule.pattern and not v:match(rule.pattern) then fail(field, "has an invalid format") end
      if rule.one_of then
        local found = false
        for _, allowed in ipairs(rule.one_of) do found = found or allowed == v end
        if not found then fail(field, "must be one of " .. table.concat(rule.one_of, "/")) end
      end
    elseif rule.type == "number" then
      if rule.min and v < rule.min then fail(field, "below " .. rule.min) end
      if rule.max and v > rule.max then fail(field, "above " .. rule.max) end
    end
  end
  for field in pairs(input) do
    if not schema[field] then fail(field, "is not allowed") end
  end
  table.sort(errors)
  return #errors == 0, errors
end

header("1. Schema validation")
local signup_schema = {
  username = { type = "string", required = true, min = 3, max = 20, pattern = "^[%w_]+$" },
  email = { type = "string", required = true, pattern = "^[%w._%%+-]+@[%w.-]+%.%a%a+$" },
  age = { type = "number", min = 13, max = 130 },
  role = { type = "string", one_of = { "reader", "writer" } },
}
local inputs = {
  { username = "ada_l", email = "ada@example.org", age = 36, role = "writer" },
  { username = "x", email = "not-an-email", age = 7 },
  { username = "robert'); DROP TABLE users;--", email = "r@example.com", role = "admin",
    is_admin = true },
}
local valid_count = 0
for i, input in ipairs(inputs) do
  local ok, errs = validate(signup_schema, input)
  if ok then valid_count = valid_count + 1 end
  print(string.format("input %d: %s", i, ok and "valid" or "rejected"))
  for _, e in ipairs(errs) do print("   - " .. e) end
end

---------------------------------------------------------------------------
-- Sanitising: escape for the output context, never "clean" by deleting.
---------------------------------------------------------------------------
header("2. Sanitising for the output context")
local html_escapes = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                       ["'"] = "&#39;" }
local function escape_html(s) return (s:gsub("[&<>\"']", html_escapes)) end

-- One line per log entry: control characters (incl. CR/LF) become visible escapes.
local function sanitize_log(s)
  return (s:gsub("[%c]", function(c) return string.format("\\x%02x", c:byte()) end))
end

-- Resolve a user-supplied relative path; refuse anything leaving the base folder.
local function safe_join(base, user_path)
  if user_path:sub(1, 1) == "/" or user_path:find("\0", 1, true) then
    return nil, "absolute or NUL path"
  end
  local parts = {}
  for segment in user_path:gmatch("[^/]+") do
    if segment == ".." then
      if #parts == 0 then return nil, "escapes the base folder" end
      parts[#parts] = nil
    elseif segment ~= "." then
      parts[#parts + 1] = segment
    end
  end
  return base .. "/" .. table.concat(parts, "/")
end

local comment = '<script>alert("hi")</script> & thanks'
print("html:  " .. escape_html(comment))
print("log:   " .. sanitize_log("login ok\nuser=admin forged=1\r"))
local paths = { "reports/2024/q1.txt", "reports/../notes.md", "../../etc/passwd", "/etc/shadow" }
local blocked = 0
for _, p in ipairs(paths) do
  local resolved, why = safe_join("/srv/uploads", p)
  if not resolved then blocked = blocked + 1 end
  print(string.format("path:  %-22s -> %s", p, resolved or ("blocked (" .. why .. ")")))
end

---------------------------------------------------------------------------
-- Redaction: mask secrets before text reaches logs or a model prompt.
---------------------------------------------------------------------------
header("3. Redacting secrets")
local redaction_rules = {
  { "sk%-[%w%-]+", "sk-****" },                               -- API keys
  { "(%d%d%d%d)[ -]?%d%d%d%d[ -]?%d%d%d%d[ -]?(%d%d%d%d)", "%1-****-****-%2" }, -- cards
  { "([Pp]assword%s*[=:]%s*)%S+", "%1****" },
}
local function redact(text)
  local total = 0
  for _, rule in ipairs(redaction_rules) do
    local n
    text, n = text:gsub(rule[1], rule[2])
    total = total + n
  end
  return text, total
end
local redacted, redactions = redact(
  "key=sk-live-abc123XYZ card 4111 1111 1111 1234 password: hunter2")
print(redacted)
print("redactions: " .. redactions)

---------------------------------------------------------------------------
-- Password strength: length and character variety, minus common patterns.
---------------------------------------------------------------------------
header("4. Password strength")
local common = { password = true, ["123456"] = true, qwerty = true, letmein = true }
local function password_strength(pw)
  local score, notes = 0, {}
  if #pw >= 8 then score = score + 1 else notes[#notes + 1] = "under 8 characters" end
  if #pw >= 12 then score = score + 1 end
  if #pw >= 16 then score = score + 1 end
  local classes = 0
  for _, class in ipairs({ "%l", "%u", "%d", "[^%w]" }) do
    if pw:find(class) then classes = classes + 1 end
  end
  score = score + math.max(0, classes - 1)
  if classes < 3 then notes[#notes + 1] = "mix cases, digits and symbols" end
  if pw:find("(.)%1%1") then
    score = score - 1
    notes[#notes + 1] = "repeated characters"
  end
  if common[pw:lower():gsub("%d+$", "")] then
    score = 0
    notes[#notes + 1] = "common password"
  end
  score = math.max(0, math.min(6, score))
  local labels = { [0] = "very weak", "very weak", "weak", "fair", "good", "strong", "excellent" }
  return score, labels[score], notes
end

local scores = {}
for _, pw in ipairs({ "password1", "abc", "Summer2024", "aaaBBB111!!!", "c0rrect-H0rse-battery" }) do
  local score, label, notes = password_strength(pw)
  scores[pw] = score
  print(string.format("%-22s score %d/6 %s%s", pw, score, label,
    #notes > 0 and (" (" .. table.concat(notes, "; ") .. ")") or ""))
end

return {
  valid_inputs = valid_count,
  blocked_paths = blocked,
  redactions = redactions,
  strongest_score = scores["c0rrect-H0rse-battery"],
}
