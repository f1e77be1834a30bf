"""Workflow specs as plain data -> the model (``model.py``); one parser for both forms.

The table form (``Workflow.sequential{...}`` and friends, ``Workflow.register``) hands
its whole table to ``Parser.workflow``; the builder (``Workflow.builder():...:build()``)
parses each piece as it is added (``Parser.step``, ``Parser.condition``,
``Parser.branch``, ``Parser.iterator``) into a ``Draft`` whose ``build`` makes the
workflow. Steps, conditions, branches and iterators are parsed here and nowhere else.

The input is what ``convert.to_python(value, functions=True)`` gives: dicts, lists,
strings, numbers, booleans, None, and script functions kept as opaque handles. This
module never looks inside a handle: it asks the ``Resolver`` (the Lua adapter) to turn
one into a Python callable, to compile a condition expression, or to find a workflow
instance. So nothing here imports lupa, and the whole parser is testable with plain
Python values and plain callables.

Field rules are upstream's (spec § 4.1-4.3): names and types must be strings (a number
is not taken as a name), sizes and timeouts count only when they are positive numbers,
and ``steps = {}`` is an empty list (an empty Lua table converts to ``{}``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..jsonutil import json_type
from .model import (
    DEFAULT_STEP_TIMEOUT_MS,
    STEP_TYPES,
    Branch,
    ErrorStrategy,
    Step,
    Workflow,
    WorkflowError,
)

CONDITION_TYPES = ("always", "never", "shared_data_equals", "shared_data_exists",
                   "input_contains", "input_equals", "step_output_equals",
                   "step_output_contains", "and", "or", "not", "custom")
ALWAYS: dict[str, Any] = {"type": "always"}
UNSUPPORTED = "Unsupported Lua type for JSON conversion"
PLAIN = (str, int, float, bool, list, dict, type(None))
LUA_NAMES = {"null": "nil", "array": "table", "object": "table"}
T = TypeVar("T")


class SpecError(WorkflowError):
    """A workflow spec has a wrong shape; the message is what the script sees."""


class Resolver(Protocol):
    """What the parser needs from the side that knows the script's functions."""

    def callback(self, fn: Any) -> Callable[..., Any]:
        """A script function (opaque handle) as a Python callable (conditions, hooks)."""
        ...

    def expression(self, text: str) -> Callable[..., Any]:
        """A condition written as an expression (``"iteration < 3"``) as a callable."""
        ...

    def step_function(self, fn: Any | None, name: str | None) -> Callable[[Any, dict[str, Any]],
                                                                          Any]:
        """A custom step's function: a script function, or the name of a global one."""
        ...

    def workflow(self, ref: Any) -> Workflow | None:
        """The workflow a step names: an instance (its fields) or an id; None if unknown."""
        ...


def is_handle(value: Any) -> bool:
    """True for an opaque script value (a function), not plain data."""
    return not isinstance(value, PLAIN)


def describe(value: Any) -> str:
    """The Lua type name of a plain value (or a handle), for error messages."""
    if is_handle(value):
        return "function"
    kind = json_type(value)
    return LUA_NAMES.get(kind, kind)


def check_plain(value: Any, where: str) -> Any:
    """``value`` itself if it holds no function; otherwise ``where: Unsupported ...``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif is_handle(item):
            raise SpecError(f"{where}: {UNSUPPORTED}")
    return value


def _fields(data: Any) -> dict[str, Any]:
    """A table's named fields (a list-like table has none)."""
    return data if isinstance(data, dict) else {}


def _items(data: Any) -> list[Any]:
    """A table's array part (``{}`` converts to an empty dict: no items)."""
    return data if isinstance(data, list) else []


