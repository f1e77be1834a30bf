"""One exception tree (llmspell/errors.py), translated once at each border.

Like httpx's tests/test_exceptions.py: every httpx error a provider call can meet maps to
the most specific ProviderError, and every error class llmspell defines sits in the tree.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import httpx
import pytest

import llmspell
from llmspell import errors
from llmspell.errors import (
    LLMSpellError,
    ProviderConnectError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    ShownAsIs,
)
from llmspell.providers.http import Http
from llmspell.providers.retry import RetryPolicy

# Exceptions that never leave the module defining them (control flow, not failures)
# or that a library API raises by design as a ValueError.
OUTSIDE_THE_TREE = {
    "llmspell.errors.ScriptInterrupted", "llmspell.errors.ScriptExit",  # how a run ended
    "llmspell.errors.ShownAsIs",  # a mark mixed into tree classes, not a failure
    "llmspell.providers.retry.Retryable",  # wraps a ProviderError between retries
    "llmspell.workflows.gate.Cancelled",  # unwinds a cancelled parallel branch
    "llmspell.tools.sandbox_worker.Limit",  # inside the sandbox worker process
    "llmspell.tools.sandbox_worker.Invalid",
    "llmspell.tools.isolated._Stopped",  # the run was stopped while a worker ran
    "llmspell.api.workflow.StepError",  # carries a step's Lua error to the engine
    "llmspell.state.store.MemoryStoreFull",  # StateService re-raises it as StateValueError
    "llmspell.held.HeldBytesFull",  # re-raised as ApiError / AgentError by its services
    "llmspell.tools.calc.CalcError", "llmspell.tools.handlebars.HandlebarsError",
    "llmspell.replay.ReplayError",  # ValueErrors of pure helpers, wrapped by their tool
    "llmspell.config.UnknownSettingError",  # a typo'd settings path in our code: a bug
    "llmspell.tools.citations.BibTeXError",  # inside the sandbox worker, answered Invalid
    "llmspell.rag.service._Stop",  # between ingest steps; re-raised as IngestStopped
    # the network guard's verdicts, translated at each caller's border (tools, providers,
    # the event webhook); the last two travel inside httpcore/httpx as their own errors
    "llmspell.netguard.NetError", "llmspell.netguard.Refused", "llmspell.netguard.BadURL",
    "llmspell.netguard.Unreachable", "llmspell.netguard.TimedOut",
    "llmspell.netguard.TooLarge", "llmspell.netguard.ConnectRefused",
    "llmspell.netguard._RefusedAtConnect",
}


def _all_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(llmspell.__path__, "llmspell."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_error_llmspell_defines_is_in_the_tree():
    classes = _all_exception_classes()
    assert "llmspell.rag.store.StoreFull" in classes  # the walk reaches submodules
    outside = {name for name, cls in classes.items() if not issubclass(cls, LLMSpellError)}
    assert outside == OUTSIDE_THE_TREE


def test_the_picture_in_errors_py_is_true():
    """Each class named in the docstring's tree exists, under the parent drawn above it,
    and is a ShownAsIs exactly when it or an ancestor is marked with ``*``."""
    lines = [line for line in errors.__doc__.splitlines() if re.match(r"\s{4}\S", line)]
    by_name = {cls.__name__: cls for cls in _all_exception_classes().values()}
    parents: dict[int, tuple[type, bool]] = {}  # depth -> (class, shown as is)
    checked = 0
    for line in lines:
        match = re.match(r"(\s*(?:[│ ]\s*)*(?:[├└]── )?)([A-Z]\w+)( \*)?", line)
        if match is None or match.group(2) not in by_name:
            continue
        depth, name, starred = len(match.group(1)), match.group(2), bool(match.group(3))
        cls = by_name[name]
        parent = max((d for d in parents if d < depth), default=None)
        if parent is not None:
            assert issubclass(cls, parents[parent][0]), name
            starred = starred or parents[parent][1]
        parents = {d: v for d, v in parents.items() if d < depth} | {depth: (cls, starred)}
        assert issubclass(cls, ShownAsIs) == starred, name
        checked += 1
    assert checked >= 22


def _http(handler) -> Http:
    return Http("testprov", timeout=5, policy=RetryPolicy(max_retries=0),
                transport=httpx.MockTransport(handler))


REQUEST_ERRORS = sorted(
    (cls for cls in vars(httpx).values()
     if isinstance(cls, type) and issubclass(cls, httpx.RequestError)),
    key=lambda cls: cls.__name__)


def _expected(cls: type[httpx.RequestError]) -> type[ProviderError]:
    if issubclass(cls, httpx.TimeoutException):
        return ProviderTimeout
    if issubclass(cls, httpx.ConnectError | httpx.ReadError | httpx.WriteError |
                  httpx.RemoteProtocolError):
        return ProviderConnectError
    return ProviderError


@pytest.mark.parametrize("cls", REQUEST_ERRORS, ids=lambda cls: cls.__name__)
def test_every_httpx_request_error_becomes_the_most_specific_provider_error(cls):
    def fail(request: httpx.Request) -> httpx.Response:
        raise cls("simulated", request=request)

    with pytest.raises(ProviderError) as caught:
        _http(fail).request("POST", "http://127.0.0.1:9/v1/chat", "chat", body={})
    assert type(caught.value) is _expected(cls)
    assert str(caught.value).startswith("testprov: ")


@pytest.mark.parametrize("status", [401, 404, 422, 500])
def test_an_error_status_is_a_provider_http_error_with_its_code(status):
    http = _http(lambda request: httpx.Response(status, json={"error": {"message": "no"}}))
    with pytest.raises(ProviderHTTPError) as caught:
        http.request("POST", "http://127.0.0.1:9/v1/chat", "chat", body={"model": "m"})
    assert caught.value.status_code == status
    assert f"HTTP {status}" in str(caught.value)
