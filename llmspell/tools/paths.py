"""The one path guard every file-touching tool goes through.

Allowed roots come from ``[tools.file_operations] allowed_paths`` (default ``["/tmp"]``,
which also admits the system temp dir; ``"*"`` admits any path). A path is resolved
with ``os.path.realpath`` — following symlinks, collapsing ``..`` — and must then lie
inside a resolved root. So ``/tmp/../etc/passwd`` and a link in ``/tmp`` pointing at
``/etc`` are both refused. Reads are capped at ``max_file_size``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SecurityViolation, ToolStorageError, ToolValidationError

DEFAULT_ROOTS = ["/tmp"]


def _full_dir(real: str) -> bool:
    try:
        with os.scandir(real) as it:
            return any(True for _ in it)
    except OSError:
        return False


class PathGuard:
    def __init__(self, roots: list[str] | None = None,
                 max_file_size: int = 50 * 1024 * 1024,
                 protected: list[str] | None = None) -> None:
        # e.g. the -c config file in use
        self.protected = [os.path.realpath(p) for p in protected or []]
        configured = list(roots if roots is not None else DEFAULT_ROOTS)
        self.any_path = "*" in configured
        if configured == DEFAULT_ROOTS:
            import tempfile

            configured.append(tempfile.gettempdir())
        resolved: list[str] = []
        for root in configured:
            if root == "*":
                continue
            real = os.path.realpath(os.path.expanduser(root))
            if real not in resolved:
                resolved.append(real)
        self.roots = resolved
        self.max_file_size = max_file_size

    def allows(self, real: str) -> bool:
        from ..config import is_process_info, is_protected

        if is_protected(real, extra=self.protected):  # config files: a run may not grant the next
            return False
        if is_process_info(real):  # /proc/<pid>/environ holds the user's keys
            return False
        if is_protected(real, writing=True, extra=self.protected) and not _full_dir(real):
            return False  # a folder above one that a copy/move could create or replace
        if self.any_path:
            return True
        for root in self.roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return True
        return False

    def check(self, path: object, param: str = "path") -> Path:
        """Resolve ``path`` and refuse it unless it lies inside an allowed root."""
        if not isinstance(path, str) or not path:
            raise ToolValidationError(f"Parameter '{param}' must be a non-empty path string")
        if "\x00" in path:
            raise SecurityViolation(f"Path contains a NUL byte: {path!r}")
        real = os.path.realpath(os.path.expanduser(path))
        if not self.allows(real):
            from ..config import is_process_info, is_protected

            if is_protected(real, extra=self.protected):
                raise SecurityViolation(f"Path '{path}' is a llmspell config location; "
                                        "scripts may not touch it (rights come from the user)")
            if is_process_info(real):
                raise SecurityViolation(f"Path '{path}' is a process's own information "
                                        "(/proc/<pid>: its environment holds secrets)")
            roots = ", ".join(self.roots) or "none"
            raise SecurityViolation(
                f"Path '{path}' is outside the allowed paths ({roots}); "
                "see [tools.file_operations] allowed_paths")
        return Path(real)

    def read_bytes(self, path: object, param: str = "path", limit: int | None = None) -> bytes:
        """Check, then read a whole file no larger than ``limit`` (default max_file_size)."""
        real = self.check(path, param)
        cap = self.max_file_size if limit is None else limit
        try:
            size = real.stat().st_size
            if not real.is_file():
                raise ToolStorageError(f"Not a file: {path}")
            if size > cap:
                raise ToolValidationError(
                    f"File too large: {path} is {size} bytes (limit {cap} bytes)")
            with real.open("rb") as fh:
                data = fh.read(cap + 1)
        except FileNotFoundError:
            raise ToolStorageError(f"File not found: {path}") from None
        except PermissionError:
            raise ToolStorageError(f"Permission denied: {path}") from None
        except IsADirectoryError:
            raise ToolStorageError(f"Not a file: {path}") from None
        if len(data) > cap:
            raise ToolValidationError(f"File too large: {path} (limit {cap} bytes)")
        return data

    def read_text(self, path: object, param: str = "path", limit: int | None = None) -> str:
        return self.read_bytes(path, param, limit).decode("utf-8", "replace")
