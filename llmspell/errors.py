"""The error types a user of llmspell can see.

    LLMSpellError                 anything the CLI reports as one clear line (exit 1)
    ├── ConfigError               a config file is missing, unreadable or has a wrong type
    ├── ScriptError               the script failed: syntax error, uncaught error, limit hit
    │   ├── ScriptTimeout         max_execution_time_ms / --timeout ran out
    │   └── ScriptMemoryError     max_memory_bytes was exceeded
    ├── ApiError                  raised by a global's adapter; its message reaches Lua as is
    └── StateError                a state/session store cannot be opened, read or written

ScriptInterrupted (Ctrl-C, exit 130) and ScriptExit (os.exit) are not errors: they
carry how the run ended.
"""

from __future__ import annotations


class LLMSpellError(Exception):
    """Base class: the message is shown to the user as it is."""

    exit_code = 1


class ConfigError(LLMSpellError):
    """A config file is missing, cannot be parsed, or holds a value of the wrong type."""


class ScriptError(LLMSpellError):
    """The Lua script failed. ``message`` reads ``script.lua:LINE: text``."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback = traceback


class ScriptTimeout(ScriptError):
    """The script ran past its time limit."""


class ScriptMemoryError(ScriptError):
    """The script allocated past its memory limit."""


class ApiError(LLMSpellError):
    """Raised by a Lua-facing adapter; Lua sees exactly this message as the error."""


class StateError(LLMSpellError):
    """A state, session or backup file is unusable (corrupt, foreign, newer) or a write failed."""


class ScriptInterrupted(BaseException):
    """Ctrl-C stopped the script."""

    exit_code = 130


class ScriptExit(BaseException):
    """The script called os.exit(code)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ProviderError(ApiError):
    """An LLM provider call failed; the message names the provider and the cause.

    A server may quote the key it rejects: the message is stored with every known secret
    hidden, so it can travel anywhere (workflow results, events, logs)."""

    def __init__(self, message: str = "", *args: object) -> None:
        from .secret_filter import redact_text

        super().__init__(redact_text(message) if isinstance(message, str) else message, *args)


class NeedsKeyError(ProviderError):
    """No API key is configured for a provider; the message names the env var and config key."""
