"""Per-run provider set-up for the CLI: cassettes (``--record``/``--playback``) and usage.

Light on purpose (no httpx): the CLI imports it before every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import LLMSpellError
from .usage import METER


def begin_run(record: Path | None = None, playback: Path | None = None) -> None:
    """Reset the usage totals and activate the cassette the flags ask for."""
    METER.reset()
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
