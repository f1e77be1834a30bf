"""`llmspell tools list` and `llmspell tools show NAME`: the built-in catalog.

Rich tables on a terminal; plain text in pipes; JSON with the global ``--output json``.
Only typer is imported here; json, rich and the catalog load when a command runs.
"""


import sys
from typing import Any

import typer

from .common import options

tools_app = typer.Typer(help="List and describe the built-in tools.", no_args_is_help=True,
                        rich_markup_mode=None)


def _tty() -> bool:
    """Rich tables on stdout? (the one rule, in output.py)"""
    from .output import use_rich

    return use_rich(sys.stdout)


@tools_app.command("list")
def list_tools(
    ctx: typer.Context,
    category: str | None = typer.Option(None, "--category", help="Only this category."),
) -> None:
    """List every built-in tool with its category and description."""
    from ..tools.registry import builtin_registry

    tools = sorted(builtin_registry().all(), key=lambda t: (t.category, t.name))
    if category:
        tools = [t for t in tools if t.category == category]
    if options(ctx).output == "json":
        import json

        typer.echo(json.dumps([{"name": t.name, "category": t.category,
                                "description": t.description, "version": t.version,
                                "security_level": t.security_level} for t in tools],
                              indent=2))
        return
    if _tty():
        from rich.table import Table

        from .output import rich_console

        table = Table(title=f"{len(tools)} built-in tools", title_justify="left")
        table.add_column("Name", style="bold cyan", no_wrap=True)
        table.add_column("Category", style="magenta")
        table.add_column("Description")
        for t in tools:
            table.add_row(t.name, t.category, t.description)
        rich_console().print(table)
        return
    width = max((len(t.name) for t in tools), default=4)
    for t in tools:
        typer.echo(f"{t.name:<{width}}  {t.category:<10}  {t.description}")


def _default(value: Any) -> str:
    import json

    from ..tools.schema import MISSING

    return "" if value is MISSING else json.dumps(value)


@tools_app.command("show")
def show_tool(ctx: typer.Context, name: str = typer.Argument(..., help="Tool name.")) -> None:
    """Describe one tool: category, security level and parameters."""
    from ..tools.registry import builtin_registry

    tool = builtin_registry().get(name)
    if tool is None:
        typer.echo(f"Error: Tool '{name}' not found (see `llmspell tools list`)", err=True)
        raise typer.Exit(1)
    if options(ctx).output == "json":
        import json

        typer.echo(json.dumps({"name": tool.name, "category": tool.category,
                               "description": tool.description, "version": tool.version,
                               "security_level": tool.security_level,
                               "parameters": tool.parameters_schema()}, indent=2))
        return
    if _tty():
        from rich.markup import escape
        from rich.table import Table

        from .output import rich_console

        console = rich_console()
        console.print(f"[bold cyan]{escape(tool.name)}[/]  v{tool.version}  "
                      f"[magenta]{tool.category}[/]  security: {tool.security_level}")
        console.print(escape(tool.description))
        table = Table(title="Parameters", title_justify="left")
        for col in ("Name", "Type", "Required", "Default", "Description"):
            table.add_column(col)
        for p in tool.params:
            table.add_row(p.name, p.type, "yes" if p.required else "", _default(p.default),
                          escape(p.description))
        console.print(table)
        return
    typer.echo(f"{tool.name} (v{tool.version})")
    typer.echo(f"category: {tool.category}")
    typer.echo(f"security level: {tool.security_level}")
    typer.echo(f"description: {tool.description}")
    typer.echo("parameters:")
    for p in tool.params:
        flags = ", required" if p.required else ""
        default = _default(p.default)
        typer.echo(f"  {p.name} ({p.type}{flags}{', default ' + default if default else ''})"
                   f": {p.description}")
