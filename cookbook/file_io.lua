-- Sandboxed file access with Lua's own io library.
-- Run: llmspell -c configs/local-files.toml run cookbook/file_io.lua
-- Without the config, io.open is refused: file access is off by default.

print("== Sandboxed file I/O ==")

local ok, err = pcall(function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("first line\n", "second line\n", 42, "\n")
    f:close()

    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = line end
    print(string.format("wrote and read back %d lines from a temp file", #lines))
    print("last line: " .. lines[#lines])

    os.remove(path)
    print("removed the temp file: " .. tostring(io.open(path) == nil))

    local denied, why = pcall(io.open, "/etc/passwd")
    print("reading /etc/passwd allowed: " .. tostring(denied))
    print("because: " .. tostring(why):gsub("^.-: ", "", 1))
    return #lines
end)

if not ok then
    print("file access refused: " .. tostring(err))
    print("(run with -c configs/local-files.toml to allow it)")
    return { file_access = false }
end
return { file_access = true, lines = err }
