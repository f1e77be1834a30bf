def test_print_and_return(lua):
    run = lua("print('hi', 1.5) return {a = 1}")
    assert run.stdout == "hi\t1.5\n"
    assert run.value == {"a": 1}


def test_cli_version(cli):
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("llmspell ")
