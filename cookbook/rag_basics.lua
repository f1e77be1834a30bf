-- rag_basics.lua: retrieval with the RAG global, offline.
-- Run: llmspell -c configs/rag-local.toml run cookbook/rag_basics.lua
-- Shows ingest (one or many documents, metadata, ids), search (limit, threshold,
-- metadata filters), chunking of a long document, tenant isolation, a session
-- collection with a TTL, stats and cleanup. No API key or network needed.

if not RAG then
  print("RAG is not enabled: run with -c configs/rag-local.toml (or --rag)")
  return { success = false }
end

local function show(title, result)
  print(string.format("  %s: %d result(s)", title, #result.results))
  for i, r in ipairs(result.results) do
    print(string.format("    %d. [%.3f] %s", i, r.score, r.metadata.title or r.content))
  end
end

-- 1. A small knowledge base, ingested in one call. Ids make re-ingesting replace.
print("1. Ingest")
local kb = {
  { id = "hnsw", content = "HNSW builds a layered graph of vectors; a search walks from "
      .. "the top layer down to the nearest neighbours.",
    metadata = { title = "HNSW graphs", topic = "search" } },
  { id = "chunks", content = "Long documents are split into overlapping chunks measured in "
      .. "tokens, cut at sentence ends, so each chunk fits the embedding model.",
    metadata = { title = "Chunking", topic = "ingest" } },
  { id = "tenants", content = "Each tenant gets its own index, so one customer's search "
      .. "never sees another customer's documents.",
    metadata = { title = "Tenant isolation", topic = "security" } },
  { id = "ttl", content = "Session memories expire: vectors in a session collection are "
      .. "deleted once their time to live has passed.",
    metadata = { title = "Session TTL", topic = "sessions" } },
}
local ingested = RAG.ingest(kb)
print(string.format("  documents=%d vectors=%d tokens=%d", ingested.documents_processed,
  ingested.vectors_created, ingested.total_tokens))
local again = RAG.ingest(kb[1])
print(string.format("  re-ingesting id 'hnsw' replaced %d document(s)", again.documents_replaced))

-- 2. Search: best first, `limit` results, scores are cosine similarities.
print("2. Search")
local hits = RAG.search("how does a nearest neighbour graph search work?", { limit = 2 })
show("graph question", hits)
local top = hits.results[1]
print(string.format("  top hit id=%s doc_id=%s", top.id, top.metadata.doc_id))

-- Metadata filters keep only matching documents; a threshold drops weak matches.
show("filtered to topic=security", RAG.search("search", { filters = { topic = "security" } }))
show("threshold 0.99", RAG.search("tenant index customer", { threshold = 0.99 }))
show("empty query", RAG.search("", {}))

-- 3. A long document becomes several chunks; each is found on its own.
print("3. Chunking")
local parts = {}
for i = 1, 40 do
  parts[#parts + 1] = string.format("Section %d explains detail number %d of the manual.", i, i)
end
local manual = RAG.ingest({ id = "manual", content = table.concat(parts, " "),
  metadata = { title = "Manual" } }, { chunking = { chunk_size = 60, overlap = 10 } })
print(string.format("  one document -> %d chunks", manual.vectors_created))
local detail = RAG.search("Section 37 explains detail number 37", { limit = 1 })
print(string.format("  best chunk contains 'Section 37': %s",
  tostring(detail.results[1].content:find("Section 37", 1, true) ~= nil)))

-- 4. Tenants: the same query in two tenants sees only that tenant's documents.
print("4. Tenants")
RAG.ingest({ content = "Acme roadmap: launch the API gateway in Q1.",
  metadata = { title = "Acme roadmap" } }, { scope = "tenant", scope_id = "acme" })
RAG.ingest({ content = "Globex roadmap: open the Berlin office.",
  metadata = { title = "Globex roadmap" } }, { scope = "tenant", scope_id = "globex" })
local leaked = false
for _, tenant in ipairs({ "acme", "globex" }) do
  local r = RAG.search("roadmap", { scope = "tenant", scope_id = tenant })
  show("tenant " .. tenant, r)
  for _, hit in ipairs(r.results) do
    if not hit.metadata.title:lower():find(tenant, 1, true) then leaked = true end
  end
end
local acme = RAG.get_stats("tenant", "acme")
print(string.format("  acme: vectors=%d searches=%d embedder=%s", acme.total_vectors,
  acme.searches_performed, acme.embedder))

-- 5. A session collection with a TTL; its namespace works as `collection` in search.
print("5. Session memory")
local session_id = (Session and Session.create({ name = "rag basics" }))
  or "6f1c2b7e-8a3d-4e5f-9b0a-1c2d3e4f5a6b"
local collection = RAG.create_session_collection(session_id, 3600)
print(string.format("  created=%s namespace=%s ttl=%s", tostring(collection.created),
  collection.namespace:sub(1, 16) .. "...", tostring(collection.ttl)))
RAG.ingest({ content = "The user prefers short answers with code samples." },
  { scope = "session", scope_id = session_id })
show("session recall", RAG.search("what does the user prefer?",
  { collection = collection.namespace, limit = 1 }))
local stats = RAG.get_stats("session", session_id)
print(string.format("  session vectors=%d bytes=%d", stats.total_vectors,
  stats.total_storage_bytes))

-- 6. Cleanup: a scope's vectors go at once; the count is returned.
print("6. Cleanup")
local removed = RAG.cleanup_scope("session", session_id)
print(string.format("  removed %d vector(s); left in session: %d", removed,
  #RAG.search("user prefers", { collection = collection.namespace }).results))

local all = RAG.get_stats("global")
return {
  success = true,
  documents = ingested.documents_processed,
  manual_chunks = manual.vectors_created,
  tenant_leak = leaked,
  session_removed = removed,
  total_vectors = all.total_vectors,
}
