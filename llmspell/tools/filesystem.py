"""Filesystem tools: file_operations, archive_handler, file_converter, file_search,
file_watcher. Every path goes through ``ctx.guard`` (paths.py).

Output quirk kept from upstream: these tools' text is a human message (``read``: the file
content) and the JSON envelope travels in ``metadata.response``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..paths import write_atomically
from ..secret_filter import contains_secret
from .errors import SecurityViolation, ToolError, ToolStorageError, ToolValidationError
from .registry import ToolOutput, ToolSpec, envelope, message_output, ok, timestamp
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext

MAX_DIR_ENTRIES = 1000


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "unknown"


def atomic_write(path: Path, data: bytes, append: bool = False) -> None:
    if append:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as fh:
            fh.write(data)
        return
    write_atomically(path, data)


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


def _check_tree_links(ctx: ToolContext, src: Path, dst: Path) -> None:
    """Before a folder copy: every link in ``src`` must lead inside the allowed paths, both
    where it is and where its copy will be (a relative link changes meaning when moved);
    special files (FIFOs, devices) are refused. The copy keeps links as links."""
    for dirpath, dirnames, filenames in os.walk(src):  # does not follow links
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                target = os.readlink(path)
                copied = os.path.join(dst, os.path.relpath(path, src))
                for where in (path, copied):
                    resolved = os.path.realpath(os.path.join(os.path.dirname(where), target))
                    if not ctx.guard.allows(resolved):
                        raise SecurityViolation(
                            f"Cannot copy {path}: it is a link to {target}, outside the "
                            "allowed paths")
            elif not (os.path.isdir(path) or os.path.isfile(path)):
                raise SecurityViolation(f"Cannot copy {path}: not a regular file or folder")


def _file_operations(ctx: ToolContext, p: Params) -> ToolOutput:
    if ctx.get("tools.file_operations.enabled") is False:
        raise ToolValidationError("file_operations is disabled ([tools.file_operations] "
                                  "enabled = false)")
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
        if dst.is_dir() and (op == "move" or not src.is_dir()):
            # shutil puts the source *inside* an existing folder: check where it lands
            # (a `.llmspell` folder moved onto the home folder is the user's config)
            dst = ctx.guard.check(str(dst / src.name), "target_path")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if op == "copy":
            if src.is_dir():
                _check_tree_links(ctx, src, dst)
                shutil.copytree(src, dst, symlinks=True)
            elif src.is_file():
                shutil.copy2(src, dst)
            else:
                raise SecurityViolation(f"Not a regular file or folder: {src_text}")
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
                                "modified": timestamp(st.st_mtime)})
        return _done("list_dir", f"Listed {len(entries)} entries in {path_text}",
                     {"entries": entries, "count": len(entries)})
    # metadata
    st = path.stat()
    created = getattr(st, "st_birthtime", st.st_ctime)
    info = {"path": path_text, "type": _kind(st), "size": st.st_size,
            "readonly": not os.access(path, os.W_OK), "created": timestamp(created),
            "modified": timestamp(st.st_mtime), "accessed": timestamp(st.st_atime)}
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



# -- archive_handler ------------------------------------------------------------------

MAX_MEMBER = 100 * 1024 * 1024
MAX_TOTAL = 1024 * 1024 * 1024
MAX_MEMBERS = 10_000
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024  # below this, any ratio is fine


def _expansion_budget(archive: Path) -> int:
    """How many bytes an archive may expand to: at most MAX_TOTAL, and at most MAX_RATIO
    times its own size (above RATIO_FLOOR). Holds for the sum of all members, whatever
    their sizes, and is counted again while writing (headers can lie)."""
    return min(MAX_TOTAL, max(RATIO_FLOOR, MAX_RATIO * archive.stat().st_size))


def _over_budget(total: int, budget: int) -> SecurityViolation:
    if budget >= MAX_TOTAL:
        return SecurityViolation(f"Archive expands to more than {MAX_TOTAL} bytes")
    return SecurityViolation(f"Archive expands to more than {budget} bytes, over {MAX_RATIO} "
                             "times its own size (possible zip bomb)")


def _archive_format(path: str) -> str:
    low = path.lower()
    if low.endswith(".zip"):
        return "ZIP"
    if low.endswith((".tar.gz", ".tgz")):
        return "TAR.GZ"
    if low.endswith(".tar"):
        return "TAR"
    if low.endswith(".gz"):
        return "GZ"  # one gzip-compressed file
    raise ToolValidationError(f"Unsupported archive format: {path} (.zip, .tar, .tar.gz, "
                              ".tgz, .gz)")


def _safe_member(name: str) -> str:
    clean = name.replace("\\", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean) or ".." in parts or not parts:
        raise SecurityViolation(f"Archive entry has an unsafe path: {name}")
    return "/".join(parts)


def _members(path: Path, fmt: str) -> list[dict[str, Any]]:
    import tarfile
    import zipfile

    out = []
    if fmt == "ZIP":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                out.append({"name": info.filename, "size": info.file_size,
                            "compressed_size": info.compress_size, "is_dir": info.is_dir(),
                            "kind": "dir" if info.is_dir() else "file"})
    elif fmt == "GZ":
        out.append({"name": "<compressed file>", "compressed_size": path.stat().st_size,
                    "kind": "gz"})
    else:
        with tarfile.open(path, "r:*") as tf:
            for m in tf.getmembers():
                kind = ("dir" if m.isdir() else "file" if m.isfile() else
                        "symlink" if m.issym() or m.islnk() else "special")
                out.append({"name": m.name, "size": m.size, "is_dir": m.isdir(), "kind": kind})
    return out


def _gunzip(ctx: ToolContext, archive: Path, target: Path) -> tuple[list[str], int]:
    import gzip

    name = archive.name[:-3] if archive.name.lower().endswith(".gz") else archive.stem
    out = ctx.guard.check(str(target / _safe_member(name)), "target_path")
    target.mkdir(parents=True, exist_ok=True)
    size = 0
    budget = min(MAX_MEMBER, _expansion_budget(archive))
    with gzip.open(archive, "rb") as src, out.open("wb") as dst:
        while chunk := src.read(1 << 16):
            size += len(chunk)
            if size > budget:
                raise _over_budget(size, budget)
            dst.write(chunk)
    return [str(out)], size


def _extract(ctx: ToolContext, archive: Path, fmt: str, target: Path) -> tuple[list[str], int]:
    import tarfile
    import zipfile

    if fmt == "GZ":
        return _gunzip(ctx, archive, target)
    members = _members(archive, fmt)
    if len(members) > MAX_MEMBERS:
        raise SecurityViolation(f"Archive has too many entries ({len(members)} > "
                                f"{MAX_MEMBERS})")
    total = 0
    for m in members:
        _safe_member(m["name"])
        if m["kind"] in ("symlink", "special"):
            raise SecurityViolation(f"Archive entry is a link or special file: {m['name']}")
        if m["size"] > MAX_MEMBER:
            raise SecurityViolation(f"Archive entry too large: {m['name']} ({m['size']} bytes)")
        if m.get("compressed_size") and m["size"] > RATIO_FLOOR and \
                m["size"] / max(1, m["compressed_size"]) > MAX_RATIO:
            raise SecurityViolation(f"Suspicious compression ratio for {m['name']} "
                                    "(possible zip bomb)")
        total += m["size"]
    budget = _expansion_budget(archive)
    if total > budget:
        raise _over_budget(total, budget)
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    size = 0

    def dest(name: str) -> Path:
        out = ctx.guard.check(str(target / _safe_member(name)), "target_path")
        if not out.is_relative_to(target):
            raise SecurityViolation(f"Archive entry escapes the target directory: {name}")
        return out

    def copy(src: Any, out: Path, name: str) -> int:
        out.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with out.open("wb") as fh:
            while chunk := src.read(1 << 16):
                n += len(chunk)
                if n > MAX_MEMBER:
                    raise SecurityViolation(f"Archive entry larger than declared: {name}")
                if size + n > budget:
                    raise _over_budget(size + n, budget)
                fh.write(chunk)
        return n

    if fmt == "ZIP":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                out = dest(info.filename)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(info) as src:
                    size += copy(src, out, info.filename)
                written.append(str(out))
    else:
        with tarfile.open(archive, "r:*") as tf:
            for m in tf.getmembers():
                out = dest(m.name)
                if m.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                src = tf.extractfile(m)
                if src is None:
                    continue
                with src:
                    size += copy(src, out, m.name)
                written.append(str(out))
    return written, size


def _refuse_secret_members(entries: list[tuple[Path, str, str]]) -> None:
    """A file holding a known secret is not archived: compressed, the secret filter could
    no longer find it in what the script reads back (as for ``base64_encoder``)."""
    from ..secret_filter import secret_values

    values = secret_values()
    if not values:
        return
    overlap = max(len(v.encode("utf-8", "surrogateescape")) for v in values)
    for src, _, shown in entries:
        tail = b""
        with src.open("rb") as f:
            while chunk := f.read(1 << 20):
                if contains_secret(tail + chunk, values):
                    raise SecurityViolation(f"File '{shown}' contains a secret value (a key "
                                            "from the environment or config); it is not "
                                            "archived")
                tail = chunk[-overlap:]


def _archive(ctx: ToolContext, p: Params) -> ToolOutput:
    import tarfile
    import zipfile

    op = p.req_str("operation")
    path_text = p.req_str("path")
    fmt = _archive_format(path_text)
    path = ctx.guard.check(path_text)
    if op == "list":
        if not path.is_file():
            raise ToolStorageError(f"Archive not found: {path_text}")
        try:
            files = [{k: v for k, v in m.items() if k != "kind"} for m in _members(path, fmt)]
        except (zipfile.BadZipFile, tarfile.TarError) as exc:
            raise ToolError(f"Cannot read archive {path_text}: {exc}") from None
        return _done("list", f"Listed {len(files)} files in {fmt} archive",
                     {"format": fmt, "files": files, "file_count": len(files)})
    if op == "extract":
        target_text = p.req_str("target_path")
        target = ctx.guard.check(target_text, "target_path")
        if not path.is_file():
            raise ToolStorageError(f"Archive not found: {path_text}")
        try:
            files, size = _extract(ctx, path, fmt, target)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, ToolError):
                raise
            raise ToolError(f"Cannot read archive {path_text}: {exc}") from None
        return _done("extract", f"Extracted {len(files)} files ({size} bytes) to {target_text}",
                     {"extracted_files": files, "total_size": size, "output_dir": target_text})
    if op == "create":
        inputs = p.str_list("input", required=True)
        if not inputs:
            raise ToolValidationError("Create operation requires a non-empty 'input' list")
        entries: list[tuple[Path, str, str]] = []  # (real path, name in archive, shown)
        for item in inputs:
            src = ctx.guard.check(item, "input")
            if src.is_dir():
                for f in sorted(src.rglob("*")):
                    real = ctx.guard.check(str(f), "input")
                    if real.is_file():
                        entries.append((real, f"{src.name}/{f.relative_to(src).as_posix()}",
                                        str(f)))
            elif src.is_file():
                entries.append((src, src.name, item))
            else:
                raise ToolStorageError(f"File not found: {item}")
        if len(entries) > MAX_MEMBERS:
            raise ToolValidationError(f"Too many files ({len(entries)} > {MAX_MEMBERS})")
        _refuse_secret_members(entries)
        path.parent.mkdir(parents=True, exist_ok=True)
        level = p.int("compression_level", 6)
        if fmt == "ZIP":
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
                for src, name, _ in entries:
                    zf.write(src, name)
        elif fmt == "GZ":
            import gzip

            if len(entries) != 1 or len(inputs) != 1:
                raise ToolValidationError("GZ format can only compress a single file")
            with entries[0][0].open("rb") as fin, gzip.open(path, "wb", compresslevel=level) \
                    as fout:
                shutil.copyfileobj(fin, fout)
        else:
            mode = "w:gz" if fmt == "TAR.GZ" else "w"
            kwargs = {"compresslevel": level} if fmt == "TAR.GZ" else {}
            with tarfile.open(path, mode, **kwargs) as tf:  # type: ignore[call-overload]
                for src, name, _ in entries:
                    tf.add(src, name, recursive=False)
        total = sum(src.stat().st_size for src, _, _ in entries)
        return _done("create", f"Created archive with {len(entries)} files ({total} bytes)",
                     {"archive_path": path_text, "archived_files": [s for _, _, s in entries],
                      "total_size": total, "compression_level": level})
    raise ToolValidationError(f"Invalid operation: {op} (extract, create, list)")


ARCHIVE_HANDLER = ToolSpec(
    name="archive_handler", category="filesystem", security_level="restricted",
    description="Create, extract and list zip, tar and tar.gz archives inside the allowed "
                "paths, with zip-bomb and path-traversal guards",
    params=[
        Param("operation", "string", "extract | create | list", required=True),
        Param("path", "string", "The archive file", required=True),
        Param("target_path", "string", "extract: output directory"),
        Param("input", "array", "create: files or directories to add"),
        Param("compression_level", "integer", "0-9", default=6),
    ],
    execute=_archive,
)


# -- file_converter -------------------------------------------------------------------

_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "utf16le": "utf-16-le", "utf-16le": "utf-16-le",
              "utf16be": "utf-16-be", "utf-16be": "utf-16-be", "windows1252": "cp1252",
              "windows-1252": "cp1252", "iso88591": "latin-1", "iso-8859-1": "latin-1",
              "ascii": "ascii"}


def _detect(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith(b"\xff\xfe"):
        return "utf-16"
    if data.startswith(b"\xfe\xff"):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _check_converted_size(ctx: ToolContext, size: int) -> None:
    """A converted file is at most ``max_file_size`` bytes, like any file a tool writes."""
    if size > ctx.guard.max_file_size:
        raise ToolValidationError(f"The converted file would be {size} bytes (limit "
                                  f"{ctx.guard.max_file_size} bytes)")


def _converter(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.req_str("operation")
    src_text = p.req_str("path")
    data = ctx.guard.read_bytes(src_text)
    if op == "encoding" and contains_secret(data):  # UTF-16 would hide it from the filter
        raise SecurityViolation(f"File '{src_text}' contains a secret value (a key from the "
                                "environment or config); its encoding is not converted")
    dst_text = p.str("target_path") or src_text
    dst = ctx.guard.check(dst_text, "target_path")
    if op == "encoding":
        to_name = p.req_str("to_encoding").lower()
        if to_name not in _ENCODINGS:
            raise ToolValidationError(f"Unsupported encoding: {to_name}")
        from_name = p.str("from_encoding")
        if from_name is not None and from_name.lower() not in _ENCODINGS:
            raise ToolValidationError(f"Unsupported encoding: {from_name}")
        source_codec = _ENCODINGS[from_name.lower()] if from_name else _detect(data)
        try:
            text = data.decode(source_codec)
            out = text.encode(_ENCODINGS[to_name])
        except UnicodeError as exc:
            raise ToolError(f"Encoding conversion failed: {exc}") from None
    elif op == "line_endings":
        ending = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}.get(p.req_str("line_ending").lower())
        if ending is None:
            raise ToolValidationError("line_ending must be lf, crlf or cr")
        codec = _detect(data)
        text = data.decode(codec)
        out = re.sub(r"\r\n|\r|\n", ending, text).encode(codec if codec != "utf-16" else
                                                         "utf-16")
    elif op == "indentation":
        codec = _detect(data)
        text = data.decode(codec)
        size = max(1, p.int("tab_size", 4))
        if p.bool("convert_to_spaces", True):
            # each tab becomes up to `size` spaces: refuse before building a huge text
            _check_converted_size(ctx, len(data) + text.count("\t") * (size - 1))
            lines = [re.sub(r"^[ \t]+", lambda m: m.group(0).expandtabs(size), line)
                     for line in text.splitlines(keepends=True)]
        else:
            lines = [re.sub(r"^ +", lambda m: "\t" * (len(m.group(0)) // size) +
                            " " * (len(m.group(0)) % size), line)
                     for line in text.splitlines(keepends=True)]
        out = "".join(lines).encode(codec)
    else:
        raise ToolValidationError(f"Invalid operation: {op} (encoding, line_endings, "
                                  "indentation)")
    _check_converted_size(ctx, len(out))
    atomic_write(dst, out)
    return _done(op, "File conversion completed successfully",
                 {"input_path": src_text, "output_path": dst_text, "operation": op})


FILE_CONVERTER = ToolSpec(
    name="file_converter", category="filesystem", security_level="restricted",
    description="Convert a text file's encoding, line endings or indentation (tabs and "
                "spaces)",
    params=[
        Param("operation", "string", "encoding | line_endings | indentation", required=True),
        Param("path", "string", "Input file", required=True),
        Param("target_path", "string", "Output file (default: overwrite input)"),
        Param("from_encoding", "string", "Source encoding (default: detect)"),
        Param("to_encoding", "string", "utf8 | utf16le | utf16be | windows1252 | iso88591 | "
              "ascii"),
        Param("line_ending", "string", "lf | crlf | cr"),
        Param("convert_to_spaces", "boolean", "Tabs to spaces (false: spaces to tabs)",
              default=True),
        Param("tab_size", "integer", "Spaces per tab", default=4),
    ],
    execute=_converter,
)


# -- file_search ----------------------------------------------------------------------

DEFAULT_EXCLUDED_DIRS = [".git", ".svn", ".hg", "node_modules", "target", "__pycache__",
                         ".venv", "venv", "dist", "build"]
MAX_RESULTS = 1000


def _search(ctx: ToolContext, p: Params) -> ToolOutput:
    path_text = p.req_str("path")
    pattern = p.req_str("pattern")
    root = ctx.guard.check(path_text)
    if not root.exists():
        raise ToolStorageError(f"Path not found: {path_text}")
    from .patterns import compile_pattern, search

    rx = compile_pattern(pattern if p.bool("use_regex", False) else re.escape(pattern),
                         ignore_case=not p.bool("case_sensitive", False))
    deadline = time.monotonic() + ctx.timeout(30.0)
    context = min(10, max(0, p.int("context_lines", 2)))
    max_depth = min(20, max(0, p.int("max_depth", 20)))
    max_size = min(p.int("max_file_size", 10 * 1024 * 1024), ctx.guard.max_file_size)
    per_file = p.int("max_matches_per_file", 100)
    include = {e.lower().lstrip(".") for e in (p.str_list("include_extensions", []) or [])}
    exclude = {e.lower().lstrip(".") for e in (p.str_list("exclude_extensions", []) or [])}
    excluded_dirs = set(p.str_list("exclude_dirs", None) or DEFAULT_EXCLUDED_DIRS)
    recursive = p.bool("recursive", True)

    files: list[Path] = []
    if root.is_file():
        files = [root]
    else:
        for current, dirs, names in os.walk(root):
            depth = len(Path(current).relative_to(root).parts)
            dirs[:] = sorted(d for d in dirs if d not in excluded_dirs and recursive and
                             depth < max_depth)
            files.extend(Path(current) / n for n in sorted(names))
    matches: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    searched = 0
    for f in files:
        if len(matches) >= MAX_RESULTS:
            break
        ext = f.suffix.lower().lstrip(".")
        if (include and ext not in include) or ext in exclude:
            continue
        real = os.path.realpath(f)
        if not ctx.guard.allows(real):
            skipped.append({"file_path": str(f), "reason": "outside allowed paths"})
            continue
        try:
            st = f.stat()
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read for ever
                skipped.append({"file_path": str(f), "reason": "not a regular file"})
                continue
            if st.st_size > max_size:
                skipped.append({"file_path": str(f), "reason": "file too large"})
                continue
            data = f.read_bytes()
        except OSError as exc:
            skipped.append({"file_path": str(f), "reason": exc.strerror or str(exc)})
            continue
        if b"\x00" in data[:8192]:
            skipped.append({"file_path": str(f), "reason": "binary file"})
            continue
        searched += 1
        lines = data.decode("utf-8", "replace").splitlines()
        found = 0
        for i, line in enumerate(lines):
            m = search(rx, line, deadline - time.monotonic())
            if not m:
                continue
            matches.append({"file_path": str(f), "line_number": i + 1,
                            "column_number": m.start() + 1, "line_content": line,
                            "matched_text": m.group(0),
                            "context_before": lines[max(0, i - context):i],
                            "context_after": lines[i + 1:i + 1 + context]})
            found += 1
            if found >= per_file or len(matches) >= MAX_RESULTS:
                break
    message = (f"Found {len(matches)} matches across {searched} files. Search pattern: "
               f"'{pattern}'" if matches else
               f"No matches found in {searched} files searched. Search pattern: '{pattern}'")
    return _done("search", message, {
        "matches": matches, "summary": {"total_matches": len(matches),
                                        "files_searched": searched,
                                        "files_skipped": len(skipped),
                                        "has_matches": bool(matches)},
        "skipped_files": skipped})


FILE_SEARCH = ToolSpec(
    name="file_search", category="filesystem", security_level="restricted",
    description="Search file contents for text or a regex (like grep) in a file or directory "
                "tree, with context lines and extension filters",
    params=[
        Param("path", "string", "File or directory", required=True),
        Param("pattern", "string", "Text or regex to find", required=True),
        Param("use_regex", "boolean", "Treat pattern as a regex", default=False),
        Param("recursive", "boolean", "Descend into directories", default=True),
        Param("case_sensitive", "boolean", "Case-sensitive match", default=False),
        Param("context_lines", "integer", "Lines of context (max 10)", default=2),
        Param("max_depth", "integer", "Directory depth (max 20)", default=20),
        Param("include_extensions", "array", "Only these extensions"),
        Param("exclude_extensions", "array", "Skip these extensions"),
        Param("exclude_dirs", "array", "Skip these directory names"),
        Param("max_file_size", "integer", "Skip larger files (bytes)", default=10485760),
        Param("max_matches_per_file", "integer", "Per-file match cap", default=100),
    ],
    execute=_search,
)


# -- file_watcher ---------------------------------------------------------------------

def _snapshot(paths: list[Path], recursive: bool, pattern: str | None) -> dict[str, Any]:
    import fnmatch

    state: dict[str, Any] = {}

    def add(f: Path) -> None:
        if pattern and not fnmatch.fnmatch(f.name, pattern):
            return
        try:
            st = f.stat()
        except OSError:
            return
        state[str(f)] = (st.st_mtime_ns, st.st_size, st.st_ino)

    for root in paths:
        if root.is_file():
            add(root)
        elif root.is_dir():
            walker = root.rglob("*") if recursive else root.iterdir()
            for f in walker:
                if f.is_file():
                    add(f)
    return state


def _watcher(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.req_str("operation")
    if op == "config":
        return ok("config", {"max_events": 1000, "default_timeout": 300,
                             "default_debounce_ms": 100, "max_paths": 100},
                  "File watcher configuration")
    if op != "watch":
        raise ToolValidationError(f"Invalid operation: {op} (watch, config)")
    raw = p.str_list("input", required=True)
    if not raw or len(raw) > 100:
        raise ToolValidationError("watch needs between 1 and 100 paths in 'input'")
    paths = [ctx.guard.check(x, "input") for x in raw]
    recursive = p.bool("recursive", True)
    pattern = p.str("pattern")
    debounce = max(10, p.int("debounce_ms", 100)) / 1000
    if "timeout_ms" in p:
        timeout = p.int("timeout_ms") / 1000
    else:
        timeout = float(p.number("timeout_seconds", 300))
    timeout = ctx.timeout(max(0.0, timeout))
    max_events = max(1, min(1000, p.int("max_events", 1000)))
    before = _snapshot(paths, recursive, pattern)
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(events) < max_events:
        time.sleep(min(debounce, max(0.0, deadline - time.monotonic())))
        after = _snapshot(paths, recursive, pattern)
        stamp = timestamp()
        gone = {k: v for k, v in before.items() if k not in after}
        new = {k: v for k, v in after.items() if k not in before}
        for old_path, sig in list(gone.items()):
            renamed = next((k for k, v in new.items() if v[2] == sig[2] and v[1] == sig[1]),
                           None)
            if renamed:
                events.append({"event_type": "Rename", "path": renamed, "old_path": old_path,
                               "timestamp": stamp})
                new.pop(renamed)
            else:
                events.append({"event_type": "Delete", "path": old_path, "old_path": None,
                               "timestamp": stamp})
        events.extend({"event_type": "Create", "path": k, "old_path": None,
                       "timestamp": stamp} for k in new)
        events.extend({"event_type": "Modify", "path": k, "old_path": None,
                       "timestamp": stamp}
                      for k, v in after.items() if k in before and before[k] != v)
        before = after
    events = events[:max_events]
    return ok("watch", {"events": events, "event_count": len(events)},
              f"Captured {len(events)} file events")


FILE_WATCHER = ToolSpec(
    name="file_watcher", category="filesystem", security_level="restricted",
    description="Watch files or directories for create/modify/delete/rename events for a "
                "while, then report them",
    params=[
        Param("operation", "string", "watch | config", required=True),
        Param("input", "array", "Paths to watch (max 100)"),
        Param("recursive", "boolean", "Watch subdirectories", default=True),
        Param("pattern", "string", "Glob filter on file names"),
        Param("debounce_ms", "integer", "Polling interval", default=100),
        Param("timeout_ms", "integer", "How long to watch (ms)"),
        Param("timeout_seconds", "number", "How long to watch (s)", default=300),
        Param("max_events", "integer", "Stop after this many events", default=1000),
    ],
    execute=_watcher,
)

TOOLS: list[ToolSpec] = [
    ARCHIVE_HANDLER, FILE_CONVERTER, FILE_OPERATIONS, FILE_SEARCH, FILE_WATCHER,
]
