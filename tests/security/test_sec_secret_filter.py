"""The one secret filter: names, URL credentials and known values are hidden."""

from __future__ import annotations

import pytest

from llmspell import secret_filter as sf


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "sendgrid_api_key", "ses_secret_access_key",
                                  "GITHUB_TOKEN", "apiKey", "x-api-key", "Authorization",
                                  "smtp_password", "AWS_SECRET_ACCESS_KEY", "db.credentials"])
def test_secret_names(name: str) -> None:
    assert sf.is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "api_key_env", "PATH", "KEYBOARD", "HOME",
                                  "database_url", "model", "LANG"])
def test_ordinary_names(name: str) -> None:
    assert not sf.is_secret_name(name)


def test_url_credentials_and_query_parameters() -> None:
    text = "postgres://bob:hunter2@db:5432/x?sslmode=require&password=abc&api_key=zz"
    out = sf.redact_urls(text)
    assert "hunter2" not in out and "abc" not in out and "zz" not in out
    assert out.startswith("postgres://bob:***@db:5432/x?sslmode=require")


def test_known_values_are_replaced_wherever_they_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789")
    assert sf.redact_text("header: Bearer tok-0123456789.") == "header: Bearer ***."
    sf.register("registered-secret-value")
    assert "registered" not in sf.redact_text("x registered-secret-value y")


def test_short_values_are_not_searched_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT_KEY", "abc")
    assert sf.redact_text("abc def") == "abc def"


def test_scrub_masks_secret_keys_and_keeps_the_rest() -> None:
    data = {"providers": {"openai": {"api_key": "sk-1234567890", "api_key_env": "OPENAI_API_KEY",
                                     "max_tokens": 5}},
            "url": "https://u:p4ssw0rd@example.com/"}
    out = sf.scrub(data)
    assert out["providers"]["openai"] == {"api_key": "***", "api_key_env": "OPENAI_API_KEY",
                                          "max_tokens": 5}
    assert "p4ssw0rd" not in out["url"]
    assert data["providers"]["openai"]["api_key"] == "sk-1234567890"  # a copy, not in place


def test_public_environ_drops_secret_names() -> None:
    env = sf.public_environ({"PATH": "/bin", "OPENAI_API_KEY": "sk-xxxxxxxxxx"})
    assert env == {"PATH": "/bin"}
