"""Run jq programs and Jinja templates in a separate, disposable process.

jq runs in C: a program that never yields (``until(false; .)``) or builds a huge array
(``[range(1e8)]``) cannot be interrupted or capped from inside llmspell, and holds the
GIL while it runs. Jinja runs Python, but a template can loop without output or build
huge values through dozens of filters and methods. So both run in ``sandbox_worker.py``:

- an empty environment (jq's ``$ENV``/``env`` are ``{}``; no secret is in the process);
- a memory cap per request (``RLIMIT_AS``: ``WORKER_MEMORY`` plus 8x the input);
- a time limit per request: llmspell waits in Python (so Ctrl-C and the script's deadline
  interrupt the wait) and kills the process when the time is up or the wait is
  interrupted; the worker also arms ``alarm`` in case llmspell itself dies;
- output caps enforced by the worker and checked again here.

A worker is started on first use (one Python start, ~0.1 s) and reused; a request that
times out, is interrupted or runs out of memory costs that worker, the next request
starts a new one. This is an internal helper process, not a script-chosen program, so
``allow_process_execution`` does not govern it.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ToolError, ToolValidationError

WORKER = Path(__file__).with_name("sandbox_worker.py")
WORKER_MEMORY = 256 * 1024 * 1024
STARTUP_SECONDS = 30.0


class WorkerFailed(ToolError):
    """The worker ran out of time or memory, or died: its process is gone."""


class _Stopped(Exception):
    """The run was stopped (Ctrl-C, deadline) while the worker was busy."""


class _Worker:
    def __init__(self, startup_timeout: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={}, cwd="/",
            start_new_session=True, close_fds=True)
        self.buffer = b""
        try:
            self._send(json.dumps(sys.path).encode())
            if self._frame(time.monotonic() + startup_timeout) != b"ready":
                raise WorkerFailed("the sandbox process did not start")
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _send(self, *frames: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            for data in frames:
                self.proc.stdin.write(struct.pack(">I", len(data)))
                self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerFailed("the sandbox process stopped unexpectedly") from None

    def _fill(self, need: int, deadline: float, stopped: Callable[[], bool]) -> None:
        """Read until ``need`` bytes are buffered. A Python-level wait in short slices: a
        KeyboardInterrupt lands at once, and ``stopped()`` (the run's stop flag) is polled."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while len(self.buffer) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], min(left, 0.1))
            if not ready:
                if stopped():
                    raise _Stopped
                continue
            chunk = os.read(fd, max(65536, need - len(self.buffer)))
            if not chunk:
                raise EOFError
            self.buffer += chunk

    def _frame(self, deadline: float, limit: int = 1 << 31,
               stopped: Callable[[], bool] = lambda: False) -> bytes:
        self._fill(4, deadline, stopped)
        (size,) = struct.unpack(">I", self.buffer[:4])
        if size > limit:
            raise WorkerFailed(f"the sandbox process answered more than {limit} bytes")
        self._fill(4 + size, deadline, stopped)
        data, self.buffer = self.buffer[4:4 + size], self.buffer[4 + size:]
        return data

    def call(self, meta: dict[str, Any], payload: bytes, deadline: float, limit: int,
             stopped: Callable[[], bool]) -> tuple[dict[str, Any], bytes]:
        self._send(json.dumps(meta).encode(), payload)
        reply = json.loads(self._frame(deadline, stopped=stopped))
        body = self._frame(deadline, limit + 1024, stopped)
        return reply, body


_idle: list[_Worker] = []
_lock = threading.Lock()


def _take(startup_timeout: float) -> _Worker:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
    return _Worker(startup_timeout)


def _give_back(worker: _Worker) -> None:
    with _lock:
        if worker.alive() and len(_idle) < 4:
            _idle.append(worker)
            return
    worker.kill()


@atexit.register
def _close_all() -> None:
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.kill()


def run(op: str, fields: dict[str, Any], payload: bytes, *, seconds: float,
        output_limit: int, what: str, startup_seconds: float = STARTUP_SECONDS,
        stopped: Callable[[], bool] = lambda: False) -> bytes:
    """Run request ``op`` in a worker within ``seconds``; the reply body, or ToolError.

    ``what`` names the work in error messages ("jq program", "template"); ``stopped`` is
    polled while waiting (the run's stop flag): when it turns true the worker is killed.
    """
    memory = WORKER_MEMORY + 8 * len(payload)
    meta = dict(fields, op=op, seconds=seconds, memory=memory, output_limit=output_limit)
    worker = _take(max(0.1, min(startup_seconds, STARTUP_SECONDS)))
    try:
        reply, body = worker.call(meta, payload, time.monotonic() + seconds, output_limit,
                                  stopped)
    except _Stopped:
        worker.kill()
        raise WorkerFailed(f"{what} stopped: the script is stopping") from None
    except TimeoutError:
        worker.kill()
        raise WorkerFailed(f"{what} ran longer than {seconds:g} s and was stopped") from None
    except EOFError:
        worker.kill()
        raise WorkerFailed(f"{what} used more than {memory // 2**20} MiB of memory and was "
                           "stopped") from None
    except BaseException:  # Ctrl-C, the script's stop, a broken pipe: never leave it running
        worker.kill()
        raise
    if reply.get("memory"):
        worker.kill()
        raise WorkerFailed(f"{what} used more than {memory // 2**20} MiB of memory and was "
                           "stopped")
    if reply.get("retire"):
        worker.kill()
    else:
        _give_back(worker)
    if not reply.get("ok"):
        error = str(reply.get("error", f"{what} failed"))
        raise ToolValidationError(error) if reply.get("kind") == "validation" \
            else ToolError(error)
    return body
