-- State, sessions and artifacts that outlive the run.
--
--   llmspell -c configs/state-sqlite.toml run cookbook/state_sessions.lua
--
-- Run it twice: the second run finds the first run's counter, preferences, session and
-- artifacts (the config keeps them in SQLite files under ./llmspell-data/).

local function section(title)
  print("")
  print("== " .. title)
end

-- 1. State: scoped values ---------------------------------------------------------
section("State")
local run = (State.get("cookbook:runs") or 0) + 1
State.set("cookbook:runs", run)
print("run number: " .. run)

local prefs = State.load("user:ada", "prefs")
if prefs then
  print("preferences saved by an earlier run: theme=" .. prefs.theme ..
        ", languages=" .. table.concat(prefs.languages, ","))
else
  print("no preferences yet; saving some")
end
State.save("user:ada", "prefs", {theme = "dark", languages = {"lua", "python"}, run = run})
State.save("user:ada", "last_seen_run", run)
State.save("user:ada", "scratch", "temporary")
State.delete("user:ada", "scratch")
local keys = State.list_keys("user:ada")
table.sort(keys)
print("keys in scope user:ada: " .. table.concat(keys, ", "))

State.agent_set("summariser", "calls", (State.agent_get("summariser", "calls") or 0) + 1)
print("agent summariser has been called " .. State.agent_get("summariser", "calls") .. " time(s)")

local ok, err = pcall(State.save, "user:ada", "callback", {fn = print})
print("storing a function fails: " .. tostring(not ok) .. " (" .. err .. ")")

-- 2. Session: one conversation kept across runs ---------------------------------
section("Session")
local sid = State.get("cookbook:session_id")
if sid then
  Session.load(sid)
  local info = Session.get(sid)
  print("found the session from an earlier run: " .. info.name .. " (" .. info.status .. ")")
  if info.status == "suspended" then
    Session.resume(sid)
    print("resumed it")
  end
else
  sid = Session.create({name = "cookbook-chat", description = "a conversation kept across runs",
                        tags = {"cookbook", "demo"}})
  State.set("cookbook:session_id", sid)
  print("created session " .. Session.get(sid).name .. " with tags " ..
        table.concat(Session.get(sid).tags, ","))
end
Session.set_current(sid)

-- 3. Artifacts: content-addressed files in the session ------------------------------
section("Artifacts")
local note = Artifact.store(sid, "user_input", "note-" .. run .. ".txt",
                            "Notes written by run " .. run, {tags = {"note"}, run = run})
print("stored note-" .. run .. ".txt as sequence " .. note.sequence ..
      ", content hash " .. note.content_hash:sub(1, 16) .. "...")

local a = Artifact.store(sid, "system_generated", "same-a.txt", "identical content")
local b = Artifact.store(sid, "system_generated", "same-b.txt", "identical content")
print("identical content gives one hash: " .. tostring(a.content_hash == b.content_hash))
Artifact.delete(sid, b)

local big = string.rep("a long line of generated report text\n", 2000)
local report = Artifact.store(sid, "tool_result", "report.txt", big, {mime_type = "text/plain"})
local meta = Artifact.get(sid, report).metadata
print(string.format("report: %d bytes, compressed=%s, version %d", meta.size,
                    tostring(meta.is_compressed), meta.version))

local notes = Artifact.query({session_id = sid, tags = {"note"}})
print("notes in the session: " .. #notes)
local first = nil
for _, m in ipairs(Artifact.list("")) do
  if m.name == "note-1.txt" then first = Artifact.get(sid, m.artifact_id).content end
end
print("first note says: " .. tostring(first))

-- 4. Backups of the state ------------------------------------------------------------
section("Backups")
local backup = State.create_backup(run > 1)
print("created " .. (backup.incremental and "an incremental" or "a full") .. " backup with " ..
      backup.key_count .. " keys")
print("valid: " .. tostring(State.validate_backup(backup.backup_id).is_valid))
print("backups kept: " .. State.get_storage_usage().total_backups)

Session.suspend(sid)
print("")
print("session suspended until the next run")

return {
  run = run,
  session_id = sid,
  notes = #notes,
  first_note = first,
  backups = State.get_storage_usage().total_backups,
}
