"""The `llmspell` command line.

    launch.py  the console entry point (also `python -m llmspell`): a plain
               `run FILE` goes straight to `execute`, anything else to `main.py`
    main.py    the root typer app, its global options and top-level commands
    execute.py running a script (`run`/`exec`), typer-free: `Options`, `load_settings`
    common.py  what every command shares: `Options`/`options(ctx)`, `load_settings`, `fail`
    backup.py  `llmspell backup ...`      tools.py  `llmspell tools ...`
    repl.py    `llmspell repl`            output.py how results and errors reach the terminal
    keys.py    `llmspell keys ...`        logs.py   `llmspell logs ...`
    providers.py  `llmspell providers`    init_config.py  the file `llmspell init` writes

Sub-apps import `common`, never `main`. This file stays empty so that importing one
module of the package loads nothing else.
"""
