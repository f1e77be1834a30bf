"""The Lua copies behind State.load are bounded (issue 15, item 6): the State cache must
not grow the script's Lua heap without bound."""

from __future__ import annotations

from typing import Any


def test_many_small_saves_fit_under_the_default_memory_cap(lua: Any) -> None:
    run = lua("""
      for i = 1, 150000 do
        State.save("bulk", "k" .. i, {i = i, name = "item", tags = {"a", "b"}, at = {x = i}})
      end
      local v = State.load("bulk", "k1")
      return {v.i, State.load("bulk", "k150000").i, collectgarbage("count") < 20 * 1024}
    """, timeout=120)
    assert run.value == [1, 150000, True]


def test_loads_of_old_values_stay_correct_after_the_cache_turns_over(lua: Any) -> None:
    run = lua("""
      for i = 1, 5000 do State.save("m", "k" .. i, {i = i, t = {i}}) end
      local bad = 0
      for round = 1, 2 do
        for i = 1, 5000, 7 do
          local v = State.load("m", "k" .. i)
          if v.i ~= i or v.t[1] ~= i then bad = bad + 1 end
          v.t[1] = -1  -- a caller's change never reaches the store or the copies
        end
      end
      State.save("m", "k1", {i = 99, t = {99}})
      State.delete("m", "k8")
      return {bad, State.load("m", "k1").i, State.load("m", "k8") == nil,
              State.load("m", "k15").t[1]}
    """)
    assert run.value == [0, 99, True, 15]


def test_random_saves_loads_and_deletes_agree_with_a_plain_table(lua: Any) -> None:
    run = lua("""
      math.randomseed(7)
      local model, bad = {}, 0
      for step = 1, 40000 do
        local k = "k" .. math.random(1, 3000)
        local r = math.random()
        if r < 0.3 then
          local v = {n = step, s = string.rep("x", math.random(0, 40)), t = {step}}
          State.save("r", k, v)
          model[k] = step
        elseif r < 0.35 then
          State.delete("r", k)
          model[k] = nil
        else
          local v = State.load("r", k)
          local want = model[k]
          if want == nil then
            if v ~= nil then bad = bad + 1 end
          elseif v == nil or v.n ~= want or v.t[1] ~= want then
            bad = bad + 1
          else
            v.t[1] = -1
          end
        end
      end
      return bad
    """, config={"runtime": {"security": {"max_memory_bytes": 20_000_000}}}, timeout=120)
    assert run.value == 0
