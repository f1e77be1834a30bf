-- One of the 8 "machines" of test_postgres.py: state, sessions, artifacts and RAG
-- written, read and deleted on the shared server at the same time as the others.
local me = ARGS.me
local sid = Session.create({name = "machine " .. me, tags = {"shared"}})
local ids = {}
for i = 1, 10 do
  ids[i] = Artifact.store(sid, "text", "note" .. i, "same content " .. i, {by = me})
end
assert(Artifact.get(sid, ids[3]).content == "same content 3", "artifact read back")
Artifact.delete(sid, ids[1])
State.save("global", "session:" .. me, sid)
RAG.ingest({content = "shared fact from " .. me, metadata = {by = me}}, {scope = "team", scope_id = "one"})
RAG.ingest({id = "doc-" .. me, content = "private note of " .. me}, {scope = "machine", scope_id = me})
local found = RAG.search("private note of " .. me, {scope = "machine", scope_id = me, k = 3})
assert(found.total == 1 and found.results[1].content == "private note of " .. me, "rag search")
for i = 1, 40 do
  State.save("shared", me .. ":" .. i, {n = i, by = me})
  local v = State.load("shared", me .. ":" .. i)
  assert(v.n == i, "read back")
  if i % 4 == 0 then State.delete("shared", me .. ":" .. (i - 1)) end
  State.save("global", "counter:" .. me, i)
end
print("done " .. me)
