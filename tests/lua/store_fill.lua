-- Fills every store a config names (tests/test_postgres_copy.py copies them around).
State.save("global", "greeting", {text = "hello", n = 42})
State.save("user", "prefs", {"dark", "compact"})
local sid = Session.create({name = "copied session", tags = {"copy"}})
Artifact.store(sid, "text", "notes.txt", "the content travels", {kind = "note"})
Artifact.store(sid, "text", "big.bin", string.rep("0123456789", 30000))
RAG.ingest({{id = "a", content = "apples grow on trees", metadata = {topic = "fruit"}},
            {id = "b", content = "rust is a systems language", metadata = {topic = "code"}}},
           {scope = "tenant", scope_id = "acme"})
RAG.search("apples", {scope = "tenant", scope_id = "acme"})
State.save("global", "session_id", sid)
