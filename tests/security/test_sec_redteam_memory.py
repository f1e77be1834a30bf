"""Red team: Python-side amplifiers (work outside the Lua heap cap).

A few megabytes of script text must not become gigabytes in Python: ``csv_analyzer``
repeats every column name in each JSON record and pads short rows to the header's width,
so its input is checked for cells, and its output size is known before it is built.
"""

from __future__ import annotations

from pathlib import Path

from tools_helpers import run_cli

WIDE_HEADER = """
    local cols = {}
    for i = 1, 2000 do cols[i] = string.rep("c", 195) .. string.format("%05d", i) end
    local header = table.concat(cols, ",")
    cols = nil
"""


def test_csv_json_records_repeating_long_column_names_are_refused(tmp_path: Path) -> None:
    script = WIDE_HEADER + """
    local rows = {header}
    for i = 1, 1000 do rows[#rows + 1] = string.rep(",", 1999) end
    local csv = table.concat(rows, "\\n")
    rows, header = nil, nil
    for _, fmt in ipairs({"json", "jsonl"}) do
      local ok, err = pcall(Tool.invoke, "csv_analyzer",
                            {operation = "convert", input = csv, options = {format = fmt}})
      print(fmt, ok, err)
    end
    """
    done = run_cli(script, tmp_path, "--timeout", "20")
    assert done.code == 0, done.stderr
    assert done.stdout.count("false") == 2 and "too large" in done.stdout, done.stdout
    assert done.max_rss_mb < 300, done.max_rss_mb


def test_csv_short_rows_padded_to_a_wide_header_are_refused(tmp_path: Path) -> None:
    script = """
    local header = string.rep("a,", 19999) .. "a"
    local csv = header .. string.rep("\\nx", 100000)
    local ok, err = pcall(Tool.invoke, "csv_analyzer", {operation = "analyze", input = csv})
    print(ok, err)
    """
    done = run_cli(script, tmp_path, "--timeout", "20")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "too large" in done.stdout, done.stdout
    assert done.max_rss_mb < 300, done.max_rss_mb


def test_csv_transform_literal_columns_cannot_multiply_the_output(tmp_path: Path) -> None:
    script = """
    local csv = "a\\n" .. string.rep("1\\n", 5000)
    local adds = {}
    for i = 1, 200 do adds["c" .. i] = string.rep("z", 5000) end
    local ok, err = pcall(Tool.invoke, "csv_analyzer",
        {operation = "transform", input = csv, options = {add_columns = adds}})
    print(ok, err)
    """
    done = run_cli(script, tmp_path, "--timeout", "20")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "too large" in done.stdout, done.stdout
    assert done.max_rss_mb < 300, done.max_rss_mb


def test_ordinary_csv_still_converts(tmp_path: Path) -> None:
    script = """
    local rows = {"name,age"}
    for i = 1, 20000 do rows[#rows + 1] = "n" .. i .. "," .. i end
    local r = Tool.invoke("csv_analyzer", {operation = "convert",
                                           input = table.concat(rows, "\\n"),
                                           options = {format = "json"}})
    print(#r.data, r.data[20000].age)
    """
    done = run_cli(script, tmp_path)
    assert done.stdout.startswith("20000\t20000"), done.stdout + done.stderr


def test_workflow_templates_cannot_multiply_a_step_output(tmp_path: Path) -> None:
    """``{{prev}}`` written 500 times spliced a 1 MB output 500 times, in Python."""
    script = """
    local wf = Workflow.sequential({name = "amp", steps = {
      {name = "a", type = "custom",
       ["function"] = function() return string.rep("x", 1000000) end},
      {name = "b", type = "tool", tool = "hash_calculator",
       input = {operation = "hash", input = string.rep("{{prev}}", 500)}},
    }})
    local ok, err = pcall(function() return wf:execute({}) end)
    print(ok, err)
    """
    done = run_cli(script, tmp_path, "--timeout", "30")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "expand to more than" in done.stdout, \
        done.stdout[:300]
    assert done.max_rss_mb < 300, done.max_rss_mb


def test_a_loop_cannot_pile_up_step_outputs(tmp_path: Path) -> None:
    """Each iteration's 10 MB tool output was kept until the end: 80 of them took 4.7 GB."""
    script = """
    local wf = Workflow.loop({
      name = "acc", iterator = {range = {start = 1, ["end"] = 80, step = 1}},
      max_iterations = 100,
      body = {{name = "b", type = "tool", tool = "text_manipulator",
               input = {operation = "replace", input = string.rep("a", 1000),
                        options = {from = "a", to = string.rep("y", 10000)}}}},
    })
    local ok, err = pcall(function() return wf:execute({}) end)
    print(ok, err)
    """
    done = run_cli(script, tmp_path, "--timeout", "60")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "step outputs hold more than" in done.stdout, \
        done.stdout[:300]
    assert done.max_rss_mb < 450, done.max_rss_mb


