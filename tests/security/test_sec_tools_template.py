"""template_engine: scrubbed context, capped intermediate values and output, time limit."""

from __future__ import annotations

from tools_helpers import SECRET_NAME, SECRET_VALUE, run_cli, stopped


def render(lua, template: str, context: str = "{}", engine: str = "tera") -> tuple[bool, str]:
    run = lua(f"""
        local ok, r = pcall(Tool.invoke, "template_engine",
                            {{input = {template!r}, context = {context}, engine = {engine!r}}})
        if not ok then return {{false, tostring(r)}} end
        return {{true, r.result.rendered}}
    """)
    return run.value[0], run.value[1]


def test_context_is_scrubbed(lua, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    ctx = (f'{{api_key = "sk-live-0123456789", note = "uses {SECRET_VALUE}", '
           'db = "postgres://bob:hunter22@db/x", name = "Ann"}')
    for engine in ("tera", "handlebars"):
        ok, text = render(lua, "{{ api_key }}|{{ note }}|{{ db }}|{{ name }}", ctx, engine)
        assert ok, text
        assert "sk-live" not in text and SECRET_VALUE not in text and "hunter22" not in text
        assert text.endswith("|Ann"), text


def test_context_holds_only_what_the_script_passed(lua):
    for probe in ("{{ config }}", "{{ env }}", "{{ settings }}", "{{ get_env(name='HOME') }}"):
        ok, text = render(lua, probe)
        assert not ok, (probe, text)


def test_string_repeat_bomb_fails_fast_without_allocating(tmp_path):
    done = run_cli("""
        for _, t in ipairs({"{{ 'x' * 500000000 }}", "{{ ('ab' * 1000) * 300000 }}",
                            "{{ [1, 2] * 200000000 }}", "{{ 2 ** 100000000 }}"}) do
            local ok, err = pcall(Tool.invoke, "template_engine", {input = t, engine = "tera"})
            print(ok, err)
        end
    """, tmp_path)
    lines = [x for x in done.stdout.splitlines() if x.startswith(("true", "false"))]
    assert done.code == 0 and len(lines) == 4, (done.stdout, done.stderr)
    for line in lines:
        assert line.startswith("false") and "limit" in line, line
    assert done.max_rss_mb < 200, done.max_rss_mb


def test_silent_loops_are_stopped_by_the_time_limit(tmp_path):
    done = run_cli("""
        local t = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        local ok, err = pcall(Tool.invoke, "template_engine", {input = t, engine = "tera"})
        print("after", ok)
    """, tmp_path, "--timeout", "2", timeout=40)
    stopped(done)


def test_handlebars_silent_loops_are_stopped(tmp_path):
    done = run_cli("""
        local xs = {}
        for i = 1, 2000 do xs[i] = i end
        local t = "{{#each xs}}{{#each ../xs}}{{#each ../../xs}}{{/each}}{{/each}}{{/each}}"
        local ok, err = pcall(Tool.invoke, "template_engine",
                              {input = t, engine = "handlebars", context = {xs = xs}})
        print("after", ok)
    """, tmp_path, "--timeout", "2", timeout=40)
    stopped(done)

