"""The tools' sandbox process: runs jq programs, Jinja templates, text diffs and JSON
Schema validation (see ``isolated.py``).

Started by ``llmspell.tools.isolated`` as ``python -I sandbox_worker.py`` with an empty
environment (so jq's ``$ENV`` and ``env`` are empty objects), in its own session (Ctrl-C
goes to llmspell, which kills this process) and with pipes for stdin/stdout. It imports
only the standard library and the libraries its requests need (``jq``, ``jinja2``,
``jsonschema``, ``bibtexparser`` through ``llmspell.tools.citations``).

Protocol: frames of a 4-byte big-endian length and bytes. First frame in: ``sys.path``
(JSON list). Then it writes a ``ready`` frame and loops: read a request (a JSON meta
frame and a payload frame), write a reply (a JSON meta frame and a body frame).

Bounds of each request: ``RLIMIT_AS`` set to the memory the request may use, and an
``alarm`` that kills this process (default SIGALRM action) if the parent has not already
done so when the time is up. A MemoryError is answered and then the process exits, so
the next request starts clean.
"""

from __future__ import annotations

import json
import math
import os
import signal
import struct
import sys
from typing import IO, Any


class Limit(Exception):
    """A cap was reached or the input was refused: the message says which."""

    kind = "error"


class Invalid(Limit):
    """The caller's input is wrong (llmspell reports a validation error)."""

    kind = "validation"


def read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(struct.pack(">I", len(data)))
    stream.write(data)


RETIRE_BYTES = 192 * 1024 * 1024  # a worker this big after a request is replaced


def address_space() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 64 * 1024 * 1024


def limit_memory(allowance: int) -> None:
    """Let this process grow by at most ``allowance`` bytes of address space."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    current = address_space()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = current + allowance
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ValueError, OSError):
        pass


# -- jq -------------------------------------------------------------------------------

_PROGRAMS: dict[str, Any] = {}


def compiled(source: str) -> Any:
    """jq compiles its whole builtin library per program (milliseconds): keep the last few."""
    import jq

    program = _PROGRAMS.get(source)
    if program is None:
        program = jq.compile(source)
        if len(_PROGRAMS) >= 64:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[source] = program
    return program


def run_jq(meta: dict[str, Any], payload: bytes) -> bytes:
    """All outputs of the program as a JSON array, within the output caps."""
    limit, max_outputs = int(meta["output_limit"]), int(meta["max_outputs"])
    try:
        program = compiled(meta["program"])
        parts: list[str] = []
        size = 2
        for item in program.input_text(payload.decode("utf-8")):
            if len(parts) >= max_outputs:
                raise Limit(f"jq program produced more than {max_outputs} outputs")
            text = json.dumps(item, ensure_ascii=False)
            size += len(text) + 1
            if size > limit:
                raise Limit(f"jq output exceeds the limit of {limit} bytes")
            parts.append(text)
    except ValueError as exc:
        raise Limit(f"jq error: {exc}") from None
    return ("[" + ",".join(parts) + "]").encode("utf-8")


# -- Jinja ----------------------------------------------------------------------------

_JINJA: list[Any] = []


def tera_value(value: Any) -> Any:
    """How a value prints in a template: JSON for tables and booleans, like Tera."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_binop(operator: str, left: Any, right: Any, limit: int) -> None:
    """Refuse ``'x' * 500000000``, ``2 ** 100000000`` and the like before computing them."""
    sized = (str, list, tuple)
    if operator == "*":
        seq, n = (left, right) if isinstance(left, sized) else (right, left)
        if isinstance(seq, sized) and isinstance(n, int) and len(seq) * n > limit:
            raise Limit(f"a value of {len(seq) * n} items exceeds the template limit of "
                        f"{limit}")
    elif operator == "+":
        if isinstance(left, sized) and isinstance(right, sized) and \
                len(left) + len(right) > limit:
            raise Limit(f"a value of {len(left) + len(right)} items exceeds the template "
                        f"limit of {limit}")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0 \
                and right * math.log2(abs(left)) > 8 * limit:
            raise Limit(f"{left} ** {right} is too large a number (limit {8 * limit} bits)")


def jinja_env(limit: int) -> Any:
    if _JINJA and _JINJA[0].value_limit == limit:
        return _JINJA[0]
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):
        """Jinja's sandbox, with arithmetic on strings, lists and numbers capped."""

        intercepted_binops = frozenset(["*", "+", "**"])
        value_limit = limit

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            check_binop(operator, left, right, self.value_limit)
            return super().call_binop(context, operator, left, right)

    env = Bounded(autoescape=True, undefined=jinja2.StrictUndefined, finalize=tera_value)
    _JINJA[:] = [env]
    return env


_TEMPLATES: dict[tuple[int, str], Any] = {}


def template(limit: int, source: str) -> Any:
    """Compiling a template costs more than rendering a small one: keep the last few."""
    key = (limit, source)
    compiled_template = _TEMPLATES.get(key)
    if compiled_template is None:
        compiled_template = jinja_env(limit).from_string(source)
        if len(_TEMPLATES) >= 64:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
        _TEMPLATES[key] = compiled_template
    return compiled_template


