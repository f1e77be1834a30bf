"""Per-run provider set-up for the CLI: cassettes (``--record``/``--playback``), usage, and
where ``--stream`` shows agent replies.

Light on purpose (no httpx): the CLI imports it before every run.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import LLMSpellError
from .usage import METER

_reply_stream: Callable[[str], None] | None = None
_streaming = threading.Lock()  # one reply on the terminal at a time


def begin_run(record: Path | None = None, playback: Path | None = None,
              stream: Callable[[str], None] | None = None) -> None:
    """Reset the usage totals, activate the cassette the flags ask for, and set where agent
    replies are shown as they arrive (``--stream``; None: nowhere)."""
    global _reply_stream
    METER.reset()
    _reply_stream = stream
    if record is not None and playback is not None:
        raise LLMSpellError("--record and --playback cannot be used together")
    if record is None and playback is None and "llmspell.providers.cassette" not in sys.modules:
        return  # nothing to undo; LLMSPELL_PLAYBACK is read when a client is built
    from . import cassette

    if record is not None:
        tape = cassette.Cassette(record, "record")
        tape.save()  # the file exists (empty) even if the script makes no call
        cassette.activate(tape)
    elif playback is not None:
        cassette.activate(cassette.Cassette(playback, "playback"))
    else:
        cassette.activate(None)  # LLMSPELL_PLAYBACK still applies


def usage_lines() -> list[str]:
    """The line ``--output pretty`` prints beside the execution time (none if no calls)."""
    return [METER.summary()] if METER.requests else []


def print_usage() -> None:
    """``--usage``: the totals on stderr (stdout stays the script's own output)."""
    sys.stderr.write(METER.summary() + "\n")
    for model, (requests, prompt, completion) in sorted(METER.by_model.items()):
        sys.stderr.write(f"  {model}: {prompt + completion} tokens (prompt {prompt}, "
                         f"completion {completion}) in {requests} request"
                         f"{'' if requests == 1 else 's'}\n")
    sys.stderr.flush()


def with_reply_stream(client: Any) -> Any:
    """``client``, showing its chat replies as they arrive when ``--stream`` asked for it
    (``ProviderManager`` wraps every agent's client here)."""
    return client if _reply_stream is None else StreamedReplies(client, _reply_stream)


class StreamedReplies:
    """A chat client whose replies stream to ``sink`` piece by piece (``--stream``), then a
    newline if the reply did not end with one. A call that streams to its own callback
    (``agent:invokeStream``) is left to it; while one reply is being shown, a concurrent
    one (parallel workflow steps) arrives whole, so replies never interleave. The caller
    still gets the whole reply."""

    def __init__(self, inner: Any, sink: Callable[[str], None]) -> None:
        self._inner = inner
        self._sink = sink

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def chat(self, request: Any, on_chunk: Callable[[str], None] | None = None) -> Any:
        if on_chunk is not None or not _streaming.acquire(blocking=False):
            return self._inner.chat(request, on_chunk)
        last = [""]

        def show(piece: str) -> None:
            if piece:
                last[0] = piece[-1]
                self._sink(piece)

        try:
            return self._inner.chat(request, show)
        finally:
            try:
                if last[0] and last[0] != "\n":
                    self._sink("\n")
            finally:
                _streaming.release()
