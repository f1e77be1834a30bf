"""The error types a user of llmspell can see: one tree, split by where it failed.

    LLMSpellError                 anything the CLI reports as one clear line (exit 1)
    ├── ConfigError               a config file is missing, unreadable or has a wrong type
    ├── ScriptError               the script failed: syntax error, uncaught error, limit hit
    │   ├── ScriptTimeout         max_execution_time_ms / --timeout ran out
    │   ├── ScriptMemoryError     max_memory_bytes was exceeded
    │   └── ValueTooLarge         a value crossing Lua<->Python is past the conversion limits
    ├── ApiError *                a global was called wrongly (raised by lua/ and api/ only)
    ├── ProviderError *           an LLM provider call failed (names the provider, the cause)
    │   ├── ProviderConnectError  the server could not be reached, or the connection broke
    │   ├── ProviderTimeout       no reply in time
    │   ├── ProviderHTTPError     the server answered with an error status (status_code)
    │   └── NeedsKeyError         no API key: names the env var and the config key
    ├── AgentError *              an agent is unknown, misconfigured or cannot run now
    ├── ToolError                 a tool failed ("Tool execution error: ...")
    │   ├── ToolValidationError, SecurityViolation, ToolNetworkError, ToolStorageError,
    │   │   WorkerFailed          the kinds a tool raises (tools/errors.py, tools/isolated.py)
    │   ├── ToolNotFound *        no tool of that name (tools/service.py)
    │   └── ToolFailed *          "Tool execution failed: <cause>" (tools/service.py)
    ├── HookError *               a hook point name is wrong, or a hook itself failed
    ├── HookCancelled *           a hook cancelled the operation; the message names the reason
    ├── StateError                a state/session store cannot be opened, read or written
    │   └── StateValueError, SessionError, BackupError, VersionError (state/, sessions/)
    ├── RagError                  a RAG call failed for a reason the script should see
    │   └── StoreError            the vector store failed (rag/store.py: StoreFull,
    │                             DimensionMismatch)
    └── WorkflowError             a workflow could not be built or its run failed
                                  (workflows/engine.py: StepFailed, WorkflowTimeout)

``*``: the message is written for the script — upstream's text, or one that starts with
the function's name — so it is also a ``ShownAsIs``: the Lua border (``Runtime._protocol``)
passes it to the script unchanged. Any other error gets the name of the function the
script called in front (``State.save: ...``). Services raise these domain errors, never
``ApiError``; foreign errors are translated once at their border (httpx in
``providers/http.py``, Lua errors in ``lua/runtime.py``).

ScriptInterrupted (Ctrl-C, exit 130) and ScriptExit (os.exit) are not errors: they
carry how the run ended.
"""

from __future__ import annotations


class LLMSpellError(Exception):
    """Base class: the message is shown to the user as it is."""

    exit_code = 1


class ShownAsIs(Exception):
    """Mixed into the errors whose message is written for the script (see above): catch
    it to pass such a message on unchanged."""


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


class ValueTooLarge(ScriptError):
    """A value crossing the Lua/Python boundary is past the conversion limits.

    Raised without the function name (lua/convert.py); the call protocol adds it
    (``Tool.invoke: value too large to convert (more than N nodes)``).
    """


class ApiError(LLMSpellError, ShownAsIs):
    """Raised by a Lua-facing adapter; Lua sees exactly this message as the error."""


class ProviderError(LLMSpellError, ShownAsIs):
    """An LLM provider call failed; the message names the provider and the cause.

    A server may quote the key it rejects: the message is stored with every known secret
    hidden, so it can travel anywhere (workflow results, events, logs)."""

    def __init__(self, message: str = "", *args: object) -> None:
        from .secret_filter import redact_text

        super().__init__(redact_text(message) if isinstance(message, str) else message, *args)


class ProviderConnectError(ProviderError):
    """The provider's server could not be reached, or the connection broke off."""


class ProviderTimeout(ProviderError):
    """The provider did not reply within the time allowed."""


class ProviderHTTPError(ProviderError):
    """The provider answered with an error status (``status_code``)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class NeedsKeyError(ProviderError):
    """No API key is configured for a provider; the message names the env var and config key."""


class AgentError(LLMSpellError, ShownAsIs):
    """An agent is unknown, badly configured, or in a state where it cannot do that."""


class ToolError(LLMSpellError):
    """A tool failed. ``str()`` is ``"<prefix>: <message>"``; the kinds a tool raises
    (``tools/errors.py``) set the prefix, the service's own errors have none."""

    prefix: str | None = "Tool execution error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.prefix}: {self.message}" if self.prefix else self.message


class HookError(LLMSpellError, ShownAsIs):
    """A hook point name is wrong, or a hook itself failed."""


class HookCancelled(LLMSpellError, ShownAsIs):
    """A hook cancelled the operation; the message names the reason."""


class StateError(LLMSpellError):
    """A state, session or backup file is unusable (corrupt, foreign, newer) or a write failed."""


class RagError(LLMSpellError):
    """A RAG call failed for a reason the script should see."""


class StoreError(RagError):
    """A vector store operation failed."""


class WorkflowError(LLMSpellError):
    """A workflow could not be built or its run failed (the message says where)."""


class ScriptInterrupted(BaseException):
    """Ctrl-C stopped the script."""

    exit_code = 130


class ScriptExit(BaseException):
    """The script called os.exit(code)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
