"""System tools: environment_reader, process_executor, service_checker, system_monitor."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import time
from typing import TYPE_CHECKING, Any

from ..secret_filter import is_secret_name
from .errors import SecurityViolation, ToolError, ToolValidationError
from .registry import ToolOutput, ToolSpec, ok
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext


# -- environment_reader ---------------------------------------------------------------

# Upstream's allow-list (spec 2.4). What upstream blocks on top of it is decided by the one
# secret filter: a secret-named variable is never shown, whatever the allow-list says.
ENV_ALLOWED = ["PATH", "HOME", "USER", "SHELL", "TERM", "LANG", "LC_*", "TZ", "TMPDIR", "TEMP",
               "PWD", "OLDPWD"]
ENV_MAX = 100


def env_visible(name: str) -> bool:
    if is_secret_name(name):
        return False
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pat) for pat in ENV_ALLOWED)


def _visible_env() -> dict[str, str]:
    out = {}
    for k in sorted(os.environ):
        if env_visible(k):
            out[k] = os.environ[k]
            if len(out) >= ENV_MAX:
                break
    return out


def _environment(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.req_str("operation")
    if op == "get":
        name = p.req_str("variable_name")
        value = os.environ.get(name) if env_visible(name) else None
        found = value is not None
        msg = (f"Environment variable '{name}' = '{value}'" if found
               else f"Environment variable '{name}' not found")
        return ok("get", {"variable_name": name, "value": value, "found": found}, msg)
    if op == "list":
        env = _visible_env()
        return ok("list", {"variables": env, "count": len(env)},
                  f"Found {len(env)} environment variables")
    if op == "pattern":
        pattern = p.req_str("pattern")
        env = {k: v for k, v in _visible_env().items() if fnmatch.fnmatchcase(k, pattern)}
        return ok("pattern", {"pattern": pattern, "variables": env, "count": len(env)},
                  f"Found {len(env)} variables matching '{pattern}'")
    if op == "set":
        p.req_str("variable_name")
        p.require("value")
        raise SecurityViolation("Setting environment variables is not permitted by "
                                "configuration")
    raise ToolValidationError(f"Invalid operation: {op} (get, list, pattern, set)")


ENVIRONMENT_READER = ToolSpec(
    name="environment_reader", category="system", security_level="restricted",
    description="Read allowed environment variables (get, list, pattern); secrets such as "
                "keys, tokens and passwords are never shown",
    params=[
        Param("operation", "string", "get | list | pattern | set", required=True),
        Param("variable_name", "string", "get/set: variable name"),
        Param("pattern", "string", "pattern: glob such as 'LC_*'"),
        Param("value", "string", "set: value (refused by policy)"),
    ],
    execute=_environment,
)


# -- process_executor -----------------------------------------------------------------

BLOCKED_COMMANDS = {"rm", "rmdir", "mv", "cp", "chmod", "chown", "sudo", "su", "passwd", "ssh",
                    "scp", "curl", "wget", "nc", "netcat", "nmap", "dd", "sh", "bash", "zsh",
                    "dash", "python", "python3", "perl", "ruby", "node", "env", "xargs"}
MAX_PROCESS_SECONDS = 30


# What a script may put in a child's environment: locale, time zone and terminal layout.
# An allow-list, because environment variables are how loaders, shells and interpreters
# are told to run extra code (LD_PRELOAD, DYLD_*, BASH_ENV, ENV, PYTHONPATH, PERL5LIB,
# NODE_OPTIONS, GCONV_PATH, ...) and PATH decides which program runs; no list of bad names
# can be complete. Values are short words (no paths: LC_ALL=/dir would load locale files).
CHILD_ENV_ALLOWED = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES",
                     "LC_MONETARY", "LC_NUMERIC", "LC_TIME", "TZ", "TERM", "COLUMNS", "LINES",
                     "NO_COLOR")
# What a child inherits from llmspell's own environment (never a secret-named variable).
CHILD_ENV_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ")
_CHILD_ENV_VALUE = re.compile(r"[A-Za-z0-9_.@+\-:,]{0,64}")
_TZ_VALUE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


def process_execution_allowed(ctx: ToolContext, tool: str) -> None:
    """Refuse unless the user's config grants ``[tools.system] allow_process_execution``."""
    if not ctx.get("tools.system.allow_process_execution"):
        raise SecurityViolation(f"{tool} starts a process, and process execution is off "
                                "([tools.system] allow_process_execution = true enables it)")


