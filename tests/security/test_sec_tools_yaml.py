"""citation-formatter: a YAML "billion laughs" bibliography is refused, not expanded."""

from __future__ import annotations

from lua_text import lua_fmt
from tools_helpers import run_cli

BOMB = "\\n".join([
    "k1:",
    "  title: T",
    "  author: [Doe, John]",
    "  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
    "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
    "  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]",
    "  note: *g",
])


def test_yaml_alias_bomb_is_refused(tmp_path):
    done = run_cli(lua_fmt("""
        local ok, err = pcall(Tool.invoke, "citation-formatter", {
            operation = "format_citation", input = "${BOMB}", format = "yaml"})
        print(ok, err)
    """, BOMB=BOMB), tmp_path, "--timeout", "20", timeout=60)
    assert done.stdout.startswith("false") and "aliases" in done.stdout, done
    assert done.max_rss_mb < 250, done.max_rss_mb


def test_plain_yaml_bibliography_still_works(lua):
    run = lua("""
        local r = Tool.invoke("citation-formatter", {operation = "format_citation",
            input = "k1:\\n  title: A Title\\n  author: [Doe, John]\\n  year: 2020\\n",
            format = "yaml", style = "apa"})
        return r.success
    """)
    assert run.value is True
