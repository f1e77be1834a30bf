"""Settings: the upstream TOML schema with defaults, discovery, env overrides, validation.

A config is a nested dict shaped like the TOML file with every default filled in.
``Settings.get("runtime.security.allow_file_access")`` reads one value; the path must be
one SCHEMA declares (a typo raises UnknownSettingError; tests/test_settings_paths.py
checks every literal path in the package), and the default lives only in SCHEMA.

Rules (see README "Configuration"):
- every section is optional; a missing key takes its default;
- a value of the wrong type, out of range (RANGES) or not among its Field's ``choices``
  is an error naming the file (or environment variable), the key and what is allowed;
- an unknown key or section is a warning naming it and the closest known key (upstream
  ignores them silently); free-form sections (FREE, OpenSection) keep any key;
- environment variables override the file (only those that are set).
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError


class Field(NamedTuple):
    """One leaf of the schema: its kind, its default (None = optional, unset) and, for a
    string naming one of a fixed set, the values it may take (checked case-insensitively
    at every load, from the file or the environment)."""

    kind: str  # int | float | bool | str | list | table | any
    default: Any = None
    choices: tuple[str, ...] = ()


FREE = Field("table", None)  # a section whose keys we accept without checking


class OpenSection(dict[str, Any]):
    """A section whose declared keys are typed and defaulted like any other, while keys it
    does not declare are accepted without a warning (upstream's free-form tool sections)."""


def _section(**fields: Any) -> dict[str, Any]:
    return fields


def _open_section(**fields: Any) -> OpenSection:
    return OpenSection(fields)


# The values of the enum-like settings, one place each (extend a backend here).
BACKENDS = ("memory", "sqlite", "postgres", "sled", "rocksdb")  # state and sessions storage
VECTOR_BACKENDS = ("hnsw", "postgres")  # rag.vector_storage.backend
ENGINES = ("lua", "javascript", "python")
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "off")
# The RAG choices, named here so that checking a config never imports the RAG code
# (rag/chunking.py uses CHUNK_STRATEGIES; rag/store.py maps HNSW_METRICS to hnswlib spaces).
CHUNK_STRATEGIES = ("sliding_window", "sentence", "semantic", "none")
HNSW_METRICS = ("cosine", "euclidean", "l2", "inner_product", "innerproduct", "ip", "dot")
SMTP_SECURITY = ("ssl", "starttls", "none")


PROVIDER_SCHEMA = _section(
    name=Field("str", ""),
    provider_type=Field("str", ""),
    enabled=Field("bool", True),
    base_url=Field("str"),
    api_key_env=Field("str"),
    api_key=Field("str"),
    default_model=Field("str"),
    model=Field("str"),
    max_tokens=Field("int"),
    timeout_seconds=Field("int"),
    max_retries=Field("int"),
    rate_limit=Field("table"),
    retry=Field("table"),
)

