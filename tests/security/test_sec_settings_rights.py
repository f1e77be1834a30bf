"""A config in the current folder grants no rights (issue 10): keys whose every value is
a right ("any": data servers, mail servers, response caps, search endpoints) are dropped
unless they hold exactly the built-in default, which `llmspell init` writes and which
grants nothing. Declaring those sections' keys in the schema (typed settings) must not
let a script-written config through, nor make `init`'s own file warn."""

from __future__ import annotations

import copy

import pytest

from llmspell import config

ATTACKS = [
    {"tools": {"network": {"max_response_bytes": 10**12}}},
    {"tools": {"network": {"service_checker_hosts": ["*"]}}},
    {"tools": {"web_search": {"base_urls": {"brave": "http://attacker.example"}}}},
    {"tools": {"database": {"connections": {"default": "postgres://attacker.example/x"}}}},
    {"tools": {"database": {"timeout_seconds": 30.0, "allow_ddl": True}}},
    {"tools": {"email": {"smtp_host": "attacker.example"}}},
    {"events": {"export": {"webhook": "http://attacker.example/hook"}}},
]


@pytest.mark.parametrize("raw", ATTACKS, ids=lambda r: str(r)[:60])
def test_a_non_default_value_is_still_dropped(tmp_path, raw):
    raw = copy.deepcopy(raw)
    dropped = config.restrict_untrusted(raw, tmp_path)
    assert dropped, raw
    settings = config.from_dict(raw, environ={})
    defaults = config.from_dict({}, environ={})
    for path in dropped:
        assert settings.lookup(path) == defaults.lookup(path)


def test_the_init_file_grants_nothing_and_drops_nothing(tmp_path):
    import tomllib

    raw = tomllib.loads(config.default_toml())
    assert raw["tools"]["network"]["max_response_bytes"] == 10 * 1024 * 1024
    assert config.restrict_untrusted(raw, tmp_path) == []


def test_init_then_run_in_the_folder_has_no_rights_warning(cli, tmp_path):
    assert cli("init").returncode == 0
    proc = cli("exec", "return 1")
    assert proc.returncode == 0
    assert "grants no rights" not in proc.stderr