def _positive(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


def error_strategy(value: Any) -> ErrorStrategy:
    """``"fail_fast"|"continue"|"retry"`` or ``{type=, max_attempts=, backoff_ms=}``;
    anything else (a function in it, say) is the default, as upstream."""
    try:
        return ErrorStrategy.parse(check_plain(value, ""))
    except SpecError:
        return ErrorStrategy()


def collection(values: Any) -> Any:
    """A loop collection: a list, or a table's ``values`` field, or a table's values."""
    if isinstance(values, dict):
        return values.get("values", list(values.values()))
    return values


class Parser:
    """Parse spec pieces; ``where`` (``"Workflow.sequential"``) starts the messages."""

    def __init__(self, resolve: Resolver, where: str) -> None:
        self.resolve = resolve
        self.where = where

    # -- steps -------------------------------------------------------------------

    def steps(self, data: Any) -> list[Step]:
        if not isinstance(data, list | dict):
            raise SpecError(f"{self.where}: steps must be an array of step tables")
        return [self.step(item) for item in _items(data)]

    def step(self, data: Any) -> Step:
        if not isinstance(data, list | dict):
            raise SpecError(f"{self.where}: a step must be a table, got {describe(data)}")
        spec = _fields(data)
        name = spec.get("name")
        if not isinstance(name, str):
            raise SpecError(f"{self.where}: step is missing its 'name' (a string)")
        kind = spec.get("type")
        if kind is None and spec.get("function") is not None:
            kind = "custom"
        if not isinstance(kind, str):
            raise SpecError(f"{self.where}: step '{name}' is missing its 'type' "
                            "(tool, agent, workflow or custom)")
        kind = "custom" if kind in ("function", "lua") else kind
        if kind not in STEP_TYPES:
            raise SpecError(f"Unknown step type: {kind}")
        step = Step(name, kind, timeout_ms=_positive(spec.get("timeout_ms")),
                    retry_count=_positive(spec.get("retry_count")) or 0)
        {"tool": self._tool_step, "agent": self._agent_step, "workflow": self._workflow_step,
         "custom": self._custom_step}[kind](step, spec)
        return step

    def _input(self, step: Step, spec: dict[str, Any], *keys: str) -> Any:
        """The first of ``keys`` that is set, as plain data (``input``/``parameters``)."""
        for key in keys:
            if spec.get(key) is not None:
                return check_plain(spec[key], f"{self.where}: step '{step.name}' {key}")
        return None

    def _need(self, step: Step, value: T | None, name: str, hint: str) -> T:
        """``value``, or the error for a step of this type missing field ``name``."""
        if value is None:
            raise SpecError(f"{self.where}: {step.type} step '{step.name}' needs '{name}' "
                            f"({hint})")
        return value

    def _tool_step(self, step: Step, spec: dict[str, Any]) -> None:
        tool = spec.get("tool")
        step.tool = self._need(step, tool if isinstance(tool, str) else None, "tool",
                               "a tool name")
        step.input = self._input(step, spec, "input", "parameters")

    def _agent_step(self, step: Step, spec: dict[str, Any]) -> None:
        agent = spec.get("agent")
        if isinstance(agent, dict):  # an agent instance: its name field
            agent = agent.get("name")
        step.agent = self._need(step, agent if isinstance(agent, str) else None, "agent",
                                "an agent name or instance")
        step.input = self._input(step, spec, "input")

    def _workflow_step(self, step: Step, spec: dict[str, Any]) -> None:
        ref = spec.get("workflow")
        nested = self.resolve.workflow(ref) if isinstance(ref, str | dict) else None
        step.workflow = self._need(step, nested, "workflow", "a workflow instance or id")
        step.input = self._input(step, spec, "input")

    def _custom_step(self, step: Step, spec: dict[str, Any]) -> None:
        function = spec.get("function")
        if isinstance(function, str):
            step.fn_name = function
            step.fn = self.resolve.step_function(None, function)
        else:
            handle = function if function is not None and is_handle(function) else None
            handle = self._need(step, handle, "function",
                                "a function or the name of a global function")
            step.fn_name = "<lua function>"
            step.fn = self.resolve.step_function(handle, None)
        step.input = self._input(step, spec, "parameters", "input")

    # -- conditions, branches, iterators -----------------------------------------

    def condition(self, data: Any) -> Any:
        """A function, an expression string, or ``{type=..., ...}`` (nested for and/or/not)."""
        if isinstance(data, str):
            return self.resolve.expression(data)
        if data is not None and is_handle(data):
            return self.resolve.callback(data)
        if not isinstance(data, list | dict):
            raise SpecError(f"{self.where}: a condition must be a table, a function or a "
                            f"string, got {describe(data)}")
        spec = _fields(data)
        kind = spec.get("type")
        if kind not in CONDITION_TYPES:
            raise SpecError(f"Unknown condition type: {kind if isinstance(kind, str) else None}")
        out: dict[str, Any] = {"type": kind}
        for name, item in spec.items():
            if name == "type":
                continue
            if name in ("fn", "function") and is_handle(item):
                out["fn"] = self.resolve.callback(item)
            elif name == "conditions" and isinstance(item, list | dict):
                out[name] = [self.condition(c) for c in _items(item)]
            elif name == "condition":
                out[name] = self.condition(item)
            else:
                out[name] = check_plain(item, f"{self.where}: condition field '{name}'")
        return out

    def branch(self, data: Any, index: int, *, conditions: bool = True,
               default: Any = None) -> Branch:
        """``{name?, steps, condition?, required?}``; unnamed branches are
        ``branch_<index>``. Without ``conditions`` (parallel) a condition is not read;
        a missing one is ``default``."""
        if not isinstance(data, list | dict):
            raise SpecError(f"{self.where}: branch #{index} must be a table")
        spec = _fields(data)
        name = spec.get("name")
        cond = spec.get("condition") if conditions else None
        return Branch(name if isinstance(name, str) else f"branch_{index}",
                      self.steps(spec.get("steps")),
                      condition=self.condition(cond) if cond is not None else default,
                      required=spec.get("required") is not False)

    def branches(self, data: Any, *, conditions: bool = True, default: Any = None,
                 first: int = 1) -> list[Branch]:
        return [self.branch(item, i, conditions=conditions, default=default)
                for i, item in enumerate(_items(data), start=first)]

    def iterator(self, data: Any) -> dict[str, Any]:
        """``{range={start, ['end'], step}}``, ``{collection={...}}`` or
        ``{while_condition=...}``."""
        spec = _fields(data)
        if spec.get("range") is not None:
            value = check_plain(spec["range"], f"{self.where}: iterator.range")
            if not isinstance(value, dict):
                raise SpecError(f"{self.where}: iterator.range must be "
                                "{start=, ['end']=, step=}")
            return {"range": value}
        if spec.get("collection") is not None:
            values = check_plain(spec["collection"], f"{self.where}: iterator.collection")
            return {"collection": collection(values)}
        if spec.get("while_condition") is not None:
            return {"while_condition": self.condition(spec["while_condition"])}
        raise SpecError(f"{self.where}: iterator needs range, collection or while_condition")

    # -- the table form ----------------------------------------------------------

    def workflow(self, kind: str, cfg: Any) -> Workflow:
        """``Workflow.<kind>(cfg)``: the whole spec in one table (spec § 4.1)."""
        spec = _fields(cfg)
        name = spec.get("name")
        if not isinstance(name, str):
            raise SpecError("Failed to get workflow name")
        wf = Workflow(name, kind, error_strategy=error_strategy(spec.get("error_strategy")))
        if isinstance(spec.get("description"), str):
            wf.description = spec["description"]
        for key in ("timeout_ms", "max_concurrency", "max_iterations", "step_timeout_ms"):
            value = _positive(spec.get(key))
            if value is not None:
                setattr(wf, key, value)
        {"sequential": self._sequential, "parallel": self._parallel,
         "conditional": self._conditional, "loop": self._loop}[kind](wf, spec)
        return wf

    def _sequential(self, wf: Workflow, spec: dict[str, Any]) -> None:
        if spec.get("steps") is None:
            raise SpecError("Failed to get workflow steps")
        wf.steps = self.steps(spec["steps"])

    def _parallel(self, wf: Workflow, spec: dict[str, Any]) -> None:
        if spec.get("branches") is not None:
            wf.branches = self.branches(spec["branches"], conditions=False)
        elif spec.get("steps") is not None:
            wf.steps = self.steps(spec["steps"])  # each step runs as its own branch
        else:
            raise SpecError("Failed to get workflow steps")

    def _conditional(self, wf: Workflow, spec: dict[str, Any]) -> None:
        if not isinstance(spec.get("branches"), list | dict):
            raise SpecError(f"{self.where}: conditional workflows need 'branches'")
        wf.branches = self.branches(spec["branches"], default=ALWAYS)
        default = spec.get("default_branch")
        if isinstance(default, str):
            wf.default_branch = default
        elif isinstance(default, list | dict):
            wf.else_steps = self.steps(default)

    def _loop(self, wf: Workflow, spec: dict[str, Any]) -> None:
        if not isinstance(spec.get("iterator"), list | dict):
            raise SpecError(f"{self.where}: loop workflows need 'iterator' "
                            "({range=...}, {collection=...} or {while_condition=...})")
        wf.iterator = self.iterator(spec["iterator"])
        body = spec.get("body") if spec.get("body") is not None else spec.get("steps")
        if body is None:
            raise SpecError("Failed to get workflow steps")
        wf.steps = self.steps(body)
        breaks = spec.get("break_conditions")
        if isinstance(breaks, list | dict):
            wf.break_conditions = [self.condition(c) for c in _items(breaks)]
        if spec.get("loop_condition") is not None:
            wf.loop_condition = self.condition(spec["loop_condition"])


# -- the builder ----------------------------------------------------------------


@dataclass
class Draft:
    """What ``Workflow.builder()`` has collected, already parsed piece by piece."""

    type: str | None = None
    name: str | None = None
    description: str = ""
    error_strategy: ErrorStrategy = field(default_factory=ErrorStrategy)
    timeout_ms: int | None = None
    max_iterations: int | None = None
    max_concurrency: int | None = None
    steps: list[Step] = field(default_factory=list)
    then_steps: list[Step] = field(default_factory=list)
    else_steps: list[Step] = field(default_factory=list)
    condition: Any = None
    branches: list[Branch] = field(default_factory=list)
    iterator: dict[str, Any] | None = None
    loop_condition: Callable[..., Any] | None = None

    @property
    def ignored_steps(self) -> list[Step]:
        """Steps added with ``add_step`` that a conditional workflow drops (as upstream)."""
        return self.steps if self.type == "conditional" else []

    def build(self) -> Workflow:
        if self.type is None:
            raise SpecError("Workflow type not specified")
        wf = Workflow(self.name or f"workflow_{uuid.uuid4().hex[:8]}", self.type,
                      description=self.description, error_strategy=self.error_strategy,
                      timeout_ms=self.timeout_ms, max_iterations=self.max_iterations,
                      max_concurrency=self.max_concurrency,
                      step_timeout_ms=DEFAULT_STEP_TIMEOUT_MS)
        if self.type == "conditional":
            if self.then_steps or self.condition is not None:
                wf.branches.append(Branch("then", list(self.then_steps),
                                          condition=self.condition or ALWAYS))
            wf.branches.extend(self.branches)
            wf.else_steps = list(self.else_steps)
            return wf
        wf.steps = list(self.steps)
        if self.type == "parallel":
            wf.branches = list(self.branches)
        elif self.type == "loop":
            default = {"range": {"start": 0, "end": 1}} if self.loop_condition is None else None
            wf.iterator = self.iterator or default
            wf.loop_condition = self.loop_condition
        return wf