SCHEMA: dict[str, Any] = _section(
    default_engine=Field("str", "lua", ENGINES),
    engines=FREE,
    runtime=_section(
        max_concurrent_scripts=Field("int", 10),
        script_timeout_seconds=Field("int", 300),
        enable_streaming=Field("bool", True),
        log_level=Field("str", "info", LOG_LEVELS),
        module_paths=Field("list", []),
        security=_section(
            allow_file_access=Field("bool", False),
            allow_network_access=Field("bool", True),
            allow_process_spawn=Field("bool", False),
            max_memory_bytes=Field("int", 50_000_000),
            max_execution_time_ms=Field("int", 300_000),
            allowed_paths=Field("list", []),
        ),
        state_persistence=_section(
            enabled=Field("bool", True),
            backend_type=Field("str", "memory", BACKENDS),
            path=Field("str"),
            migration_enabled=Field("bool", False),
            backup_on_migration=Field("bool", True),
            backup_enabled=Field("bool", False),
            schema_directory=Field("str"),
            max_state_size_bytes=Field("int", 10_000_000),
            backup=_open_section(
                backup_dir=Field("str"),  # unset: the data folder's backups/
                compression_enabled=Field("bool", True),
                compression_level=Field("int", 6),
                max_backups=Field("int", 10),
                max_backup_age_days=Field("float"),
                incremental_enabled=Field("bool"),
            ),
        ),
        sessions=_section(
            enabled=Field("bool", False),
            max_sessions=Field("int", 100),
            max_artifacts_per_session=Field("int", 1000),
            artifact_compression_threshold=Field("int", 10240),
            session_timeout_seconds=Field("int", 3600),
            storage_backend=Field("str", "memory", BACKENDS),
            path=Field("str"),
            max_artifact_size=Field("int", 100 * 1024 * 1024),
        ),
    ),
    rag=_section(
        enabled=Field("bool", False),
        multi_tenant=Field("bool", False),
        vector_storage=_section(
            dimensions=Field("int", 384),
            backend=Field("str", "hnsw", VECTOR_BACKENDS),
            persistence_path=Field("str"),
            max_memory_mb=Field("int", 500),
            hnsw=_section(
                m=Field("int", 16),
                ef_construction=Field("int", 200),
                ef_search=Field("int", 50),
                max_elements=Field("int", 1_000_000),
                seed=Field("int"),
                metric=Field("str", "cosine", HNSW_METRICS),
                allow_replace_deleted=Field("bool", True),
                num_threads=Field("int"),
                nb_layers=Field("int"),
                parallel_batch_size=Field("int", 128),
                enable_mmap=Field("bool", False),
                mmap_sync_interval=Field("int", 60),
            ),
        ),
        embedding=_section(
            default_provider=Field("str", "openai"),
            model=Field("str"),
            cache_enabled=Field("bool", True),
            cache_size=Field("int", 10000),
            cache_ttl_seconds=Field("int", 3600),
            batch_size=Field("int", 32),
            timeout_seconds=Field("int", 30),
            max_retries=Field("int", 3),
        ),
        chunking=_section(
            strategy=Field("str", "sliding_window", CHUNK_STRATEGIES),
            chunk_size=Field("int", 512),
            overlap=Field("int", 64),
            max_chunk_size=Field("int", 2048),
            min_chunk_size=Field("int", 100),
        ),
        tenant_limits=_section(
            max_vectors=Field("int"),
            max_storage_bytes=Field("int"),
        ),
        cache=_section(
            search_cache_enabled=Field("bool", True),
            search_cache_size=Field("int", 1000),
            search_cache_ttl_seconds=Field("int", 300),
            document_cache_enabled=Field("bool", True),
            document_cache_size_mb=Field("int", 100),
        ),
    ),
    tools=_section(
        enabled=Field("bool", True),
        rate_limit_per_minute=Field("int", 60),
        file_operations=_section(
            enabled=Field("bool", True),
            allowed_paths=Field("list", ["/tmp"]),
            max_file_size=Field("int", 50 * 1024 * 1024),
            atomic_writes=Field("bool", True),
            max_depth=Field("int"),
        ),
        system=_section(
            allow_process_execution=Field("bool", False),
            allowed_commands=Field("str", "ls,cat,echo,pwd"),
            max_output_size=Field("int", 1024 * 1024),
            command_timeout_seconds=Field("int", 30),
        ),
        web_search=_open_section(
            base_urls=Field("table"),  # search provider name -> its API's base URL
        ),
        http_request=_open_section(
            timeout_seconds=Field("float", 30.0),
        ),
        network=_open_section(
            allow_private_addresses=Field("bool", False),
            timeout_seconds=Field("float", 30.0),
            max_response_bytes=Field("int", 10 * 1024 * 1024),
            verify_ssl=Field("bool", True),
            max_redirects=Field("int", 5),
            service_checker_hosts=Field("list"),  # unset: the tool's own list
            service_checker_ports=Field("list"),
        ),
        web_tools=FREE,
        media=FREE,
        # unset keys here fall back to the tool's environment variables, then built-ins
        database=_open_section(
            connections=Field("table"),  # name -> URL
            sqlite_path=Field("str"),
            allow_ddl=Field("bool"),  # else DATABASE_ALLOW_DDL, else false
            allow_dml=Field("bool"),  # else DATABASE_ALLOW_DML, else true
            max_rows=Field("int"),  # else DATABASE_MAX_ROWS, else 1000
            timeout_seconds=Field("float", 30.0),
        ),
        email=_open_section(
            smtp_host=Field("str"),
            smtp_port=Field("int"),  # else EMAIL_SMTP_PORT, else 587
            smtp_username=Field("str"),
            smtp_password=Field("str"),
            smtp_security=Field("str", None, SMTP_SECURITY),  # unset: from the port
            timeout_seconds=Field("float", 30.0),
            sendgrid_api_key=Field("str"),
            sendgrid_base_url=Field("str", "https://api.sendgrid.com"),
            ses_access_key_id=Field("str"),
            ses_secret_access_key=Field("str"),
            ses_region=Field("str"),  # else EMAIL_SES_REGION, else us-east-1
            ses_base_url=Field("str"),
            default_sender=Field("str"),
        ),
        data=FREE,
        academic=FREE,
        document=FREE,
        search=FREE,
    ),
    hooks=_section(
        enabled=Field("bool", False),
        rate_limit_per_minute=Field("int", 100),
        circuit_breaker=FREE,
    ),
    events=_section(
        enabled=Field("bool", True),
        buffer_size=Field("int", 10000),
        emit_timing_events=Field("bool", True),
        emit_state_events=Field("bool", False),
        emit_debug_events=Field("bool", False),
        max_events_per_second=Field("int"),
        filtering=_section(
            include_types=Field("list", ["*"]),
            exclude_types=Field("list", []),
            include_components=Field("list", ["*"]),
            exclude_components=Field("list", []),
        ),
        export=_section(
            stdout=Field("bool", False),
            file=Field("str"),
            webhook=Field("str"),
            pretty_json=Field("bool", False),
        ),
    ),
    logging=_section(  # the model-call log (llmspell/calllog.py, `llmspell logs`)
        model_calls=Field("bool", True),
    ),
    debug=_open_section(
        level=Field("str", None, LOG_LEVELS),  # unset: runtime.log_level
    ),
    storage=_section(  # the shared PostgreSQL server (llmspell/postgres, docs/postgres.md)
        postgres=_section(
            url=Field("str"),
            pool_size=Field("int", 4),
            connect_timeout_seconds=Field("int", 5),
            statement_timeout_ms=Field("int", 30_000),
            tenant_id=Field("str", "default"),
        ),
    ),
)

