"""Typed settings access: every settings path our code names is in config.SCHEMA.

``Settings.get`` refuses a path the schema does not declare (no default argument: the
defaults live in the schema), and the scan below finds every literal path in
``llmspell/`` without running it, so a typo fails the suite before any run reads it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from llmspell import config
from llmspell.config import UnknownSettingError

PACKAGE = Path(config.__file__).parent
SECTIONS = "default_engine|engines|runtime|rag|tools|hooks|events|debug|providers"
PATH_RE = re.compile(rf"^({SECTIONS})(\.[A-Za-z0-9_]+)*$")
ACCESSORS = {"get", "set"}  # (lookup is for paths a user chose)
# (file, argument) where a helper passes a path on; its callers' literals are checked
PASSED_ON = {("tools/context.py", "path"),
             ("tools/communication.py", "f'tools.{section}.{key}'")}  # _setting()


def _receiver(node: ast.expr) -> str:
    return ast.unparse(node).rsplit(".", 1)[-1]


def _settings_calls(tree: ast.AST, receivers: tuple[str, ...]) -> list[tuple[int, ast.expr]]:
    """(line, first argument) of each settings read in a module: ``X.settings.get(..)``,
    ``settings.set(..)``, ``ctx.get(..)`` (ToolContext), ``get(..)`` bound to
    ``settings.get``, and the email tool's ``_setting(ctx, section, key)``."""
    bound = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
             and isinstance(n.value, ast.Attribute) and n.value.attr == "get"
             and _receiver(n.value.value) == "settings"
             for t in n.targets if isinstance(t, ast.Name)}
    found: list[tuple[int, ast.expr]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ACCESSORS and \
                _receiver(func.value) in receivers:
            found.append((node.lineno, node.args[0]))
        elif isinstance(func, ast.Name) and func.id in bound:
            found.append((node.lineno, node.args[0]))
        elif isinstance(func, ast.Name) and func.id == "_setting" and len(node.args) >= 3:
            section, key = node.args[1], node.args[2]
            if isinstance(section, ast.Constant) and isinstance(key, ast.Constant):
                found.append((node.lineno, ast.Constant(f"tools.{section.value}.{key.value}")))
            else:
                found.append((node.lineno, section))
    return found


def _all_reads() -> list[tuple[str, int, ast.expr]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "config.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        receivers = ("settings", "ctx") + (("self",) if rel == "tools/context.py" else ())
        out += [(rel, line, arg) for line, arg in _settings_calls(tree, receivers)]
    return out


READS = _all_reads()


def test_the_scan_finds_the_reads():
    literal = {a.value for _f, _l, a in READS if isinstance(a, ast.Constant)}
    # one from each shape the scan knows, so a broken scan cannot pass silently
    for path in ("runtime.security.max_memory_bytes", "tools.network.timeout_seconds",
                 "rag.vector_storage.hnsw.m", "tools.email.smtp_host", "runtime.log_level"):
        assert path in literal
    assert len(literal) > 60


@pytest.mark.parametrize("where,line,arg", READS,
                         ids=[f"{f}:{n}" for f, n, _a in READS])
def test_every_settings_path_in_the_package_is_in_the_schema(where, line, arg):
    if (where, ast.unparse(arg)) in PASSED_ON:
        return
    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
        f"{where}:{line}: a settings path must be a literal string so this test can "
        f"check it, not {ast.unparse(arg)}")
    if not PATH_RE.match(arg.value):
        return  # ctx.get on something else (a dict named ctx)
    config.check_path(arg.value)  # raises UnknownSettingError on a typo


def test_a_typo_is_an_error_naming_the_closest_path():
    settings = config.from_dict({}, environ={})
    with pytest.raises(UnknownSettingError,
                       match=r"unknown setting 'runtime\.script_timeout_second'.*did you mean "
                             r"'runtime\.script_timeout_seconds'"):
        settings.get("runtime.script_timeout_second")
    with pytest.raises(UnknownSettingError):
        settings.get("runtime.security.allow_file_access.deeper")
    with pytest.raises(UnknownSettingError):
        settings.set("rag.vector_storage.metric", "cosine")
    with pytest.raises(UnknownSettingError):
        settings.get("providers.default")


def test_defaults_come_from_the_schema():
    settings = config.from_dict({}, environ={})
    for path, spec in config.schema_leaves():
        if spec.kind == "table" and spec.default is None:
            assert settings.get(path) == {}
        else:
            assert settings.get(path) == spec.default, path


def test_free_form_sections_and_providers_still_read():
    settings = config.from_dict({
        "engines": {"lua": {"stdlib_level": "safe"}},
        "tools": {"media": {"ffmpeg": "/usr/bin/ffmpeg"},
                  "network": {"proxy": "http://p", "timeout_seconds": 5}},
        "providers": {"default_provider": "a", "a": {"provider_type": "openai"}},
    }, environ={})
    assert settings.get("engines.lua.stdlib_level") == "safe"
    assert settings.get("engines.javascript") is None
    assert settings.get("tools.media.ffmpeg") == "/usr/bin/ffmpeg"
    assert settings.get("tools.network.proxy") == "http://p"  # undeclared key: kept
    assert settings.get("tools.network.timeout_seconds") == 5.0
    assert settings.get("tools.network.max_redirects") == 5  # declared: its default
    assert settings.get("providers.default_provider") == "a"
    assert settings.get("providers.providers.a.provider_type") == "openai"
    assert not settings.warnings


def test_lookup_is_lenient_for_user_paths():
    settings = config.from_dict({}, environ={})
    assert settings.lookup("no.such.path") is None
    assert settings.lookup("runtime.max_concurrent_scripts") == 10


def test_config_side_tables_name_schema_paths():
    paths = [p for _env, p, _kind in config.ENV_OVERRIDES] + list(config.RANGES) + \
        list(config.RIGHTS_KEYS) + list(config.PATH_KEYS) + list(config.FILE_PATHS) + \
        list(config.FOLDER_PATHS) + list(config.STRING_LISTS)
    for path in paths:
        config.check_path(path)
