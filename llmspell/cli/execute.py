"""Running a script, without typer: what `llmspell run`/`exec` do once their flags are
parsed (`execute`), and the pieces it needs from the shared CLI options (`Options`,
`load_settings`, `report_failure`; `common.py` re-exports them for the commands).

Typer and click take ~20-30 ms to import, a third of a plain run's start, so the plain
`llmspell run FILE` (no options: `launch.py`) comes here without them; every other
invocation goes through the typer app in `main.py`, which calls the same `execute`.
Exits are `SystemExit` (what `typer.Exit` becomes once click has seen it).
"""


import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LLMSpellError, ScriptError, ScriptExit, ScriptInterrupted

if TYPE_CHECKING:
    from ..config import Settings


class Options:
    """The global options of one invocation (the defaults are the flags' defaults).
    (Plain classes here: importing dataclasses costs ~5 ms of every start.)"""

    __slots__ = ("config", "debug", "engine", "no_log", "output", "verbose")

    def __init__(self, config: Path | None = None, debug: bool = False,
                 verbose: bool = False, output: str = "text", engine: str = "lua",
                 no_log: bool = False) -> None:
        self.config = config
        self.debug = debug
        self.verbose = verbose
        self.output = output  # an OutputMode
        self.engine = engine  # an Engine
        self.no_log = no_log  # --no-log: no model-call log for this invocation


def report_failure(exc: BaseException, opts: Options) -> int:
    """Report an error the way the CLI always does: one line (+ Lua traceback); return
    the exit status (1). With `--debug`, an error that is not ours is re-raised for the
    full traceback."""
    from .output import print_error

    if opts.debug and not isinstance(exc, LLMSpellError):
        raise exc
    detail = exc.traceback if isinstance(exc, ScriptError) else ""
    if opts.debug and isinstance(exc, LLMSpellError) and exc.__cause__ is not None:
        import traceback

        detail = (detail + "\n" + "".join(traceback.format_exception(exc.__cause__))).strip()
    print_error(str(exc), detail)
    return int(getattr(exc, "exit_code", 1))


def load_settings(opts: Options,
                  adjust: Callable[["Settings"], None] | None = None) -> "Settings":
    """The settings for this invocation: `--config` (or the discovered file), `-v`/`--debug`
    raise the log level, `adjust` applies a command's own flags; then the config's
    warnings are printed. Raises `LLMSpellError` (see `load_settings_or_exit`)."""
    from .. import config as config_mod
    from .. import keys
    from .output import print_warning

    if opts.engine != "lua":
        raise LLMSpellError(f"Engine '{opts.engine}' is not available: only 'lua' is built in")
    settings = config_mod.load(opts.config)
    keys.register_stored()  # stored API keys are hidden from every text a script sees
    if opts.verbose or opts.debug:
        settings.set("runtime.log_level", "debug")
    if adjust is not None:
        adjust(settings)
    for warning in settings.warnings:
        print_warning(warning)
    return settings


class RagFlags:
    """`run`/`exec`'s RAG flags, applied to the settings."""

    __slots__ = ("backend", "config", "dims", "disable", "enable")

    def __init__(self, enable: bool, disable: bool, config: Path | None, dims: int | None,
                 backend: str | None) -> None:
        self.enable = enable
        self.disable = disable
        self.config = config
        self.dims = dims
        self.backend = backend

    def apply(self, settings: "Settings") -> None:
        from .. import config as config_mod

        if self.config is not None:
            extra = config_mod.from_dict({"rag": config_mod.read_file(self.config).get("rag", {})},
                                         self.config, {})
            settings.data["rag"] = extra.data["rag"]
        if self.enable:
            settings.set("rag.enabled", True)
        if self.disable:
            settings.set("rag.enabled", False)
        if self.dims is not None:
            settings.set("rag.vector_storage.dimensions", self.dims)
        if self.backend is not None:
            if self.backend not in ("hnsw", "postgres"):
                raise LLMSpellError(f"Unknown RAG backend: {self.backend}: use 'hnsw' or "
                                    "'postgres' (a PostgreSQL server with pgvector)")
            settings.set("rag.vector_storage.backend", self.backend)