# (env var, key path, kind) — applied in order, only when the variable is set.
ENV_OVERRIDES: list[tuple[str, str, str]] = [
    ("LLMSPELL_DEFAULT_ENGINE", "default_engine", "str"),
    ("LLMSPELL_STATE_ENABLED", "runtime.state_persistence.enabled", "bool"),
    ("LLMSPELL_STATE_BACKEND", "runtime.state_persistence.backend_type", "str"),
    ("LLMSPELL_STATE_PATH", "runtime.state_persistence.schema_directory", "str"),
    ("LLMSPELL_STATE_MIGRATION_ENABLED", "runtime.state_persistence.migration_enabled", "bool"),
    ("LLMSPELL_STATE_BACKUP_ENABLED", "runtime.state_persistence.backup_enabled", "bool"),
    ("LLMSPELL_STATE_BACKUP_ON_MIGRATION", "runtime.state_persistence.backup_on_migration",
     "bool"),
    ("LLMSPELL_STATE_BACKUP_DIR", "runtime.state_persistence.backup.backup_dir", "str"),
    ("LLMSPELL_STATE_MAX_SIZE_BYTES", "runtime.state_persistence.max_state_size_bytes", "int"),
    ("LLMSPELL_SESSIONS_ENABLED", "runtime.sessions.enabled", "bool"),
    ("LLMSPELL_SESSIONS_MAX", "runtime.sessions.max_sessions", "int"),
    ("LLMSPELL_SESSIONS_TIMEOUT_SECONDS", "runtime.sessions.session_timeout_seconds", "int"),
    ("LLMSPELL_SESSIONS_BACKEND", "runtime.sessions.storage_backend", "str"),
    ("LLMSPELL_SESSIONS_MAX_ARTIFACTS", "runtime.sessions.max_artifacts_per_session", "int"),
    ("LLMSPELL_MAX_CONCURRENT_SCRIPTS", "runtime.max_concurrent_scripts", "int"),
    ("LLMSPELL_SCRIPT_TIMEOUT_SECONDS", "runtime.script_timeout_seconds", "int"),
    ("LLMSPELL_ALLOW_FILE_ACCESS", "runtime.security.allow_file_access", "bool"),
    ("LLMSPELL_ALLOW_NETWORK_ACCESS", "runtime.security.allow_network_access", "bool"),
    ("LLMSPELL_ALLOW_PROCESS_SPAWN", "runtime.security.allow_process_spawn", "bool"),
    ("LLMSPELL_MAX_MEMORY_BYTES", "runtime.security.max_memory_bytes", "int"),
    ("LLMSPELL_MAX_EXECUTION_TIME_MS", "runtime.security.max_execution_time_ms", "int"),
    ("LLMSPELL_TOOLS_ENABLED", "tools.enabled", "bool"),
    ("LLMSPELL_TOOLS_RATE_LIMIT", "tools.rate_limit_per_minute", "int"),
    ("LLMSPELL_TOOLS_FILE_OPS_ENABLED", "tools.file_operations.enabled", "bool"),
    ("LLMSPELL_TOOLS_MAX_FILE_SIZE", "tools.file_operations.max_file_size", "int"),
    ("LLMSPELL_TOOLS_ALLOWED_PATHS", "tools.file_operations.allowed_paths", "list"),
    ("LLMSPELL_TOOLS_SYSTEM_ALLOW_PROCESS_EXECUTION", "tools.system.allow_process_execution",
     "bool"),
    ("LLMSPELL_TOOLS_SYSTEM_ALLOWED_COMMANDS", "tools.system.allowed_commands", "str"),
    ("LLMSPELL_HOOKS_ENABLED", "hooks.enabled", "bool"),
    ("LLMSPELL_HOOKS_RATE_LIMIT", "hooks.rate_limit_per_minute", "int"),
    ("LLMSPELL_EVENTS_ENABLED", "events.enabled", "bool"),
    ("LLMSPELL_EVENTS_BUFFER_SIZE", "events.buffer_size", "int"),
    ("LLMSPELL_EVENTS_EMIT_TIMING_EVENTS", "events.emit_timing_events", "bool"),
    ("LLMSPELL_EVENTS_EMIT_STATE_EVENTS", "events.emit_state_events", "bool"),
    ("LLMSPELL_EVENTS_EMIT_DEBUG_EVENTS", "events.emit_debug_events", "bool"),
    ("LLMSPELL_EVENTS_MAX_EVENTS_PER_SECOND", "events.max_events_per_second", "int"),
    ("LLMSPELL_EVENTS_FILTERING_INCLUDE_TYPES", "events.filtering.include_types", "list"),
    ("LLMSPELL_EVENTS_FILTERING_EXCLUDE_TYPES", "events.filtering.exclude_types", "list"),
    ("LLMSPELL_EVENTS_FILTERING_INCLUDE_COMPONENTS", "events.filtering.include_components",
     "list"),
    ("LLMSPELL_EVENTS_FILTERING_EXCLUDE_COMPONENTS", "events.filtering.exclude_components",
     "list"),
    ("LLMSPELL_EVENTS_EXPORT_STDOUT", "events.export.stdout", "bool"),
    ("LLMSPELL_EVENTS_EXPORT_FILE", "events.export.file", "str"),
    ("LLMSPELL_EVENTS_EXPORT_WEBHOOK", "events.export.webhook", "str"),
    ("LLMSPELL_EVENTS_EXPORT_PRETTY_JSON", "events.export.pretty_json", "bool"),
]

# Provider env vars: (env var, provider entry, key). Merged only into an existing entry.
PROVIDER_ENV: list[tuple[str, str, str, str]] = [
    ("OPENAI_API_KEY", "openai", "api_key", "str"),
    ("LLMSPELL_PROVIDER_OPENAI_API_KEY", "openai", "api_key", "str"),
    ("ANTHROPIC_API_KEY", "anthropic", "api_key", "str"),
    ("LLMSPELL_PROVIDER_ANTHROPIC_API_KEY", "anthropic", "api_key", "str"),
    ("LLMSPELL_PROVIDER_OPENAI_BASE_URL", "openai", "base_url", "str"),
    ("LLMSPELL_PROVIDER_ANTHROPIC_BASE_URL", "anthropic", "base_url", "str"),
    ("LLMSPELL_PROVIDER_OPENAI_MODEL", "openai", "default_model", "str"),
    ("LLMSPELL_PROVIDER_ANTHROPIC_MODEL", "anthropic", "default_model", "str"),
    ("LLMSPELL_PROVIDER_OPENAI_TIMEOUT", "openai", "timeout_seconds", "int"),
    ("LLMSPELL_PROVIDER_ANTHROPIC_TIMEOUT", "anthropic", "timeout_seconds", "int"),
    ("LLMSPELL_PROVIDER_OPENAI_MAX_RETRIES", "openai", "max_retries", "int"),
    ("LLMSPELL_PROVIDER_ANTHROPIC_MAX_RETRIES", "anthropic", "max_retries", "int"),
]

_KIND_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "str": "a string",
    "list": "a list",
    "table": "a table",
}


def _check(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list)
    if kind == "table":
        return isinstance(value, dict)
    raise AssertionError(kind)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


DAY = 86_400
YEAR = 365 * DAY
TiB = 2**40

