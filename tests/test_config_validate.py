"""Config validation at every load: enums (declared as schema choices), ranges, paths,
typo suggestions, errors naming file + key + allowed values, and the shadowed-config
warning. The CLI cases run the real `llmspell` in a subprocess."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmspell import config
from llmspell.errors import ConfigError

# (TOML, key named in the error, a word of the allowed values)
BAD = [
    ('[runtime.state_persistence]\nbackend_type = "postgresx"\n',
     "runtime.state_persistence.backend_type", "memory, sqlite, postgres, sled, rocksdb"),
    ('[runtime.sessions]\nstorage_backend = "redis"\n',
     "runtime.sessions.storage_backend", "memory, sqlite, postgres"),
    ('[rag.vector_storage]\nbackend = "qdrant"\n', "rag.vector_storage.backend", "hnsw, postgres"),
    ('[rag.vector_storage.hnsw]\nmetric = "manhattan"\n',
     "rag.vector_storage.hnsw.metric", "cosine, euclidean"),
    ('[rag.chunking]\nstrategy = "magic"\n', "rag.chunking.strategy", "sliding_window"),
    ("[runtime]\nscript_timeout_seconds = -5\n", "runtime.script_timeout_seconds",
     "allowed: 0 to"),
    ('[runtime]\nlog_level = "loud"\n', "runtime.log_level", "trace, debug, info"),
    ('default_engine = "ruby"\n', "default_engine", "lua, javascript, python"),
    ('[debug]\nlevel = "chatty"\n', "debug.level", "trace, debug"),
    ("[debug]\nlevel = 3\n", "debug.level", "one of trace"),
    ('[tools.email]\nsmtp_security = "tls13"\n', "tools.email.smtp_security",
     "ssl, starttls, none"),
    ("[tools.email]\nsmtp_port = 70000\n", "tools.email.smtp_port", "allowed: 1 to 65_535"),
    ('[tools.network]\ntimeout_seconds = "soon"\n', "tools.network.timeout_seconds",
     "expected a number"),
    ("[tools.network]\nmax_redirects = -1\n", "tools.network.max_redirects", "allowed: 0"),
    ("[runtime.state_persistence.backup]\nmax_backup_age_days = -0.5\n",
     "runtime.state_persistence.backup.max_backup_age_days", "allowed: 0"),
    ("[runtime.state_persistence.backup]\ncompression_level = 10\n",
     "runtime.state_persistence.backup.compression_level", "allowed: 1 to 9"),
]


@pytest.mark.parametrize("text,key,allowed", BAD, ids=[b[1] for b in BAD])
def test_bad_value_fails_at_load_naming_file_key_and_allowed(tmp_path, text, key, allowed):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(path, environ={})
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert key in message
    assert allowed in message


def test_choices_live_in_the_schema_fields():
    choices = dict(config._choice_fields())
    assert choices["runtime.state_persistence.backend_type"] is config.BACKENDS
    assert choices["runtime.sessions.storage_backend"] is config.BACKENDS
    assert choices["rag.vector_storage.backend"] is config.VECTOR_BACKENDS
    assert choices["rag.chunking.strategy"] is config.CHUNK_STRATEGIES


def test_choices_are_case_insensitive_and_env_values_are_checked():
    settings = config.from_dict({"rag": {"chunking": {"strategy": "Sentence"}}}, environ={})
    assert settings.get("rag.chunking.strategy") == "Sentence"
    with pytest.raises(ConfigError, match=r"^environment variable LLMSPELL_STATE_BACKEND: "
                                          r"runtime.state_persistence.backend_type = 'pg'"):
        config.from_dict({}, environ={"LLMSPELL_STATE_BACKEND": "pg"})


def test_a_close_value_is_suggested():
    with pytest.raises(ConfigError, match=r"is not one of .*; did you mean 'sqlite'\?"):
        config.from_dict({"runtime": {"state_persistence": {"backend_type": "sqlit"}}},
                         environ={})


def test_unknown_key_suggests_the_closest_key():
    settings = config.from_dict({"runtime": {"script_timeout_second": 5}}, environ={})
    assert settings.warnings == ["unknown config key 'runtime.script_timeout_second' (ignored);"
                                 " did you mean 'script_timeout_seconds'?"]
    settings = config.from_dict({"rag": {"vector_storage": {"metric": "cosine"}}}, environ={})
    assert settings.warnings == ["unknown config key 'rag.vector_storage.metric' (ignored); "
                                 "did you mean 'rag.vector_storage.hnsw.metric'?"]
    settings = config.from_dict({"runtime": {"fancy": 1}}, environ={})
    assert settings.warnings == ["unknown config key 'runtime.fancy' (ignored)"]


def test_warnings_name_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[runtime]\nscript_timout_seconds = 5\n")
    settings = config.load(path, environ={})
    assert settings.warnings == [f"{path}: unknown config key 'runtime.script_timout_seconds' "
                                 "(ignored); did you mean 'script_timeout_seconds'?"]


def test_declared_keys_of_free_form_tool_sections_are_typed_others_kept():
    settings = config.from_dict({"tools": {"database": {"max_rows": 5, "pool": {"x": 1}}}},
                                environ={})
    assert settings.get("tools.database.max_rows") == 5
    assert settings.get("tools.database.pool") == {"x": 1}
    assert not settings.warnings
    with pytest.raises(ConfigError, match=r"tools.database.max_rows: expected an integer"):
        config.from_dict({"tools": {"database": {"max_rows": "all"}}}, environ={})


# -- discovery: a shadowed config ------------------------------------------------------

def _home_and_project(tmp_path: Path) -> tuple[dict[str, str], Path, Path, Path]:
    home = tmp_path / "home"
    project = tmp_path / "project"
    project.mkdir()
    (home / ".llmspell").mkdir(parents=True)
    user = home / ".llmspell" / "config.toml"
    user.write_text("[runtime]\nmax_concurrent_scripts = 3\n")
    local = project / "llmspell.toml"
    local.write_text("[runtime]\nmax_concurrent_scripts = 4\n")
    return {"HOME": str(home)}, project, user, local


def test_user_config_shadows_project_config_with_one_warning(tmp_path, monkeypatch):
    env, project, user, local = _home_and_project(tmp_path)
    monkeypatch.chdir(project)
    settings = config.load(environ=env)
    # upstream's order: ~/.llmspell/config.toml before ./llmspell.toml
    assert settings.source == user
    assert settings.get("runtime.max_concurrent_scripts") == 3
    assert settings.warnings == [f"using config {user}; ignoring {local} (discovery takes the "
                                 "first; pass -c FILE to choose)"]


def test_project_config_shadows_later_user_configs(tmp_path, monkeypatch):
    env, project, user, local = _home_and_project(tmp_path)
    user.unlink()
    later = Path(env["HOME"]) / ".llmspell.toml"
    later.write_text("")
    monkeypatch.chdir(project)
    settings = config.load(environ=env)
    assert settings.source.resolve() == local.resolve()
    assert settings.warnings[0].startswith(f"using config {project / 'llmspell.toml'}; "
                                           f"ignoring {later} ")


def test_one_config_no_shadow_warning(tmp_path, monkeypatch):
    env, project, user, local = _home_and_project(tmp_path)
    local.unlink()
    monkeypatch.chdir(project)
    assert config.load(environ=env).warnings == []
    # cwd = home: ~/.llmspell.toml is both a project and a user candidate, one file
    user.unlink()
    (Path(env["HOME"]) / ".llmspell.toml").write_text("")
    monkeypatch.chdir(env["HOME"])
    assert config.load(environ=env).warnings == []


# -- the real CLI ------------------------------------------------------------------------

def test_cli_validate_bad_enum_exit_1_names_file_key_allowed(cli, tmp_path):
    (tmp_path / "bad.toml").write_text('[runtime.state_persistence]\nbackend_type = "postgresx"\n')
    proc = cli("-c", "bad.toml", "validate")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip() == ("Error: bad.toml: runtime.state_persistence.backend_type = "
                                   "'postgresx' is not one of memory, sqlite, postgres, sled, "
                                   "rocksdb; did you mean 'postgres'?")


def test_cli_validate_range_error(cli, tmp_path):
    (tmp_path / "bad.toml").write_text("[runtime]\nscript_timeout_seconds = -5\n")
    proc = cli("validate", "-c", "bad.toml")
    assert proc.returncode == 1
    assert "bad.toml: runtime.script_timeout_seconds = -5 is out of range (allowed: 0 to" \
        in proc.stderr


def test_cli_validate_typo_warns_with_suggestion_exit_0(cli, tmp_path):
    (tmp_path / "c.toml").write_text("[runtime]\nscript_timeout_second = 5\n")
    proc = cli("-c", "c.toml", "validate")
    assert proc.returncode == 0
    assert ("warning: c.toml: unknown config key 'runtime.script_timeout_second' (ignored); "
            "did you mean 'script_timeout_seconds'?") in proc.stderr
    assert "Configuration is valid: c.toml" in proc.stdout
    proc = cli("-c", "c.toml", "--output", "json", "validate")
    assert json.loads(proc.stdout)["warnings"] == [
        "c.toml: unknown config key 'runtime.script_timeout_second' (ignored); did you mean "
        "'script_timeout_seconds'?"]


def test_cli_shadow_warning_on_stderr(cli, tmp_path, isolated_home):
    user = Path(os.environ["HOME"]) / ".llmspell" / "config.toml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("")
    (tmp_path / "llmspell.toml").write_text("")
    proc = cli("validate")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "ignoring" in ln]
    assert lines == [f"warning: using config {user}; ignoring {tmp_path / 'llmspell.toml'} "
                     "(discovery takes the first; pass -c FILE to choose)"]
    assert f"Configuration is valid: {user}" in proc.stdout
    proc = cli("exec", "return 1")
    assert proc.returncode == 0
    assert proc.stderr.count("ignoring") == 1


def test_a_near_miss_in_a_free_form_section_warns_but_is_kept():
    settings = config.from_dict({"tools": {"network": {"timout_seconds": 5, "proxy": "x"}}},
                                environ={})
    assert settings.warnings == ["config key 'tools.network.timout_seconds' is not one "
                                 "llmspell reads; did you mean 'timeout_seconds'?"]
    assert settings.get("tools.network.timout_seconds") == 5
