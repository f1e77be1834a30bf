"""Errors a tool raises. Their text is what a script sees after "Tool execution failed: ".

    ToolError                   "Tool execution error: ..."  (I/O or runtime failure;
                                 the base class lives in llmspell/errors.py's tree)
    ├── ToolValidationError     "Validation error: ..."       (missing or bad parameter)
    ├── SecurityViolation       "Security violation: ..."     (sandbox, allow-list, SSRF)
    ├── ToolNetworkError        "Network error: ..."          (connection, timeout, HTTP)
    └── ToolStorageError        "Storage error: ..."          (files that cannot be read/written)

Upstream tools mostly fail by raising (the script gets a Lua error it can ``pcall``);
the few "soft" failures return an envelope with ``success = false`` instead.
"""

from __future__ import annotations

from ..errors import ToolError

__all__ = ["SecurityViolation", "ToolError", "ToolNetworkError", "ToolStorageError",
           "ToolValidationError"]


class ToolValidationError(ToolError):
    prefix = "Validation error"


class SecurityViolation(ToolError):
    prefix = "Security violation"


class ToolNetworkError(ToolError):
    prefix = "Network error"


class ToolStorageError(ToolError):
    prefix = "Storage error"
