"""Red team: secrets under names the filter must know (``DB_PASS``, ``smtp_pass``).

``pass`` is as common a credential word as ``password`` (``DB_PASS``, ``REDIS_PASS``,
``SMTP_PASS``, ``dbPass``); ``os.getenv`` and ``Config`` must not hand its value to a script.
"""

from __future__ import annotations

from pathlib import Path

from tools_helpers import run_cli

ENV_VALUE = "dbpass-5e7d1a9c"
CFG_VALUE = "smtppass-3b8f6e2a"


def test_pass_named_variables_and_config_keys_are_secret(tmp_path: Path) -> None:
    config = f'[tools.email]\nsmtp_pass = "{CFG_VALUE}"\n'
    script = """
        print(tostring(os.getenv("DB_PASS")), tostring(os.getenv("dbPass")))
        print(JSON.stringify(Config.getTools()))
        print(JSON.stringify(Config.get("tools.email")))
    """
    done = run_cli(script, tmp_path, config=config,
                   env={"DB_PASS": ENV_VALUE, "dbPass": ENV_VALUE})
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("nil\tnil"), done.stdout
    assert ENV_VALUE not in done.stdout and CFG_VALUE not in done.stdout, done.stdout
    assert '"smtp_pass":"***"' in done.stdout, done.stdout


def test_words_containing_pass_stay_visible(tmp_path: Path) -> None:
    done = run_cli('print(os.getenv("BYPASS_CACHE"), os.getenv("COMPASS_HEADING"))', tmp_path,
                   env={"BYPASS_CACHE": "yes-please", "COMPASS_HEADING": "north"})
    assert done.stdout.startswith("yes-please\tnorth"), done.stdout


KEY = "sk-redteam-file-8b1e4d2f6a"


def test_a_file_holding_a_secret_is_not_reencoded_past_the_filter(tmp_path: Path) -> None:
    """``file_operations`` read shows the key as ``***``; base64 or UTF-16 of the same file
    handed it out in a form the filter does not recognise."""
    dotenv = tmp_path / "project.env"
    dotenv.write_text(f"OPENAI_API_KEY={KEY}\n")
    script = f"""
        print(Tool.invoke("file_operations", {{operation = "read", path = "{dotenv}"}}).text)
        print(pcall(function()
          return Tool.invoke("base64_encoder", {{operation = "encode",
                                                 input_file = "{dotenv}"}}).result.output
        end))
        print(pcall(Tool.invoke, "file_converter", {{operation = "encoding",
          path = "{dotenv}", target_path = "{tmp_path / 'u16.env'}", to_encoding = "utf16le"}}))
        local ok, r = pcall(Tool.invoke, "file_operations",
                            {{operation = "read", path = "{tmp_path / 'u16.env'}"}})
        print(ok and (r.text:gsub("%z", "")) or "no copy")
    """
    done = run_cli(script, tmp_path, env={"OPENAI_API_KEY": KEY})
    assert done.code == 0, done.stderr
    import base64

    out = done.stdout
    assert KEY not in out and base64.b64encode(f"OPENAI_API_KEY={KEY}\n".encode()).decode() \
        not in out, out
    assert out.count("contains a secret value") == 2, out


def test_files_without_secrets_still_encode(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("hello")
    done = run_cli(f'print(Tool.invoke("base64_encoder", {{operation = "encode", '
                   f'input_file = "{plain}"}}).result.output)', tmp_path)
    assert done.stdout.startswith("aGVsbG8="), done.stdout + done.stderr
