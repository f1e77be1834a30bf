"""One sandboxed LuaJIT state per run: limits, the Python<->Lua call protocol, the driver.

Every limit lives here: the memory cap (``max_memory``), the time limit and Ctrl-C (a
count hook that asks ``_check`` every ``HOOK_COUNT`` instructions, with the JIT off so
the hook fires inside loops), file/process permissions for Lua's own ``io``/``os``, and
where ``require`` may read modules. ``prelude.lua`` builds the script-visible globals.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
)
from . import convert

T = TypeVar("T")

HOOK_COUNT = 100_000
# A single C call (a pathological string pattern, say) never reaches the hook; the CLI's
# watchdog ends the process this long after the deadline if the script has not stopped.
WATCHDOG_GRACE_SECONDS = 2.0
INTERNAL_CHUNK = "=llmspell"
BYTECODE_SIGNATURE = b"\x1bLJ"


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


@dataclass
class StepLimit:
    """Set by ``Runtime.step_deadline``: whether its own deadline stopped the call."""

    fired: bool = False


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
        self.services: dict[str, Any] = {}
        self._services_lock = threading.RLock()

        memory = settings.get("runtime.security.max_memory_bytes") or 0
        self.lua = lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            encoding=None,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=memory if memory > 0 else None,
        )
        self._install_prelude()
        from .globals import install_globals

        install_globals(self, script_args)

    # -- set-up ---------------------------------------------------------------

    def _effective_timeout_ms(self, timeout_seconds: float | None) -> int | None:
        if timeout_seconds is not None:
            return int(timeout_seconds * 1000) if timeout_seconds > 0 else None
        limits = [
            self.settings.get("runtime.security.max_execution_time_ms"),
            (self.settings.get("runtime.script_timeout_seconds") or 0) * 1000,
        ]
        positive = [x for x in limits if x and x > 0]
        return min(positive) if positive else None

    def _install_prelude(self) -> None:
        source = (Path(__file__).parent / "prelude.lua").read_bytes()
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
        self.internals = loader(source, callbacks)
        self.abort_token = self.internals[b"ABORT"]
        self._lua_wrap = self.internals[b"wrap"]
        self._lazy = self.internals[b"lazy"]

    # -- the call protocol ----------------------------------------------------

    def _protocol(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        """Wrap ``fn`` so it answers ``(true, ...)``, ``(false, msg)`` or ``(false, ABORT)``."""
        lua = self.lua

        def call(*args: Any) -> Any:
            try:
                result = fn(*args)
            except ApiError as exc:
                return (False, _lua_message(str(exc)))
            except KeyboardInterrupt:
                self._abort = ("interrupt", 130)
                return (False, self.abort_token)
            except lupa.LuaError as exc:
                if self._abort is not None:
                    return (False, self.abort_token)
                return (False, _lua_message(_lua_error_text(exc)))
            except Exception as exc:  # a bug or an unexpected failure: say where
                if self._abort is not None:
                    return (False, self.abort_token)
                if self.debug:
                    import traceback

                    traceback.print_exc()
                return (False, _lua_message(f"{name}: {exc}"))
            if self._abort is not None:
                return (False, self.abort_token)
            try:
                if isinstance(result, convert.LuaMulti):
                    return (True, *[convert.to_lua(lua, item) for item in result])
                return (True, convert.to_lua(lua, result))
            except TypeError as exc:
                return (False, _lua_message(f"{name}: {exc}"))

        return call

    def function(self, fn: Callable[..., Any], name: str) -> Any:
        """A Lua function that calls ``fn``; its ApiError messages become Lua errors."""
        return self._lua_wrap(self._protocol(fn, name))

    def object(self, type_name: str, methods: dict[str, Callable[..., Any]],
               fields: dict[str, Any] | None = None) -> Any:
        """A Lua table with colon-call methods: ``obj:m(x)`` calls ``methods["m"](self, x)``.

        The Python functions receive the Lua table itself as first argument (usually
        ignored: they close over their Python state). Errors name ``type_name:method``.
        """
        obj = self.table(fields or {})
        for name, fn in methods.items():
            obj[convert.encode(name)] = self.function(fn, f"{type_name}:{name}")
        return obj

    def call(self, fn: Any, *args: Any) -> Any:
        """Call a Lua function (a script callback) with Python values; return plain Python.

        Only call this on the thread that runs the script (see LUAJIT_NOTES.md).
        """
        result = fn(*(convert.to_lua(self.lua, a) for a in args))
        if isinstance(result, tuple):
            result = result[0] if result else None
        return convert.to_python(result, functions=True)

    def table(self, value: dict[str, Any] | list[Any] | None = None) -> Any:
        return convert.to_lua(self.lua, value if value is not None else {})

    def eval(self, code: str) -> Any:
        """Evaluate a Lua expression of our own (used by adapters for Lua-side helpers)."""
        return self.lua.execute(b"return " + convert.encode(code), name=INTERNAL_CHUNK.encode())

    def lazy_global(self, name: str, install: Callable[[Any], None]) -> None:
        """Expose ``name`` as a table that ``install`` fills on first access."""
        self._lazy(convert.encode(name), self.function(install, name))

    def set_global(self, name: str, value: Any) -> None:
        self.lua.globals()[convert.encode(name)] = convert.to_lua(self.lua, value)

    def service(self, name: str, factory: Callable[[], T], closes: bool = False) -> T:
        """The run's shared service ``name``, made by ``factory`` on first use.

        Made once even when workflow worker threads ask at the same moment (a factory
        may ask for other services). With ``closes``, its ``close()`` runs at the end.
        """
        svc = self.services.get(name)
        if svc is None:
            with self._services_lock:
                svc = self.services.get(name)
                if svc is None:
                    svc = factory()
                    self.services[name] = svc
                    if closes:
                        self.on_close(svc.close)
        return svc

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the run ends, however it ends (flush state, indexes, ...)."""
        self._closers.append(fn)

    def close(self) -> None:
        while self._closers:
            fn = self._closers.pop()
            try:
                fn()
            except Exception:
                if self.debug:
                    import traceback

                    traceback.print_exc()
        self.output.flush()

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
    def grace_period(self, seconds: float) -> Iterator[None]:
        """Let Lua run for ``seconds`` more after the script ended (shutdown hooks)."""
        abort, deadline = self._abort, self._deadline
        self._abort = None
        self._deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._abort, self._deadline = abort, deadline

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

        configured = self.settings.get("runtime.security.allowed_paths") or []
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
        if "*" not in roots:
            resolved = [os.path.realpath(r) for r in roots]
            if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep)
                       for r in resolved):
                raise ApiError(f"{fn}: '{text}' is outside the allowed paths "
                               f"({', '.join(resolved)}; runtime.security.allowed_paths)")
        return convert.encode(real)

    def _own_config(self) -> list[str]:
        source = self.settings.source
        trusted = getattr(self.settings, "grants_rights", True)
        return [os.path.realpath(source)] if source is not None and trusted else []

    def _spawn_check(self, fname: Any) -> None:
        if not self.settings.get("runtime.security.allow_process_spawn"):
            raise ApiError(f"{convert.decode(fname)}: process spawning is disabled "
                           "(set runtime.security.allow_process_spawn = true)")

    def module_roots(self) -> list[Path]:
        extra = self.settings.get("runtime.module_paths") or []
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
        previous = _install_sigint(self)
        stop_watchdog = self._start_watchdog()
        try:
            returned = self.internals[b"run"](source, convert.encode("@" + chunkname))
        except lupa.LuaMemoryError:
            raise self._memory_error() from None
        except lupa.LuaError as exc:
            if self._abort is not None:
                self._raise_abort()
            raise ScriptError(_lua_error_text(exc)) from None
        except KeyboardInterrupt:
            raise ScriptInterrupted() from None
        finally:
            stop_watchdog()
            _restore_sigint(previous)
            self._deadline = None
        if self._abort is not None:
            self._raise_abort()
        # (ok, first value, more values...): a script's extra return values are dropped,
        # as upstream prints only the first
        ok, payload = (returned[0], returned[1] if len(returned) > 1 else None) \
            if isinstance(returned, tuple) else (returned, None)
        if ok:
            return convert.result_to_python(payload)
        if payload == self.abort_token:
            self._raise_abort()
        if isinstance(payload, bytes):  # the error handler itself failed (out of memory)
            message = convert.decode(payload)
            if "not enough memory" in message:
                raise self._memory_error()
            raise ScriptError(message)
        message = convert.decode(payload[b"message"] or b"unknown error")
        if message == "not enough memory":
            raise self._memory_error()
        tb = payload[b"traceback"]
        raise ScriptError(message, _clean_traceback(convert.decode(tb) if tb else ""))

    def _start_watchdog(self) -> Callable[[], None]:
        """End the process if the script overruns its deadline inside one C call."""
        if not self.watchdog or self._timeout_ms is None:
            return lambda: None
        done = threading.Event()
        limit = self._timeout_ms / 1000 + WATCHDOG_GRACE_SECONDS

        def watch() -> None:
            if done.wait(limit):
                return
            self.output.flush()
            sys.stderr.write(f"Error: script timed out after {self._timeout_ms} ms and did not "
                             "stop (stuck in one long library call); process ended\n")
            sys.stderr.flush()
            os._exit(1)

        threading.Thread(target=watch, name="llmspell-watchdog", daemon=True).start()
        return done.set

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


def _lua_error_text(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = convert.decode(text)
    return str(text).split("\nstack traceback:")[0]


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


def _install_sigint(rt: Runtime) -> Any:
    """Ctrl-C: the first press stops the script at the next hook; a second one exits now."""
    if threading.current_thread() is not threading.main_thread():
        return None
    presses = {"n": 0}

    def handler(signum: int, frame: Any) -> None:
        presses["n"] += 1
        rt._abort = ("interrupt", 130)
        if presses["n"] > 1:
            rt.output.flush()
            os._exit(130)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
