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
