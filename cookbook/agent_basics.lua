-- agent_basics.lua: talking to a language model through the Agent global.
-- Run with a key:      OPENAI_API_KEY=sk-... llmspell run cookbook/agent_basics.lua
-- Run with no key:     llmspell run --playback cookbook/cassettes/agent_basics.json \
--                          cookbook/agent_basics.lua
-- Record a cassette:   llmspell run --record my.json cookbook/agent_basics.lua
-- Shows: building an agent, one question, follow-up questions that rely on the
-- agent's memory of the conversation, streaming a reply chunk by chunk, handing one
-- agent's answer to another, and catching provider errors with pcall.

local function section(title)
  print("")
  print("== " .. title .. " ==")
end

local function first_line(text, limit)
  local line = (text or ""):match("^[^\n]*") or ""
  if #line > limit then line = line:sub(1, limit) .. "..." end
  return line
end

-- 1. Build an agent. The model string is "<provider>/<model>".
section("1. Build an agent")
local tutor = Agent.builder()
  :name("lua_tutor")
  :description("Explains Lua to programmers who know other languages")
  :model("openai/gpt-4o-mini")
  :system_prompt("You teach Lua. Answer in at most three sentences.")
  :temperature(0.2)
  :max_tokens(200)
  :build()
print("built agent: lua_tutor, state " .. tutor:get_state())

-- 2. One question, one answer. The reply text is in `text`; `metadata` says which
-- model answered and how many tokens the exchange cost.
section("2. Ask a question")
local answer = tutor:invoke({ text = "What is a Lua table?" })
print("answer: " .. first_line(answer.text, 100))
print(string.format("model: %s, tokens: %d", answer.metadata.model,
  answer.metadata.token_count or 0))

-- 3. The agent remembers the conversation, so a follow-up can say "it".
section("3. Follow-up questions")
local follow = tutor:invoke({ text = "How do I loop over it in order?" })
print("follow-up: " .. first_line(follow.text, 100))
local replies = 2
for _, question in ipairs({ "And in any order?", "Show one line of example code." }) do
  local reply = tutor:invoke({ text = question })
  replies = replies + 1
  print(string.format("Q: %-32s A: %s", question, first_line(reply.text, 60)))
end

-- 4. Streaming: the callback runs for each piece as it arrives.
section("4. Streaming")
local pieces = {}
local streamed = tutor:invokeStream({ text = "Name three uses of metatables." },
  function(chunk)
    pieces[#pieces + 1] = chunk.text
  end)
print(string.format("chunks received: %d (callback saw %d)", streamed.chunks_received, #pieces))
print("reassembled: " .. first_line(table.concat(pieces), 100))

-- 5. Two agents in a pipeline: the writer's draft becomes the reviewer's input.
section("5. Writer -> reviewer pipeline")
local writer = Agent.builder():name("release_writer"):model("openai/gpt-4o-mini")
  :system_prompt("Write a two-sentence release note for the change you are given.")
  :build()
local reviewer = Agent.builder():name("release_reviewer"):model("openai/gpt-4o-mini")
  :system_prompt("Review the release note you are given; list at most two fixes.")
  :build()
local draft = writer:invoke({ text = "Change: the CLI can now record LLM calls to a file." })
local review = reviewer:invoke({ text = "Release note:\n" .. draft.text })
print("draft:  " .. first_line(draft.text, 80))
print("review: " .. first_line(review.text, 80))

-- 6. Errors are ordinary Lua errors: catch them with pcall.
section("6. Handling errors")
local ok, err = pcall(function()
  return Agent.builder():name("nowhere"):model("no_such_provider/some-model"):build()
end)
print("unknown provider caught: " .. tostring(not ok))
print("message mentions the provider: " .. tostring(tostring(err):find("no_such_provider") ~= nil))

section("Agents in this run")
local names = {}
for _, info in ipairs(Agent.list()) do names[#names + 1] = info.name end
table.sort(names)
print(table.concat(names, ", "))

return {
  agents = #names,
  replies = replies,
  stream_chunks = streamed.chunks_received,
  pipeline = draft.text ~= nil and review.text ~= nil,
  error_caught = not ok,
}