def render_jinja(meta: dict[str, Any], payload: bytes) -> bytes:
    import jinja2

    limit = int(meta["output_limit"])
    context = json.loads(payload)
    parts: list[str] = []
    size = 0
    try:
        for chunk in template(limit, meta["template"]).generate(**context):
            size += len(chunk)
            if size > limit:
                raise Limit(f"Rendered output exceeds the limit of {limit} characters")
            parts.append(chunk)
    except jinja2.TemplateError as exc:
        raise Limit(f"Template render error: {exc}") from None
    return "".join(parts).encode("utf-8", "surrogatepass")


# -- difflib --------------------------------------------------------------------------

def run_diff(meta: dict[str, Any], payload: bytes) -> bytes:
    """A text diff (difflib can take quadratic or worse time on unlike inputs)."""
    import difflib

    data = json.loads(payload)
    a = data["old"].splitlines(keepends=True)
    b = data["new"].splitlines(keepends=True)
    fmt, limit = meta["format"], int(meta["output_limit"])
    if fmt == "unified":
        lines = difflib.unified_diff(a, b, "old", "new")
    elif fmt == "context":
        lines = difflib.context_diff(a, b, "old", "new")
    else:
        lines = difflib.ndiff(a, b)
    parts: list[str] = []
    size = 0
    for line in lines:
        if fmt == "simple" and line[:1] not in "+-":
            continue
        size += len(line)
        if size > limit:
            raise Limit(f"the diff exceeds the limit of {limit} characters")
        parts.append(line)
    return "".join(parts).encode("utf-8", "surrogatepass")


# -- JSON Schema ----------------------------------------------------------------------

def run_validate(meta: dict[str, Any], payload: bytes) -> bytes:
    """Validate against a script's schema. Its ``pattern``s run on Python's ``re`` (which
    backtracks without limit), and ``$ref`` must never fetch anything: an empty registry
    makes every remote or file reference unresolvable."""
    import jsonschema
    import referencing
    from referencing.exceptions import Unresolvable

    data = json.loads(payload)
    schema, value = data["schema"], data["value"]
    try:
        validator = jsonschema.Draft7Validator(schema, registry=referencing.Registry())
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise Invalid(f"Invalid JSON schema: {exc.message}") from None
    limit, size = int(meta["output_limit"]), 2
    errors = []
    try:
        for e in validator.iter_errors(value):
            item = {"path": "/" + "/".join(str(x) for x in e.absolute_path),
                    "message": e.message, "keyword": e.validator}
            size += len(json.dumps(item)) + 1
            if size > limit:
                raise Limit(f"validation errors exceed the limit of {limit} bytes")
            errors.append(item)
    except Unresolvable as exc:
        raise Invalid(f"Invalid JSON schema: unresolvable reference {exc} (only references "
                      "inside the schema work)") from None
    return json.dumps(errors).encode()


# -- BibTeX ---------------------------------------------------------------------------

def run_bibtex(meta: dict[str, Any], payload: bytes) -> bytes:
    """Parse a bibliography (bibtexparser, pylatexenc: both slow on hostile input)."""
    from llmspell.tools.citations import BibTeXError, read_bibtex

    try:
        entries = read_bibtex(payload.decode("utf-8", "surrogatepass"))
    except BibTeXError as exc:
        raise Invalid(str(exc)) from None
    body = json.dumps(entries, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if len(body) > int(meta["output_limit"]):
        raise Limit(f"the parsed bibliography exceeds {meta['output_limit']} bytes")
    return body


HANDLERS = {"jq": run_jq, "jinja": render_jinja, "diff": run_diff,
            "validate": run_validate, "bibtex": run_bibtex}


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    while True:
        meta_raw = read_frame(stdin)
        payload = read_frame(stdin) if meta_raw is not None else None
        if meta_raw is None or payload is None:
            return
        meta = json.loads(meta_raw)
        limit_memory(int(meta["memory"]))
        signal.alarm(int(math.ceil(float(meta["seconds"]))) + 2)
        fatal = False
        body = b""
        try:
            body = HANDLERS[meta["op"]](meta, payload)
            reply: dict[str, Any] = {"ok": True}
        except Limit as exc:
            reply = {"ok": False, "error": str(exc), "kind": exc.kind}
        except MemoryError:
            fatal = True
            reply = {"ok": False, "memory": True}
        except RecursionError:
            reply = {"ok": False, "error": "nested too deeply"}
        except Exception as exc:  # a library's own error: one line for the script
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            signal.alarm(0)
        # memory a request left behind must not raise the next request's cap: retire
        fatal = fatal or address_space() > RETIRE_BYTES
        reply["retire"] = fatal
        write_frame(stdout, json.dumps(reply).encode())
        write_frame(stdout, body)
        stdout.flush()
        if fatal:
            return


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in list(os.environ):  # Python may have set LC_CTYPE itself (PEP 538)
        del os.environ[name]
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    paths = read_frame(stdin)
    if paths is None:
        return
    sys.path[:] = [p for p in json.loads(paths) if isinstance(p, str)]
    write_frame(stdout, b"ready")
    stdout.flush()
    serve(stdin, stdout)


if __name__ == "__main__":
    main()
