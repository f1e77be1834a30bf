"""One sandboxed LuaJIT state per run: limits, the Python<->Lua call protocol, the driver.

Every limit lives here: the memory cap (``max_memory``), the time limit and Ctrl-C (a
count hook that asks ``_check`` every ``HOOK_COUNT`` instructions, with the JIT off so
the hook fires inside loops), file/process permissions for Lua's own ``io``/``os``, and
where ``require`` may read modules. ``prelude.lua`` builds the script-visible globals.
"""

from __future__ import annotations

import faulthandler
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lupa import luajit21 as lupa

from .. import config as config_mod
from .. import secret_filter
from ..config import Settings
from ..errors import (
    ApiError,
    ScriptError,
    ScriptExit,
    ScriptInterrupted,
    ScriptMemoryError,
    ScriptTimeout,
    ShownAsIs,
)
from ..run import Services
from . import convert

HOOK_COUNT = 100_000
# A single C call (a pathological string pattern, say) never reaches the hook; the CLI's
# watchdog ends the process this long after the deadline if the script has not stopped.
WATCHDOG_GRACE_SECONDS = 2.0
# After Ctrl-C the run has this long to end by itself before the process is ended.
STOP_SECONDS = 1.0
INTERNAL_CHUNK = "=llmspell"
BYTECODE_SIGNATURE = b"\x1bLJ"
LUA_DIR = Path(__file__).parent
# Our own Lua chunks (``llmspell/lua/<name>.lua``), compiled before the script's first line
# in the prelude's private environment; adapters run them with ``Runtime.chunk(name)``.
CHUNKS = ("json", "convert", "streaming", "debug_helpers", "utils_helpers",
          "workflow_conditions", "repl_helpers")
_SOURCES: dict[str, bytes] = {}


def chunk_source(name: str) -> bytes:
    """The text of ``llmspell/lua/<name>.lua`` (read once per process)."""
    source = _SOURCES.get(name)
    if source is None:
        source = _SOURCES[name] = (LUA_DIR / f"{name}.lua").read_bytes()
    return source
# LuaJIT creates this string when the state opens and never frees it: pushing it from
# Python allocates nothing, so it is the one answer possible when the heap is full.
NO_MEMORY = b"not enough memory"


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python attributes is not allowed from Lua")


class Output:
    """Where print/io.write go: stdout (live) and, for --output pretty, a capture.

    Output reaches the stream promptly, to a pipe or a file as to a terminal, so a
    script that is killed (or hangs) has delivered what it printed: a terminal gets
    every write flushed; elsewhere a write is flushed if the last flush is at least
    ``FLUSH_INTERVAL`` old, and otherwise a timer flushes it that much later. A
    100,000-line print loop into a pipe took 0.12 s fully buffered, 0.3-0.5 s with a
    flush per write and 0.16 s this way. ``io.stdout:flush()`` flushes at once."""

    FLUSH_INTERVAL = 0.02

    def __init__(self, capture: bool = False, stream: Any = None) -> None:
        self.capture = capture
        self.lines: list[str] = []
        self._partial = ""
        self._out = stream if stream is not None else sys.stdout.buffer
        self._tty = stream is None and sys.stdout.isatty()
        self._lock = threading.Lock()
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None

    def write(self, data: bytes) -> None:
        self._out.write(data)
        if self._tty or time.monotonic() - self._last_flush >= self.FLUSH_INTERVAL:
            self.flush()
        else:
            self._flush_soon()
        if self.capture:
            text = self._partial + convert.decode(data)
            *done, self._partial = text.split("\n")
            self.lines.extend(done)

    def _flush_soon(self) -> None:
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.FLUSH_INTERVAL, self._timed_flush)
            self._timer.daemon = True
            self._timer.start()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def error(self, data: bytes) -> None:
        self.flush()
        sys.stderr.buffer.write(data)
        sys.stderr.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        try:
            self._out.flush()
        except (BrokenPipeError, ValueError):
            pass


class StepLimit:
    """Set by ``Runtime.step_deadline``: whether its own deadline stopped the call."""

    __slots__ = ("fired",)

    def __init__(self, fired: bool = False) -> None:
        self.fired = fired


