-- tools_tour.lua: a walk through the built-in tools, offline (no network, no API keys).
--
--   llmspell run cookbook/tools_tour.lua
--
-- Shows how results come back: most tools return an envelope ({success, operation,
-- result, message}) at the top level; file tools return a human text with the envelope
-- in r.metadata.response; a failing call raises, so guard it with pcall.

local function section(title) print("\n== " .. title .. " ==") end

section("The catalog")
local by_category = {}
for _, info in ipairs(Tool.discover()) do
    by_category[info.category] = (by_category[info.category] or 0) + 1
end
local cats = Tool.categories()
table.sort(cats)
for _, c in ipairs(cats) do print(string.format("  %-10s %d tools", c, by_category[c])) end
print("  total: " .. #Tool.list() .. " tools")
local calc = Tool.get("calculator")
local names = {}
for _, p in ipairs(calc.schema.parameters) do names[#names + 1] = p.name end
print("  calculator takes: " .. table.concat(names, ", "))

section("Numbers and text")
local r = Tool.invoke("calculator", {input = "price * qty * (1 + tax)",
                                     variables = {price = 12.5, qty = 4, tax = 0.2}})
print("  total with tax: " .. r.result.result)
local bad = Tool.invoke("calculator", {input = "2 +* 3"})
print("  invalid expression -> success=" .. tostring(bad.success))
r = Tool.invoke("text_manipulator", {operation = "snake_case", input = "Monthly Sales Report"})
print("  snake_case: " .. r.result.result)
r = Tool.calculator:execute({operation = "validate", input = "sqrt(16) + max(1, 2)"})
print("  via Tool.calculator:execute, valid=" .. tostring(r.result.valid))

section("Ids, hashes, encodings, dates")
local id = Tool.invoke("uuid_generator", {operation = "deterministic", namespace = "workflow",
                                          name = "nightly-report"}).result.id
print("  deterministic workflow id: " .. id)
local h = Tool.invoke("hash_calculator", {operation = "hash", algorithm = "sha256",
                                          input = "hello"})
print("  sha256(hello) = " .. h.result.hash:sub(1, 16) .. "...")
local b64 = Tool.invoke("base64_encoder", {operation = "encode", input = "llmspell"})
print("  base64(llmspell) = " .. b64.result.output)
local d = Tool.invoke("date_time_handler", {operation = "add", input = "2024-02-27T09:00:00Z",
                                            amount = 3, unit = "days", format = "%Y-%m-%d"})
print("  2024-02-27 + 3 days = " .. d.result.result .. " (leap year)")

section("Structured data")
local csv = "region,units\nnorth,120\nsouth,80\neast,150\n"
local a = Tool.invoke("csv_analyzer", {operation = "analyze", input = csv})
print(string.format("  csv: %d rows, units mean %.1f", a.data.row_count, a.data.columns[2].mean))
local f = Tool.invoke("csv_analyzer", {operation = "filter", input = csv,
                                       options = {filter = "units >= 100"}})
print("  filtered csv:\n    " .. f.text:gsub("\n$", ""):gsub("\n", "\n    "))
local q = Tool.invoke("json_processor", {input = {orders = {{id = 1, total = 30},
                                                            {id = 2, total = 70}}},
                                         query = "[.orders[].total] | add"})
print("  jq sum of order totals: " .. q.data)
local v = Tool.invoke("data_validation", {input = {email = "not-an-email", age = 17},
    rules = {rules = {{type = "object", properties = {
        email = {rules = {{type = "email"}}},
        age = {rules = {{type = "range", min = 18}}}}}}}})
print("  validation: valid=" .. tostring(v.result.valid) .. ", " .. #v.result.errors .. " errors")
local t = Tool.invoke("template_engine", {input = "Hello {{ name }}, you have {{ n }} tasks",
                                          context = {name = "Ada", n = 3}})
print("  template: " .. t.result.rendered)

section("Files (inside the allowed paths)")
local dir = "/tmp/llmspell-tools-tour-" .. Tool.invoke("uuid_generator", {}).result.uuid:sub(1, 8)
Tool.invoke("file_operations", {operation = "mkdir", path = dir, recursive = true})
local w = Tool.invoke("file_operations", {operation = "write", path = dir .. "/notes.txt",
                                          input = "alpha\nTODO: beta\ngamma\n"})
print("  " .. w.text)
local back = Tool.invoke("file_operations", {operation = "read", path = dir .. "/notes.txt"})
print("  read back " .. back.metadata.response.result.size .. " bytes")
local found = Tool.invoke("file_search", {path = dir, pattern = "todo"})
local m = found.metadata.response.result.matches[1]
print("  file_search: line " .. m.line_number .. ": " .. m.line_content)
local zip = Tool.invoke("archive_handler", {operation = "create", path = dir .. "/notes.zip",
                                            input = {dir .. "/notes.txt"}})
print("  " .. zip.text)
local diff = Tool.invoke("diff_calculator", {old_text = "alpha\nbeta\n", new_text = "alpha\nBETA\n",
                                             format = "simple"})
print("  diff: " .. diff.result.diff:gsub("\n", " | "))

section("Errors")
local ok, err = pcall(Tool.invoke, "file_operations", {operation = "read", path = "/etc/passwd"})
print("  read outside the sandbox -> " .. tostring(err):match("Security violation") )
ok, err = pcall(Tool.invoke, "no_such_tool", {})
print("  unknown tool -> " .. tostring(err))
ok, err = pcall(Tool.invoke, "uuid_generator", {operation = "bogus"})
print("  bad operation -> " .. tostring(err))

Tool.invoke("file_operations", {operation = "delete", path = dir, recursive = true})
print("\ncleaned up " .. dir)
return {tools = #Tool.list(), categories = #cats}
