"""The realmodel tier: llmspell against a real model server, not a fake.

Session fixtures start llama-cpp-python's OpenAI-compatible server (``python -m
llama_cpp.server``) on free loopback ports, serving SmolLM2-135M-Instruct: one for chat
(chat format ``chatml-function-calling``, so tool calling works) and one with
``--embedding`` for RAG. Scripts run through the real ``llmspell`` CLI with a config whose
provider points at the server. Tests assert what a 135M-parameter model can do (non-empty
text, chunk timing, token counts, ``finish_reason``), never what it knows.

Without the ``realmodel`` extra the whole tier is one skip naming the install command;
``LLMSPELL_REQUIRE_REALMODEL=1`` (set by ``.ci/run``) turns that skip into a failure.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from realmodel_support import (
    INSTALL,
    REQUIRE,
    STARTS,
    chat_server,
    embed_server,
    missing,
    own_server,
    run_script,
    server_logs,
    servers,
)

__all__ = ["chat_server", "embed_server", "own_server", "run_script", "server_logs",
           "servers"]

MISSING = missing()
MESSAGE = f"realmodel tier: {MISSING}; install with: {INSTALL}" if MISSING else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the extra: one skipped test stands for the tier (one ``-rs`` line naming
    the install command), the rest are deselected; with LLMSPELL_REQUIRE_REALMODEL=1 the
    run stops with that message instead."""
    if not MISSING:
        return
    here = os.path.dirname(__file__)
    tier = [item for item in items if str(item.path).startswith(here + os.sep)]
    if not tier:
        return
    if os.environ.get(REQUIRE) == "1":
        raise pytest.UsageError(f"{REQUIRE}=1 but the {MESSAGE}")
    tier[0].add_marker(pytest.mark.skip(reason=MESSAGE))
    rest = set(tier[1:])
    config.hook.pytest_deselected(items=tier[1:])
    items[:] = [item for item in items if item not in rest]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STARTS:
        shown = ", ".join(f"{k} {v:.1f}s" for k, v in STARTS.items())
        terminalreporter.write_line(f"realmodel: llama.cpp servers ready after {shown}")