def test_the_memory_state_cannot_grow_without_limit(tmp_path: Path) -> None:
    """Each value is under max_state_size_bytes, but 120 keys of 5 MB held 650 MB."""
    script = """
    local big = string.rep("z", 5000000)
    local ok, err = pcall(function()
      for i = 1, 120 do
        collectgarbage()
        State.save("global", "k" .. i, big .. i)
      end
    end)
    print(ok, err)
    State.delete("global", "k1")
    print(pcall(State.save, "global", "small", "still works"))
    """
    done = run_cli(script, tmp_path, "--timeout", "60")
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("false") and "in all" in lines[0], done.stdout[:300]
    assert lines[1].startswith("true"), done.stdout[:300]
    assert done.max_rss_mb < 450, done.max_rss_mb


def test_unread_events_cannot_pile_up(tmp_path: Path) -> None:
    """A subscription nobody reads kept every 5 MB event (120 of them: 630 MB); now the
    oldest are dropped past 64 MB, as when its buffer is full."""
    script = """
    local big = string.rep("z", 5000000)
    local sub = Event.subscribe("x.*")
    for i = 1, 120 do
      collectgarbage()
      Event.publish("x.y", {n = i, data = big .. i})
    end
    local first = Event.receive(sub, 100)
    print(first.data.n)
    """
    done = run_cli(script, tmp_path, "--timeout", "60")
    assert done.code == 0, done.stderr
    first = int(done.stdout.split()[0])
    assert 100 < first <= 120, done.stdout[:200]
    assert done.max_rss_mb < 300, done.max_rss_mb


def test_file_converter_tabs_cannot_expand_without_limit(tmp_path: Path) -> None:
    """100,000 tabs with tab_size = 100,000 asked for 10^10 spaces (19 GB seen)."""
    script = f"""
    local src = "{tmp_path / 'tabs.txt'}"
    Tool.invoke("file_operations", {{operation = "write", path = src,
                                     input = string.rep("\\t", 100000)}})
    print(pcall(Tool.invoke, "file_converter", {{operation = "indentation", path = src,
        target_path = src .. ".out", convert_to_spaces = true, tab_size = 100000}}))
    """
    done = run_cli(script, tmp_path, "--timeout", "20")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "would be" in done.stdout, done.stdout[:300]
    assert done.max_rss_mb < 300, done.max_rss_mb


def test_wav_conversion_cannot_multiply_the_file(tmp_path: Path) -> None:
    """8-bit mono to 32-bit 64 channels wrote 256x the input (a 1 MB WAV became 256 MB)."""
    import wave

    src = tmp_path / "in.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 1_000_000)
    script = f"""
    print(pcall(Tool.invoke, "audio_processor", {{operation = "convert",
        source_path = "{src}", target_path = "{tmp_path / 'out.wav'}",
        channels = 64, bits_per_sample = 32}}))
    """
    done = run_cli(script, tmp_path, "--timeout", "60")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "would be" in done.stdout, done.stdout[:300]
    out = tmp_path / "out.wav"
    assert not out.exists() or out.stat().st_size < 60_000_000


SESSIONS = "[runtime.sessions]\nenabled = true\n"


def test_memory_sessions_cannot_grow_without_limit(tmp_path: Path) -> None:
    """100 sessions (the count limit) of 8 MB metadata each held 850 MB in memory."""
    script = """
    local big = string.rep("z", 8000000)
    local ok, err = pcall(function()
      for i = 1, 100 do
        collectgarbage()
        Session.create({name = "s" .. i, metadata = {x = big .. i}})
      end
    end)
    print(ok, err)
    """
    done = run_cli(script, tmp_path, "--timeout", "60", config=SESSIONS)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "held in memory" in done.stdout, \
        done.stdout[:300]
    assert done.max_rss_mb < 500, done.max_rss_mb


def test_debug_capture_buffer_cannot_hold_huge_messages(tmp_path: Path) -> None:
    """Debug's capture buffer (1000 entries) kept every message whole: 1000 messages of
    5 MB would hold 5 GB in Python. One 3 MB message shows what is kept."""
    script = """
    Debug.info(string.rep("z", 3000000), "m")
    local last = Debug.getCapturedEntries()
    local e = last[#last]
    print(#e.message < 100000, e.message:sub(-20))
    """
    done = run_cli(script, tmp_path, "--timeout", "60")
    assert done.code == 0, done.stderr[-300:]
    assert done.stdout.startswith("true"), done.stdout[:300]