# Allowed ranges of number settings: (lowest, highest). A value outside is an error
# naming the file, the key and the range, before anything runs: out-of-range values
# used to abort LuaJIT ("PANIC: unprotected error"), overflow C ints or reach hnswlib
# and numpy as raw messages. 0 means "no limit" where the note says so.
RANGES: dict[str, tuple[int, int, str]] = {
    "runtime.max_concurrent_scripts": (1, 10_000, ""),
    "runtime.script_timeout_seconds": (0, 10 * YEAR, "0 = no limit"),
    "runtime.security.max_execution_time_ms": (0, 10 * YEAR * 1000, "0 = no limit"),
    "runtime.state_persistence.max_state_size_bytes": (1, TiB, ""),
    "runtime.state_persistence.backup.compression_level": (1, 9, ""),
    "runtime.state_persistence.backup.max_backups": (1, 1_000_000, ""),
    "runtime.state_persistence.backup.max_backup_age_days": (0, 100 * 365, ""),
    "runtime.sessions.max_sessions": (0, 100_000_000, "0 = no limit"),
    "runtime.sessions.max_artifacts_per_session": (0, 100_000_000, "0 = no limit"),
    "runtime.sessions.artifact_compression_threshold": (0, TiB, ""),
    "runtime.sessions.session_timeout_seconds": (0, 100 * YEAR, "0 = never"),
    "runtime.sessions.max_artifact_size": (1, TiB, ""),
    "rag.vector_storage.dimensions": (1, 16_384, ""),
    "rag.vector_storage.max_memory_mb": (0, 2**20, "0 = no limit"),
    "rag.vector_storage.hnsw.m": (2, 256, ""),
    "rag.vector_storage.hnsw.ef_construction": (1, 100_000, ""),
    "rag.vector_storage.hnsw.ef_search": (1, 100_000, ""),
    "rag.vector_storage.hnsw.max_elements": (1, 2**31 - 1, ""),
    "rag.vector_storage.hnsw.seed": (0, 2**32 - 1, ""),
    "rag.vector_storage.hnsw.num_threads": (-1, 4096, "-1 or 0 = all cores"),
    "rag.vector_storage.hnsw.nb_layers": (0, 256, ""),
    "rag.vector_storage.hnsw.parallel_batch_size": (1, 1_000_000, ""),
    "rag.vector_storage.hnsw.mmap_sync_interval": (0, YEAR, ""),
    "rag.embedding.cache_size": (0, 100_000_000, "0 = no cache"),
    "rag.embedding.cache_ttl_seconds": (0, 100 * YEAR, ""),
    "rag.embedding.batch_size": (1, 100_000, ""),
    "rag.embedding.timeout_seconds": (1, DAY, ""),
    "rag.embedding.max_retries": (0, 100, ""),
    "rag.chunking.chunk_size": (1, 10_000_000, ""),
    "rag.chunking.overlap": (0, 10_000_000, ""),
    "rag.chunking.max_chunk_size": (0, 10_000_000, ""),
    "rag.chunking.min_chunk_size": (0, 10_000_000, ""),
    "rag.tenant_limits.max_vectors": (0, 2**31 - 1, ""),
    "rag.tenant_limits.max_storage_bytes": (0, 1024 * TiB, ""),
    "rag.cache.search_cache_size": (0, 100_000_000, "0 = no cache"),
    "rag.cache.search_cache_ttl_seconds": (0, 100 * YEAR, ""),
    "rag.cache.document_cache_size_mb": (0, 2**20, ""),
    "tools.rate_limit_per_minute": (0, 100_000_000, ""),
    "tools.file_operations.max_file_size": (0, TiB, ""),
    "tools.file_operations.max_depth": (0, 10_000, ""),
    "tools.system.max_output_size": (0, 2**31 - 1, ""),
    "tools.system.command_timeout_seconds": (0, YEAR, ""),
    "tools.http_request.timeout_seconds": (0, DAY, ""),
    "tools.network.timeout_seconds": (0, DAY, ""),
    "tools.network.max_response_bytes": (0, TiB, ""),
    "tools.network.max_redirects": (0, 1000, ""),
    "tools.database.max_rows": (0, 2**31 - 1, ""),
    "tools.database.timeout_seconds": (0, DAY, ""),
    "tools.email.smtp_port": (1, 65_535, ""),
    "tools.email.timeout_seconds": (0, DAY, ""),
    "hooks.rate_limit_per_minute": (0, 100_000_000, ""),
    "events.buffer_size": (1, 100_000_000, ""),
    "events.max_events_per_second": (0, 1_000_000_000, ""),
}
# LuaJIT cannot even start its standard library in less (it aborts the process)
MIN_LUA_MEMORY = 1_048_576
MAX_LUA_MEMORY = 2**47
PROVIDER_RANGES: dict[str, tuple[int, int, str]] = {
    "max_tokens": (1, 10_000_000, ""),
    "timeout_seconds": (1, DAY, ""),
    "max_retries": (0, 100, ""),
}


def _range_error(where: str, value: float, low: int, high: int, note: str,
                 origin: str) -> ConfigError:
    extra = f"; {note}" if note else ""
    return ConfigError(f"{origin}: {where} = {value} is out of range (allowed: "
                       f"{low:_} to {high:_}{extra})")


def _origin(key: str, source: Path | None, environ: Any) -> str:
    for name, path, _kind in ENV_OVERRIDES:
        if path == key and name in environ:
            return f"environment variable {name}"
    return str(source) if source else "config"


def check_ranges(data: dict[str, Any], source: Path | None,
                 environ: dict[str, str] | os._Environ[str]) -> None:
    """Raise a ConfigError for the first number setting outside its allowed range."""
    settings = Settings(data)
    for key, (low, high, note) in RANGES.items():
        value = settings.get(key)
        if _is_number(value) and not low <= value <= high:  # (NaN fails too)
            raise _range_error(key, value, low, high, note, _origin(key, source, environ))
    key = "runtime.security.max_memory_bytes"
    memory = settings.get(key)
    if isinstance(memory, int) and memory != 0 and not (
            MIN_LUA_MEMORY <= memory <= MAX_LUA_MEMORY):
        raise _range_error(key, memory, MIN_LUA_MEMORY, MAX_LUA_MEMORY, "or 0 = no limit",
                           _origin(key, source, environ))
    _check_choices(settings, source, environ)
    for name, entry in data["providers"]["providers"].items():
        _check_provider_entry(name, entry, str(source) if source else "config")
        for field_name, (low, high, note) in PROVIDER_RANGES.items():
            value = entry.get(field_name)
            if isinstance(value, int) and not low <= value <= high:
                raise _range_error(f"providers.{name}.{field_name}", value, low, high, note,
                                   str(source) if source else "config")


# Settings naming a file (an existing folder there is an error) or a folder (an existing
# file there is an error); an empty string is an error for both (leave the key out).
FILE_PATHS = ("runtime.state_persistence.path", "runtime.sessions.path", "events.export.file")
FOLDER_PATHS = ("rag.vector_storage.persistence_path",
                "runtime.state_persistence.backup.backup_dir")
STRING_LISTS = ("runtime.module_paths", "runtime.security.allowed_paths",
                "tools.file_operations.allowed_paths", "events.filtering.include_types",
                "events.filtering.exclude_types", "events.filtering.include_components",
                "events.filtering.exclude_components")
