"""Named fault points for crash tests: real process death at a chosen moment.

``fault_point("sessions.delete.before_commit")`` does nothing unless the environment
variable ``LLMSPELL_FAULT_POINT`` names that point; then the process sends itself SIGKILL
there (no cleanup, no ``finally``, exactly like a crash or the OOM killer). The tests in
``tests/test_faults_*.py`` use it to kill a writer between two steps that must look
atomic from outside. Scripts cannot set environment variables, so this is not reachable
from a script.
"""

from __future__ import annotations

import os
import signal

ENV = "LLMSPELL_FAULT_POINT"


def fault_point(name: str) -> None:
    """Die here (SIGKILL) when ``LLMSPELL_FAULT_POINT`` names this point."""
    wanted = os.environ.get(ENV)
    if wanted and wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
