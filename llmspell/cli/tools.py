"""`llmspell tools list`, `tools show NAME` and `tools invoke NAME`: the built-in catalog,
and one tool call from the shell.

Rich tables on a terminal; plain text in pipes; JSON with the global ``--output json``.
Only typer is imported here; json, rich and the catalog load when a command runs.
"""


import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import fail, load_settings_or_exit, options

if TYPE_CHECKING:
    from ..tools.registry import ToolSpec

tools_app = typer.Typer(help="List, describe and call the built-in tools.",
                        no_args_is_help=True, rich_markup_mode=None)


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

    registry = builtin_registry()
    tools = sorted(registry.all(), key=lambda t: (t.category, t.name))
    if category is not None:
        known = sorted(registry.categories())
        if category not in known:
            raise typer.BadParameter(f"unknown category {category!r} (the categories: "
                                     f"{', '.join(known)})", param_hint="'--category'")
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


# Run as a script's own `Tool.invoke` runs: same sandbox, config grants, hooks, timeout.
INVOKE_LUA = b"return Tool.invoke(ARGS.tool, JSON.parse(ARGS.params))"


def _typed(tool: "ToolSpec", name: str, text: str) -> Any:
    """A ``--param`` value as the tool's schema types it (strings stay strings; numbers,
    booleans, arrays and objects are parsed; a name the tool does not declare stays a
    string for the tool's own validation to judge)."""
    import json

    kind = next((p.type for p in tool.params if p.name == name), "string")
    if kind in ("string", "null"):
        return text
    if kind == "boolean":
        from ..config import bool_word

        flag = bool_word(text)
        if flag is None:
            raise typer.BadParameter(f"{name}: {text!r} is not a boolean (true or false)",
                                     param_hint="'--param'")
        return flag
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    ok = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "array": lambda v: isinstance(v, list),
          "object": lambda v: isinstance(v, dict)}[kind]
    if not ok(value):
        article = "an" if kind[0] in "aeiou" else "a"
        raise typer.BadParameter(f"{name}: {text!r} is not {article} {kind}"
                                 + (" (JSON)" if kind in ("array", "object") else ""),
                                 param_hint="'--param'")
    return value


def _parameters(tool: "ToolSpec", pairs: list[str], as_json: str | None) -> dict[str, Any]:
    """``--json`` first, then each ``--param k=v`` on top of it."""
    import json

    params: dict[str, Any] = {}
    if as_json is not None:
        try:
            params = json.loads(as_json)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="'--json'") from None
        except RecursionError:
            raise typer.BadParameter("nested too deeply", param_hint="'--json'") from None
        if not isinstance(params, dict):
            raise typer.BadParameter("must be a JSON object: {\"name\": value, ...}",
                                     param_hint="'--json'")
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="'--param'")
        params[name] = _typed(tool, name, text)
    return params


def _shown(value: Any) -> Any:
    """The result without ``_raw_text`` (the text its other fields were parsed from)."""
    if isinstance(value, dict) and "_raw_text" in value:
        return {k: v for k, v in value.items() if k != "_raw_text"}
    return value


@tools_app.command("invoke")
def invoke_tool(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Tool name (see `llmspell tools list`)."),
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A parameter as NAME=VALUE (repeatable); typed by the "
        "tool's schema: numbers, true/false, JSON arrays and objects.")] = None,
    as_json: Annotated[str | None, typer.Option(
        "--json", help="All parameters as one JSON object (--param values go on top).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="Stop the call after this many seconds.")] = None,
) -> None:
    """Call one tool as a script's Tool.invoke would (same sandbox, config grants and
    limits) and print its result per --output; exit 1 if the tool reports failure.

    Example: llmspell tools invoke calculator --param input='2 * (3 + 4)'
    """
    import json
    import time

    from ..errors import LLMSpellError, ScriptError, ScriptInterrupted
    from ..lua.runtime import Output, Runtime
    from ..tools.registry import builtin_registry
    from .output import print_error, print_result, script_stream

    opts = options(ctx)
    tool = builtin_registry().get(name)
    if tool is None:
        raise fail(LLMSpellError(f"Tool '{name}' not found (see `llmspell tools list`)"),
                   opts)
    params = _parameters(tool, param or [], as_json)
    settings = load_settings_or_exit(opts)
    started = time.perf_counter()
    try:
        rt = Runtime(settings, script_args={"0": "tools invoke", "tool": name,
                                            "params": json.dumps(params)},
                     output=Output(stream=script_stream(opts.output)),
                     timeout_seconds=timeout, debug=opts.debug, watchdog=True)
        try:
            value = rt.run_source(INVOKE_LUA, "tools invoke")
        finally:
            rt.close()
    except (ScriptInterrupted, KeyboardInterrupt):
        print_error("interrupted")
        raise typer.Exit(130) from None
    except ScriptError as exc:  # the one line of Lua is ours: no place, no traceback
        message = str(exc).removeprefix("tools invoke:1: ")
        raise fail(LLMSpellError(message), opts) from None
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    print_result(_shown(value), opts.output, [], (time.perf_counter() - started) * 1000)
    if isinstance(value, dict) and value.get("success") is False:
        raise typer.Exit(1)
