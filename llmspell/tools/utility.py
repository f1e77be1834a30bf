"""Utility tools: uuid_generator, base64_encoder, hash_calculator, text_manipulator,
calculator, date_time_handler, diff_calculator, data_validation, template_engine,
citation-formatter."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from .. import secret_filter
from ..jsonutil import json_type
from .errors import SecurityViolation, ToolError, ToolValidationError
from .registry import ToolOutput, ToolSpec, envelope, json_output, ok, wrapped_ok
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext

# llmspell's fixed namespaces for deterministic ids (upstream id_generator.rs)
NAMESPACE_AGENT = uuid.UUID("6ba13d5a-3f5d-4a5b-9f7e-3d5a2f4d3a2b")
NAMESPACE_TOOL = uuid.UUID("7cb24e6b-4f6e-5b6c-af8f-4e6b3f5e4b3c")
NAMESPACE_WORKFLOW = uuid.UUID("8dc35f7c-5f7f-6c7d-bf9f-5f7c4f6f5c4d")
_LLMSPELL_NAMESPACES = {"agent": NAMESPACE_AGENT, "tool": NAMESPACE_TOOL,
                        "workflow": NAMESPACE_WORKFLOW}
_STD_NAMESPACES = {"dns": uuid.NAMESPACE_DNS, "url": uuid.NAMESPACE_URL,
                   "oid": uuid.NAMESPACE_OID, "x500": uuid.NAMESPACE_X500}


def _format_uuid(u: uuid.UUID, fmt: str) -> tuple[str, str]:
    if fmt in ("standard", "hyphenated"):
        return str(u), "hyphenated"
    if fmt == "simple":
        return u.hex, "simple"
    if fmt == "urn":
        return u.urn, "urn"
    if fmt == "braced":
        return "{" + str(u) + "}", "braced"
    raise ToolValidationError(f"Invalid format: {fmt}")


def _uuid_generate(p: Params) -> ToolOutput:
    version = p.str("version", "v4")
    fmt = p.str("format", "hyphenated")
    if version in ("v4", "4"):
        u, label = uuid.uuid4(), "v4"
    elif version in ("v1", "1"):
        u, label = uuid.uuid1(), "v1"
    elif version in ("v5", "5"):
        ns_name = p.str("namespace", "dns")
        name = p.str("name", required=True)
        ns = _STD_NAMESPACES.get(ns_name) or _LLMSPELL_NAMESPACES.get(ns_name)
        if ns is None:
            try:
                ns = uuid.UUID(ns_name)
            except ValueError:
                raise ToolValidationError(f"Invalid namespace: {ns_name}") from None
        u, label = uuid.uuid5(ns, name), "v5"
    else:
        raise ToolValidationError(f"Unsupported UUID version: {version}")
    text, fmt_label = _format_uuid(u, fmt)
    return ok("generate", {"uuid": text, "version": label, "format": fmt_label},
              "UUID generated successfully")


def _uuid_execute(ctx: Any, p: Params) -> ToolOutput:
    op = p.str("operation", "generate")
    if op == "generate":
        return _uuid_generate(p)
    if op == "component_id":
        prefix = p.str("prefix", "component")
        short = p.bool("short", False)
        u = str(uuid.uuid4())
        return ok("component_id", {"id": f"{prefix}_{u[:8] if short else u}",
                                   "prefix": prefix, "short": short},
                  "Component ID generated successfully")
    if op == "deterministic":
        ns_name = p.str("namespace", "agent")
        name = p.str("name", required=True)
        if ns_name not in _LLMSPELL_NAMESPACES:
            ns_name = "agent"
        u = uuid.uuid5(_LLMSPELL_NAMESPACES[ns_name], name)
        return ok("deterministic", {"id": str(u), "namespace": ns_name, "name": name},
                  "Deterministic ID generated successfully")
    if op == "custom":
        parts: list[str] = []
        if p.str("prefix"):
            parts.append(p.str("prefix"))
        stamp = p.bool("timestamp", False)
        if stamp:
            parts.append(str(int(time.time())))
        short = p.bool("short", False)
        u = str(uuid.uuid4())
        parts.append(u[:8] if short else u)
        if p.str("suffix"):
            parts.append(p.str("suffix"))
        return ok("custom", {"id": "_".join(parts), "timestamp": stamp, "short": short},
                  "Custom ID generated successfully")
    if op == "validate":
        text = p.str("uuid", required=True)
        try:
            u = uuid.UUID(text.strip())
        except ValueError:
            return json_output({"valid": False, "error": "Invalid UUID format"})
        variant = {uuid.RFC_4122: "RFC4122", uuid.RESERVED_NCS: "NCS",
                   uuid.RESERVED_MICROSOFT: "Microsoft",
                   uuid.RESERVED_FUTURE: "Future"}.get(u.variant, "Unknown")
        version = f"v{u.version}" if u.version is not None else "unknown"
        if u.int == 0:
            version = "nil"
        return json_output({"valid": True, "uuid": str(u), "version": version,
                            "variant": variant})
    raise ToolValidationError(f"Invalid operation: {op}")


UUID_GENERATOR = ToolSpec(
    name="uuid_generator",
    category="utility",
    description="Generate UUIDs (v1, v4, v5), component ids, deterministic and custom ids, "
                "and validate UUID strings",
    params=[
        Param("operation", "string", "generate | component_id | deterministic | custom | "
              "validate", default="generate"),
        Param("version", "string", "UUID version for generate: v1, v4 or v5", default="v4"),
        Param("namespace", "string", "v5/deterministic namespace: dns, url, oid, x500, agent, "
              "tool, workflow or a UUID"),
        Param("name", "string", "Name hashed by v5 and deterministic ids"),
        Param("format", "string", "hyphenated | simple | urn | braced", default="hyphenated"),
        Param("prefix", "string", "Prefix for component_id and custom ids"),
        Param("short", "boolean", "Use 8 hex characters instead of a full UUID", default=False),
        Param("timestamp", "boolean", "custom: insert the Unix time", default=False),
        Param("suffix", "string", "custom: suffix"),
        Param("uuid", "string", "validate: the UUID string to check"),
    ],
    execute=_uuid_execute,
)



# -- base64_encoder -------------------------------------------------------------------

def _refuse_secrets(data: bytes, path: str | None) -> None:
    """A file holding a known secret (a key of the user's environment or config) is not
    re-encoded: the secret filter hides it in results only where it appears as is."""
    from ..secret_filter import contains_secret

    if contains_secret(data):
        raise SecurityViolation(f"File '{path}' contains a secret value (a key from the "
                                "environment or config); it is not encoded")


def _base64(ctx: ToolContext, p: Params) -> ToolOutput:
    import base64
    import binascii

    op = p.req_str("operation")
    if op not in ("encode", "decode"):
        raise ToolValidationError(f"Invalid operation: {op}. Use 'encode' or 'decode'")
    variant = p.str("variant", "standard")
    if variant not in ("standard", "url-safe", "url_safe", "urlsafe"):
        raise ToolValidationError(f"Invalid variant: {variant}")
    url_safe = variant != "standard"
    binary_input = p.bool("binary_input", False)
    if "input_file" in p:
        data = ctx.guard.read_bytes(p.str("input_file"), "input_file")
        _refuse_secrets(data, p.str("input_file"))
    elif "input" in p:
        text = p.str("input")
        if binary_input and op == "encode":
            try:
                data = bytes.fromhex(text)
            except ValueError:
                raise ToolValidationError("Invalid hex input") from None
        else:
            data = text.encode("utf-8")
    else:
        raise ToolValidationError("Either 'input' or 'input_file' must be provided")
    if op == "encode":
        out_bytes = (base64.urlsafe_b64encode if url_safe else base64.b64encode)(data)
        output, binary = out_bytes.decode("ascii"), False
    else:
        raw = data.strip()
        if url_safe:
            raw = raw.rstrip(b"=")
            raw += b"=" * (-len(raw) % 4)
        try:
            out_bytes = (base64.urlsafe_b64decode(raw) if url_safe
                         else base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ToolError(f"Invalid base64 input: {exc}") from None
        try:
            output, binary = out_bytes.decode("utf-8"), False
        except UnicodeDecodeError:
            output, binary = out_bytes.hex(), True
    shown_variant = "url-safe" if url_safe else "standard"
    if "output_file" in p:
        target = ctx.guard.check(p.str("output_file"), "output_file")
        payload = out_bytes
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        env = envelope(op, message=f"Base64 {op} completed successfully",
                       metadata={"variant": shown_variant, "file_path": p.str("output_file"),
                                 "file_size": len(payload)})
        return json_output(env)
    return ok(op, {"output": output, "variant": shown_variant, "binary": binary},
              f"Base64 {op} completed")


BASE64_ENCODER = ToolSpec(
    name="base64_encoder", category="utility",
    description="Base64 encode and decode text, hex bytes or files (standard or url-safe)",
    params=[
        Param("operation", "string", "encode | decode", required=True),
        Param("variant", "string", "standard | url-safe", default="standard"),
        Param("input", "string", "Text to encode or base64 to decode (hex if binary_input)"),
        Param("input_file", "string", "Read the input from this file (sandboxed)"),
        Param("output_file", "string", "Write the output bytes to this file (sandboxed)"),
        Param("binary_input", "boolean", "Treat input as hex-encoded bytes", default=False),
    ],
    execute=_base64,
)


# -- hash_calculator ------------------------------------------------------------------

_HASHES = {"md5": ("md5", "MD5"), "sha1": ("sha1", "SHA-1"), "sha-1": ("sha1", "SHA-1"),
           "sha256": ("sha256", "SHA-256"), "sha-256": ("sha256", "SHA-256"),
           "sha512": ("sha512", "SHA-512"), "sha-512": ("sha512", "SHA-512")}
HASH_FILE_LIMIT = 100 * 1024 * 1024


def _hash(ctx: ToolContext, p: Params) -> ToolOutput:
    import base64
    import binascii
    import hashlib
    import hmac

    op = p.req_str("operation")
    if op not in ("hash", "verify"):
        raise ToolValidationError(f"Invalid operation: {op}")
    algo, label = _HASHES.get(p.str("algorithm", "sha256").lower(), ("sha256", "SHA-256"))
    input_type = p.str("input_type", "string")
    if input_type == "file":
        data = ctx.guard.read_bytes(p.req_str("file"), "file", HASH_FILE_LIMIT)
    elif input_type == "string":
        data = p.req_str("input").encode("utf-8")
    else:
        raise ToolValidationError(f"Invalid input_type: {input_type}")
    digest = hashlib.new(algo, data).digest()
    if op == "hash":
        fmt = p.str("format", "hex")
        if fmt not in ("hex", "base64"):
            raise ToolValidationError(f"Invalid format: {fmt}")
        text = digest.hex() if fmt == "hex" else base64.b64encode(digest).decode()
        return ok("hash", {"algorithm": label, "hash": text, "format": fmt},
                  f"Calculated {label.upper()} hash")
    expected_text = p.req_str("expected_hash")
    expected_fmt = p.str("expected_format", "hex")
    try:
        expected = (bytes.fromhex(expected_text) if expected_fmt == "hex"
                    else base64.b64decode(expected_text, validate=True))
    except (ValueError, binascii.Error):
        raise ToolValidationError(f"Malformed expected hash ({expected_fmt})") from None
    if hmac.compare_digest(expected, digest):
        return ok("verify", {"verified": True, "algorithm": label},
                  "Hash verification successful")
    actual = digest.hex() if expected_fmt == "hex" else base64.b64encode(digest).decode()
    return ok("verify", {"verified": False, "algorithm": label, "expected": expected_text,
                         "actual": actual}, "Hash verification failed")


HASH_CALCULATOR = ToolSpec(
    name="hash_calculator", category="utility", security_level="restricted",
    description="Compute or verify MD5, SHA-1, SHA-256 and SHA-512 hashes of text or files",
    params=[
        Param("operation", "string", "hash | verify", required=True),
        Param("algorithm", "string", "md5 | sha1 | sha256 | sha512", default="sha256"),
        Param("input_type", "string", "string | file", default="string"),
        Param("input", "string", "Text to hash (input_type=string)"),
        Param("file", "string", "File to hash (input_type=file, sandboxed, max 100 MB)"),
        Param("format", "string", "hex | base64", default="hex"),
        Param("expected_hash", "string", "verify: the expected hash"),
        Param("expected_format", "string", "hex | base64", default="hex"),
    ],
    execute=_hash,
)


# -- text_manipulator -----------------------------------------------------------------

def _words(text: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _opt_int(options: dict[str, Any], name: str, default: int | None = None) -> int:
    value = options.get(name, default)
    if value is None:
        raise ToolValidationError(f"Missing required option '{name}'")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolValidationError(f"Option '{name}' must be a number")
    return int(value)


TEXT_RESULT_LIMIT = 16 * 1024 * 1024


def _check_text_size(size: int) -> None:
    """Refuse an operation whose result would be huge, before building it."""
    if size > TEXT_RESULT_LIMIT:
        raise ToolValidationError(f"The result would be {size} characters (limit "
                                  f"{TEXT_RESULT_LIMIT})")


def _text(ctx: ToolContext, p: Params) -> ToolOutput:
    import textwrap
    import unicodedata

    text = p.req_str("input")
    op = p.req_str("operation")
    options = p.obj("options", {})
    if op == "uppercase":
        out = text.upper()
    elif op == "lowercase":
        out = text.lower()
    elif op == "reverse":
        out = text[::-1]
    elif op == "trim":
        out = text.strip()
    elif op == "replace":
        if "from" not in options or "to" not in options:
            raise ToolValidationError("Replace operation requires 'from' and 'to' options")
        old, new = str(options["from"]), str(options["to"])
        hits = len(text) + 1 if old == "" else text.count(old)
        _check_text_size(len(text) + hits * (len(new) - len(old)))
        out = text.replace(old, new)
    elif op == "substring":
        start, end = _opt_int(options, "start"), _opt_int(options, "end")
        out = text[start:end]
    elif op == "split":
        out = json.dumps(text.split(str(options.get("delimiter", " "))), ensure_ascii=False,
                         separators=(",", ":"))
    elif op == "join":
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ToolValidationError("Join operation requires a JSON array as input") from None
        if not isinstance(items, list):
            raise ToolValidationError("Join operation requires a JSON array as input")
        delimiter = str(options.get("delimiter", " "))
        _check_text_size(len(text) + len(delimiter) * len(items))
        out = delimiter.join(x if isinstance(x, str) else json.dumps(x) for x in items)
    elif op == "snake_case":
        out = "_".join(w.lower() for w in _words(text))
    elif op == "camel_case":
        words = _words(text)
        out = (words[0].lower() + "".join(w.capitalize() for w in words[1:])) if words else ""
    elif op == "pascal_case":
        out = "".join(w.capitalize() for w in _words(text))
    elif op == "sanitize":
        out = "".join(ch for ch in text if ch in "\n\t" or
                      not unicodedata.category(ch).startswith("C"))
    elif op == "truncate":
        limit = _opt_int(options, "max_length", 100)
        out = text if len(text) <= limit else text[:max(0, limit - 3)] + "..."
    elif op == "indent":
        spaces = max(0, _opt_int(options, "spaces", 4))
        _check_text_size(len(text) + spaces * (text.count("\n") + 1))
        out = textwrap.indent(text, " " * spaces)
    elif op == "dedent":
        out = textwrap.dedent(text)
    elif op == "normalize_whitespace":
        out = " ".join(text.split())
    elif op == "word_wrap":
        out = textwrap.fill(text, width=max(1, _opt_int(options, "width", 80)))
    else:
        raise ToolValidationError(f"Invalid operation: {op}")
    return ok(op, {"result": out, "operation": op, "original_length": len(text),
                   "result_length": len(out)}, f"Text {op} operation completed")


TEXT_MANIPULATOR = ToolSpec(
    name="text_manipulator", category="utility",
    description="Text operations: uppercase, lowercase, reverse, trim, replace, substring, "
                "split, join, snake/camel/pascal case, sanitize, truncate, indent, dedent, "
                "normalize_whitespace, word_wrap",
    params=[
        Param("input", "string", "The text", required=True),
        Param("operation", "string", "The operation to apply", required=True),
        Param("options", "object", "Operation options (from/to, start/end, delimiter, "
              "max_length, spaces, width)"),
    ],
    execute=_text,
)


# -- calculator -----------------------------------------------------------------------

def _number_out(value: float) -> tuple[Any, str]:
    if value != value:
        return "NaN", "special"
    if value in (math.inf, -math.inf):
        return ("Infinity" if value > 0 else "-Infinity"), "special"
    return value, "float"


def _calculator(ctx: ToolContext, p: Params) -> ToolOutput:
    from .calc import FUNCTION_GROUPS, CalcError, evaluate

    started = time.perf_counter()
    op = p.data.get("operation") or "evaluate"
    usage = lambda: {"memory_bytes": 0, "operations_count": 1,  # noqa: E731
                     "cpu_time_ms": int((time.perf_counter() - started) * 1000)}

    def fail(message: str) -> ToolOutput:
        return json_output(envelope("evaluate", success=False, error=message))

    if op == "functions":
        return ok("functions", FUNCTION_GROUPS, "Available functions and operators",
                  resource_usage=usage())
    if op not in ("evaluate", "validate"):
        return fail(f"Unknown operation: {op}")
    expr = p.data.get("input")
    if not isinstance(expr, str) or not expr.strip():
        return fail("Missing required parameter 'input'")
    raw_vars = p.data.get("variables") or {}
    variables = {k: float(v) for k, v in raw_vars.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)} \
        if isinstance(raw_vars, dict) else {}
    try:
        value = evaluate(expr, variables)
    except CalcError as exc:
        if op == "validate":
            return ok("validate", {"input": expr, "valid": False, "error": str(exc)},
                      "Expression validation failed", resource_usage=usage())
        return fail(f"Invalid expression: {exc}")
    if op == "validate":
        return ok("validate", {"input": expr, "valid": True}, "Expression is valid",
                  resource_usage=usage())
    result, kind = _number_out(value)
    return ok("evaluate", {"input": expr, "result": result, "result_type": kind,
                           "variables": raw_vars if isinstance(raw_vars, dict) else {}},
              "Expression evaluated successfully", resource_usage=usage())


CALCULATOR = ToolSpec(
    name="calculator", category="utility",
    description="Evaluate arithmetic expressions safely (operators, comparisons, logic, "
                "math functions, variables) without code execution",
    params=[
        Param("operation", "string", "evaluate | validate | functions", default="evaluate"),
        Param("input", "string", "The expression, e.g. '2 + 3 * x'"),
        Param("variables", "object", "Numeric variables by name", default={}),
    ],
    execute=_calculator,
)


# -- citation-formatter ---------------------------------------------------------------

STYLES = {
    "author_date": ["apa", "chicago-author-date", "harvard"],
    "numeric": ["ieee", "nature", "vancouver"],
    "note_bibliography": ["chicago-fullnote-bibliography", "mla"],
}


def _citations(ctx: ToolContext, p: Params) -> ToolOutput:
    from .citations import BIBTEX_SECONDS, format_entries, parse_bibliography

    op = p.str("operation", "format_citation")
    if op == "list_styles":
        return wrapped_ok("citation-formatter", op, {
            "supported_styles": [s for group in STYLES.values() for s in group],
            "total_available": len([s for g in STYLES.values() for s in g]),
            "categories": STYLES,
            "note": "Styles are rendered by llmspell's built-in formatter"})
    if op not in ("format_citation", "validate_bibliography"):
        raise ToolValidationError(f"Unsupported operation: {op}")
    text = p.req_str("input")
    fmt = p.str("format", "yaml")
    if len(text) > 5_000_000:
        raise ToolValidationError("Bibliography too large (max 5 MB)")
    entries = parse_bibliography(text, fmt, ctx.timeout(BIBTEX_SECONDS), ctx.stopped)
    if op == "validate_bibliography":
        results = []
        for e in entries:
            issues = [f"missing field '{f}'" for f in ("title", "author", "year")
                      if not e.get(f)]
            results.append({"key": e["key"], "valid": not issues, "issues": issues,
                            "entry_type": e.get("type", "article").capitalize()})
        return wrapped_ok("citation-formatter", op, {
            "format": fmt, "total_entries": len(results),
            "valid_entries": sum(r["valid"] for r in results),
            "warnings": sum(len(r["issues"]) for r in results),
            "validation_results": results})
    style = p.str("style", "apa").lower()
    if style not in [s for g in STYLES.values() for s in g]:
        raise ToolValidationError(f"Unsupported style: {style}")
    keys = p.str_list("cite_keys", None)
    chosen = entries if not keys else [e for e in entries if e["key"] in keys]
    missing = [k for k in (keys or []) if k not in {e["key"] for e in entries}]
    if missing:
        raise ToolValidationError(f"Unknown citation key(s): {', '.join(missing)}")
    citations, references = format_entries(chosen, style)
    return wrapped_ok("citation-formatter", op, {
        "style": style, "format": fmt, "citations": citations,
        "reference_list": references, "entry_count": len(chosen)})


CITATION_FORMATTER = ToolSpec(
    name="citation-formatter", category="utility",
    description="Format and validate bibliographies (YAML or BibTeX) in APA, MLA, Chicago, "
                "Harvard, IEEE, Nature or Vancouver style",
    params=[
        Param("operation", "string", "format_citation | validate_bibliography | list_styles",
              default="format_citation"),
        Param("input", "string", "Bibliography text"),
        Param("format", "string", "yaml | bibtex", default="yaml"),
        Param("style", "string", "Citation style", default="apa"),
        Param("cite_keys", "string", "Comma-separated keys to cite (default: all)"),
    ],
    execute=_citations,
)


# -- date_time_handler ----------------------------------------------------------------

_UNITS = {"seconds": 1, "second": 1, "minutes": 60, "minute": 60, "hours": 3600, "hour": 3600,
          "days": 86400, "day": 86400, "weeks": 604800, "week": 604800}


def _strftime(fmt: str) -> str:
    """Accept chrono's ``%.f`` / ``%.3f`` (fractional seconds) besides Python's codes."""
    return fmt.replace("%.3f", ".%f").replace("%.6f", ".%f").replace("%.f", ".%f")


def _render(dt: Any, fmt: str) -> str:
    text = dt.strftime(_strftime(fmt))
    if "%.3f" in fmt:
        text = re.sub(r"\.(\d{3})\d{3}", r".\1", text)
    return text


def _parse_date(text: Any) -> tuple[Any, str]:
    from datetime import UTC, datetime

    from dateutil import parser as dparser

    if isinstance(text, int | float) and not isinstance(text, bool):
        return datetime.fromtimestamp(float(text), tz=UTC), "unix_timestamp"
    if not isinstance(text, str) or not text.strip():
        raise ToolValidationError("Missing required parameter 'input'")
    s = text.strip()
    if re.fullmatch(r"-?\d{9,11}(\.\d+)?", s):
        return datetime.fromtimestamp(float(s), tz=UTC), "unix_timestamp"
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC) \
            if ("T" in s or "+" in s[10:] or s.endswith("Z")) else \
            _naive_utc(datetime.fromisoformat(s)), "iso8601"
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(s).astimezone(UTC), "rfc2822"
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return _naive_utc(dparser.parse(s)), "flexible"
    except (ValueError, OverflowError) as exc:
        raise ToolError(f"Failed to parse date: {s}: {exc}") from None


def _naive_utc(dt: Any) -> Any:
    from datetime import UTC

    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.upper() == "UTC":
        from datetime import UTC

        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolValidationError(f"Invalid timezone: {name[:100]}") from None


def _human(seconds: float) -> str:
    total = int(abs(seconds))
    parts = []
    for label, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n} {label}{'s' if n != 1 else ''}")
    text = ", ".join(parts) or "0 seconds"
    return text + (" ago" if seconds < 0 else "")


def _datetime(ctx: ToolContext, p: Params) -> ToolOutput:
    import calendar
    from datetime import UTC, datetime, timedelta

    op = p.req_str("operation")
    default_fmt = "%Y-%m-%dT%H:%M:%S%.fZ"
    if op == "now":
        tz = p.str("timezone")
        now = datetime.now(_zone(tz)) if tz else datetime.now().astimezone()
        fmt = p.str("format", default_fmt)
        return ok("now", {"timezone": tz or "local", "datetime": _render(now, fmt),
                          "format": fmt}, "Current time retrieved")
    if op == "formats":
        return ok("formats", {
            "available_formats": ["ISO 8601 / RFC 3339", "RFC 2822", "Unix timestamp",
                                  "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS", "MM/DD/YYYY",
                                  "DD.MM.YYYY", "Month D, YYYY", "D Month YYYY"],
            "example_formats": {"ISO8601": "2024-01-15T10:30:00Z",
                                "RFC3339": "2024-01-15T10:30:00+00:00",
                                "RFC2822": "Mon, 15 Jan 2024 10:30:00 +0000",
                                "Unix timestamp": "1705314600",
                                "Human readable": "January 15, 2024 10:30 AM",
                                "Date only": "2024-01-15", "Time only": "10:30:00"}},
                  "Available date formats")
    if op == "difference":
        start, _ = _parse_date(p.require("start"))
        end, _ = _parse_date(p.require("end"))
        secs = (end - start).total_seconds()
        return ok("difference", {"start": p.require("start"), "end": p.require("end"),
                                 "difference": {"total_seconds": secs,
                                                "days": int(secs // 86400) if secs >= 0
                                                else -int(-secs // 86400),
                                                "hours": int(secs / 3600),
                                                "minutes": int(secs / 60),
                                                "human_readable": _human(secs)}},
                  "Date difference calculated")
    raw = p.require("input")
    dt, used = _parse_date(raw)
    if op == "parse":
        return ok("parse", {"input": raw, "parsed": {
            "utc": dt.isoformat().replace("+00:00", "Z"), "timestamp": int(dt.timestamp()),
            "year": dt.year, "month": dt.month, "day": dt.day, "hour": dt.hour,
            "minute": dt.minute, "second": dt.second, "weekday": dt.strftime("%A")},
            "format_used": used}, "Date parsed successfully")
    if op == "convert_timezone":
        target = p.req_str("target_timezone")
        converted = dt.astimezone(_zone(target))
        fmt = p.str("format", "%Y-%m-%d %H:%M:%S %Z")
        return ok("convert_timezone", {"input": raw, "target_timezone": target,
                                       "original": dt.isoformat(),
                                       "converted": _render(converted, fmt)},
                  "Timezone converted successfully")
    if op in ("add", "subtract"):
        amount = p.int("amount", required=True)
        unit = p.str("unit", "days")
        if unit not in _UNITS:
            raise ToolValidationError(f"Invalid unit: {unit} (seconds, minutes, hours, days, "
                                      "weeks)")
        delta = timedelta(seconds=amount * _UNITS[unit])
        result = dt + delta if op == "add" else dt - delta
        fmt = p.str("format", default_fmt)
        return ok(op, {"input": raw, "amount": amount, "unit": unit,
                       "original": _render(dt, fmt), "result": _render(result, fmt)},
                  f"{op} operation completed")
    if op == "info":
        days_in_month = calendar.monthrange(dt.year, dt.month)[1]
        start = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        return ok("info", {"input": raw, "info": {
            "year": dt.year, "month": dt.month, "day": dt.day, "hour": dt.hour,
            "minute": dt.minute, "second": dt.second, "weekday": dt.strftime("%A"),
            "day_of_year": dt.timetuple().tm_yday, "week_of_year": dt.isocalendar()[1],
            "is_leap_year": calendar.isleap(dt.year), "days_in_month": days_in_month,
            "start_of_day": start.isoformat().replace("+00:00", "Z"),
            "end_of_day": (start + timedelta(days=1, microseconds=-1))
            .astimezone(UTC).isoformat().replace("+00:00", "Z")}},
                  "Date information retrieved")
    raise ToolValidationError(f"Invalid operation: {op}")


DATE_TIME_HANDLER = ToolSpec(
    name="date_time_handler", category="utility",
    description="Parse dates, get the current time, convert time zones, add/subtract "
                "durations, compute differences and date info",
    params=[
        Param("operation", "string", "parse | now | convert_timezone | add | subtract | "
              "difference | info | formats", required=True),
        Param("input", "string", "A date: ISO 8601, RFC 2822, common formats or a Unix time"),
        Param("timezone", "string", "IANA zone for now (default: local time)"),
        Param("target_timezone", "string", "IANA zone for convert_timezone"),
        Param("amount", "integer", "Amount for add/subtract"),
        Param("unit", "string", "seconds | minutes | hours | days | weeks", default="days"),
        Param("start", "string", "difference: start date"),
        Param("end", "string", "difference: end date"),
        Param("format", "string", "strftime output format"),
    ],
    execute=_datetime,
)


# -- diff_calculator ------------------------------------------------------------------

def _json_diff(old: Any, new: Any, path: str, acc: dict[str, Any]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                acc["removed"][sub] = old[key]
            else:
                _json_diff(old[key], new[key], sub, acc)
        for key in new:
            if key not in old:
                acc["added"][f"{path}.{key}" if path else str(key)] = new[key]
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            sub = f"{path}[{i}]"
            if i >= len(new):
                acc["removed"][sub] = old[i]
            elif i >= len(old):
                acc["added"][sub] = new[i]
            else:
                _json_diff(old[i], new[i], sub, acc)
    elif old == new and type(old) is type(new):
        acc["unchanged"].append(path or "$")
    else:
        acc["modified"][path or "$"] = {"old": old, "new": new}


DIFF_SECONDS = 10.0
DIFF_OUTPUT_LIMIT = 16 * 1024 * 1024


def _diff(ctx: ToolContext, p: Params) -> ToolOutput:
    kind = p.str("type", "text")
    if kind == "json":
        def load(name: str) -> Any:
            if f"{name}_file" in p:
                try:
                    return json.loads(ctx.guard.read_text(p.str(f"{name}_file"), f"{name}_file"))
                except json.JSONDecodeError as exc:
                    raise ToolValidationError(f"{name}_file is not JSON: {exc}") from None
            value = p.data.get(f"{name}_json")
            if value is None:
                raise ToolValidationError(f"Missing required parameter '{name}_json'")
            return value
        acc: dict[str, Any] = {"added": {}, "removed": {}, "modified": {}, "unchanged": []}
        _json_diff(load("old"), load("new"), "", acc)
        return ok("json_diff", {"type": "json", "diff": acc, "summary": {
            k: len(v) for k, v in acc.items()}}, "JSON diff calculated successfully")
    if kind != "text":
        raise ToolValidationError(f"Invalid diff type: {kind} (text or json)")

    def text_of(name: str) -> str:
        if f"{name}_file" in p:
            return ctx.guard.read_text(p.str(f"{name}_file"), f"{name}_file")
        return p.str(f"{name}_text", required=True)

    from . import isolated

    old, new = text_of("old"), text_of("new")
    fmt = p.str("format", "unified")
    if fmt not in ("unified", "context", "inline", "simple"):
        raise ToolValidationError(f"Invalid format: {fmt}")
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    # difflib can take hours on large unlike texts: it runs in the sandbox process
    payload = json.dumps({"old": old, "new": new}).encode()
    diff = isolated.run("diff", {"format": fmt}, payload, seconds=ctx.timeout(DIFF_SECONDS),
                        output_limit=DIFF_OUTPUT_LIMIT, what="diff", stopped=ctx.stopped,
                        startup_seconds=ctx.timeout(isolated.STARTUP_SECONDS)
                        ).decode("utf-8", "surrogatepass")
    return ok("text_diff", {"type": "text", "format": fmt, "diff": diff,
                            "stats": {"old_lines": len(a), "new_lines": len(b)}},
              "Text diff calculated successfully")


DIFF_CALCULATOR = ToolSpec(
    name="diff_calculator", category="utility",
    description="Compute differences between texts (unified, context, inline, simple) or "
                "JSON values (added, removed, modified paths)",
    params=[
        Param("type", "string", "text | json", default="text"),
        Param("old_text", "string", "Old text"), Param("new_text", "string", "New text"),
        Param("old_json", "object", "Old JSON value"),
        Param("new_json", "object", "New JSON value"),
        Param("old_file", "string", "Old file (sandboxed)"),
        Param("new_file", "string", "New file (sandboxed)"),
        Param("format", "string", "unified | context | inline | simple", default="unified"),
    ],
    execute=_diff,
)


# -- data_validation ------------------------------------------------------------------

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{7,20}$")


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12 or re.search(r"[^0-9 \-]", number):
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return total % 10 == 0



def _check_rules(value: Any, rules: Any, field: str, errors: list[dict[str, Any]]) -> None:
    from datetime import datetime
    from urllib.parse import urlparse

    if isinstance(rules, dict):
        rules = rules.get("rules", [])
    if not isinstance(rules, list):
        raise ToolValidationError("rules must be {rules = [...]} or an array of rules")

    def err(rule: str, message: str) -> None:
        if len(errors) < 100:
            errors.append({"field": field, "value": value, "rule": rule, "message": message})

    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("type"), str):
            raise ToolValidationError(f"Malformed rule: {rule!r} (each rule needs a 'type')")
        kind = rule["type"]
        if kind == "required":
            if value is None or value == "":
                err(kind, "Value is required")
            continue
        if value is None:
            continue
        if kind == "type":
            expected = rule.get("expected")
            if json_type(value) != expected:
                err(kind, f"Expected type {expected}, got {json_type(value)}")
        elif kind == "length":
            if isinstance(value, str | list):
                n = len(value)
                if rule.get("min") is not None and n < rule["min"]:
                    err(kind, f"Length {n} is less than minimum {rule['min']}")
                if rule.get("max") is not None and n > rule["max"]:
                    err(kind, f"Length {n} exceeds maximum {rule['max']}")
        elif kind == "range":
            if isinstance(value, int | float) and not isinstance(value, bool):
                if rule.get("min") is not None and value < rule["min"]:
                    err(kind, f"Value {value} is less than minimum {rule['min']}")
                if rule.get("max") is not None and value > rule["max"]:
                    err(kind, f"Value {value} exceeds maximum {rule['max']}")
            else:
                err(kind, "Value is not a number")
        elif kind == "pattern":
            from .patterns import compile_pattern, search

            rx = compile_pattern(str(rule.get("regex", "")))
            if not isinstance(value, str) or not search(rx, value):
                err(kind, f"Value does not match pattern {rule.get('regex')}")
        elif kind == "enum":
            if value not in (rule.get("values") or []):
                err(kind, f"Value is not one of {rule.get('values')}")
        elif kind == "email":
            if not isinstance(value, str) or not _EMAIL.match(value):
                err(kind, "Invalid email address")
        elif kind == "url":
            parsed = urlparse(value) if isinstance(value, str) else None
            if not parsed or parsed.scheme not in ("http", "https", "ftp") or not parsed.netloc:
                err(kind, "Invalid URL")
        elif kind == "date":
            try:
                datetime.strptime(str(value), _strftime(str(rule.get("format", "%Y-%m-%d"))))
            except ValueError:
                err(kind, f"Invalid date for format {rule.get('format', '%Y-%m-%d')}")
        elif kind == "custom":
            name = rule.get("name")
            text = str(value)
            if name not in _CUSTOM:
                raise ToolValidationError(f"Unknown custom validator: {name}")
            if not _CUSTOM[name](text):
                err(kind, f"Value failed custom validation '{name}'")
        elif kind == "array":
            if not isinstance(value, list):
                err(kind, "Value is not an array")
                continue
            if rule.get("min_items") is not None and len(value) < rule["min_items"]:
                err(kind, f"Array has fewer than {rule['min_items']} items")
            if rule.get("max_items") is not None and len(value) > rule["max_items"]:
                err(kind, f"Array has more than {rule['max_items']} items")
            if rule.get("unique"):
                seen = [json.dumps(v, sort_keys=True) for v in value]
                if len(set(seen)) != len(seen):
                    err(kind, "Array items are not unique")
            if rule.get("item_rules"):
                for i, item in enumerate(value):
                    _check_rules(item, rule["item_rules"], f"{field}[{i}]", errors)
        elif kind == "object":
            if not isinstance(value, dict):
                err(kind, "Value is not an object")
                continue
            props = rule.get("properties") or {}
            for key in rule.get("required") or []:
                if key not in value:
                    errors.append({"field": f"{field}.{key}" if field else key, "value": None,
                                   "rule": "required", "message": "Required field missing"})
            if rule.get("additional_properties") is False:
                for key in value:
                    if key not in props:
                        err(kind, f"Unexpected property '{key}'")
            for key, sub in props.items():
                if key in value:
                    _check_rules(value[key], sub, f"{field}.{key}" if field else key, errors)
        else:
            raise ToolValidationError(f"Unknown rule type: {kind}")


def _custom_validators() -> dict[str, Any]:
    return {"phone": lambda t: bool(_PHONE.match(t)), "uuid": lambda t: _is_uuid(t),
            "credit_card": _luhn, "ipv4": lambda t: _is_ip(t, 4),
            "ipv6": lambda t: _is_ip(t, 6), "alphanumeric": lambda t: t.isalnum(),
            "slug": lambda t: bool(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", t))}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _is_ip(text: str, version: int) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


_CUSTOM = _custom_validators()


def _data_validation(ctx: ToolContext, p: Params) -> ToolOutput:
    if "input" not in p.data:
        raise ToolValidationError("Missing required parameter 'input'")
    rules = p.require("rules")
    errors: list[dict[str, Any]] = []
    _check_rules(p.data["input"], rules, "", errors)
    count = len(rules.get("rules", []) if isinstance(rules, dict) else rules)
    valid = not errors
    return json_output(envelope(
        "validate_data", message=f"Data validation {'passed' if valid else 'failed'}",
        result={"valid": valid, "errors": errors},
        metadata={"rule_count": count, "error_count": len(errors)}))


DATA_VALIDATION = ToolSpec(
    name="data_validation", category="utility",
    description="Validate a value against rules: required, type, length, range, pattern, "
                "enum, email, url, date, custom (phone, uuid, credit_card), array, object",
    params=[
        Param("input", "object", "The value to validate (any JSON)", required=True),
        Param("rules", "object", "{rules = [ {type = ...}, ... ]}", required=True),
    ],
    execute=_data_validation,
)


# -- template_engine ------------------------------------------------------------------

_DANGEROUS = ("system(", "exec(", "eval(", "__import__", "subprocess", "os.system",
              "__class__", "__globals__", "__builtins__", "__subclasses__", "__mro__")
TEMPLATE_LIMIT = 1024 * 1024
RENDER_LIMIT = 10 * 1024 * 1024
RENDER_SECONDS = 5.0


def _template(ctx: ToolContext, p: Params) -> ToolOutput:
    template = p.req_str("input")
    # the context is what the script passed and nothing else, secrets hidden
    context = secret_filter.scrub(p.obj("context", {}), secret_filter.current_values())
    if len(template) > TEMPLATE_LIMIT:
        raise ToolValidationError("Template too large (max 1 MB)")
    payload = json.dumps(context, default=str).encode("utf-8", "surrogatepass")
    if len(payload) > 10 * TEMPLATE_LIMIT:
        raise ToolValidationError("Context too large (max 10 MB)")
    for pattern in _DANGEROUS:
        if pattern in template:
            raise SecurityViolation(f"Potentially dangerous pattern detected: {pattern}")
    engine = p.str("engine")
    if engine is None:
        auto = p.bool("auto_detect", True)
        engine = "handlebars" if auto and any(
            tag in template for tag in ("{{#", "{{/", "{{>")) else "tera"
    seconds = ctx.timeout(RENDER_SECONDS)
    if engine in ("handlebars", "hbs"):
        from .handlebars import HandlebarsError, render

        try:
            rendered = render(template, context, limit=RENDER_LIMIT,
                              deadline=time.monotonic() + seconds)
        except HandlebarsError as exc:
            raise ToolError(f"Template render error: {exc}") from None
        engine = "handlebars"
    elif engine in ("tera", "jinja", "jinja2"):
        from . import isolated

        # Jinja's sandbox, in the sandbox process: capped arithmetic, memory and time
        rendered = isolated.run("jinja", {"template": template}, payload, seconds=seconds,
                                output_limit=RENDER_LIMIT, what="template",
                                stopped=ctx.stopped,
                                startup_seconds=ctx.timeout(isolated.STARTUP_SECONDS)
                                ).decode("utf-8", "surrogatepass")
        engine = "tera"
    else:
        raise ToolValidationError(f"Unknown template engine: {engine} (tera or handlebars)")
    return ok("render_template", {"rendered": rendered, "engine": engine,
                                  "template_length": len(template),
                                  "context_size": len(context)},
              f"Template rendered successfully using {engine} engine")


TEMPLATE_ENGINE = ToolSpec(
    name="template_engine", category="utility", security_level="restricted",
    description="Render Tera (Jinja-style) or Handlebars templates with a context, "
                "sandboxed and HTML auto-escaped",
    params=[
        Param("input", "string", "The template", required=True),
        Param("context", "object", "Template variables", default={}),
        Param("engine", "string", "tera | handlebars (default: auto-detect)"),
        Param("auto_detect", "boolean", "Pick handlebars when {{# / {{/ / {{> appear",
              default=True),
    ],
    execute=_template,
)


TOOLS: list[ToolSpec] = [
    BASE64_ENCODER, CALCULATOR, DATA_VALIDATION, DATE_TIME_HANDLER, DIFF_CALCULATOR,
    HASH_CALCULATOR, TEMPLATE_ENGINE, TEXT_MANIPULATOR, UUID_GENERATOR, CITATION_FORMATTER,
]
