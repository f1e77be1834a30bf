"""The commented config `llmspell init` writes: the settings people change first, one line
of comment each, and a `[providers]` example; every other key keeps its default.

The values come from the schema (``config.defaults()``), so the file cannot drift from it:
a key missing from ``config.SCHEMA`` fails here (and in tests/test_onboard_init.py).
Optional keys (no default) are written commented out, with an example value.
"""

from __future__ import annotations

from typing import Any

# (section, [(key, comment, example for an optional key or None)])
SECTIONS: list[tuple[str, list[tuple[str, str, Any]]]] = [
    ("runtime", [
        ("script_timeout_seconds", "stop a script after this long (0 = no limit)", None),
        ("log_level", "trace, debug, info, warn, error or off", None),
    ]),
    ("runtime.security", [
        ("allow_file_access", "let Lua's io/os open files (within allowed_paths)", None),
        ("allowed_paths", "folders io/os may use; empty = script dir, cwd and temp", None),
        ("allow_network_access", "let tools and agents reach the network", None),
        ("allow_process_spawn", "let io.popen/os.execute run programs", None),
        ("max_memory_bytes", "Lua memory cap for one run (0 = no limit)", None),
    ]),
    ("runtime.state_persistence", [
        ("backend_type", "State storage: memory (per run) or sqlite (kept)", None),
        ("path", "the sqlite file (default: in the data dir)", "state.db"),
    ]),
    ("runtime.sessions", [
        ("enabled", "the Session and Artifact globals", None),
        ("storage_backend", "memory or sqlite", None),
    ]),
    ("rag", [
        ("enabled", "the RAG global (or --rag for one run)", None),
    ]),
    ("rag.vector_storage", [
        ("dimensions", "vector size: 384 for the local MiniLM embedder", None),
        ("persistence_path", "keep the index in this folder (default: memory only)",
         "rag-index"),
    ]),
    ("rag.embedding", [
        ("default_provider", "embeddings from this provider (else the local MiniLM model)",
         None),
    ]),
    ("rag.chunking", [
        ("strategy", "sliding_window, sentence, semantic or none", None),
        ("chunk_size", "tokens per chunk", None),
    ]),
    ("tools.file_operations", [
        ("allowed_paths", "folders the file tools may read and write", None),
    ]),
    ("tools.system", [
        ("allow_process_execution", "let the process tools run allowed_commands", None),
        ("allowed_commands", "comma-separated program names", None),
    ]),
    ("logging", [
        ("model_calls", "log every model call (see `llmspell logs`)", None),
    ]),
]

HEADER = """\
# llmspell configuration, written by `llmspell init`.
# Every setting not listed here keeps its built-in default (see README "Configuration");
# check this file with `llmspell validate`.
"""

PROVIDERS = """\
[providers]
default_provider = "openai"      # used when a model string has no "provider/" part

[providers.openai]               # agents: Agent.builder():model("openai/gpt-4o-mini")
provider_type = "openai"         # openai, anthropic, ollama, openai_compatible, groq, ...
default_model = "gpt-4o-mini"
# Key: llmspell keys set openai (or the OPENAI_API_KEY variable)

# [providers.anthropic]          # "anthropic/claude-3-5-haiku-latest"
# provider_type = "anthropic"

# [providers.local]              # a local server: "local/<model>"
# provider_type = "ollama"       # or "openai_compatible" (vLLM, llama.cpp, LM Studio)
# base_url = "http://127.0.0.1:11434"
"""


def schema_default(path: str) -> Any:
    """The schema's default for a key (None: optional); KeyError for an unknown key."""
    from ..config import SCHEMA, Field

    node: Any = SCHEMA
    for part in path.split("."):
        node = node[part]
    if not isinstance(node, Field):
        raise KeyError(path)
    return node.default


def _value(value: Any) -> str:
    """A TOML value on one line (tomli_w writes a non-empty array over several)."""
    import tomli_w

    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def commented_config() -> str:
    """The text `llmspell init` writes."""
    out = [HEADER]
    for section, keys in SECTIONS:
        out.append(f"[{section}]")
        rows = []
        for key, comment, example in keys:
            default = schema_default(f"{section}.{key}")
            if default is None:
                rows.append((f"# {key} = {_value(example)}", comment))
            else:
                rows.append((f"{key} = {_value(default)}", comment))
        width = max(len(text) for text, _ in rows)
        out.extend(f"{text:<{width}}  # {comment}" for text, comment in rows)
        out.append("")
    out.append(PROVIDERS)
    return "\n".join(out)


NEXT_STEPS = """\
Next steps:
  1. Store a key:        llmspell keys set openai      (or export OPENAI_API_KEY=...)
  2. Check providers:    llmspell providers
  3. Run a script:       llmspell run cookbook/hello.lua   (cookbook/ of the llmspell source)
  4. Check the config:   llmspell validate -c {config}
Model calls are logged (llmspell logs; turn off with `llmspell logs off` or --no-log)."""