class LLMFlags:
    """`run`/`exec`'s provider flags: cassettes and the usage report."""

    __slots__ = ("playback", "record", "usage")

    def __init__(self, record: Path | None = None, playback: Path | None = None,
                 usage: bool = False) -> None:
        self.record = record
        self.playback = playback
        self.usage = usage


class Script:
    """What a run executes: a file, or source text (stdin, inline code) named ``chunkname``;
    ``args`` are the script's arguments (``run`` only: ARGS/arg), ``arg0`` is ``ARGS[0]``.
    (A plain class: a dataclass costs about a millisecond at every start.)"""

    __slots__ = ("arg0", "args", "chunkname", "path", "source")

    def __init__(self, chunkname: str, *, path: Path | None = None,
                 source: bytes | None = None, args: list[str] | None = None,
                 arg0: str = "") -> None:
        self.chunkname = chunkname
        self.path = path
        self.source = source
        self.args = args
        self.arg0 = arg0

    @classmethod
    def named(cls, word: str, args: list[str] | None) -> "Script":
        """``run``'s SCRIPT argument: a path, or ``-`` for the script on stdin."""
        if word == "-":
            return cls("stdin", source=read_stdin(), args=args or [], arg0="-")
        path = Path(word)
        return cls(str(path), path=path, args=args or [], arg0=path.name)


def read_stdin() -> bytes:
    """The script text piped in (``llmspell run -``, ``llmspell exec -``)."""
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError) as exc:
        raise ScriptError(f"cannot read the script from stdin: {exc}") from None


def execute(opts: Options, rag: RagFlags, script: Script, *, timeout: float | None,
             llm: LLMFlags | None = None, stream_replies: bool = False) -> None:
    """Run a script, print its result, exit with its status."""
    from .. import calllog
    from ..lua.globals import parse_script_args
    from ..lua.runtime import Output, Runtime
    from ..providers import session as llm_session
    from .output import (
        PIPE_CLOSED_STATUS,
        print_error,
        print_result,
        quiet_closed_stream,
        replay_unfinished,
        reply_sink,
        script_stream,
    )

    llm = llm or LLMFlags()
    stream = script_stream(opts.output)
    try:
        settings = load_settings(opts, rag.apply)
        if script.path is not None and not script.path.is_file():
            raise ScriptError(f"Script file not found: {script.path}")
        output = Output(capture=opts.output == "pretty", stream=stream)
        llm_session.begin_run(llm.record, llm.playback,
                              stream=reply_sink(output) if stream_replies else None)
        calllog.begin_run(settings, str(script.path.absolute()) if script.path
                          else script.chunkname, enabled=not opts.no_log)
        started = time.perf_counter()
        args = (parse_script_args(script.arg0, script.args)
                if script.args is not None else None)
        rt = Runtime(settings, script_path=script.path, script_args=args, output=output,
                     timeout_seconds=timeout, debug=opts.debug, watchdog=True)
        # the reader closed stdout (`| head`): stop the script as os.exit would
        stream.on_closed = lambda: rt.request_exit(PIPE_CLOSED_STATUS)
        try:
            if script.path is not None:
                value = rt.run_file(script.path, script.chunkname)
            else:
                value = rt.run_source(script.source or b"", script.chunkname)
        finally:
            rt.close()
            calllog.end_run()
            if llm.usage:
                llm_session.print_usage()
        if stream.closed:
            raise SystemExit(PIPE_CLOSED_STATUS)
        elapsed = (time.perf_counter() - started) * 1000
        print_result(value, opts.output, output.lines, elapsed, llm_session.usage_lines())
    except BrokenPipeError:
        quiet_closed_stream(sys.stdout)
        raise SystemExit(PIPE_CLOSED_STATUS) from None
    except ScriptExit as exc:
        replay_unfinished(stream)
        raise SystemExit(exc.code) from None
    except ScriptInterrupted:
        replay_unfinished(stream)
        print_error("interrupted")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        replay_unfinished(stream)
        print_error("interrupted")
        raise SystemExit(130) from None
    except LLMSpellError as exc:
        replay_unfinished(stream)
        raise SystemExit(report_failure(exc, opts)) from None
    except Exception as exc:  # a bug: one line unless --debug
        replay_unfinished(stream)
        if opts.debug:
            raise
        raise SystemExit(report_failure(
            LLMSpellError(f"internal error: {type(exc).__name__}: {exc}"), opts)) from None
