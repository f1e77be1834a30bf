"""ToolService: the one door through which every tool call passes.

Lua's ``Tool.invoke`` and ``Tool.<name>:execute``, agents and workflows all call
``ToolService.invoke(name, params)``; it runs the tool hooks (ToolValidation,
Before/AfterToolExecution, ToolError) and the ``tool.execution.*`` events itself, through
the ``ServiceHooks`` it was given. ``summaries``/``discover`` run the discovery hooks.
It returns the value a script sees (``output_to_lua_value``: for most tools the
envelope ``{operation, success, result?, message?, error?}`` plus ``_raw_text`` and
``metadata``) and raises ``ToolNotFound``/``ToolFailed`` with upstream's texts on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import secret_filter
from ..errors import ShownAsIs, ToolError
from ..hooks import PROCEED
from .context import ToolContext
from .output import output_to_lua_value
from .registry import Registry, ToolOutput, ToolSpec, builtin_registry, to_json
from .schema import MISSING, Params

if TYPE_CHECKING:
    from ..config import Settings
    from ..hooks import ServiceHooks


@dataclass(frozen=True)
class ToolInfo:
    name: str
    category: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the parameters object
    version: str
    security_level: str


class ToolNotFound(ToolError, ShownAsIs):
    """``Tool '<name>' not found``."""

    prefix = None

    def __init__(self, name: str) -> None:
        super().__init__(f"Tool '{name}' not found")
        self.name = name


class ToolFailed(ToolError, ShownAsIs):
    """``Tool execution failed: <cause>``; ``cause`` is the tool's own error text, with
    secret values and URL credentials hidden."""

    prefix = None

    def __init__(self, name: str, cause: str) -> None:
        cause = secret_filter.redact_text(cause, secret_filter.current_values())
        super().__init__(f"Tool execution failed: {cause}")
        self.name = name
        self.cause = cause


class ToolService:
    def __init__(self, settings: Settings | None = None,
                 remaining: Callable[[], float | None] | None = None,
                 registry: Registry | None = None,
                 stopped: Callable[[], bool] | None = None,
                 hooks: ServiceHooks | None = None) -> None:
        self.registry = registry or builtin_registry()
        self.hooks = hooks  # the run's hooks and events; None: a call is just the call
        self.context = ToolContext(settings, remaining, stopped)
        self._infos: list[ToolInfo] | None = None
        self._summaries: list[dict[str, Any]] | None = None
        self._secrets: tuple[int, tuple[str, ...]] | None = None

    # -- catalog --------------------------------------------------------------

    def get(self, name: str) -> ToolSpec | None:
        return self.registry.get(name)

    def exists(self, name: str) -> bool:
        return name in self.registry

    def list(self) -> list[ToolInfo]:
        if self._infos is None:
            self._infos = [ToolInfo(t.name, t.category, t.description, t.parameters_schema(),
                                    t.version, t.security_level) for t in self.registry.all()]
        return self._infos

    def summaries(self) -> list[dict[str, Any]]:
        """``Tool.list()``: ``{name, description, version}`` sorted by name (as the
        discovery hooks leave it)."""
        discovery = self.hooks.discovery("summaries") if self.hooks is not None else None
        if discovery is not None and (given := discovery.before()) is not PROCEED:
            return given
        if self._summaries is None:
            self._summaries = [{"name": t.name, "description": t.description,
                                "version": t.version}
                               for t in sorted(self.registry.all(), key=lambda t: t.name)]
        return self._summaries if discovery is None else discovery.after(self._summaries)

    def categories(self) -> list[str]:
        return self.registry.categories()

    def discover(self, category: str | None = None, tag: str | None = None
                 ) -> list[dict[str, Any]]:
        """``Tool.discover``: the tools of a category and/or whose description mentions
        ``tag`` (as the discovery hooks leave the list)."""
        discovery = (self.hooks.discovery("discover", category, tag)
                     if self.hooks is not None else None)
        if discovery is not None and (given := discovery.before()) is not PROCEED:
            return given
        needle = tag.lower() if tag else None
        out = []
        for t in sorted(self.registry.all(), key=lambda t: t.name):
            if category is not None and t.category != category:
                continue
            if needle is not None and needle not in t.description.lower():
                continue
            out.append({"name": t.name, "description": t.description,
                        "category": t.category, "version": t.version})
        return out if discovery is None else discovery.after(out)

    def register(self, tool: ToolSpec) -> None:
        """Add a tool for this run only (e.g. an agent wrapped as a tool).

        The built-in catalog is shared by the process, so the first registration gives
        this service its own copy.
        """
        if self.registry is builtin_registry():
            private = Registry()
            for existing in self.registry.all():
                private.register(existing)
            self.registry = private
        self.registry.register(tool)
        self._infos = None
        self._summaries = None

    # -- running --------------------------------------------------------------

    def secret_values(self) -> tuple[str, ...]:
        """The secret values to hide, read once per run (and again when a config key is
        registered as secret): the process environment does not change under a script."""
        cached = self._secrets
        count = secret_filter.registered_count()
        if cached is None or cached[0] != count:
            cached = self._secrets = (count, secret_filter.current_values())
        return cached[1]

    def run(self, tool: ToolSpec, params: dict[str, Any]) -> ToolOutput:
        """Run ``tool``; its output has secrets hidden, its errors are ``ToolFailed``."""
        try:
            return without_secrets(tool.execute(self.context, Params(params)),
                                   self.secret_values())
        except ShownAsIs:  # a nested call's ToolFailed, HookCancelled, ProviderError...
            raise
        except ToolError as exc:
            raise ToolFailed(tool.name, str(exc)) from exc
        except RecursionError:
            raise ToolFailed(tool.name, "Tool execution error: input nested too deeply") from None
        except (OSError, ValueError, TypeError, KeyError, IndexError, UnicodeError,
                OverflowError, MemoryError) as exc:
            raise ToolFailed(tool.name, f"Tool execution error: {exc}") from exc
        except Exception as exc:  # a library's own error type: still one clear line
            raise ToolFailed(tool.name, f"Tool execution error: {type(exc).__name__}: "
                                        f"{exc}") from exc

    def invoke(self, name: str, params: dict[str, Any] | None = None) -> Any:
        """Run tool ``name`` under the run's hooks and events; return the script-visible
        result dict (spec §0.5), or what a hook gave instead."""
        call = self.hooks.call("tool", name, params) if self.hooks is not None else None
        if call is None:  # no hooks, no listeners
            return self._invoke(name, params)
        given = call.before()  # ToolValidation, BeforeToolExecution (may redirect)
        if given is not PROCEED:
            return given
        result = call.attempt(self._invoke)  # ToolError hooks may retry or replace
        return call.after(result)  # AfterToolExecution

    def _invoke(self, name: str, params: dict[str, Any] | None) -> dict[str, Any]:
        tool = self.registry.get(name)
        if tool is None:
            raise ToolNotFound(name)
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            raise ToolFailed(name, "Validation error: tool parameters must be an object")
        out = self.run(tool, params)
        if out.parsed is MISSING:
            return output_to_lua_value(out.text, out.metadata)
        return output_to_lua_value(out.text, out.metadata, parsed=out.parsed)


def without_secrets(out: ToolOutput, values: tuple[str, ...] | None = None) -> ToolOutput:
    """``out`` with every known secret value and URL credential replaced by ``***``.

    Every tool call passes here, so no tool can hand the script an API key read from a
    file, a page, a process or an error. The check is one search of the output's text (and
    of its metadata's JSON); only an output that carries a secret is rebuilt.
    """
    if values is None:
        values = secret_filter.current_values()
    text = out.text
    meta = out.metadata
    meta_hit = bool(meta) and _carries_secret(to_json(meta), values)
    if not meta_hit and not _carries_secret(text, values):
        return out
    clean = secret_filter.redact_text(text, values)
    parsed = out.parsed if out.parsed is MISSING else secret_filter.redact_data(out.parsed,
                                                                                values)
    return ToolOutput(clean, secret_filter.redact_data(meta, values) if meta_hit else meta,
                      parsed)


def _carries_secret(text: str, values: tuple[str, ...]) -> bool:
    if ("://" in text or "=" in text) and secret_filter.redact_urls(text) != text:
        return True
    for value in values:
        if value in text:
            return True
    return False
