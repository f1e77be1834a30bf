"""The network tools' side of the one network guard (``llmspell/netguard.py``).

Policy (``[tools.network]``): ``allow_private_addresses`` (false) — when false, URLs whose
host is or resolves to a private, loopback, link-local, reserved or multicast address are
refused, and so are non-http(s) schemes; ``timeout_seconds`` (30, for the whole request);
``max_response_bytes`` (10 MiB); ``verify_ssl`` (true); ``max_redirects`` (5). Redirects
are followed by hand so every hop is checked again; connections go to the address that
was checked. This module only turns the guard's errors into tool errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import SecurityViolation, ToolError, ToolNetworkError, ToolValidationError

if TYPE_CHECKING:
    from ..netguard import Response

USER_AGENT = "llmspell-tools/0.1"


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    from .. import netguard

    try:
        yield
    except netguard.Refused as exc:
        raise SecurityViolation(str(exc)) from None
    except netguard.BadURL as exc:
        raise ToolValidationError(str(exc)) from None
    except netguard.Unreachable as exc:
        raise ToolNetworkError(str(exc)) from None
    except netguard.NetError as exc:  # TooLarge: not a network failure, so no retry
        raise ToolError(str(exc)) from None


@dataclass
class NetPolicy:
    """What the network tools may reach and how long they wait; ``ToolContext.net``
    builds it from settings. ``time_left(seconds)`` bounds a request's timeout by the
    time the run has left (``ToolContext.timeout``)."""

    allow_private: bool = False
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    verify: bool = True
    max_redirects: int = 5
    time_left: Callable[[float], float] | None = None

    def check_url(self, url: object, param: str = "input") -> str:
        """Refuse anything but http(s) to a public address (unless private is allowed)."""
        from ..netguard import check_url

        with _as_tool_errors():
            return check_url(url, self.allow_private, param)

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                json_body: Any = None, content: bytes | None = None,
                params: dict[str, Any] | None = None, timeout: float | None = None,
                follow_redirects: bool = True) -> Response:
        from ..netguard import Policy, fetch

        seconds = timeout if timeout is not None else self.timeout
        if self.time_left is not None:
            seconds = self.time_left(seconds)
        policy = Policy(self.allow_private, seconds, self.max_bytes, self.verify,
                        self.max_redirects)
        with _as_tool_errors():
            return fetch(policy, method, url, headers={"User-Agent": USER_AGENT,
                                                       **(headers or {})},
                         json_body=json_body, content=content, params=params,
                         follow_redirects=follow_redirects)
