"""Token usage accumulated over one run (shown by ``--usage`` and ``--output pretty``)."""

from __future__ import annotations

import threading


class Usage:
    """Counts of one run. (A plain class: importing dataclasses costs ~5 ms at start.)"""

    def __init__(self) -> None:
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.by_model: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def add(self, provider: str, model: str, prompt: int | None, completion: int | None
            ) -> None:
        prompt = prompt if type(prompt) is int else None  # a server's odd 'usage' counts 0
        completion = completion if type(completion) is int else None
        with self._lock:
            self.requests += 1
            self.prompt_tokens += prompt or 0
            self.completion_tokens += completion or 0
            row = self.by_model.setdefault(f"{provider}/{model}", [0, 0, 0])
            row[0] += 1
            row[1] += prompt or 0
            row[2] += completion or 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def reset(self) -> None:
        with self._lock:
            self.requests = self.prompt_tokens = self.completion_tokens = 0
            self.by_model.clear()

    def summary(self) -> str:
        return (f"Token usage: {self.total_tokens} tokens (prompt {self.prompt_tokens}, "
                f"completion {self.completion_tokens}) in {self.requests} provider request"
                f"{'' if self.requests == 1 else 's'}")

    def as_dict(self) -> dict[str, object]:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "total_tokens": self.total_tokens,
                "by_model": {k: {"requests": v[0], "prompt_tokens": v[1],
                                 "completion_tokens": v[2]} for k, v in self.by_model.items()}}


METER = Usage()  # one per process: the CLI runs one script per process
