"""`llmspell repl`: an interactive Lua prompt with every llmspell global.

- line editing and history through readline; the history file lives in the user's data
  dir (``<data_dir>/repl_history``) unless ``--history FILE`` says otherwise; Tab
  completes globals, their fields and object methods;
- an entry that is an expression prints its value(s) (``1 + 1`` -> ``2``; strings and
  tables as JSON); statements run silently (``print`` output shows as usual);
- unfinished input (an open ``function``, ``do``, string, table ...) continues on the
  next line with a ``>>`` prompt;
- on a terminal, a table too wide for a line is shown indented and cut after
  ``MAX_LINES`` lines (pipes get the one-line value, whole);
- errors, timeouts and Ctrl-C are reported and the session goes on;
  Ctrl-D (or ``.exit``) leaves; ``os.exit(n)`` leaves with status n; ``.help`` prints
  ``HELP`` (the banner says so).

As in ``lua``'s own REPL, ``local`` variables last for one entry: use globals to keep
values between entries.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings

PROMPT = "> "
CONTINUE = ">> "
HISTORY_LENGTH = 1000
BANNER = ("llmspell {version} REPL (LuaJIT). Expressions print their value; "
          ".help for help, Ctrl-D to leave.\n")
MAX_LINES = 30  # a longer value (on a terminal) shows its first lines and how many more

HELP = """\
Type Lua and press Enter.
  1 + 1                  an expression prints its value (tables as JSON)
  tools = Tool.list()    a statement runs silently; globals last the whole session
  local x = 1            a local lasts for that entry only (as in lua's own REPL)
  function f() ...       unfinished input continues on a ">>" line
On a terminal, tables are shown indented and cut after {lines} lines; print(JSON.stringify(v))
shows all of v on one line.
{globals}
  (e.g. Tool.list(), Tool.invoke("uuid_generator", {{}}), Agent.builder()).
Keys: Tab completes globals, fields and methods (Tool.inv<Tab>, agent:inv<Tab>);
  Up/Down recall history (kept in {history});
  Ctrl-C stops a running entry or clears the line.
Commands: .help  this text    .exit (or Ctrl-D)  leave; os.exit(n) leaves with status n
"""

KEYWORDS = ("and", "break", "do", "else", "elseif", "end", "false", "for", "function",
            "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
            "true", "until", "while")
_PATH = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*$")


class Completer:
    """Tab completion of globals, their fields (``Workflow.seq``) and methods (``wf:exe``)."""

    def __init__(self, names: Any) -> None:
        self._names = names
        self._matches: list[str] = []

    def candidates(self, text: str) -> list[str]:
        cut = max(text.rfind("."), text.rfind(":"))
        if cut < 0:
            base, sep, prefix = "", "", text
        else:
            base, sep, prefix = text[:cut], text[cut], text[cut + 1:]
            if not _PATH.match(base):
                return []
        try:
            found = self._names(base.encode())
            names = [convert_name(found[i]) for i in range(1, len(found) + 1)]
        except Exception:
            return []
        if not base:
            names = sorted(set(names) | set(KEYWORDS))
        return [f"{base}{sep}{n}" for n in names if n.startswith(prefix)]

    def __call__(self, text: str, state: int) -> str | None:
        if state == 0:
            self._matches = self.candidates(text)
        return self._matches[state] if state < len(self._matches) else None


def help_text(history: Path) -> str:
    """``.help``: ``HELP`` with the globals of this version and the history file."""
    import textwrap

    from ..lua.globals import GLOBALS

    names = ", ".join(sorted(name for name, _, _ in GLOBALS))
    wrapped = textwrap.fill(names, 88, initial_indent="Globals: ", subsequent_indent="  ")
    return HELP.format(lines=MAX_LINES, history=history, globals=wrapped)


def display(shown: str, width: int, max_lines: int = MAX_LINES) -> str:
    """An expression's values for a terminal: a table too wide for one line indented (2
    spaces, keys in the JSON text's sorted order), at most ``max_lines`` lines, each cut
    to ``width`` columns.

    ``shown`` is ``show``'s line: values separated by tabs (JSON text never holds a raw
    tab), tables and strings as compact JSON."""
    import json

    parts = []
    for part in shown.split("\t"):
        if part[:1] in ("{", "[") and len(part) > width:
            try:
                part = json.dumps(json.loads(part), indent=2, ensure_ascii=False)
            except (ValueError, RecursionError):
                pass
        parts.append(part)
    lines = "\t".join(parts).split("\n")
    more = len(lines) - max_lines
    if more > 0:
        lines = lines[:max_lines] + [f"... {more} more lines (print(JSON.stringify(value)) "
                                     "shows all)"]
    return "\n".join(line if len(line) <= width else line[:max(width - 3, 10)] + "..."
                     for line in lines)


def convert_name(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def default_history() -> Path:
    from ..paths import data_dir

    return data_dir() / "repl_history"


class History:
    """readline history backed by a file (created with its folder on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.readline: Any = None
        try:
            import readline
        except ImportError:  # no readline on this platform: plain input()
            return
        self.readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if path.is_file():
            try:
                readline.read_history_file(str(path))
            except OSError:
                pass
        try:
            readline.parse_and_bind("tab: complete")
        except Exception:
            pass

    def add(self, line: str, interactive: bool) -> None:
        if not line.strip():
            return
        if self.readline is not None and not interactive:
            self.readline.add_history(line)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.readline is not None and hasattr(self.readline, "append_history_file"):
                if not self.path.exists():
                    self.path.touch()
                self.readline.append_history_file(1, str(self.path))
            else:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
        except OSError:
            pass


def run_repl(settings: Settings, history_path: Path | None = None, *,
             debug: bool = False) -> int:
    """Run the prompt until Ctrl-D; return the exit status."""
    from .. import __version__
    from ..errors import LLMSpellError, ScriptError, ScriptExit, ScriptInterrupted
    from ..lua.runtime import Output, Runtime
    from .output import print_error

    interactive = sys.stdin.isatty()
    if interactive:
        # Ctrl-C at the prompt clears the line. Python leaves SIGINT ignored when it
        # started ignored (a shell's background job, nohup, some CI runners), which made
        # the prompt deaf to it: a person at a terminal asked for Ctrl-C, so take it back.
        import signal

        signal.signal(signal.SIGINT, signal.default_int_handler)
    history = History(history_path or default_history())
    rt = Runtime(settings, output=Output(), debug=debug)
    # repl_helpers.lua, compiled before any entry ran; JSON text from json.lua
    helpers = rt.chunk("repl_helpers")(rt.chunk("json")()[b"stringify"])
    check = helpers[b"check"]
    rt.lua.globals()[b"__repl_show"] = helpers[b"show"]
    if history.readline is not None:
        history.readline.set_completer(Completer(helpers[b"names"]))
        history.readline.set_completer_delims(" \t\n()[]{},;=+-*/%^<>~'\"#")
    terminal = sys.stdout.isatty()
    if interactive:
        sys.stdout.write(BANNER.format(version=__version__))
        sys.stdout.flush()
    status = 0
    buffer: list[str] = []
    try:
        while True:
            try:
                line = input(CONTINUE if buffer else PROMPT)
            except EOFError:
                if interactive:
                    sys.stdout.write("\n")
                break
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                buffer = []
                continue
            history.add(line, interactive)
            if not buffer and line.strip() in (".exit", ".quit"):
                break
            if not buffer and line.strip() == ".help":
                sys.stdout.write(help_text(history.path))
                continue
            buffer.append(line)
            source = "\n".join(buffer)
            if not source.strip():
                buffer = []
                continue
            expr = "return __repl_show(" + source + "\n)"
            ok = check(expr.encode("utf-8", "surrogateescape"))
            if ok is True or (isinstance(ok, tuple) and ok[0]):
                code = expr
            else:
                result = check(source.encode("utf-8", "surrogateescape"))
                good, err = (result, None) if not isinstance(result, tuple) else (
                    result + (None,))[:2]
                if not good:
                    message = err.decode("utf-8", "replace") if isinstance(err, bytes) else ""
                    if message.endswith("<eof>'") or message.endswith("<eof>"):
                        continue  # unfinished: read another line
                code = source
            buffer = []
            try:
                value = rt.run_source(code.encode("utf-8", "surrogateescape"), "repl")
                rt.output.flush()
                if code is expr and value is not None:
                    text = str(value)
                    if terminal:
                        import shutil

                        text = display(text, shutil.get_terminal_size().columns)
                    sys.stdout.write(text + "\n")
            except ScriptExit as exc:
                status = exc.code
                break
            except ScriptInterrupted:
                rt.output.flush()
                print_error("interrupted")
            except ScriptError as exc:
                rt.output.flush()
                print_error(exc.message, exc.traceback)
            except LLMSpellError as exc:
                rt.output.flush()
                print_error(str(exc))
            except KeyboardInterrupt:
                print_error("interrupted")
            sys.stdout.flush()
    finally:
        rt.close()
    return status
