"""The Tool global as scripts see it (TOOLS.md §1) and the ToolService behind it."""

from __future__ import annotations

import json
import uuid

import pytest

from llmspell.errors import ToolError
from llmspell.tools.output import output_to_lua_value
from llmspell.tools.registry import builtin_registry
from llmspell.tools.service import ToolService


def test_unknown_tool_raises_not_found(lua):
    run = lua("""
        local ok, err = pcall(Tool.invoke, "nonexistent_tool", {})
        return {ok, tostring(err)}
    """)
    assert run.value[0] is False
    assert "Tool 'nonexistent_tool' not found" in run.value[1]


def test_there_is_no_tool_execute(lua):
    run = lua("return {Tool.execute == nil, Tool.executeAsync == nil, type(Tool.exists)}")
    assert run.value == [True, True, "function"]


def test_uuid_invoke_envelope_lands_top_level(lua):
    run = lua("""
        local r = Tool.invoke("uuid_generator", {operation = "generate", version = "v4"})
        return {success = r.success, op = r.operation, uuid = r.result.uuid,
                version = r.result.version, err = r.error, raw = r._raw_text,
                text = r.text, meta = next(r.metadata) == nil}
    """)
    v = run.value
    assert v["success"] is True and v["op"] == "generate" and v["version"] == "v4"
    assert uuid.UUID(v["uuid"]).version == 4
    assert "err" not in v and "text" not in v and v["meta"] is True
    assert json.loads(v["raw"])["result"]["uuid"] == v["uuid"]


def test_validate_result_is_data_not_envelope(lua):
    run = lua("""
        local r = Tool.invoke("uuid_generator", {operation = "validate",
                              uuid = "6ba13d5a-3f5d-4a5b-9f7e-3d5a2f4d3a2b"})
        return {r.data.valid, r.data.version, type(r.text), r.success == nil}
    """)
    assert run.value == [True, "v4", "string", True]


def test_missing_parameter_error_text(lua):
    run = lua("""
        local ok, err = pcall(Tool.invoke, "file_operations", {path = "/tmp/x"})
        return tostring(err)
    """)
    assert run.value == ("Tool execution failed: Validation error: "
                         "Missing required parameter 'operation'")


def test_params_must_be_a_table(lua):
    run = lua("""
        local ok, err = pcall(Tool.invoke, "uuid_generator", "v4")
        local ok2, err2 = pcall(Tool.invoke, "uuid_generator", {f = function() end})
        return {ok, err, ok2, err2}
    """)
    assert run.value[0] is False and "Tool.invoke" in run.value[1] and "params" in run.value[1]
    assert run.value[2] is False and "Unsupported Lua type" in run.value[3]


def test_tool_name_lookup_and_colon_execute(lua):
    run = lua("""
        local t = Tool.uuid_generator
        local r = t:execute({operation = "deterministic", namespace = "tool", name = "x"})
        local ok, err = pcall(t.execute, t, {operation = "nope"})
        local schema = t.getSchema()
        return {t.name, r.result.id, err, schema.name, Tool.file_operations ~= nil,
                Tool["file-operations"] == nil}
    """)
    name, ident, err, schema_name, kebab, snake_missing = run.value
    assert name == "uuid_generator"
    assert ident == str(uuid.uuid5(uuid.UUID("7cb24e6b-4f6e-5b6c-af8f-4e6b3f5e4b3c"), "x"))
    assert err.startswith("Tool 'uuid_generator' execution failed: Validation error:")
    assert schema_name == "uuid_generator"
    assert kebab is True and snake_missing is True


def test_get_returns_schema_and_execute(lua):
    run = lua("""
        local t = Tool.get("file_operations")
        local params = {}
        for _, p in ipairs(t.schema.parameters) do params[p.name] = p end
        return {t.name, t.version, params.operation.required, params.operation.type,
                params.recursive.default, Tool.get("nope") == nil, type(t.execute)}
    """)
    assert run.value == ["file_operations", "0.1.0", True, "string", False, True, "function"]


def test_list_exists_categories_discover(lua):
    run = lua("""
        local names = {}
        for _, t in ipairs(Tool.list()) do names[#names + 1] = t.name end
        local fs = Tool.discover({category = "filesystem"})
        local tagged = Tool.discover({tag = "UUID"})
        return {names = names, exists = {Tool.exists("calculator"), Tool.exists("nope")},
                cats = Tool.categories(), fs = fs, tagged = tagged,
                all = #Tool.discover()}
    """)
    v = run.value
    reg = builtin_registry()
    assert sorted(v["names"]) == v["names"] and len(v["names"]) == len(reg)
    assert v["exists"] == ["calculator" in reg, False]
    assert set(v["cats"]) == {t.category for t in reg.all()}
    assert all(t["category"] == "filesystem" for t in v["fs"])
    assert "file_operations" in {t["name"] for t in v["fs"]}
    assert "uuid_generator" in {t["name"] for t in v["tagged"]}
    assert v["all"] == len(reg)


