"""The `llmspell` command line: `main.py` holds the typer app and its commands.

Kept empty so that importing one module of the package (say `output`) loads nothing else.
"""
