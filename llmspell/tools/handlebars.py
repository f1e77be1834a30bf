"""A small Handlebars renderer: variables, {{{raw}}}, #if/#unless/#each/#with, else,
comments, ``this``, ``@index``/``@key``/``@first``/``@last`` and ``../`` paths.

Nothing in a template can run code: the only operations are lookups in the context.
Rendering is bounded: the output by ``limit`` characters, the time by ``deadline`` (nested
``#each`` blocks with no output can otherwise loop for hours), checked every few hundred
steps.
"""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

_TAG = re.compile(r"\{\{(\{)?\s*(.*?)\s*\}?\}\}", re.S)
MAX_DEPTH = 100


class HandlebarsError(ValueError):
    pass


def _parse(template: str) -> list[Any]:
    root: list[Any] = []
    stack: list[tuple[str, str, list[Any], list[Any] | None]] = []
    current = root
    pos = 0
    for m in _TAG.finditer(template):
        if m.start() > pos:
            current.append(template[pos:m.start()])
        pos = m.end()
        raw, body = m.group(1), m.group(2)
        if body.startswith("!"):
            continue
        if raw:
            current.append(("var", body, False))
        elif body.startswith("#") or body.startswith("^"):
            parts = body[1:].split(None, 1)
            if not parts:
                raise HandlebarsError("empty block tag")
            helper = parts[0] if body[0] == "#" else "unless"
            arg = parts[1] if len(parts) > 1 else (parts[0] if body[0] == "^" else "")
            if helper not in ("if", "unless", "each", "with"):
                helper, arg = "section", parts[0]
            block: list[Any] = []
            node = ("block", helper, arg, block, None)
            current.append(node)
            stack.append((parts[0], helper, block, None))
            current = block
        elif body == "else":
            if not stack:
                raise HandlebarsError("{{else}} outside a block")
            name, helper, block, _ = stack[-1]
            inverse: list[Any] = []
            stack[-1] = (name, helper, block, inverse)
            current = inverse
        elif body.startswith("/"):
            name = body[1:].strip()
            if not stack or stack[-1][0] != name:
                raise HandlebarsError(f"unexpected closing tag {{{{/{name}}}}}")
            _, _, block, inverse = stack.pop()
            parent = stack[-1][3] if stack and stack[-1][3] is not None else (
                stack[-1][2] if stack else root)
            # find the open node (last block node in parent whose body is `block`)
            for i in range(len(parent) - 1, -1, -1):
                node = parent[i]
                if isinstance(node, tuple) and node[0] == "block" and node[3] is block:
                    parent[i] = ("block", node[1], node[2], block, inverse)
                    break
            current = parent
        elif body.startswith(">"):
            raise HandlebarsError("partials are not supported")
        else:
            current.append(("var", body, True))
    if stack:
        raise HandlebarsError(f"unclosed block {{{{#{stack[-1][0]}}}}}")
    if pos < len(template):
        current.append(template[pos:])
    return root


def _lookup(path: str, frames: list[dict[str, Any]]) -> Any:
    path = path.strip()
    if path.startswith(("\"", "'")) and path.endswith(path[0]):
        return path[1:-1]
    depth = len(frames) - 1
    while path.startswith("../"):
        path = path[3:]
        depth = max(0, depth - 1)
    frame = frames[depth]
    if path.startswith("@"):
        return frame.get("data", {}).get(path[1:])
    value = frame["this"]
    if path in ("this", "."):
        return value
    if path.startswith("this."):
        path = path[5:]
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if value is None and depth == len(frames) - 1 and depth > 0 and "." not in path:
        return _lookup(path, frames[:-1])  # fall back to outer scopes for plain names
    return value


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0) and value != [] and value != {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _render(nodes: list[Any], frames: list[dict[str, Any]], out: _Output) -> None:
    if len(frames) > MAX_DEPTH:
        raise HandlebarsError("template nested too deeply")
    out.step()
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
            continue
        if node[0] == "var":
            text = _text(_lookup(node[1], frames))
            out.append(html.escape(text, quote=True) if node[2] else text)
            continue
        _, helper, arg, block, inverse = node
        value = _lookup(arg, frames) if arg else None
        if helper == "if" or (helper == "section" and not isinstance(value, list | dict)):
            _render(block if _truthy(value) else (inverse or []), frames, out)
        elif helper == "unless":
            _render(inverse or [] if _truthy(value) else block, frames, out)
        elif helper == "with" or (helper == "section" and isinstance(value, dict)):
            if _truthy(value):
                _render(block, [*frames, {"this": value, "data": {}}], out)
            else:
                _render(inverse or [], frames, out)
        else:  # each, or a section over a list
            items = (list(value.items()) if isinstance(value, dict)
                     else list(enumerate(value)) if isinstance(value, list) else [])
            if not items:
                _render(inverse or [], frames, out)
            for n, (key, item) in enumerate(items):
                data = {"index": n, "key": key, "first": n == 0, "last": n == len(items) - 1}
                _render(block, [*frames, {"this": item, "data": data}], out)


class _Output(list):  # type: ignore[type-arg]
    """The rendered pieces, refusing to grow past ``limit`` characters or ``deadline``."""

    def __init__(self, limit: int, deadline: float | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.size = 0
        self.deadline = deadline
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.deadline is not None and self.steps % 256 == 0 and \
                time.monotonic() > self.deadline:
            raise HandlebarsError("rendering ran past its time limit and was stopped")

    def append(self, text: str) -> None:  # type: ignore[override]
        self.size += len(text)
        if self.size > self.limit:
            raise HandlebarsError(f"rendered output exceeds {self.limit} characters")
        super().append(text)


def render(template: str, context: dict[str, Any], limit: int = 10 * 1024 * 1024,
           deadline: float | None = None) -> str:
    out = _Output(limit, deadline)
    _render(_parse(template), [{"this": context, "data": {}}], out)
    return "".join(out)