def test_service_invoke_from_python():
    svc = ToolService()
    r = svc.invoke("uuid_generator", {"format": "simple"})
    assert r["success"] is True and len(r["result"]["uuid"]) == 32
    with pytest.raises(ToolError, match="Tool 'x' not found"):
        svc.invoke("x", {})
    info = {i.name: i for i in svc.list()}["uuid_generator"]
    assert info.category == "utility"
    assert info.parameters["type"] == "object"
    assert "version" in info.parameters["properties"]


def test_service_is_cached_per_run(lua):
    from llmspell.api.tool import tool_service

    rt, _ = lua.runtime()
    try:
        assert rt.run_source(b"return Tool.exists('uuid_generator')", "t.lua") is True
        assert tool_service(rt) is rt.services.tools
    finally:
        rt.close()


@pytest.mark.parametrize(("text", "expected"), [
    ('{"success": true, "result": 1, "metadata": {"x": 1}}',
     {"success": True, "result": 1, "_raw_text": None, "metadata": {"m": 1}}),
    ('{"a": 1}', {"data": {"a": 1}, "text": None, "metadata": {"m": 1}}),
    ("[1, 2]", {"data": [1, 2], "text": None, "metadata": {"m": 1}}),
    ("hello", {"text": None, "metadata": {"m": 1}}),
    ("NaN", {"text": None, "metadata": {"m": 1}}),
])
def test_output_to_lua_value_rules(text, expected):
    out = output_to_lua_value(text, {"m": 1})
    expected = {k: (text if v is None else v) for k, v in expected.items()}
    assert out == expected


CATALOG = {
    "base64_encoder": "utility", "calculator": "utility", "data_validation": "utility",
    "date_time_handler": "utility", "diff_calculator": "utility", "hash_calculator": "utility",
    "template_engine": "utility", "text_manipulator": "utility", "uuid_generator": "utility",
    "citation-formatter": "utility", "csv_analyzer": "data", "json_processor": "data",
    "graphql_query": "api", "http_request": "api", "pdf-processor": "data",
    "graph-builder": "data", "archive_handler": "filesystem", "file_converter": "filesystem",
    "file_operations": "filesystem", "file_search": "filesystem", "file_watcher": "filesystem",
    "environment_reader": "system", "process_executor": "system", "service_checker": "system",
    "system_monitor": "system", "audio_processor": "media", "image_processor": "media",
    "video_processor": "media", "web_search": "web", "url-analyzer": "data",
    "web-scraper": "data", "api-tester": "data", "webhook-caller": "data",
    "webpage-monitor": "data", "sitemap-crawler": "data", "email-sender": "api",
    "database-connector": "data",
}


def test_catalog_is_exactly_the_37_upstream_tools():
    reg = builtin_registry()
    assert {t.name: t.category for t in reg.all()} == CATALOG
    for tool in reg.all():
        schema = tool.parameters_schema()
        assert schema["type"] == "object" and tool.description
        assert set(schema["required"]) <= set(schema["properties"])


def test_kebab_names_resolve_from_lua(lua):
    run = lua('return {Tool["web-scraper"] ~= nil, Tool.web_scraper == nil, '
              'Tool.exists("database-connector")}')
    assert run.value == [True, True, True]


def test_catalog_loads_without_heavy_imports():
    import subprocess
    import sys

    code = ("import sys; from llmspell.tools.service import ToolService; s = ToolService(); "
            "s.list(); s.invoke('uuid_generator', {}); "
            "print([m for m in ('httpx', 'jinja2', 'PIL', 'bs4', 'psutil', 'jq', 'pypdf', "
            "'yaml', 'dateutil', 'mutagen', 'jsonschema', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_register_is_per_service():
    from llmspell.tools.registry import ToolOutput, ToolSpec

    svc = ToolService()
    spec = ToolSpec("echo_tool", "custom", "Echo", [],
                    lambda ctx, p: ToolOutput('{"success": true, "result": 1}'))
    svc.register(spec)
    assert svc.invoke("echo_tool", {})["result"] == 1
    assert "echo_tool" in {i.name for i in svc.list()}
    assert not ToolService().exists("echo_tool")
    assert builtin_registry().get("echo_tool") is None
