-- A knowledge base a team shares through one PostgreSQL server: every run, on any
-- machine pointed at the same server and tenant, sees what the others stored.
--   LLMSPELL_POSTGRES_URL=postgresql://me@db/llmspell \
--     llmspell -c configs/postgres.toml run cookbook/team_knowledge.lua -- --who ada

local who = ARGS.who or "someone"

print("== State: a counter every machine increments")
local runs = (State.load("global", "team_runs") or 0) + 1
State.save("global", "team_runs", runs)
State.save("global", "last_run_by", who)
print("runs so far: " .. runs .. " (this one by " .. who .. ")")

print("\n== Sessions: this run's notes, kept as artifacts")
local sid = Session.create({name = "run " .. runs .. " by " .. who, tags = {"team"}})
Artifact.store(sid, "text", "summary.txt", "Run " .. runs .. " checked the handbook.",
               {author = who})
print("session " .. sid .. " holds " .. #Artifact.list(sid) .. " artifact(s)")

print("\n== RAG: the handbook, ingested once, searched by everyone")
local handbook = {
  {id = "deploy", content = "Deploys go out on Tuesdays after the staging check passes.",
   metadata = {section = "release"}},
  {id = "oncall", content = "The on-call engineer answers pages within fifteen minutes.",
   metadata = {section = "support"}},
  {id = "review", content = "Every change needs one approving review before it merges.",
   metadata = {section = "release"}},
}
local added = RAG.ingest(handbook, {scope = "tenant", scope_id = "handbook"})
print("documents ingested: " .. added.documents_processed .. " (same ids replace, never duplicate)")

local found = RAG.search("when do we deploy?", {scope = "tenant", scope_id = "handbook", k = 2,
                                                filters = {section = "release"}})
for i, hit in ipairs(found.results) do
  print(string.format("%d. [%s] %s (score %.2f)", i, hit.metadata.section, hit.content, hit.score))
end
local stats = RAG.get_stats("tenant", "handbook")
print("vectors in the handbook: " .. stats.total_vectors .. ", backend: " .. stats.backend)

return {runs = runs, hits = found.total, vectors = stats.total_vectors}