class Runtime:
    """A sandboxed Lua state for one script run, with its globals installed."""

    def __init__(
        self,
        settings: Settings,
        *,
        script_path: Path | None = None,
        script_args: dict[str, str] | None = None,
        output: Output | None = None,
        timeout_seconds: float | None = None,
        debug: bool = False,
        watchdog: bool = False,
    ) -> None:
        self.settings = settings
        self.debug = debug
        self.watchdog = watchdog
        self.output = output or Output()
        self.script_path = script_path
        self.script_dir = (script_path.resolve().parent if script_path else Path.cwd())
        self._abort: tuple[str, int] | None = None
        self._deadline: float | None = None
        self._timeout_ms = self._effective_timeout_ms(timeout_seconds)
        self._closers: list[Callable[[], None]] = []
        self.services = Services(settings, debug=debug, budget=self.remaining_seconds,
                                 stopped=self.check, stop_reason=lambda: self.stop_reason,
                                 notify=self._notify)

        memory = settings.get("runtime.security.max_memory_bytes")
        self._memory_limited = memory > 0
        self.lua = lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            encoding=None,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=memory if memory > 0 else None,
        )
        # this run's conversions (its limits, its stop check): adapters use rt.converter
        self.converter = convert.Converter(self.lua, memory, self._check)
        self._install_prelude()
        from .globals import install_globals

        install_globals(self, script_args)

    # -- set-up ---------------------------------------------------------------

    def _effective_timeout_ms(self, timeout_seconds: float | None) -> int | None:
        if timeout_seconds is not None:
            return int(timeout_seconds * 1000) if timeout_seconds > 0 else None
        limits = [
            self.settings.get("runtime.security.max_execution_time_ms"),
            self.settings.get("runtime.script_timeout_seconds") * 1000,
        ]
        positive = [x for x in limits if x and x > 0]
        return min(positive) if positive else None

    def _install_prelude(self) -> None:
        lua = self.lua
        callbacks = lua.table_from({
            b"check": self._check,
            b"hook_count": HOOK_COUNT,
            b"seed": random.randrange(1, 2**31),
            b"write_out": self._protocol(self._write_out, "print"),
            b"write_err": self._protocol(self._write_err, "io.stderr:write"),
            b"flush_out": self._protocol(self._flush_out, "io.stdout:flush"),
            b"read_stdin": self._protocol(self._read_stdin, "io.read"),
            b"path_check": self._protocol(self._path_check, "io.open"),
            b"spawn_check": self._protocol(self._spawn_check, "os.execute"),
            b"module_source": self._protocol(self._module_source, "require"),
            b"exit": self._protocol(self._exit, "os.exit"),
            b"getenv": self._protocol(self._getenv, "os.getenv"),
            b"package_path": convert.encode(
                ";".join(str(Path(p) / "?.lua") for p in self.module_roots())),
        })
        loader = lua.execute(b"return function(src, ...) return load(src, '"
                             + INTERNAL_CHUNK.encode() + b"', 't')(...) end")
        self.internals = loader(chunk_source("prelude"), callbacks)
        self.abort_token = self.internals[b"ABORT"]
        self._lua_wrap = self.internals[b"wrap"]
        self._lazy = self.internals[b"lazy"]
        self._compile = self.internals[b"compile"]
        # the original setmetatable (adapters give their tables metatables with it)
        self.setmetatable = self.internals[b"setmetatable"]
        compile_chunk = self._compile
        self._chunks = {name: compile_chunk(chunk_source(name)) for name in CHUNKS}
        self.converter.bind_lua(self._chunks["convert"], self.abort_token, NO_MEMORY,
                                self.internals[b"lost"])

    # -- the call protocol ----------------------------------------------------

    def _protocol(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        """Wrap ``fn`` so it answers ``(true, ...)``, ``(false, msg)`` or ``(false, ABORT)``.

        Memory: nothing pushed into Lua from here may fail (lupa cannot recover from an
        allocation error raised while Python pushes values: it deadlocks or aborts). So
        ``fn`` runs only with ``HEADROOM`` free in the heap, values are converted only
        when their estimated size fits (``Converter.ensure_room``), and when even that is
        not possible the answer is LuaJIT's own preallocated "not enough memory" string.
        """
        lua = self.lua
        converter = self.converter
        limited = self._memory_limited
        get_used = lua.get_memory_used
        tight = (lua.get_max_memory() or 0) - convert.HEADROOM  # past this: check closely

        def call(*args: Any) -> Any:
            if limited and get_used() > tight and not self._has_headroom():
                return (False, NO_MEMORY)
            try:
                result = fn(*args)
                if self._check():  # also a deadline that passed inside a blocking call
                    return (False, self.abort_token)
                if isinstance(result, convert.LuaMulti):
                    return self._push_many(result)
                if type(result) is bytes:
                    converter.room_for(len(result) + convert.STRING_COST)
                    return (True, result)
                return (True, converter.to_lua(result))
            except ShownAsIs as exc:  # written for the script (errors.py): as it is
                return (False, _lua_message(str(exc)))
            except convert.ValueTooLarge as exc:
                if self._abort is not None:
                    return (False, self.abort_token)
                return (False, _lua_message(f"{name}: {exc}"))
            except KeyboardInterrupt:
                self._abort = ("interrupt", 130)
                return (False, self.abort_token)
            except lupa.LuaError as exc:
                if self._abort is not None:
                    return (False, self.abort_token)
                if isinstance(exc, lupa.LuaMemoryError):
                    return (False, NO_MEMORY)
                return (False, _lua_message(convert.lua_error_text(exc)))
            except MemoryError:
                return (False, self.abort_token if self._abort is not None
                        else _lua_message(f"{name}: out of memory"))
            except Exception as exc:  # a bug or an unexpected failure: say where
                if self._abort is not None:
                    return (False, self.abort_token)
                if self.debug:
                    import traceback

                    traceback.print_exc()
                return (False, _lua_message(f"{name}: {exc}"))

        return call

    def _has_headroom(self) -> bool:
        """True when the Lua heap has ``HEADROOM`` free (after a full GC if needed)."""
        free = convert.lua_free(self.lua)
        if free is None or free >= convert.HEADROOM:
            return True
        self.lua.gccollect()
        free = convert.lua_free(self.lua)
        return free is None or free >= convert.HEADROOM

    def _push_many(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Several return values: strings are pushed after we return, so count them all."""
        pending = sum(len(v) + convert.STRING_COST for v in values if type(v) is bytes)
        self.converter.room_for(pending)
        return (True, *[self.converter.to_lua(item) for item in values])

    def function(self, fn: Callable[..., Any], name: str) -> Any:
        """A Lua function that calls ``fn``; its errors become Lua errors (``ShownAsIs``
        ones as they are, others after the function's name)."""
        return self._lua_wrap(self._protocol(fn, name))

    def call(self, fn: Any, *args: Any) -> Any:
        """Call a Lua function (a script callback) with Python values; return plain Python.

        Only call this on the thread that runs the script (see LUAJIT_NOTES.md).
        """
        if self._memory_limited and not self._has_headroom():
            raise MemoryError("not enough memory")  # pushing the arguments could fail
        result = fn(*(self.converter.to_lua(a) for a in args))
        if isinstance(result, tuple):
            result = result[0] if result else None
        return self.converter.to_python(result, functions=True)

    def table(self, value: dict[str, Any] | list[Any] | None = None) -> Any:
        return self.converter.to_lua(value if value is not None else {})

    def chunk(self, name: str) -> Any:
        """The compiled chunk ``llmspell/lua/<name>.lua`` (see ``CHUNKS``): a Lua function
        bound to the prelude's private environment before the script ran."""
        return self._chunks[name]

    def eval(self, code: str) -> Any:
        """Evaluate a Lua expression of our own in the private environment (never the
        script's globals: a script cannot change what it sees)."""
        return self._compile(b"return " + convert.encode(code))()

    def lazy_global(self, name: str, install: Callable[[Any], None]) -> None:
        """Expose ``name`` as a table that ``install`` fills on first access."""
        self._lazy(convert.encode(name), self.function(install, name))

    def set_global(self, name: str, value: Any) -> None:
        self.lua.globals()[convert.encode(name)] = self.converter.to_lua(value)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the run ends, however it ends, before the services close
        (the SystemShutdown hooks, which may still use any service)."""
        self._closers.append(fn)

    def close(self) -> None:
        """Run the closers (newest first), then close the services (``run.Services``:
        newest first, the event bus last). Ctrl-C during them still ends the run as
        interrupted (every closer still runs: they flush state); a closer that runs Lua
        does so inside ``grace_period``, under a deadline, the watchdog and the Ctrl-C
        guard."""
        interrupted = False
        try:
            while self._closers:
                fn = self._closers.pop()
                try:
                    fn()
                except KeyboardInterrupt:
                    interrupted = True
                    self._abort = ("interrupt", 130)
                except Exception:
                    if self.debug:
                        import traceback

                        traceback.print_exc()
            try:
                failures = self.services.close()
            except KeyboardInterrupt:
                interrupted = True
                self._abort = ("interrupt", 130)
            else:
                if self.debug:
                    import traceback

                    for _name, exc in failures:
                        traceback.print_exception(exc)
        finally:
            self.output.flush()
        if interrupted:
            raise ScriptInterrupted()

    def _notify(self, message: str) -> None:
        """A message from a service for the user (stderr, after the output so far)."""
        self.output.error(convert.encode(message + "\n"))

    # -- callbacks used by the prelude ----------------------------------------

    def _check(self) -> bool:
        try:
            if self._abort is not None:
                return True
            if self._deadline is not None and time.monotonic() > self._deadline:
                self._abort = ("timeout", 1)
                return True
            return False
        except KeyboardInterrupt:
            self._abort = ("interrupt", 130)
            return True

    def check(self) -> bool:
        """True when the run must stop now (time limit, Ctrl-C or os.exit)."""
        return self._check()

    @property
    def stop_reason(self) -> str | None:
        """Why the run is stopping ("timeout", "interrupt", "exit"), or None."""
        return self._abort[0] if self._abort is not None else None

    @contextmanager
    def step_deadline(self, deadline: float | None) -> Iterator[StepLimit]:
        """Tighten the script's deadline (a monotonic time) for the calls inside the block.

        When it was this tighter deadline, not the script's own, that stopped a Lua call,
        the stop is cleared on the way out and ``limit.fired`` is true: the caller turns
        it into an ordinary step timeout and the script carries on.
        """
        limit = StepLimit()
        old = self._deadline
        tightened = deadline is not None and (old is None or deadline < old)
        if tightened:
            self._deadline = deadline
        try:
            yield limit
        finally:
            if tightened:
                self._deadline = old
                if (self._abort is not None and self._abort[0] == "timeout"
                        and (old is None or time.monotonic() < old)):
                    self._abort = None
                    limit.fired = True

    @contextmanager
    def grace_period(self, seconds: float, what: str = "shutdown hooks") -> Iterator[None]:
        """Let Lua run for ``seconds`` more after the script ended (shutdown hooks).

        The block runs under the same stops as the script: the deadline (checked at the
        hook), the watchdog for a stuck C call, and Ctrl-C (which is kept when the block
        ends, so the run still ends as interrupted).
        """
        abort, deadline = self._abort, self._deadline
        self._abort = None
        self._deadline = time.monotonic() + seconds
        message = (f"{what} ran past their {seconds:g} s limit and did not stop "
                   "(stuck in one long library call); process ended")
        try:
            with self._stoppable(self._deadline, message):
                yield
        finally:
            interrupted = self._abort is not None and self._abort[0] == "interrupt"
            self._abort = ("interrupt", 130) if interrupted else abort
            self._deadline = deadline

    def remaining_seconds(self) -> float | None:
        """Time left before the script's deadline (services bound blocking calls by it)."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def _write_out(self, data: bytes, _is_print: bool) -> None:
        self.output.write(data)

    def _write_err(self, data: bytes, _is_print: bool) -> None:
        self.output.error(data)

    def _flush_out(self) -> None:
        self.output.flush()

    def _read_stdin(self, fmt: Any) -> Any:
        stdin = sys.stdin.buffer
        if isinstance(fmt, int | float):
            data = stdin.read(int(fmt))
            return data or None
        spec = convert.decode(fmt).lstrip("*") if isinstance(fmt, bytes) else "l"
        if spec.startswith("a"):
            return stdin.read()
        if spec.startswith("n"):
            line = stdin.readline()
            try:
                return float(line.strip()) if line.strip() else None
            except ValueError:
                return None
        line = stdin.readline()
        if not line:
            return None
        return line if spec.startswith("L") else line.rstrip(b"\n")

    def allowed_roots(self) -> list[str]:
        """Folders Lua's own io/os may touch (when allow_file_access is on)."""
        import tempfile

        configured = self.settings.get("runtime.security.allowed_paths")
        roots = configured or [str(self.script_dir), os.getcwd(), tempfile.gettempdir()]
        return roots

    def _path_check(self, path: Any, mode: Any, fname: Any) -> bytes:
        fn = convert.decode(fname)
        if not self.settings.get("runtime.security.allow_file_access"):
            raise ApiError(f"{fn}: file access is disabled "
                           "(set runtime.security.allow_file_access = true)")
        if mode == b"tmpfile":
            return b""
        if not isinstance(path, bytes):
            raise ApiError(f"{fn}: path must be a string, got {convert.describe(path)}")
        text = convert.decode(path)
        roots = self.allowed_roots()
        real = os.path.realpath(text)
        writing = not (isinstance(mode, bytes) and mode.startswith(b"r") and b"+" not in mode)
        if config_mod.is_protected(real, writing, self._own_config()):
            raise ApiError(f"{fn}: '{text}' is a llmspell config location; scripts may not "
                           "touch it (rights come from the user)")
        if config_mod.is_process_info(real):
            raise ApiError(f"{fn}: '{text}' is a process's own information (/proc/<pid>: its "
                           "environment holds secrets)")
        if "*" not in roots:
            resolved = [os.path.realpath(r) for r in roots]
            if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep)
                       for r in resolved):
                raise ApiError(f"{fn}: '{text}' is outside the allowed paths "
                               f"({', '.join(resolved)}; runtime.security.allowed_paths)")
        return convert.encode(real)

    def checked_path(self, path: str, mode: str, fn: str) -> str:
        """``path`` resolved, if Lua's ``io.open(path, mode)`` may open it (raises ApiError
        naming ``fn`` otherwise): for globals that read or write files for the script."""
        return convert.decode(self._path_check(convert.encode(path), convert.encode(mode),
                                               convert.encode(fn)))

    def _own_config(self) -> list[str]:
        source = self.settings.source
        trusted = getattr(self.settings, "grants_rights", True)
        return [os.path.realpath(source)] if source is not None and trusted else []

    def _spawn_check(self, fname: Any) -> None:
        if not self.settings.get("runtime.security.allow_process_spawn"):
            raise ApiError(f"{convert.decode(fname)}: process spawning is disabled "
                           "(set runtime.security.allow_process_spawn = true)")

    def module_roots(self) -> list[Path]:
        extra = self.settings.get("runtime.module_paths")
        return [self.script_dir, *(Path(p).expanduser() for p in extra)]

    def _module_source(self, name: Any) -> convert.LuaMulti:
        text = convert.decode(name)
        parts = text.split(".")
        tried: list[str] = []
        if text and all(p and p not in ("..", ".") and "/" not in p and "\\" not in p
                        for p in parts):
            for root in self.module_roots():
                base = root.resolve()
                for candidate in (base.joinpath(*parts).with_suffix(".lua"),
                                  base.joinpath(*parts, "init.lua")):
                    tried.append(str(candidate))
                    real = Path(os.path.realpath(candidate))
                    if not real.is_file() or not real.is_relative_to(base):
                        continue
                    display = os.path.relpath(real) if real.is_relative_to(Path.cwd()) else real
                    return convert.LuaMulti((_strip_shebang(real.read_bytes()),
                                             f"@{display}"))
        lines = "".join(f"\n\tno file '{t}'" for t in tried)
        raise ApiError(f"module '{text}' not found:{lines}")

    def _getenv(self, name: Any = None) -> bytes | None:
        """``os.getenv``: a secret-named variable reads as nil; URL credentials are hidden."""
        if isinstance(name, int | float) and not isinstance(name, bool):
            name = (b"%.14g" % name)  # Lua turns a number argument into its text
        if not isinstance(name, bytes):
            raise ApiError("bad argument #1 to 'getenv' (string expected, got "
                           f"{convert.describe(name)})")
        text = convert.decode(name)
        value = os.environ.get(text)
        if value is None or secret_filter.is_secret_name(text):
            return None
        return convert.encode(secret_filter.redact_text(value))

    def _exit(self, code: Any = None) -> None:
        if code is None or code is True:
            status = 0
        elif code is False:
            status = 1
        elif isinstance(code, int | float):
            status = int(code)
        else:
            raise ApiError(f"os.exit: expected a number or boolean, got {convert.describe(code)}")
        self.request_exit(status)

    def request_exit(self, status: int) -> None:
        """Stop the script at its next check as ``os.exit(status)`` would (any thread)."""
        self._abort = ("exit", status)

    # -- running --------------------------------------------------------------

    def run_file(self, path: Path, display: str | None = None) -> Any:
        """Run a script file; return its first return value as plain Python."""
        try:
            source = path.read_bytes()
        except FileNotFoundError:
            raise ScriptError(f"Script file not found: {path}") from None
        except IsADirectoryError:
            raise ScriptError(f"Script path is a directory: {path}") from None
        except OSError as exc:
            raise ScriptError(f"Cannot read script {path}: {exc.strerror}") from None
        return self.run_source(source, display or str(path))

    def run_source(self, source: bytes, chunkname: str) -> Any:
        """Run Lua source text named ``chunkname``; errors read ``chunkname:LINE: msg``."""
        if source.startswith(BYTECODE_SIGNATURE) or source.startswith(b"\x1bLua"):
            raise ScriptError(f"{chunkname}: refusing to run precompiled bytecode")
        source = _strip_shebang(source)
        self._abort = None
        self._deadline = (time.monotonic() + self._timeout_ms / 1000
                          if self._timeout_ms is not None else None)
        message = (f"script timed out after {self._timeout_ms} ms and did not stop (stuck in "
                   "one long library call); process ended")
        try:
            with self._stoppable(self._deadline, message):
                returned = self.internals[b"run"](source, convert.encode("@" + chunkname))
                return self._outcome(returned, chunkname)
        except lupa.LuaMemoryError:
            raise self._memory_error() from None
        except lupa.LuaError as exc:
            if self._abort is not None:
                self._raise_abort()
            raise ScriptError(convert.lua_error_text(exc)) from None
        except KeyboardInterrupt:
            raise ScriptInterrupted() from None
        finally:
            self._deadline = None

    def _outcome(self, returned: Any, chunkname: str) -> Any:
        """The script's return value as plain Python, or the error that ended it."""
        if self._abort is not None:
            self._raise_abort()
        # (ok, first value, more values...): a script's extra return values are dropped,
        # as upstream prints only the first
        ok, payload = (returned[0], returned[1] if len(returned) > 1 else None) \
            if isinstance(returned, tuple) else (returned, None)
        if ok:
            try:
                return self.converter.result_to_python(payload)
            except convert.ValueTooLarge as exc:
                if self._abort is not None:
                    self._raise_abort()
                raise ScriptError(f"{chunkname}: return {exc}") from None
        if payload == self.abort_token:
            self._raise_abort()
        if isinstance(payload, bytes):  # the error handler itself failed (out of memory)
            message = convert.decode(payload)
            if "not enough memory" in message or message == "error in error handling":
                raise self._memory_error()
            raise ScriptError(message)
        message = convert.decode(payload[b"message"] or b"unknown error")
        if message == "not enough memory" or message.endswith(": not enough memory"):
            raise self._memory_error()
        tb = payload[b"traceback"]
        raise ScriptError(message, _clean_traceback(convert.decode(tb) if tb else ""))

    @contextmanager
    def _stoppable(self, deadline: float | None, message: str) -> Iterator[None]:
        """Ctrl-C and the watchdog for a stretch of work on the script's thread."""
        restore = _install_sigint(self)
        stop_watchdog = self._start_watchdog(deadline, message)
        try:
            yield
        finally:
            stop_watchdog()
            if restore is not None:
                restore()

    def _start_watchdog(self, deadline: float | None, message: str) -> Callable[[], None]:
        """End the process when ``deadline`` has passed and the run did not stop.

        Lua stops itself at its hook, but a single C call (a pathological pattern) or a
        callback never reaches the hook: ``WATCHDOG_GRACE_SECONDS`` after the deadline a
        thread ends the process (exit 1). A C extension that holds the GIL stops even that
        thread; ``faulthandler``'s C timer, a second later, ends the process anyway.
        """
        if not self.watchdog or deadline is None:
            return lambda: None
        done = threading.Event()
        limit = max(0.0, deadline - time.monotonic()) + WATCHDOG_GRACE_SECONDS

        def watch() -> None:
            if not done.wait(limit):
                _hard_exit(self, 1, message)

        threading.Thread(target=watch, name="llmspell-watchdog", daemon=True).start()
        backstop = _arm_backstop(limit + 1.0)

        def stop() -> None:
            done.set()
            if backstop:
                faulthandler.cancel_dump_traceback_later()

        return stop

    def _memory_error(self) -> ScriptMemoryError:
        limit = self.settings.get("runtime.security.max_memory_bytes")
        return ScriptMemoryError(f"script exceeded its memory limit of {limit} bytes "
                                 "(runtime.security.max_memory_bytes)")

    def _raise_abort(self) -> None:
        reason, code = self._abort or ("interrupt", 130)
        if reason == "timeout":
            raise ScriptTimeout(f"script timed out after {self._timeout_ms} ms "
                                "(runtime.security.max_execution_time_ms or --timeout)")
        if reason == "exit":
            raise ScriptExit(code)
        raise ScriptInterrupted()


def _lua_message(text: str) -> bytes:
    """An error text for Lua, with every known secret and URL credential hidden."""
    return convert.encode(secret_filter.redact_text(text))


def _strip_shebang(source: bytes) -> bytes:
    if source.startswith(b"#"):
        end = source.find(b"\n")
        return b"--" + (source[end:] if end >= 0 else b"")
    return source


def _clean_traceback(tb: str) -> str:
    """Keep the script's own frames: drop the sandbox's and C frames."""
    keep = []
    for line in tb.splitlines():
        stripped = line.strip()
        if not stripped or stripped == "stack traceback:":
            continue
        if stripped.startswith(("[C]", "llmspell:", "(tail call)", "[string", "[builtin")):
            continue
        keep.append("\t" + stripped)
    return "stack traceback:\n" + "\n".join(keep) if keep else ""


def _install_sigint(rt: Runtime) -> Callable[[], None] | None:
    """Ctrl-C: the first press stops the run; a second one exits at once.

    A Python signal handler only runs between bytecodes of the main thread, never during a
    long C call (a pattern match, a finalizer, a library). So the C-level handler also
    writes to a wakeup pipe read by a thread (lupa releases the GIL while Lua runs): on
    the first press it sets the abort flag (Lua stops at its next hook) and, under the
    CLI (``rt.watchdog``), ends the process if it is still running ``STOP_SECONDS`` later;
    on a second press it ends the process at once (exit 130, output flushed).
    Returns the function that restores the previous handler, or None off the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        rt._abort = ("interrupt", 130)
        raise KeyboardInterrupt

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    reaper_fd = _reaper_signal_fd() if rt.watchdog else None
    previous = signal.signal(signal.SIGINT, handler)
    try:
        previous_fd = signal.set_wakeup_fd(write_fd if reaper_fd is None else reaper_fd,
                                           warn_on_full_buffer=False)
    except ValueError:  # not possible here: Python's handler alone
        os.close(read_fd)
        os.close(write_fd)
        return lambda: _restore_sigint(previous)
    with _RELAY_LOCK:
        previous_target = _RELAY["target"]
        _RELAY["target"] = write_fd
    threading.Thread(target=_watch_sigint, args=(rt, read_fd), name="llmspell-sigint",
                     daemon=True).start()

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        _restore_sigint(previous)
        with _RELAY_LOCK:
            _RELAY["target"] = previous_target
            os.close(write_fd)  # the thread reads end-of-file and leaves

    return restore


# -- the reaper: Ctrl-C when llmspell itself cannot respond --------------------------
# A C extension that holds the GIL (a long regex, a native library) stops every Python
# thread, so nothing in the process can react to Ctrl-C. Under the CLI a small helper
# process receives the signal bytes (it owns the read end of the wakeup pipe), relays them
# to the sigint thread here, and kills llmspell if it is still alive REAPER_SECONDS after
# the first press (REAPER_SECOND_PRESS_SECONDS after a second one). It exits as soon as
# llmspell does (end of file on a pipe only llmspell holds).
#
# The helper is a separate tiny program (``python -S -I -c``, stdlib os/select only),
# spawned without copying this process: forking llmspell itself cost ~12 ms per run
# (page tables, then copy-on-write faults). It runs in its own session, so a terminal's
# Ctrl-C reaches it only through the pipe, never as a signal of its own.

REAPER_SECONDS = STOP_SECONDS + 0.5
REAPER_SECOND_PRESS_SECONDS = 0.5
_RELAY_LOCK = threading.Lock()
_RELAY: dict[str, int | None] = {"target": None, "signal_fd": None, "failed": 0}
_REAPER: list[int] = []  # the helper's pid

_REAPER_PROGRAM = r"""
import os, select, signal, sys, time
parent, sig_r, relay_w, alive_r = (int(a) for a in sys.argv[1:5])
first, again = float(sys.argv[5]), float(sys.argv[6])
os.set_blocking(relay_w, False)
kill_at = None
presses = 0
while True:
    wait = None if kill_at is None else max(0.0, kill_at - time.monotonic())
    ready, _, _ = select.select([sig_r, alive_r], [], [], wait)
    if alive_r in ready:
        break  # llmspell has exited
    if sig_r in ready:
        data = os.read(sig_r, 64)
        if not data:
            break
        count = data.count(signal.SIGINT)
        if count:
            presses += count
            try:
                os.write(relay_w, bytes([signal.SIGINT]) * count)
            except OSError:
                pass
            at = time.monotonic() + (first if presses == 1 else again)
            kill_at = at if kill_at is None else min(kill_at, at)
    if kill_at is not None and time.monotonic() >= kill_at:
        try:
            os.write(2, b"Error: interrupted (llmspell did not respond; ended)\n")
            os.kill(parent, signal.SIGKILL)
        except OSError:
            pass
        break
"""


def _reaper_signal_fd() -> int | None:
    """The wakeup fd that reaches the reaper (started on first use), or None."""
    if _RELAY["signal_fd"] is None and not _RELAY["failed"]:
        try:
            _RELAY["signal_fd"] = _start_reaper()
        except OSError:
            _RELAY["failed"] = 1
    return _RELAY["signal_fd"]


def _start_reaper() -> int | None:
    """Spawn the reaper (``os.posix_spawn``: the subprocess module costs ~2 ms of every
    start). It gets the three pipe ends it needs, /dev/null as stdin and stdout, our
    stderr for its one message, and a session of its own (Ctrl-C on the terminal does
    not reach it)."""
    if os.name != "posix" or not sys.executable or not hasattr(os, "posix_spawn"):
        return None
    sig_r, sig_w = os.pipe()
    relay_r, relay_w = os.pipe()
    alive_r, alive_w = os.pipe()
    try:
        for fd in (sig_r, relay_w, alive_r):
            os.set_inheritable(fd, True)  # every other fd of ours is not (PEP 446)
        _REAPER.append(os.posix_spawn(
            sys.executable,
            [sys.executable, "-S", "-I", "-c", _REAPER_PROGRAM, str(os.getpid()), str(sig_r),
             str(relay_w), str(alive_r), str(REAPER_SECONDS), str(REAPER_SECOND_PRESS_SECONDS)],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                          (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)],
            setsid=True))
    except OSError:
        for fd in (sig_r, sig_w, relay_r, relay_w, alive_r, alive_w):
            os.close(fd)
        raise
    for fd in (sig_r, relay_w, alive_r):
        os.close(fd)
    _RELAY["alive_fd"] = alive_w  # held open until llmspell exits
    os.set_blocking(sig_w, False)
    threading.Thread(target=_relay, args=(relay_r,), name="llmspell-relay",
                     daemon=True).start()
    return sig_w


def _relay(relay_r: int) -> None:
    """Pass the reaper's signal bytes to the sigint thread of the guard in force."""
    while True:
        try:
            data = os.read(relay_r, 64)
        except OSError:
            return
        if not data:
            return
        with _RELAY_LOCK:
            target = _RELAY["target"]
            if target is not None:
                try:
                    os.write(target, data)
                except OSError:
                    pass


def _watch_sigint(rt: Runtime, read_fd: int) -> None:
    presses = 0
    try:
        while True:
            data = os.read(read_fd, 64)
            if not data:
                return
            for signum in data:
                if signum != signal.SIGINT:
                    continue
                presses += 1
                rt._abort = ("interrupt", 130)
                if presses > 1:
                    _hard_exit(rt, 130, "interrupted")
                if rt.watchdog:
                    threading.Thread(target=_exit_later, args=(rt,), name="llmspell-stop",
                                     daemon=True).start()
    except OSError:
        return
    finally:
        os.close(read_fd)


def _exit_later(rt: Runtime) -> None:
    """The run had ``STOP_SECONDS`` to end after Ctrl-C (the process is exiting by then)."""
    time.sleep(STOP_SECONDS)
    _hard_exit(rt, 130, "interrupted")


def _hard_exit(rt: Runtime, code: int, message: str) -> None:
    """End the process now, from any thread: flush the script's output, say why, exit."""
    try:
        rt.output.flush()
        sys.stdout.flush()
    except Exception:
        pass
    try:
        os.write(2, f"Error: {message}\n".encode())
    except OSError:
        pass
    os._exit(code)


def _arm_backstop(seconds: float) -> bool:
    """A last resort that needs no GIL: faulthandler's C thread exits (status 1) after
    ``seconds`` unless cancelled. Only one can be armed in a process."""
    try:
        faulthandler.dump_traceback_later(seconds, exit=True, file=_devnull())
    except (RuntimeError, ValueError, OSError):
        return False
    return True


_DEVNULL: Any = None


def _devnull() -> Any:
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - kept open for faulthandler
    return _DEVNULL


def _restore_sigint(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
