"""`llmspell tools invoke` and `tools list --category`, through real subprocesses."""

from __future__ import annotations

import json


def test_invoke_with_params_prints_the_result(cli):
    proc = cli("tools", "invoke", "calculator", "--param", "input=x * 2",
               "-p", 'variables={"x": 21}')
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["success"] is True and result["result"]["result"] == 42
    assert "_raw_text" not in result


def test_invoke_with_json_and_output_modes(cli):
    as_json = cli("--output", "json", "tools", "invoke", "uuid_generator",
                  "--json", '{"operation": "generate", "version": "v4"}')
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout.startswith("{\n  ")  # pretty, one document
    assert len(json.loads(as_json.stdout)["result"]["uuid"]) == 36
    pretty = cli("tools", "invoke", "uuid_generator", "--output", "pretty")
    assert pretty.stdout.startswith("Output: {") and "Engine: lua" in pretty.stdout


def test_param_values_win_over_json(cli):
    proc = cli("tools", "invoke", "calculator", "--json", '{"input": "1 + 1"}',
               "-p", "input=2 + 2")
    assert json.loads(proc.stdout)["result"]["result"] == 4


def test_a_tool_failure_prints_the_result_and_exits_1(cli):
    proc = cli("tools", "invoke", "calculator", "-p", "input=1 +")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["success"] is False


def test_a_tool_error_is_one_clear_line(cli):
    proc = cli("tools", "invoke", "process_executor", "-p", "executable=id")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: Tool execution failed: ")
    assert "tools invoke:1" not in proc.stderr and "traceback" not in proc.stderr


def test_unknown_tool(cli):
    proc = cli("tools", "invoke", "nope")
    assert proc.returncode == 1
    assert proc.stderr == "Error: Tool 'nope' not found (see `llmspell tools list`)\n"


def test_bad_parameters_are_usage_errors(cli):
    cases = [(("-p", "novalue"), "'novalue' is not NAME=VALUE"),
             (("-p", "variables=nope"), "variables: 'nope' is not an object (JSON)"),
             (("--json", "[1]"), "must be a JSON object"),
             (("--json", "{bad"), "not JSON")]
    for args, message in cases:
        proc = cli("tools", "invoke", "calculator", *args)
        assert proc.returncode == 2, args
        assert message in proc.stderr, (args, proc.stderr)
    typed = cli("tools", "invoke", "date_time_handler", "-p", "amount=1.5")
    assert typed.returncode == 2 and "amount: '1.5' is not an integer" in typed.stderr
    flag = cli("tools", "invoke", "uuid_generator", "-p", "short=maybe")
    assert flag.returncode == 2 and "short: 'maybe' is not a boolean" in flag.stderr


def test_list_rejects_an_unknown_category(cli):
    proc = cli("tools", "list", "--category", "nope")
    assert proc.returncode == 2
    assert "unknown category 'nope'" in proc.stderr
    for category in ("data", "filesystem", "utility", "web"):
        assert category in proc.stderr
    good = cli("tools", "list", "--category", "utility")
    assert good.returncode == 0 and "calculator" in good.stdout
