"""Utility tools: pure functions, checked through ToolService.invoke."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from llmspell.errors import ToolError
from llmspell.tools.service import ToolService


@pytest.fixture(scope="module")
def svc() -> ToolService:
    return ToolService()


def call(svc, tool, **params):
    return svc.invoke(tool, params)


def test_base64_roundtrip_and_variants(svc, tmp_path):
    enc = call(svc, "base64_encoder", operation="encode", input="hi?>")
    assert enc["result"] == {"output": "aGk/Pg==", "variant": "standard", "binary": False}
    assert call(svc, "base64_encoder", operation="encode", input="hi?>",
                variant="url-safe")["result"]["output"] == "aGk_Pg=="
    dec = call(svc, "base64_encoder", operation="decode", input="aGk/Pg==")
    assert dec["result"]["output"] == "hi?>" and dec["message"] == "Base64 decode completed"
    raw = call(svc, "base64_encoder", operation="decode", input=base64.b64encode(b"\xff\x00")
               .decode())
    assert raw["result"] == {"output": "ff00", "variant": "standard", "binary": True}
    hexed = call(svc, "base64_encoder", operation="encode", input="ff00", binary_input=True)
    assert hexed["result"]["output"] == "/wA="
    with pytest.raises(ToolError, match="Invalid base64"):
        call(svc, "base64_encoder", operation="decode", input="@@@")
    src = tmp_path / "in.bin"
    src.write_bytes(b"file!")
    out = call(svc, "base64_encoder", operation="encode", input_file=str(src),
               output_file=str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == base64.b64encode(b"file!").decode()
    assert "result" not in out


def test_base64_file_input_is_sandboxed(svc):
    with pytest.raises(ToolError, match="Security violation"):
        call(svc, "base64_encoder", operation="encode", input_file="/etc/hostname")


def test_hash_and_verify(svc, tmp_path):
    r = call(svc, "hash_calculator", operation="hash", algorithm="sha-256", input="abc")
    assert r["result"] == {"algorithm": "SHA-256", "format": "hex",
                           "hash": hashlib.sha256(b"abc").hexdigest()}
    md5 = call(svc, "hash_calculator", operation="hash", algorithm="md5", input="abc",
               format="base64")
    assert md5["result"]["hash"] == base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    good = call(svc, "hash_calculator", operation="verify", input="abc",
                expected_hash=hashlib.sha256(b"abc").hexdigest())
    assert good["result"]["verified"] is True
    bad = call(svc, "hash_calculator", operation="verify", input="abd",
               expected_hash=hashlib.sha256(b"abc").hexdigest())
    assert bad["success"] is True and bad["result"]["verified"] is False
    assert bad["message"] == "Hash verification failed"
    f = tmp_path / "f"
    f.write_bytes(b"data")
    assert call(svc, "hash_calculator", operation="hash", input_type="file", file=str(f),
                algorithm="sha512")["result"]["hash"] == hashlib.sha512(b"data").hexdigest()
    with pytest.raises(ToolError, match="Security violation"):
        call(svc, "hash_calculator", operation="hash", input_type="file", file="/etc/passwd")


@pytest.mark.parametrize(("op", "text", "options", "expected"), [
    ("uppercase", "abc", None, "ABC"),
    ("reverse", "abc", None, "cba"),
    ("trim", "  a  ", None, "a"),
    ("replace", "a-b-c", {"from": "-", "to": "+"}, "a+b+c"),
    ("substring", "hello", {"start": 1, "end": 3}, "el"),
    ("split", "a b c", None, '["a","b","c"]'),
    ("join", '["a", "b"]', {"delimiter": ","}, "a,b"),
    ("snake_case", "Hello WorldFoo", None, "hello_world_foo"),
    ("camel_case", "hello world", None, "helloWorld"),
    ("pascal_case", "hello_world", None, "HelloWorld"),
    ("sanitize", "a\x00b\x07c\n", None, "abc\n"),
    ("truncate", "abcdefghij", {"max_length": 6}, "abc..."),
    ("indent", "a\nb", {"spaces": 2}, "  a\n  b"),
    ("normalize_whitespace", " a \n\t b ", None, "a b"),
    ("word_wrap", "aaa bbb ccc", {"width": 7}, "aaa bbb\nccc"),
])
def test_text_manipulator(svc, op, text, options, expected):
    params = {"operation": op, "input": text}
    if options:
        params["options"] = options
    r = svc.invoke("text_manipulator", params)
    assert r["result"]["result"] == expected
    assert r["message"] == f"Text {op} operation completed"


def test_text_manipulator_errors(svc):
    with pytest.raises(ToolError, match="'from' and 'to'"):
        call(svc, "text_manipulator", operation="replace", input="x")
    with pytest.raises(ToolError, match="Invalid operation"):
        call(svc, "text_manipulator", operation="explode", input="x")


@pytest.mark.parametrize(("expr", "variables", "expected"), [
    ("2 + 3 * 4", {}, 14), ("(2 + 3) * 4", {}, 20), ("2 ^ 10", {}, 1024),
    ("sqrt(16) + abs(-2)", {}, 6), ("x * y - 1", {"x": 3, "y": 4}, 11),
    ("max(1, 7, 3)", {}, 7), ("10 % 4", {}, 2), ("3 > 2 && 1 == 1", {}, 1),
    ("round(2.5)", {}, 3), ("floor(-1.5)", {}, -2), ("pi() > 3.14", {}, 1),
])
def test_calculator_evaluates(svc, expr, variables, expected):
    r = call(svc, "calculator", input=expr, variables=variables)
    assert r["success"] is True and r["result"]["result"] == pytest.approx(expected)
    assert r["result"]["result_type"] == "float" and "resource_usage" in r


def test_calculator_specials_and_soft_errors(svc):
    assert call(svc, "calculator", input="1/0")["result"]["result"] == "Infinity"
    assert call(svc, "calculator", input="-1/0")["result"]["result"] == "-Infinity"
    assert call(svc, "calculator", input="0/0")["result"]["result_type"] == "special"
    v = call(svc, "calculator", operation="validate", input="2 +")
    assert v["success"] is True and v["result"]["valid"] is False
    fns = call(svc, "calculator", operation="functions")["result"]
    assert "sqrt" in fns["mathematical"]


@pytest.mark.parametrize("attack", [
    "__import__('os').system('echo pwned')", "open('/etc/passwd').read()",
    "(1).__class__", "exec('1')", "[x for x in ()]", "lambda: 1", "2 ** 3 ** 99999999",
    "(" * 200 + "1" + ")" * 200,
])
def test_calculator_never_runs_code(svc, attack):
    r = call(svc, "calculator", input=attack)
    if r["success"]:  # only pure arithmetic may succeed (e.g. huge power -> Infinity)
        assert isinstance(r["result"]["result"], float | int | str)
        assert "**" in attack
    else:
        assert r["operation"] == "evaluate" and r["error"]["message"]


def test_date_time(svc):
    p = call(svc, "date_time_handler", operation="parse", input="2024-01-15T10:30:00Z")
    assert p["result"]["parsed"]["year"] == 2024 and p["result"]["parsed"]["weekday"] == "Monday"
    assert p["result"]["parsed"]["timestamp"] == 1705314600
    c = call(svc, "date_time_handler", operation="convert_timezone",
             input="2024-01-15T10:30:00Z", target_timezone="Asia/Tokyo")
    assert c["result"]["converted"] == "2024-01-15 19:30:00 JST"
    a = call(svc, "date_time_handler", operation="add", input="2024-02-28T00:00:00Z",
             amount=2, unit="days", format="%Y-%m-%d")
    assert a["result"]["result"] == "2024-03-01"
    d = call(svc, "date_time_handler", operation="difference", start="2024-01-01",
             end="2024-01-02T01:00:00Z")
    assert d["result"]["difference"]["total_seconds"] == 90000
    assert d["result"]["difference"]["human_readable"] == "1 day, 1 hour"
    i = call(svc, "date_time_handler", operation="info", input="2024-02-10")
    assert i["result"]["info"]["is_leap_year"] is True
    assert i["result"]["info"]["days_in_month"] == 29
    now = call(svc, "date_time_handler", operation="now", timezone="UTC")
    assert now["result"]["timezone"] == "UTC" and now["result"]["datetime"].startswith("20")
    assert "RFC2822" in call(svc, "date_time_handler", operation="formats")["result"][
        "example_formats"]
    with pytest.raises(ToolError, match="Failed to parse date"):
        call(svc, "date_time_handler", operation="parse", input="not a date at all")
    with pytest.raises(ToolError, match="Invalid timezone"):
        call(svc, "date_time_handler", operation="convert_timezone", input="2024-01-01",
             target_timezone="Mars/Base")


def test_diff(svc):
    t = call(svc, "diff_calculator", old_text="a\nb\n", new_text="a\nc\n")
    assert "-b" in t["result"]["diff"] and "+c" in t["result"]["diff"]
    assert t["operation"] == "text_diff" and t["result"]["stats"]["old_lines"] == 2
    j = call(svc, "diff_calculator", type="json", old_json={"a": 1, "b": {"c": 2}, "d": 0},
             new_json={"a": 1, "b": {"c": 3}, "e": 5})
    diff = j["result"]["diff"]
    assert diff["modified"] == {"b.c": {"old": 2, "new": 3}}
    assert diff["added"] == {"e": 5} and diff["removed"] == {"d": 0}
    assert diff["unchanged"] == ["a"]
    assert j["result"]["summary"] == {"added": 1, "removed": 1, "modified": 1, "unchanged": 1}


def test_data_validation(svc):
    rules = {"rules": [{"type": "object", "required": ["email", "age"], "properties": {
        "email": {"rules": [{"type": "email"}]},
        "age": {"rules": [{"type": "range", "min": 18, "max": 99}]},
        "card": {"rules": [{"type": "custom", "name": "credit_card"}]},
    }}]}
    good = call(svc, "data_validation", input={"email": "a@b.io", "age": 30,
                                               "card": "4111 1111 1111 1111"}, rules=rules)
    assert good["result"] == {"valid": True, "errors": []}
    bad = call(svc, "data_validation", input={"email": "nope", "age": 12,
                                              "card": "4111 1111 1111 1112"}, rules=rules)
    assert bad["success"] is True and bad["result"]["valid"] is False
    assert {e["field"] for e in bad["result"]["errors"]} == {"email", "age", "card"}
    with pytest.raises(ToolError, match="Unknown rule type"):
        call(svc, "data_validation", input=1, rules={"rules": [{"type": "magic"}]})


def test_template_engines(svc):
    t = call(svc, "template_engine", input="Hi {{ name | upper }} {{ html }}",
             context={"name": "bo", "html": "<b>"})
    assert t["result"]["rendered"] == "Hi BO &lt;b&gt;" and t["result"]["engine"] == "tera"
    h = call(svc, "template_engine", input="{{#each xs}}{{this}};{{/each}}",
             context={"xs": [1, 2]})
    assert h["result"]["rendered"] == "1;2;" and h["result"]["engine"] == "handlebars"
    with pytest.raises(ToolError, match="Template render error"):
        call(svc, "template_engine", input="{{ missing }}", engine="tera")
    tables = call(svc, "template_engine", input="{{ t }} {{ ok }} {{ n }}",
                  context={"t": {"a": [1, 2]}, "ok": True, "n": 3.0})
    assert tables["result"]["rendered"] == "{&#34;a&#34;: [1, 2]} true 3"


def test_template_security(svc):
    with pytest.raises(ToolError, match="Security violation: Potentially dangerous pattern"):
        call(svc, "template_engine", input="{{ os.system('id') }}")
    # the jinja sandbox refuses private attributes even without a listed pattern
    with pytest.raises(ToolError, match="Template render error"):
        call(svc, "template_engine", input="{{ x.__init__ }}", context={"x": "s"})


def test_template_output_is_capped(svc):
    bomb = "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx{% endfor %}" \
           "{% endfor %}"
    with pytest.raises(ToolError, match="exceeds"):
        call(svc, "template_engine", input=bomb, engine="tera")
    hbs = "{{#each a}}{{#each ../a}}{{#each ../../a}}{{#each ../../../a}}xxxxxxxxxx" \
          "{{/each}}{{/each}}{{/each}}{{/each}}"
    with pytest.raises(ToolError, match="exceeds"):
        call(svc, "template_engine", input=hbs, context={"a": list(range(100))})


def test_citation_formatter(svc):
    bib = ("@article{doe2020, author={Doe, John and Roe, Jane}, title={On Things},"
           " journal={J. Stuff}, year=2020, volume={3}, pages={1--10}}")
    r = call(svc, "citation-formatter", input=bib, format="bibtex", style="apa")
    assert r["operation"] == "citation_formatter_execute"
    inner = r["result"]["result"]
    assert inner["citations"] == [{"key": "doe2020", "citation": "(Doe & Roe, 2020)"}]
    assert inner["reference_list"][0].startswith("Doe, J. & Roe, J. (2020). On Things.")
    yaml_bib = "smith:\n  type: book\n  title: A Book\n  author: ['Smith, Ann']\n  date: 2001\n"
    v = call(svc, "citation-formatter", operation="validate_bibliography", input=yaml_bib)
    assert v["result"]["result"]["valid_entries"] == 1
    styles = call(svc, "citation-formatter", operation="list_styles")["result"]["result"]
    assert "ieee" in styles["supported_styles"]
    with pytest.raises(ToolError, match="no entries"):
        call(svc, "citation-formatter", input="just text", format="bibtex")


def test_uuid_operations(svc):
    v5 = call(svc, "uuid_generator", version="v5", namespace="dns", name="example.com")
    assert v5["result"]["uuid"] == "cfbff0d1-9375-5685-968c-48ce8b15ae17"
    assert call(svc, "uuid_generator", format="urn")["result"]["uuid"].startswith("urn:uuid:")
    comp = call(svc, "uuid_generator", operation="component_id", prefix="agent", short=True)
    assert comp["result"]["id"].startswith("agent_") and len(comp["result"]["id"]) == 14
    custom = call(svc, "uuid_generator", operation="custom", prefix="job", suffix="x",
                  timestamp=True)
    parts = custom["result"]["id"].split("_")
    assert parts[0] == "job" and parts[1].isdigit() and parts[-1] == "x"
    with pytest.raises(ToolError, match="Missing required parameter 'name'"):
        call(svc, "uuid_generator", version="v5")
    assert json.loads(call(svc, "uuid_generator", operation="validate",
                           uuid="zzz")["text"])["valid"] is False


def test_citation_bibtex_strings_concatenation_and_accents(svc):
    bib = r"""
