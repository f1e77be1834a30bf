"""Config: upstream schema, defaults, type errors with key paths, warnings, env, discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmspell import config
from llmspell.errors import ConfigError

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "cookbook-upstream" / "configs"
# Our own upstream-schema fixtures, plus upstream's files when ../shared is present.
UPSTREAM_CONFIGS = sorted((Path(__file__).parent / "fixtures" / "upstream-schema").glob(
    "*.toml")) + (sorted(UPSTREAM.glob("*.toml")) if UPSTREAM.is_dir() else [])


@pytest.mark.parametrize("path", UPSTREAM_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_upstream_configs_load(path):
    settings = config.load(path, environ={})
    assert settings.source == path
    assert settings.get("runtime.security.max_memory_bytes") > 0


def test_defaults_without_file():
    settings = config.from_dict({}, environ={})
    assert settings.get("default_engine") == "lua"
    assert settings.get("runtime.security.allow_file_access") is False
    assert settings.get("runtime.state_persistence.enabled") is True
    assert settings.get("rag.vector_storage.hnsw.m") == 16
    assert settings.get("tools.file_operations.allowed_paths") == ["/tmp"]


def test_wrong_type_names_the_key_path():
    with pytest.raises(ConfigError, match=r"runtime.max_concurrent_scripts: expected an integer"):
        config.from_dict({"runtime": {"max_concurrent_scripts": "ten"}}, environ={})


def test_section_of_wrong_type():
    with pytest.raises(ConfigError, match=r"^rag: expected a table"):
        config.from_dict({"rag": 3}, environ={})


def test_unknown_keys_warn_not_fail():
    settings = config.from_dict({"rag": {"monitoring": {"x": 1}, "enabled": True},
                                 "bogus": 1}, environ={})
    assert settings.get("rag.enabled") is True
    assert "unknown config key 'rag.monitoring' (ignored)" in settings.warnings
    assert "unknown config key 'bogus' (ignored)" in settings.warnings


def test_both_provider_forms():
    settings = config.from_dict({"providers": {
        "default_provider": "a",
        "a": {"provider_type": "openai", "model": "gpt-4o-mini", "temperature_hint": 1},
        "providers": {"b": {"provider_type": "anthropic", "default_model": "claude"}},
    }}, environ={})
    assert settings.providers["a"]["default_model"] == "gpt-4o-mini"
    assert settings.providers["a"]["options"] == {"temperature_hint": 1}
    assert settings.providers["b"]["provider_type"] == "anthropic"
    assert settings.get("providers.default_provider") == "a"


def test_provider_field_type_error():
    with pytest.raises(ConfigError, match=r"providers.openai.max_tokens: expected an integer"):
        config.from_dict({"providers": {"openai": {"max_tokens": "lots"}}}, environ={})


def test_env_overrides():
    settings = config.from_dict(
        {"providers": {"openai": {"provider_type": "openai"}}},
        environ={"LLMSPELL_ALLOW_FILE_ACCESS": "yes", "LLMSPELL_MAX_MEMORY_BYTES": "12345678",
                 "LLMSPELL_TOOLS_ALLOWED_PATHS": "/a, /b", "OPENAI_API_KEY": "k1",
                 "ANTHROPIC_API_KEY": "not-merged"})
    assert settings.get("runtime.security.allow_file_access") is True
    assert settings.get("runtime.security.max_memory_bytes") == 12345678
    assert settings.get("tools.file_operations.allowed_paths") == ["/a", "/b"]
    assert settings.providers["openai"]["api_key"] == "k1"
    assert "anthropic" not in settings.providers


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="LLMSPELL_MAX_MEMORY_BYTES: expected an integer"):
        config.from_dict({}, environ={"LLMSPELL_MAX_MEMORY_BYTES": "lots"})


def test_explicit_missing_file():
    with pytest.raises(ConfigError, match="Explicitly specified config file not found"):
        config.load("/nonexistent/x.toml", environ={})


def test_invalid_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[runtime\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.load(bad, environ={})


def test_discovery_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    cwd = tmp_path / "cwd"
    for d in (home, xdg / "llmspell", cwd):
        d.mkdir(parents=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}
    assert config.discover(cwd, env) is None
    (xdg / "llmspell" / "config.toml").write_text("")
    assert config.discover(cwd, env) == xdg / "llmspell" / "config.toml"
    (home / ".llmspell.toml").write_text("")
    assert config.discover(cwd, env) == home / ".llmspell.toml"
    (cwd / ".llmspell.toml").write_text("")
    assert config.discover(cwd, env) == cwd / ".llmspell.toml"
    (cwd / "llmspell.toml").write_text("")
    assert config.discover(cwd, env) == cwd / "llmspell.toml"
    (home / ".llmspell").mkdir()
    (home / ".llmspell" / "config.toml").write_text("")
    assert config.discover(cwd, env) == home / ".llmspell" / "config.toml"


def test_llmspell_config_env_var(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[runtime]\nmax_concurrent_scripts = 3\n")
    settings = config.load(None, environ={"LLMSPELL_CONFIG": str(path)})
    assert settings.get("runtime.max_concurrent_scripts") == 3


def test_default_toml_round_trips():
    import tomllib

    data = tomllib.loads(config.default_toml())
    settings = config.from_dict(data, environ={})
    assert settings.warnings == []
    assert settings.get("rag.chunking.chunk_size") == 512


def test_rag_choices_checked_by_the_config_are_the_ones_rag_knows() -> None:
    from llmspell import config
    from llmspell.rag import chunking, store

    assert set(config.HNSW_METRICS) == set(store.SPACES)
    assert chunking.STRATEGIES == config.CHUNK_STRATEGIES