# providers.NAME.retry: (lowest, highest) of each number read from it
RETRY_RANGES: dict[str, tuple[float, float]] = {
    "max_retries": (0, 100), "initial_delay_ms": (0, DAY * 1000),
    "max_delay_ms": (0, DAY * 1000), "max_total_ms": (0, DAY * 1000),
    "backoff_multiplier": (1, 100),
}


def schema_leaves(schema: dict[str, Any] = SCHEMA, prefix: str = ""
                  ) -> list[tuple[str, Field]]:
    """Every (dotted path, Field) of a schema, in schema order."""
    out: list[tuple[str, Field]] = []
    for key, spec in schema.items():
        path = f"{prefix}{key}"
        if isinstance(spec, dict):
            out += schema_leaves(spec, path + ".")
        else:
            out.append((path, spec))
    return out


@functools.cache
def _choice_fields() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((path, spec.choices) for path, spec in schema_leaves() if spec.choices)


def _choice_error(origin: str, key: str, value: Any, allowed: tuple[str, ...]) -> ConfigError:
    import difflib

    if not isinstance(value, str):
        return ConfigError(f"{origin}: {key}: expected a string, one of " + ", ".join(allowed))
    close = difflib.get_close_matches(value.strip().lower(), allowed, n=1, cutoff=0.75)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{origin}: {key} = {_shown(value)} is not one of "
                       + ", ".join(allowed) + hint)


def _check_choices(settings: Settings, source: Path | None, environ: Any = None) -> None:
    """Every setting declared with ``choices`` holds one of them (any case)."""
    environ = environ or {}
    for key, allowed in _choice_fields():
        value = settings.get(key)
        if value is not None and (not isinstance(value, str)
                                  or value.strip().lower() not in allowed):
            raise _choice_error(_origin(key, source, environ), key, value, allowed)
    _check_paths(settings, source, environ)


def _shown(value: Any) -> str:
    """A value for an error message: its repr, cut to 60 characters."""
    return repr(value) if not isinstance(value, str) or len(value) <= 60 \
        else repr(value[:60]) + "..."


def _check_paths(settings: Settings, source: Path | None, environ: Any) -> None:
    for key in STRING_LISTS:
        value = settings.get(key)
        origin = _origin(key, source, environ)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{origin}: {key}: expected a list of strings")
    for key in FILE_PATHS + FOLDER_PATHS:
        value = settings.get(key)
        origin = _origin(key, source, environ)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: {key}: expected a string")
        if not value.strip():
            raise ConfigError(f"{origin}: {key} is empty: give a path, or leave the key "
                              "out for the default")
        path = Path(value).expanduser()
        if key in FILE_PATHS and path.is_dir():
            raise ConfigError(f"{origin}: {key} = {_shown(value)} is a folder; it must name "
                              "a file")
        if key in FOLDER_PATHS and path.exists() and not path.is_dir():
            raise ConfigError(f"{origin}: {key} = {_shown(value)} is a file; it must name "
                              "a folder")


def _check_provider_entry(name: str, entry: dict[str, Any], origin: str) -> None:
    """What the clients read beyond the integer fields: base_url and the retry table."""
    url = entry.get("base_url")
    if url is not None and (not isinstance(url, str) or (
            url.strip() and not url.strip().lower().startswith(("http://", "https://")))):
        raise ConfigError(f"{origin}: providers.{name}.base_url = {_shown(url)} is not an http:// "
                          "or https:// URL")
    retry = entry.get("retry")
    if retry is None:
        return
    if not isinstance(retry, dict):
        raise ConfigError(f"{origin}: providers.{name}.retry: expected a table")
    for key, (low, high) in RETRY_RANGES.items():
        value = retry.get(key)
        if value is None:
            continue
        where = f"providers.{name}.retry.{key}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{origin}: {where}: expected a number")
        if not low <= value <= high:  # (NaN fails too)
            raise ConfigError(f"{origin}: {where} = {value} is out of range (allowed: "
                              f"{low:_} to {high:_})")


