"""What a workflow is: steps, branches, iterators, error strategy (spec § 4). Plain data.

Step kinds: ``tool`` (a tool name + parameters), ``agent`` (an agent name + prompt),
``workflow`` (a nested ``Workflow``), ``custom`` (a Python callable
``fn(input, context) -> output``; the Lua adapter wraps Lua functions into these).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowError as WorkflowError  # the base of workflows/ errors

TYPES = ("sequential", "conditional", "loop", "parallel")
STEP_TYPES = ("tool", "agent", "workflow", "custom")
DEFAULT_STEP_TIMEOUT_MS = 30_000
RETRY_ATTEMPTS = 3
RETRY_DELAY_MS = 1000


@dataclass
class ErrorStrategy:
    kind: str = "fail_fast"  # fail_fast | continue | retry
    max_attempts: int = RETRY_ATTEMPTS
    backoff_ms: int = RETRY_DELAY_MS

    @classmethod
    def parse(cls, value: Any) -> ErrorStrategy:
        """``"fail_fast"|"continue"|"retry"`` or ``{type="retry", max_attempts, backoff_ms}``;
        unknown names fall back to fail_fast (as upstream)."""
        if isinstance(value, dict):
            kind = str(value.get("type") or value.get("kind") or "fail_fast")
            out = cls.parse(kind)
            if value.get("max_attempts") is not None:
                out.max_attempts = max(1, int(value["max_attempts"]))
            if value.get("backoff_ms") is not None:
                out.backoff_ms = max(0, int(value["backoff_ms"]))
            return out
        if value in ("continue", "continue_on_error"):
            return cls("continue")
        if value == "retry":
            return cls("retry")
        return cls("fail_fast")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "max_attempts": self.max_attempts,
                "backoff_ms": self.backoff_ms}


@dataclass
class Step:
    name: str
    type: str
    tool: str | None = None
    agent: str | None = None
    workflow: Workflow | None = None
    fn: Callable[[Any, dict[str, Any]], Any] | None = None
    fn_name: str | None = None
    input: Any = None
    timeout_ms: int | None = None
    retry_count: int = 0

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.tool:
            out["tool"] = self.tool
        if self.agent:
            out["agent"] = self.agent
        if self.workflow is not None:
            out["workflow"] = self.workflow.name
        if self.fn_name:
            out["function"] = self.fn_name
        return out


@dataclass
class Branch:
    name: str
    steps: list[Step]
    condition: Any = None  # conditional: a condition dict or a callable(ctx) -> bool
    required: bool = True  # parallel: a failed optional branch does not fail the run


@dataclass
class Metrics:
    total_executions: int = 0
    successful_executions: int = 0
    failed_executions: int = 0
    total_duration_ms: float = 0.0
    steps_executed: int = 0
    steps_failed: int = 0
    retries: int = 0
    last_execution_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        n = self.total_executions
        return {
            "total_executions": n,
            "successful_executions": self.successful_executions,
            "failed_executions": self.failed_executions,
            "average_duration_ms": (self.total_duration_ms / n) if n else 0,
            "total_duration_ms": self.total_duration_ms,
            "steps_executed": self.steps_executed,
            "steps_failed": self.steps_failed,
            "retries": self.retries,
            "last_execution_id": self.last_execution_id,
        }


@dataclass
class Workflow:
    name: str
    type: str
    description: str = ""
    steps: list[Step] = field(default_factory=list)
    branches: list[Branch] = field(default_factory=list)
    else_steps: list[Step] = field(default_factory=list)
    default_branch: str | None = None
    iterator: dict[str, Any] | None = None
    max_iterations: int | None = None
    break_conditions: list[Any] = field(default_factory=list)
    loop_condition: Callable[[dict[str, Any]], Any] | None = None
    error_strategy: ErrorStrategy = field(default_factory=ErrorStrategy)
    timeout_ms: int | None = None
    max_concurrency: int | None = None
    step_timeout_ms: int = DEFAULT_STEP_TIMEOUT_MS
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = 0.0
    metrics: Metrics = field(default_factory=Metrics)
    before: list[Callable[[dict[str, Any]], Any]] = field(default_factory=list)
    after: list[Callable[[dict[str, Any]], Any]] = field(default_factory=list)
    on_error: list[Callable[[dict[str, Any]], Any]] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)
    last_run: Any = None  # the last Run (outputs for get_output & co.)

    def all_steps(self) -> list[Step]:
        out = list(self.steps) + list(self.else_steps)
        for b in self.branches:
            out.extend(b.steps)
        return out

    def validate(self) -> list[str]:
        """Problems that would stop a run (empty list = runnable)."""
        errors: list[str] = []
        if self.type not in TYPES:
            errors.append(f"unknown workflow type '{self.type}'")
        if self.type in ("sequential", "loop") and not self.steps:
            errors.append("workflow has no steps")
        if self.type == "parallel" and not (self.branches or self.steps):
            errors.append("parallel workflow has no branches")
        if self.type == "conditional" and not (self.branches or self.else_steps):
            errors.append("conditional workflow has no branches")
        if self.type == "loop" and not self.iterator and self.loop_condition is None:
            errors.append("loop workflow has no iterator")
        names: set[str] = set()
        for step in self.all_steps():
            if step.type == "workflow" and step.workflow is self:
                errors.append(f"step '{step.name}' runs its own workflow")
            if self.type == "sequential" and step.name in names:
                errors.append(f"duplicate step name '{step.name}'")
            names.add(step.name)
        return errors
