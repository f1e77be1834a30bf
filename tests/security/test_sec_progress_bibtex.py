"""citation-formatter's BibTeX: @string expansion bombs and hostile LaTeX stay bounded.

bibtexparser and pylatexenc run in the tools' sandbox process: 5 MB of ``\\"u`` took
minutes and 1.5 GB there in-process, so a script could stall or swell llmspell with one
call. @string / ``#`` expansion (new with bibtexparser) could double a value per level.
"""

from __future__ import annotations

import time

from tools_helpers import run_cli


def test_string_doubling_bomb_is_refused(tmp_path):
    done = run_cli("""
        local parts = {'@string{s0 = "xxxxxxxxxxxxxxxx"}'}
        for i = 1, 40 do
          parts[#parts + 1] = string.format("@string{s%d = s%d # s%d}", i, i - 1, i - 1)
        end
        parts[#parts + 1] = "@article{k, title = s40}"
        local ok, err = pcall(Tool.invoke, "citation-formatter",
                              {input = table.concat(parts, "\\n"), format = "bibtex"})
        print(ok, err)
    """, tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("false") and "expands to more than" in done.stdout, done
    assert done.max_rss_mb < 250, done.max_rss_mb


def test_hostile_latex_is_bounded_in_time_and_memory(tmp_path):
    started = time.monotonic()
    done = run_cli("""
        local text = "@article{k, title = {" .. string.rep('\\\\"u', 300000) .. "}}"
        local ok, err = pcall(Tool.invoke, "citation-formatter",
                              {input = text, format = "bibtex"})
        print("returned", ok, err)
    """, tmp_path, "--timeout", "4", timeout=60)
    assert "did not stop" not in done.stderr, done.stderr
    assert done.code in (0, 1), (done.code, done.stderr)
    assert ("returned\tfalse" in done.stdout and ("memory" in done.stdout
                                                 or "longer than" in done.stdout
                                                 or "stopping" in done.stdout)) \
        or "timed out" in done.stderr, done
    assert time.monotonic() - started < 30
    assert done.max_rss_mb < 250, done.max_rss_mb