def child_environment(extra: dict[str, Any] | None = None) -> dict[str, str]:
    """A child's whole environment: a few inherited variables plus allowed script values."""
    env = {k: os.environ[k] for k in CHILD_ENV_INHERITED
           if k in os.environ and not is_secret_name(k)}
    for key, value in (extra or {}).items():
        name, text = str(key), str(value)
        if name not in CHILD_ENV_ALLOWED:
            raise SecurityViolation(
                f"Environment variable '{name}' is not allowed for child processes "
                f"(allowed: {', '.join(CHILD_ENV_ALLOWED)})")
        pattern = _TZ_VALUE if name == "TZ" else _CHILD_ENV_VALUE
        if not pattern.fullmatch(text):
            raise SecurityViolation(f"Environment variable '{name}' has a value that is not "
                                    f"allowed for child processes: {text[:40]!r}")
        env[name] = text
    return env


def find_executable(ctx: ToolContext, name: str) -> str | None:
    """``name`` on PATH, skipping relative PATH entries and programs inside the allowed
    paths (a script can write there, so a program found there could be its own)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not os.path.isabs(folder):
            continue
        candidate = os.path.join(folder, name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        real = os.path.realpath(candidate)
        if not ctx.guard.any_path and ctx.guard.allows(real):
            continue
        return real
    return None


def _allowed_commands(ctx: ToolContext) -> set[str]:
    raw = ctx.get("tools.system.allowed_commands")
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return {x.strip() for x in items if x.strip()} - BLOCKED_COMMANDS


def _arg_values(arg: str) -> list[str]:
    """The parts of one argument a program may take as a path: the argument itself, what
    follows each ``=`` (``--file=X``, ``if=X``) and, in a group of short options, every
    tail after the first letter (programs take a short option's value glued on:
    ``date -f/etc/x``, ``-uf../x``)."""
    values = [] if arg.startswith("-") else [arg]
    values += [arg[i + 1:] for i, c in enumerate(arg) if c == "="]
    if arg.startswith("-") and not arg.startswith("--"):
        values += [arg[i:] for i in range(2, len(arg))]
    return [v for v in values if v]


def _check_arg_paths(ctx: ToolContext, args: list[str], cwd: str) -> None:
    """Arguments naming files must stay inside the allowed paths too."""
    for arg in args:
        for value in _arg_values(arg):
            candidate = value if os.path.isabs(value) else os.path.join(cwd, value)
            if os.path.isabs(value) or ".." in value.split(os.sep) \
                    or os.path.lexists(candidate):
                ctx.guard.check(candidate, "arguments")


def _process(ctx: ToolContext, p: Params) -> ToolOutput:
    process_execution_allowed(ctx, "process_executor")
    exe = p.req_str("executable")
    args = [str(a) for a in (p.list("arguments", []) or [])]
    allowed = _allowed_commands(ctx)
    if os.sep in exe or exe in BLOCKED_COMMANDS or exe not in allowed:
        raise SecurityViolation(f"Executable '{exe}' is not allowed (allowed: "
                                f"{', '.join(sorted(allowed))}; see [tools.system] "
                                "allowed_commands)")
    path = find_executable(ctx, exe)
    if path is None:
        raise ToolError(f"Executable not found on PATH: {exe}")
    if "working_directory" in p:
        cwd = str(ctx.guard.check(p.str("working_directory"), "working_directory"))
    else:
        cwd = ctx.guard.roots[0] if ctx.guard.roots else os.getcwd()
    _check_arg_paths(ctx, args, cwd)
    env = child_environment(p.obj("environment", {}) or {})
    timeout = min(float(p.number("timeout_seconds", MAX_PROCESS_SECONDS)), MAX_PROCESS_SECONDS)
    timeout = ctx.timeout(timeout)
    limit = int(ctx.get("tools.system.max_output_size"))
    started = time.perf_counter()
    timed_out = False
    try:
        proc = subprocess.run([path, *args], cwd=cwd, env=env, capture_output=True,
                              timeout=timeout, shell=False, stdin=subprocess.DEVNULL)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        timed_out = True
        code = -1
        out, err = exc.stdout or b"", exc.stderr or b""
    except OSError as exc:
        raise ToolError(f"Failed to run {exe}: {exc.strerror or exc}") from None
    elapsed = int((time.perf_counter() - started) * 1000)
    return ok("execute", {
        "executable": exe, "arguments": args, "exit_code": code,
        "success": code == 0 and not timed_out,
        "stdout": out[:limit].decode("utf-8", "replace"),
        "stderr": err[:limit].decode("utf-8", "replace"),
        "execution_time_ms": elapsed, "timed_out": timed_out})


PROCESS_EXECUTOR = ToolSpec(
    name="process_executor", category="system", security_level="restricted",
    description="Run an allow-listed executable with arguments (no shell) and capture its "
                "exit code, stdout and stderr, with a timeout",
    params=[
        Param("executable", "string", "Program name on PATH (must be allow-listed)",
              required=True),
        Param("arguments", "array", "Arguments, passed verbatim"),
        Param("working_directory", "string", "Directory inside the allowed paths"),
        Param("environment", "object", "Extra environment variables"),
        Param("timeout_seconds", "number", "At most 30", default=30),
    ],
    execute=_process,
)


# -- service_checker ------------------------------------------------------------------

CHECK_HOSTS = ["localhost", "127.0.0.1", "::1"]
CHECK_PORTS = [22, 23, 25, 53, 80, 110, 143, 443, 993, 995, 1433, 3306, 5432, 6379, 8080, 8443,
               9000]
BLOCKED_PORTS = {7, 9, 13, 17, 19, 21, 135, 139, 445, 1900, 5353, 6881, 6969}


def _service_checker(ctx: ToolContext, p: Params) -> ToolOutput:
    import socket
    from urllib.parse import urlsplit

    target = p.req_str("target")
    kind = p.req_str("check_type").lower()
    timeout = ctx.timeout(min(30.0, float(p.number("timeout_seconds", 5))))
    hosts = ctx.get("tools.network.service_checker_hosts")  # None: not configured
    hosts = CHECK_HOSTS if hosts is None else hosts
    ports = ctx.get("tools.network.service_checker_ports")
    ports = CHECK_PORTS if ports is None else ports

    def allowed(host: str, port: int | None) -> None:
        if "*" not in hosts and host.strip("[]").lower() not in [h.lower() for h in hosts]:
            raise SecurityViolation(f"Host '{host}' is not allowed for service checks (allowed: "
                                    f"{', '.join(hosts)}; [tools.network] "
                                    "service_checker_hosts)")
        if port is not None and (port in BLOCKED_PORTS or ("*" not in ports and
                                                          port not in ports)):
            raise SecurityViolation(f"Port {port} is not allowed for service checks "
                                    "([tools.network] service_checker_ports)")

    started = time.perf_counter()
    status, error, available = "unknown", None, False
    meta: dict[str, Any] = {}
    if kind == "tcp":
        host, sep, port_text = target.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ToolValidationError("tcp target must be host:port")
        port = int(port_text)
        allowed(host, port)
        try:
            with socket.create_connection((host.strip("[]"), port), timeout=timeout):
                available, status = True, "open"
        except TimeoutError:
            status, error = "timeout", f"Connection to {target} timed out"
        except OSError as exc:
            status, error = "closed", f"Connection to {target} failed: {exc.strerror or exc}"
    elif kind in ("http", "https"):
        parts = urlsplit(target if "://" in target else f"{kind}://{target}")
        host = parts.hostname or ""
        allowed(host, parts.port or (443 if parts.scheme == "https" else 80))
        import httpx

        try:
            with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as c:
                resp = c.get(parts.geturl())
            available = resp.status_code < 500
            status = f"HTTP {resp.status_code}"
            meta = {"status_code": resp.status_code,
                    "content_type": resp.headers.get("content-type")}
        except httpx.TimeoutException:
            status, error = "timeout", f"HTTP check of {target} timed out"
        except httpx.HTTPError as exc:
            status, error = "unreachable", f"HTTP check of {target} failed: {exc}"
    elif kind == "dns":
        allowed(target, None)
        try:
            infos = socket.getaddrinfo(target, None)
            addresses = sorted({i[4][0] for i in infos})
            available, status, meta = True, "resolved", {"addresses": addresses}
        except socket.gaierror as exc:
            status, error = "unresolved", f"DNS lookup of {target} failed: {exc}"
    else:
        raise ToolValidationError(f"Invalid check_type: {kind} (tcp, http, https, dns)")
    return ok("check", {"target": target, "check_type": kind, "available": available,
                        "response_time_ms": int((time.perf_counter() - started) * 1000),
                        "status": status, "error": error, "metadata": meta,
                        "timeout_seconds": timeout})


SERVICE_CHECKER = ToolSpec(
    name="service_checker", category="system", security_level="restricted",
    tags=("network",),
    description="Check whether a TCP port, HTTP(S) endpoint or DNS name is reachable "
                "(allowed hosts and ports only)",
    params=[
        Param("target", "string", "host:port (tcp), URL (http/https) or hostname (dns)",
              required=True),
        Param("check_type", "string", "tcp | http | https | dns", required=True),
        Param("timeout_seconds", "number", "At most 30", default=5),
    ],
    execute=_service_checker,
)


# -- system_monitor -------------------------------------------------------------------

def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"


def _system_monitor(ctx: ToolContext, p: Params) -> ToolOutput:
    import psutil

    op = p.str("operation", "all")
    if op == "stats":
        op = "all"
    if op not in ("cpu", "memory", "disk", "all"):
        raise ToolValidationError(f"Invalid operation: {op} (cpu, memory, disk, all)")
    result: dict[str, Any] = {}
    if op in ("cpu", "all"):
        load = list(os.getloadavg()) if hasattr(os, "getloadavg") else [0.0, 0.0, 0.0]
        result.update(cpu_usage_percent=psutil.cpu_percent(interval=0.1),
                      cpu_count=psutil.cpu_count() or 1, load_average=load)
    if op in ("memory", "all"):
        vm = psutil.virtual_memory()
        result.update(total_memory_bytes=vm.total, used_memory_bytes=vm.used,
                      available_memory_bytes=vm.available, memory_usage_percent=vm.percent)
        formatted = {"total_memory": _fmt_bytes(vm.total), "used_memory": _fmt_bytes(vm.used),
                     "available_memory": _fmt_bytes(vm.available)}
        if op == "memory":
            result.update({f"{k}_formatted": v for k, v in formatted.items()})
        else:
            result["formatted"] = formatted
    if op in ("disk", "all"):
        disks: dict[str, Any] = {}
        for part in psutil.disk_partitions(all=False):
            try:
                u = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue
            disks[part.mountpoint] = {"total_bytes": u.total, "available_bytes": u.free,
                                      "used_bytes": u.used, "usage_percent": u.percent,
                                      "filesystem": part.fstype}
        if not disks:
            u = psutil.disk_usage("/")
            disks["/"] = {"total_bytes": u.total, "available_bytes": u.free,
                          "used_bytes": u.used, "usage_percent": u.percent,
                          "filesystem": None}
        result["disk_usage"] = disks
    if op == "all":
        result.update(process_count=len(psutil.pids()),
                      uptime_seconds=int(time.time() - psutil.boot_time()))
    if op == "cpu":
        message = f"CPU usage: {result['cpu_usage_percent']:.1f}% ({result['cpu_count']} cores)"
    elif op == "memory":
        message = (f"Memory usage: {result['memory_usage_percent']:.1f}% "
                   f"({_fmt_bytes(result['used_memory_bytes'])} / "
                   f"{_fmt_bytes(result['total_memory_bytes'])} used)")
    elif op == "disk":
        message = f"Disk usage for {len(result['disk_usage'])} mount points collected"
    else:
        message = (f"System stats: CPU {result['cpu_usage_percent']:.1f}%, Memory "
                   f"{result['memory_usage_percent']:.1f}% "
                   f"({_fmt_bytes(result['used_memory_bytes'])}/"
                   f"{_fmt_bytes(result['total_memory_bytes'])}), "
                   f"{len(result['disk_usage'])} disks, {result['process_count']} processes")
    return ok(op, result, message)


SYSTEM_MONITOR = ToolSpec(
    name="system_monitor", category="system",
    description="Report CPU, memory, disk usage, process count and uptime",
    params=[Param("operation", "string", "cpu | memory | disk | all", default="all")],
    execute=_system_monitor,
)

TOOLS: list[ToolSpec] = [ENVIRONMENT_READER, PROCESS_EXECUTOR, SERVICE_CHECKER, SYSTEM_MONITOR]
