"""Utility tools: uuid_generator, base64_encoder, hash_calculator, text_manipulator,
calculator, date_time_handler, diff_calculator, data_validation, template_engine,
citation-formatter."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .errors import ToolValidationError
from .registry import ToolOutput, ToolSpec, json_output, ok
from .schema import Param, Params

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
    return ok("generate", {"uuid": text, "version": label, "format": fmt_label})


def _uuid_execute(ctx: Any, p: Params) -> ToolOutput:
    op = p.str("operation", "generate")
    if op == "generate":
        return _uuid_generate(p)
    if op == "component_id":
        prefix = p.str("prefix", "component")
        short = p.bool("short", False)
        u = str(uuid.uuid4())
        return ok("component_id", {"id": f"{prefix}_{u[:8] if short else u}",
                                   "prefix": prefix, "short": short})
    if op == "deterministic":
        ns_name = p.str("namespace", "agent")
        name = p.str("name", required=True)
        if ns_name not in _LLMSPELL_NAMESPACES:
            ns_name = "agent"
        u = uuid.uuid5(_LLMSPELL_NAMESPACES[ns_name], name)
        return ok("deterministic", {"id": str(u), "namespace": ns_name, "name": name})
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
        return ok("custom", {"id": "_".join(parts), "timestamp": stamp, "short": short})
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

TOOLS: list[ToolSpec] = [UUID_GENERATOR]