@string{jnl = "Journal of " # "Things"}
@STRING{first = "M{\"u}ller"}
@comment{not an entry}
@article{k1,
  author = first # ", Hans and Smith, Jane",
  title = {On the {\"u}ber {\'e}l{\`e}ve of {T}hings},
  journal = JNL, year = 2020, month = jan, volume = "3", pages = "1--10"
}
@book{k2, title = "A {B}ook", author = {Jos{\'e} Garc{\'\i}a}, year = {1999}}
"""
    r = call(svc, "citation-formatter", input=bib, format="bibtex", style="apa")
    inner = r["result"]["result"]
    assert inner["entry_count"] == 2
    assert inner["citations"][0] == {"key": "k1", "citation": "(Müller & Smith, 2020)"}
    refs = inner["reference_list"]
    assert "García, J. (1999). A Book." in refs[0]
    assert refs[1].startswith("Müller, H. & Smith, J. (2020). On the über élève of Things. "
                              "Journal of Things, 3, 1–10.")
    v = call(svc, "citation-formatter", operation="validate_bibliography", input=bib,
             format="bibtex")["result"]["result"]
    assert v["valid_entries"] == 2


def test_citation_bibtex_parser_is_imported_only_when_used():
    import subprocess
    import sys

    code = ("import sys\n"
            "from llmspell.tools.service import ToolService\n"
            "s = ToolService()\n"
            "s.invoke('citation-formatter', {'operation': 'list_styles'})\n"
            "assert 'bibtexparser' not in sys.modules\n"
            "from llmspell.tools import citations\n"
            "assert 'bibtexparser' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