def defaults(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    """The default config tree for a schema (optional leaves are None)."""
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        if isinstance(spec, dict):
            out[key] = defaults(spec)
        elif spec.kind == "table" and spec.default is None:
            out[key] = {}
        else:
            out[key] = copy.deepcopy(spec.default)
    if schema is SCHEMA:
        out["providers"] = {"default_provider": None, "providers": {}}
    return out


def _merge(schema: dict[str, Any], target: dict[str, Any], data: dict[str, Any], path: str,
           warnings: list[str]) -> None:
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        spec = schema.get(key)
        if spec is None and isinstance(schema, OpenSection):
            target[key] = value
            hint = _did_you_mean(key, schema, path, cutoff=0.8, elsewhere=False)
            if hint:  # free-form, but so close to a key we read that it is likely a typo
                warnings.append(f"config key '{where}' is not one llmspell reads{hint}")
            continue
        if spec is None:
            warnings.append(f"unknown config key '{where}' (ignored)"
                            + _did_you_mean(key, schema, path))
            continue
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table")
            _merge(spec, target[key], value, where, warnings)
            continue
        if not _check(value, spec.kind):
            one_of = f", one of {', '.join(spec.choices)}" if spec.choices else ""
            raise ConfigError(f"{where}: expected {_KIND_NAMES[spec.kind]}{one_of}")
        if spec.kind == "float":
            value = float(value)
        target[key] = value


def _did_you_mean(key: str, section: dict[str, Any], path: str, cutoff: float = 0.6,
                  elsewhere: bool = True) -> str:
    """'; did you mean ...?' for an unknown key: the closest key of the same section, else
    a key of that name further down (``rag.vector_storage.metric`` ->
    ``rag.vector_storage.hnsw.metric``); '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(key, [str(k) for k in section], n=1, cutoff=cutoff)
    if close:
        return f"; did you mean '{close[0]}'?"
    if not elsewhere:
        return ""
    prefix = f"{path}." if path else ""
    same_leaf = [p for p, _spec in schema_leaves()
                 if p.rsplit(".", 1)[-1] == key and p.startswith(prefix)]
    return f"; did you mean '{same_leaf[0]}'?" if same_leaf else ""


def _merge_providers(target: dict[str, Any], data: Any, warnings: list[str]) -> None:
    """Accept `[providers.providers.<name>]` (upstream's real form) and `[providers.<name>]`."""
    if not isinstance(data, dict):
        raise ConfigError("providers: expected a table")
    entries: dict[str, Any] = {}
    for key, value in data.items():
        if key == "default_provider":
            if not isinstance(value, str):
                raise ConfigError("providers.default_provider: expected a string")
            target["default_provider"] = value
        elif key == "providers":
            if not isinstance(value, dict):
                raise ConfigError("providers.providers: expected a table")
            for name, entry in value.items():
                entries[name] = (f"providers.providers.{name}", entry)
        elif isinstance(value, dict):
            entries[key] = (f"providers.{key}", value)
        else:
            warnings.append(f"unknown config key 'providers.{key}' (ignored)")
    for name, (where, entry) in entries.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table")
        provider = defaults(PROVIDER_SCHEMA)
        options: dict[str, Any] = {}
        for key, value in entry.items():
            spec = PROVIDER_SCHEMA.get(key)
            if spec is None:
                options[key] = value
            elif not _check(value, spec.kind):
                raise ConfigError(f"{where}.{key}: expected {_KIND_NAMES[spec.kind]}")
            else:
                provider[key] = value
        provider["name"] = provider["name"] or name
        if provider["default_model"] is None:
            provider["default_model"] = provider["model"]
        provider["options"] = options
        target["providers"][name] = provider


def bool_word(text: str) -> bool | None:
    """true/1/yes/on -> True, false/0/no/off -> False (any case, spaces around), else None."""
    low = text.strip().lower()
    return True if low in ("true", "1", "yes", "on") else \
        False if low in ("false", "0", "no", "off") else None


def parse_env_value(name: str, raw: str, kind: str) -> Any:
    """Parse an environment override; a bad value is an error naming the variable."""
    if kind == "str":
        return raw
    if kind == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if kind == "bool":
        flag = bool_word(raw)
        if flag is None:
            raise ConfigError(f"{name}: expected a boolean (true/false), got {raw!r}")
        return flag
    if kind == "list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    raise AssertionError(kind)


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def apply_env(data: dict[str, Any], environ: dict[str, str] | os._Environ[str]) -> None:
    for name, path, kind in ENV_OVERRIDES:
        if name in environ:
            _set_path(data, path, parse_env_value(name, environ[name], kind))
    entries = data["providers"]["providers"]
    for name, provider, key, kind in PROVIDER_ENV:
        if name in environ and provider in entries:
            entries[provider][key] = parse_env_value(name, environ[name], kind)


class UnknownSettingError(LookupError):
    """Our code asked for a settings path the schema does not declare: a typo in llmspell
    itself (tests/test_settings_paths.py finds them before a run does), not the user's."""


@functools.lru_cache(maxsize=512)
def check_path(path: str) -> None:
    """Raise UnknownSettingError unless SCHEMA declares ``path`` or it lies below a
    free-form table (``FREE``, an undeclared key of an OpenSection) or under
    ``providers.providers``. Only the first call per path walks the schema."""
    parts = path.split(".")
    if parts[0] == "providers":
        if len(parts) == 1 or parts[1] == "providers" or parts[1:] == ["default_provider"]:
            return
        raise UnknownSettingError(_unknown_path_text(path, 2))
    node: Any = SCHEMA
    for depth, part in enumerate(parts, 1):
        if isinstance(node, Field):
            if node.kind in ("table", "any"):
                return
        elif part in node:
            node = node[part]
            continue
        elif isinstance(node, OpenSection):
            return
        raise UnknownSettingError(_unknown_path_text(path, depth))


def _unknown_path_text(path: str, depth: int) -> str:
    import difflib

    known = [p for p, _spec in schema_leaves()] + ["providers.default_provider",
                                                   "providers.providers"]
    close = difflib.get_close_matches(path, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    bad = ".".join(path.split(".")[:depth])
    return f"unknown setting '{path}': '{bad}' is not in config.SCHEMA{hint}"


class Settings:
    """The loaded config: ``data`` is the full tree, ``source`` the file it came from.
    (A plain class: importing dataclasses costs ~5 ms of every start.)"""

    def __init__(self, data: dict[str, Any], source: Path | None = None,
                 warnings: list[str] | None = None, grants_rights: bool = True) -> None:
        self.data = data
        self.source = source
        self.warnings: list[str] = [] if warnings is None else warnings
        # False for a config discovered in the current folder: a script could have
        # written it, so it granted no rights (see ``restrict_untrusted``) and its
        # provider URLs do not receive the user's keys.
        self.grants_rights = grants_rights

    def __repr__(self) -> str:
        return f"Settings(source={self.source!r}, grants_rights={self.grants_rights})"

    def get(self, path: str) -> Any:
        """The value at ``path``: the file's, else the schema's default (None for an
        optional key, or a key a free-form section does not hold).

        ``path`` must be one the schema declares (or lie in a free-form section): a typo
        raises UnknownSettingError instead of reading as a default, and there is no
        default argument because the defaults live in SCHEMA alone."""
        check_path(path)
        return self.lookup(path)

    def lookup(self, path: str) -> Any:
        """The value at any ``path``, None when there is none: for paths a user chose
        (``Config.get`` in a script), where an unknown key is an answer, not a bug."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def set(self, path: str, value: Any) -> None:
        check_path(path)
        _set_path(self.data, path, value)

    @property
    def providers(self) -> dict[str, dict[str, Any]]:
        return self.data["providers"]["providers"]


def from_dict(raw: dict[str, Any], source: Path | None = None,
              environ: dict[str, str] | os._Environ[str] | None = None) -> Settings:
    """Validate a parsed TOML document and fill in defaults and env overrides."""
    data = defaults()
    warnings: list[str] = []
    raw = dict(raw)
    providers = raw.pop("providers", None)
    env = os.environ if environ is None else environ
    try:
        _merge(SCHEMA, data, raw, "", warnings)
        if providers is not None:
            _merge_providers(data["providers"], providers, warnings)
    except ConfigError as exc:  # name the file too
        if source is not None and not str(exc).startswith(str(source)):
            raise ConfigError(f"{source}: {exc}") from None
        raise
    if source is not None:
        warnings = [f"{source}: {w}" for w in warnings]
    apply_env(data, env)
    check_ranges(data, source, env)
    default_provider = data["providers"]["default_provider"]
    if default_provider is not None and default_provider not in data["providers"]["providers"]:
        # The rag-* configs name a default provider without declaring it: keep it as a hint.
        warnings.append(
            f"providers.default_provider '{default_provider}' has no [providers.{default_provider}]"
            " table; it will be resolved when first used"
        )
    register_secrets(data)
    return Settings(data=data, source=source, warnings=warnings)


def register_secrets(node: Any, hidden: bool = False) -> None:
    """Tell the secret filter every value stored as a credential (``api_key``,
    ``sendgrid_api_key``, anything in a ``[...credentials]`` table), so error texts never
    echo them. Only a key whose *last* word is a credential word counts here
    (``key_prefix`` does not): these values are replaced in every error text."""
    from . import secret_filter

    if isinstance(node, dict):
        for key, value in node.items():
            name = str(key)
            if isinstance(value, dict | list):
                register_secrets(value, hidden or secret_filter.is_secret_name(name))
            elif hidden or _credential_leaf(name):
                register_secrets(value, True)
    elif isinstance(node, list):
        for value in node:
            register_secrets(value, hidden)
    elif hidden and isinstance(node, str) and not any(c.isspace() for c in node):
        secret_filter.register(node)


def _credential_leaf(name: str) -> bool:
    from . import secret_filter

    parts = secret_filter.words(name)
    return (secret_filter.is_secret_name(name) and bool(parts)
            and secret_filter.is_secret_name(parts[-1]))


def read_file(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"Config path is a directory: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start]
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text (byte 0x{bad:02X} at "
                          f"offset {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None


def _home(env: dict[str, str] | os._Environ[str]) -> Path:
    return Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())


def user_config_paths(environ: dict[str, str] | os._Environ[str] | None = None
                      ) -> list[Path]:
    """The user's own config files, in discovery order (they may grant rights)."""
    env = os.environ if environ is None else environ
    home = _home(env)
    xdg = env.get("XDG_CONFIG_HOME")
    return [home / ".llmspell" / "config.toml", home / ".llmspell.toml",
            home / ".config" / "llmspell.toml",
            (Path(xdg) if xdg else home / ".config") / "llmspell" / "config.toml"]


def discover(cwd: Path | None = None, environ: dict[str, str] | os._Environ[str] | None = None
             ) -> Path | None:
    """The config file used when no -c/--config is given (upstream's order)."""
    found = discover_all(cwd, environ)
    return found[0] if found else None


def discover_all(cwd: Path | None = None,
                 environ: dict[str, str] | os._Environ[str] | None = None) -> list[Path]:
    """Every config file discovery would consider that exists, the one used first."""
    env = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    first, *rest = user_config_paths(env)
    candidates = [first]
    candidates += [cwd / name for name in CWD_CONFIG_NAMES]
    candidates += rest
    found: list[Path] = []
    seen: set[str] = set()
    for path in candidates:
        real = os.path.realpath(path)
        if real not in seen and path.is_file():
            seen.add(real)
            found.append(path)
    return found


def shadow_warning(found: list[Path]) -> str | None:
    """One line naming the config used and the ones it hides, when there are several."""
    if len(found) < 2:
        return None
    ignored = ", ".join(str(p) for p in found[1:])
    return (f"using config {found[0]}; ignoring {ignored} (discovery takes the first; "
            "pass -c FILE to choose)")


CWD_CONFIG_NAMES = ("llmspell.toml", ".llmspell.toml", "config/llmspell.toml",
                    ".config/llmspell.toml")


def is_user_config(path: Path, environ: dict[str, str] | os._Environ[str] | None = None
                   ) -> bool:
    real = os.path.realpath(path)
    return any(real == os.path.realpath(p) for p in user_config_paths(environ))


def protected_paths(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """Where the files that grant rights live: scripts may neither read nor write them
    (nor anything under ``~/.llmspell`` or ``$XDG_CONFIG_HOME/llmspell``), whatever the
    allowed paths say — else a run could raise the rights of the next one.
    ``LLMSPELL_CONFIG`` names one more."""
    env = os.environ if environ is None else environ
    return list(_protected_paths(tuple(env.get(n) for n in _PROTECTED_ENV)))


_PROTECTED_ENV = ("HOME", "USERPROFILE", "XDG_CONFIG_HOME", "LLMSPELL_CONFIG", "XDG_DATA_HOME")


@functools.lru_cache(maxsize=8)
def _protected_paths(key: tuple[str | None, ...]) -> tuple[str, ...]:
    """Resolved once per (HOME, USERPROFILE, XDG_CONFIG_HOME, LLMSPELL_CONFIG, XDG_DATA_HOME)."""
    from .calllog import protected_files

    env = {n: v for n, v in zip(_PROTECTED_ENV, key, strict=True) if v}
    files = user_config_paths(env)
    out = [files[0].parent, files[1], files[2], files[3].parent,
           _home(env) / ".config" / "llmspell", *protected_files(env)]  # + the model-call log
    if env.get("LLMSPELL_CONFIG"):
        out.append(Path(env["LLMSPELL_CONFIG"]))
    real: list[str] = []
    for path in out:
        r = os.path.realpath(os.path.expanduser(path))
        if r not in real:
            real.append(r)
    return tuple(real)


def is_protected(real: str, writing: bool = False,
                 extra: list[str] | None = None) -> bool:
    """True when the resolved path ``real`` is a rights-granting config file or lies in a
    config folder; when ``writing``, also when it is a folder above one (a rename there
    would create it). ``extra``: more protected paths, already resolved."""
    sep = os.sep
    for p in protected_paths() + list(extra or []):
        if real == p or real.startswith(p.rstrip(sep) + sep):
            return True
        if writing and p.startswith(real.rstrip(sep) + sep):
            return True
    return False


_PROCESS_INFO = ("/proc/self", "/proc/thread-self")


def is_process_info(real: str) -> bool:
    """True for ``/proc/<pid>/...`` (and ``/proc/self``): a process's environment, memory and
    open files hold the secrets ``os.getenv`` hides, so no allowed path (not even ``*``)
    reaches them. ``real`` is resolved (``/proc/self`` already became ``/proc/<pid>``)."""
    if not real.startswith("/proc/"):
        return False
    first = real[len("/proc/"):].split("/", 1)[0]
    return first.isdigit() or real.startswith(_PROCESS_INFO)


# -- what a config a script could have written may not do --------------------------------
# Keys that grant a right when their value is looser than the built-in default. ``flag``:
# true grants; ``limit``: more than the default, or 0/negative (= no limit), grants;
# ``list``: a non-empty list other than the default grants; ``subset``: a comma list
# grants when it names something the default does not; ``any``: always dropped.
RIGHTS_KEYS: dict[str, str] = {
    "runtime.module_paths": "list",
    "runtime.script_timeout_seconds": "limit",
    "runtime.security.allow_file_access": "flag",
    "runtime.security.allow_network_access": "flag",
    "runtime.security.allow_process_spawn": "flag",
    "runtime.security.allowed_paths": "list",
    "runtime.security.max_memory_bytes": "limit",
    "runtime.security.max_execution_time_ms": "limit",
    "runtime.state_persistence.max_state_size_bytes": "limit",
    "runtime.sessions.max_artifact_size": "limit",
    "runtime.sessions.max_sessions": "limit",
    "runtime.sessions.max_artifacts_per_session": "limit",
    "rag.vector_storage.max_memory_mb": "limit",
    "rag.vector_storage.hnsw.max_elements": "limit",
    "events.buffer_size": "limit",
    "tools.rate_limit_per_minute": "limit",
    "hooks.rate_limit_per_minute": "limit",
    "tools.file_operations.allowed_paths": "list",
    "tools.file_operations.max_file_size": "limit",
    "tools.system.allow_process_execution": "flag",
    "tools.system.allowed_commands": "subset",
    "tools.system.max_output_size": "limit",
    "tools.system.command_timeout_seconds": "limit",
    "tools.network.allow_private_addresses": "flag",
    "tools.network.service_checker_hosts": "any",
    "tools.network.service_checker_ports": "any",
    "tools.network.max_response_bytes": "any",
    "tools.web_search.base_urls": "any",
    # whole sections: servers and files that receive the user's credentials or data
    "tools.database": "any",
    "tools.email": "any",
    "events.export.file": "any",
    "events.export.webhook": "any",
    # which database server the stores use, and as which tenant (docs/postgres.md)
    "storage.postgres": "any",
}
# Where data is written: accepted only inside the current folder, not in a hidden folder.
PATH_KEYS = ("runtime.state_persistence.path", "runtime.state_persistence.schema_directory",
             "runtime.state_persistence.backup.backup_dir", "runtime.sessions.path",
             "rag.vector_storage.persistence_path")


def _pop_path(raw: dict[str, Any], path: str) -> tuple[bool, Any]:
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        return False, None
    return True, node[last]


def _delete(raw: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[part]
    del node[last]


def _grants(rule: str, value: Any, default: Any) -> bool:
    if rule == "any":  # anything but the built-in default (as `llmspell init` writes it)
        if isinstance(value, dict) and isinstance(default, dict):
            return any(_grants("any", v, default.get(k)) for k, v in value.items())
        return value != default
    if rule == "flag":
        return value is True and default is not True
    if rule == "list":
        return isinstance(value, list) and value != default and value != []
    if rule == "limit":
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return value <= 0 or (isinstance(default, int) and value > default)
    if rule == "subset":
        if not isinstance(value, str):
            return False
        allowed = {c.strip() for c in str(default or "").split(",")}
        return any(c.strip() not in allowed for c in value.split(",") if c.strip())
    raise AssertionError(rule)


def _inside_folder(value: Any, folder: Path) -> bool:
    if not isinstance(value, str) or not value:
        return True
    real = Path(os.path.realpath(Path(value).expanduser() if value.startswith("~")
                                 else folder / value))
    base = Path(os.path.realpath(folder))
    if not real.is_relative_to(base):
        return False
    return not any(part.startswith(".") for part in real.relative_to(base).parts)


def restrict_untrusted(raw: dict[str, Any], folder: Path) -> list[str]:
    """Drop from ``raw`` every key that would grant a right; return their key paths.

    Used for a config discovered in the current folder, which a script may have written.
    Lowering a limit or turning a right off is kept.
    """
    base = defaults()
    dropped: list[str] = []
    for path, rule in RIGHTS_KEYS.items():
        found, value = _pop_path(raw, path)
        if found and _grants(rule, value, _get(base, path)):
            _delete(raw, path)
            dropped.append(path)
    for path in PATH_KEYS:
        found, value = _pop_path(raw, path)
        if found and not _inside_folder(value, folder):
            _delete(raw, path)
            dropped.append(path)
    return dropped


def _get(tree: dict[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def load(path: str | Path | None = None,
         environ: dict[str, str] | os._Environ[str] | None = None) -> Settings:
    """Load settings from ``path`` (explicit, must exist) or by discovery, else defaults.

    A file named with ``-c``/``LLMSPELL_CONFIG`` or found in the user's own config
    folders is the user's word. One found in the current folder keeps its settings but
    grants no rights (``restrict_untrusted``), and its provider URLs get no keys.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("LLMSPELL_CONFIG"):
        path = env["LLMSPELL_CONFIG"]
    if path is not None:
        explicit = Path(path)
        if not explicit.exists():
            raise ConfigError(f"Explicitly specified config file not found: {explicit}")
        return from_dict(read_file(explicit), explicit, env)
    candidates = discover_all(environ=env)
    if not candidates:
        return from_dict({}, None, env)
    found = candidates[0]
    raw = read_file(found)
    dropped: list[str] = []
    if is_user_config(found, env):
        settings = from_dict(raw, found, env)
    else:
        dropped = restrict_untrusted(raw, Path.cwd())
        settings = from_dict(raw, found, env)
        settings.grants_rights = False
    shadowed = shadow_warning(candidates)
    if shadowed:
        settings.warnings.insert(0, shadowed)
    if dropped:
        settings.warnings.append(
            f"{found} was found in the current folder, so it grants no rights; ignored: "
            f"{', '.join(dropped)} (to grant them, pass the file with -c or LLMSPELL_CONFIG, "
            "or put them in ~/.config/llmspell/config.toml)")
    return settings


def default_toml() -> str:
    """The default config as TOML text (for `llmspell init`)."""
    import tomli_w

    def strip_none(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip_none(v) for k, v in node.items() if v is not None}
        return node

    data = strip_none(defaults())
    data["providers"] = {}
    return tomli_w.dumps(data)
