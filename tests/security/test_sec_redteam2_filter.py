"""Red team 2: secret-filter gaps.

``AUTH_HEADER``/``X_API_KEY_HEADER`` were visible (names ending ``_header`` were taken to
name a header, not hold one), and ``archive_handler`` zipped a file holding a known key:
deflated, the result filter could no longer see it when the script read the archive back.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tools_helpers import run_cli

from llmspell.secret_filter import is_secret_name

AUTH = "Bearer tok-redteam2-hdr-6c2e9f"
KEY = "sk-redteam2-zip-3f8a1d7e5b"


def test_header_named_credentials_are_hidden(tmp_path: Path) -> None:
    script = """
        print(tostring(os.getenv("AUTH_HEADER")), tostring(os.getenv("X_API_KEY_HEADER")))
        print(os.getenv("CONTENT_TYPE_HEADER"))
    """
    done = run_cli(script, tmp_path, env={"AUTH_HEADER": AUTH, "X_API_KEY_HEADER": AUTH,
                                          "CONTENT_TYPE_HEADER": "application/json"})
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("nil\tnil\napplication/json"), done.stdout


def test_the_header_rule_both_sides() -> None:
    assert is_secret_name("AUTH_HEADER") and is_secret_name("X_API_KEY_HEADER")
    assert is_secret_name("api_key_header")  # safer hidden, even when it names a header
    assert not is_secret_name("CONTENT_TYPE_HEADER") and not is_secret_name("user_agent_header")
    assert not is_secret_name("api_key_env") and not is_secret_name("OPENAI_API_KEY_FILE")


def test_a_file_holding_a_secret_is_not_archived_past_the_filter(tmp_path: Path) -> None:
    dotenv = tmp_path / "project.env"
    dotenv.write_text("x" * 2_000_000 + f"\nOPENAI_API_KEY={KEY}\n")  # past the first chunk
    for name in ("leak.zip", "leak.tar.gz"):
        archive = tmp_path / name
        script = f"""
            print(pcall(Tool.invoke, "archive_handler", {{operation = "create",
                  path = "{archive}", input = {{"{dotenv}"}}}}))
        """
        done = run_cli(script, tmp_path, env={"OPENAI_API_KEY": KEY})
        assert done.code == 0, done.stderr
        assert "contains a secret value" in done.stdout, done.stdout
        assert not archive.exists()


def test_files_without_secrets_still_archive(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("hello")
    archive = tmp_path / "ok.zip"
    done = run_cli(f'Tool.invoke("archive_handler", {{operation = "create", path = "{archive}",'
                   f' input = {{"{plain}"}}}})', tmp_path, env={"OPENAI_API_KEY": KEY})
    assert done.code == 0, done.stderr
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("plain.txt") == b"hello"
