"""Filesystem tools: file_operations, archive_handler, file_converter, file_search,
file_watcher. Every path goes through ``ctx.guard`` (paths.py).

Output quirk kept from upstream: these tools' text is a human message (``read``: the file
content) and the JSON envelope travels in ``metadata.response``.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SecurityViolation, ToolError, ToolStorageError, ToolValidationError
from .registry import ToolOutput, ToolSpec, envelope, message_output
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext

MAX_DIR_ENTRIES = 1000


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "unknown"


def atomic_write(path: Path, data: bytes, append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if append:
        with path.open("ab") as fh:
            fh.write(data)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_FILE_OPS = {
    "read": "read", "write": "write", "append": "append", "delete": "delete",
    "create_dir": "create_dir", "mkdir": "create_dir",
    "list_dir": "list_dir", "ls": "list_dir", "dir": "list_dir",
    "copy": "copy", "cp": "copy", "move": "move", "mv": "move", "rename": "move",
    "metadata": "metadata", "stat": "metadata", "info": "metadata", "exists": "exists",
}


def _done(op: str, message: str, result: Any = None, meta: dict[str, Any] | None = None,
          text: str | None = None) -> ToolOutput:
    env = envelope(op, message=message, **({} if result is None else {"result": result}),
                   metadata=meta)
    return message_output(message, env, text)


def _write(ctx: ToolContext, p: Params, op: str) -> ToolOutput:
    path_text = p.req_str("path")
    content = p.data.get("input")
    if content is None:
        label = "Write" if op == "write" else "Append"
        raise ToolValidationError(f"{label} operation requires 'input' parameter")
    if not isinstance(content, str):
        raise ToolValidationError("Parameter 'input' must be a string")
    data = content.encode("utf-8", "surrogateescape")
    try:
        path = ctx.guard.check(path_text)
        if len(data) > ctx.guard.max_file_size:
            raise ToolValidationError(f"Content too large: {len(data)} bytes "
                                      f"(limit {ctx.guard.max_file_size} bytes)")
        if op == "append" and path.exists() and (
                path.stat().st_size + len(data) > ctx.guard.max_file_size):
            raise ToolValidationError("File would exceed the maximum file size")
        atomic_write(path, data, append=op == "append")
    except (ToolError, OSError) as exc:
        if op == "append":
            if isinstance(exc, ToolError):
                raise
            raise ToolStorageError(f"Cannot append to {path_text}: {exc.strerror}") from None
        err = str(exc) if isinstance(exc, ToolError) else \
            f"Tool execution error: cannot write {path_text}: {exc.strerror or exc}"
        kind = ("security_violation" if isinstance(exc, SecurityViolation) else
                "validation_error" if isinstance(exc, ToolValidationError) else
                "execution_error")
        env = envelope("write", success=False, error=err,
                       result={"path": path_text, "error_type": kind})
        return message_output(f"Operation 'write' failed: {err}", env)
    if op == "append":
        return _done("append", f"Appended {len(data)} bytes to {path_text}",
                     {"appended_size": len(data)},
                     {"file_path": path_text, "appended_size": len(data)})
    return _done("write", f"Wrote {len(data)} bytes to {path_text}", None,
                 {"file_path": path_text, "file_size": len(data)})


def _file_operations(ctx: ToolContext, p: Params) -> ToolOutput:
    op_name = p.req_str("operation")
    op = _FILE_OPS.get(op_name)
    if op is None:
        raise ToolValidationError(f"Unknown file operation: {op_name}")
    if op in ("write", "append"):
        return _write(ctx, p, op)
    if op in ("copy", "move"):
        src_text, dst_text = p.req_str("source_path"), p.req_str("target_path")
        src = ctx.guard.check(src_text, "source_path")
        dst = ctx.guard.check(dst_text, "target_path")
        if not src.exists():
            raise ToolStorageError(f"Source does not exist: {src_text}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if op == "copy":
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
            verb = "Copied"
        else:
            shutil.move(str(src), str(dst))
            verb = "Moved"
        return _done(op, f"{verb} {src_text} to {dst_text}",
                     {"source": src_text, "target": dst_text})
    path_text = p.req_str("path")
    path = ctx.guard.check(path_text)
    if op == "read":
        data = ctx.guard.read_bytes(path_text)
        content = data.decode("utf-8", "replace")
        msg = f"Read {len(data)} bytes from {path_text}"
        env = envelope("read", message=msg, result={"input": content, "size": len(data)},
                       metadata={"file_path": path_text, "file_size": len(data)})
        return message_output(msg, env, text=content)
    if op == "exists":
        there = os.path.lexists(path)
        return _done("exists", f"Path {path_text} {'exists' if there else 'does not exist'}",
                     {"exists": there})
    if op == "create_dir":
        recursive = p.bool("recursive", False)
        try:
            if recursive:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.mkdir()
        except FileExistsError:
            raise ToolStorageError(f"Path already exists: {path_text}") from None
        except FileNotFoundError:
            raise ToolStorageError(f"Parent directory does not exist: {path_text} "
                                   "(use recursive=true)") from None
        return _done("create_dir", f"Created directory {path_text}", {"recursive": recursive})
    if not os.path.lexists(path):
        raise ToolStorageError(f"Path does not exist: {path_text}")
    if op == "delete":
        if path.is_dir():
            if p.bool("recursive", False):
                shutil.rmtree(path)
            else:
                try:
                    path.rmdir()
                except OSError:
                    raise ToolStorageError(f"Directory not empty: {path_text} "
                                           "(use recursive=true)") from None
        else:
            path.unlink()
        return _done("delete", f"Deleted {path_text}")
    if op == "list_dir":
        if not path.is_dir():
            raise ToolStorageError(f"Not a directory: {path_text}")
        entries = []
        with os.scandir(path) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if len(entries) >= MAX_DIR_ENTRIES:
                    break
                st = entry.stat(follow_symlinks=False)
                entries.append({"name": entry.name, "path": os.path.join(path_text, entry.name),
                                "type": _kind(st), "size": st.st_size,
                                "modified": rfc3339(st.st_mtime)})
        return _done("list_dir", f"Listed {len(entries)} entries in {path_text}",
                     {"entries": entries, "count": len(entries)})
    # metadata
    st = path.stat()
    created = getattr(st, "st_birthtime", st.st_ctime)
    info = {"path": path_text, "type": _kind(st), "size": st.st_size,
            "readonly": not os.access(path, os.W_OK), "created": rfc3339(created),
            "modified": rfc3339(st.st_mtime), "accessed": rfc3339(st.st_atime)}
    return _done("metadata", f"Retrieved metadata for {path_text}", info)


FILE_OPERATIONS = ToolSpec(
    name="file_operations",
    category="filesystem",
    security_level="privileged",
    description="File system operations (read, write, append, delete, create_dir, list_dir, "
                "copy, move, metadata, exists) inside the allowed paths",
    params=[
        Param("operation", "string", "read | write | append | delete | create_dir (mkdir) | "
              "list_dir (ls, dir) | copy (cp) | move (mv, rename) | metadata (stat, info) | "
              "exists", required=True),
        Param("path", "string", "File or directory path"),
        Param("input", "string", "Content for write and append"),
        Param("source_path", "string", "Source for copy and move"),
        Param("target_path", "string", "Target for copy and move"),
        Param("recursive", "boolean", "create_dir: make parents; delete: remove a directory "
              "tree", default=False),
    ],
    execute=_file_operations,
)

TOOLS: list[ToolSpec] = [FILE_OPERATIONS]
