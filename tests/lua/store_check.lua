-- Reads back what store_fill.lua wrote, through whichever stores the config names.
local g = State.load("global", "greeting")
local sid = State.load("global", "session_id")
local s = Session.get(sid)
local list = Artifact.list(sid)
local notes
for _, meta in ipairs(list) do
  if meta.name == "notes.txt" then notes = meta end
end
local hits = RAG.search("apples", {scope = "tenant", scope_id = "acme", k = 1})
local stats = RAG.get_stats("tenant", "acme")
print(g.text, g.n, State.load("user", "prefs")[2], s.name, #list,
      hits.results[1].metadata.topic, stats.total_vectors, stats.searches_performed >= 1)
