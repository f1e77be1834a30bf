"""Running workflows: sequential, parallel, conditional and loop (spec § 4.4).

``Engine.execute(workflow, input)`` returns the result table scripts read:
``{text, media, tool_calls, success, output, execution_id, metadata={execution_time_ms,
extra={workflow_type, workflow_name, workflow_id, execution_id, total_steps,
successful_steps, failed_steps, skipped_steps, success_rate, outputs, step_results, ...}}}``.

Passing data: each step receives the previous step's output (the first step gets the
workflow input). Tool parameters, agent prompts and nested-workflow inputs may use
templates: ``{{input}}``, ``{{prev}}``, ``{{step.NAME}}``, ``{{step.NAME.field.sub}}``,
``{{shared.KEY}}``, ``{{item}}``, ``{{iteration}}`` (a string that is exactly one template
takes the value itself; otherwise its text is spliced in).

Threads: parallel branches run in worker threads; tool and agent steps run in a worker
thread so that their timeout holds. Anything touching Lua (custom steps, Lua conditions
and callbacks, Lua hooks) goes through the ``LuaGate`` given by the adapter, so it only
ever runs on the script's thread — the owner runs queued Lua work while it waits.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .. import jsonutil
from ..held import size_of
from ..hooks import HookCancelled, Watchers
from .gate import MAX_WORKER_THREADS, Cancelled, LuaGate, Scope, Worker, current_scope
from .model import Branch, Step, Workflow, WorkflowError

DEFAULT_MAX_ITERATIONS = 1000


class StepFailed(WorkflowError):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


class WorkflowTimeout(WorkflowError):
    pass


def _timeout(wf: Workflow) -> WorkflowTimeout:
    if wf.timeout_ms:
        return WorkflowTimeout(f"Workflow '{wf.name}' timed out after {wf.timeout_ms} ms")
    return WorkflowTimeout(f"Workflow '{wf.name}' ran past the deadline of the step or "
                           "workflow that runs it")


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return jsonutil.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def rust_duration(seconds: float) -> str:
    """A duration as Rust's ``{:?}`` prints it (``1.5s``, ``12.003ms``, ``850µs``, ``40ns``):
    upstream's result sentences carry it, and scripts print them."""
    nanos = max(0, round(seconds * 1_000_000_000))
    secs, frac = divmod(nanos, 1_000_000_000)
    if secs:
        whole, rest, digits, unit = secs, frac, 9, "s"
    elif frac >= 1_000_000:
        whole, rest, digits, unit = frac // 1_000_000, frac % 1_000_000, 6, "ms"
    elif frac >= 1_000:
        whole, rest, digits, unit = frac // 1_000, frac % 1_000, 3, "µs"
    else:
        return f"{frac}ns"
    decimals = f"{rest:0{digits}d}".rstrip("0")
    return f"{whole}.{decimals}{unit}" if decimals else f"{whole}{unit}"


def summary(run: Run, success: bool, seconds: float) -> str:
    """The result ``text``: the sentence upstream's workflows return (sequential.rs,
    parallel.rs, conditional.rs, loop.rs). Step outputs live in ``output`` and
    ``metadata.extra.outputs``, not here."""
    wf = run.workflow
    results = run.results
    ran = [r for r in results if not r.get("skipped")]
    failed = sum(1 for r in ran if not r["success"])
    duration = rust_duration(seconds)
    errors = "; ".join(f"{r['name']}: {r['error']}" for r in ran if not r["success"])
    if wf.type == "parallel":
        states = run.extra.get("branches") or {}
        done = [s for s in states.values() if s != "not_run"]
        ok = sum(1 for s in done if s == "completed")
        counts = f"{len(done)} branches executed, {ok} succeeded, {len(done) - ok} failed"
        if not success:
            required = run.extra.get("required_failed") or []
            reason = f"{len(required)} required branches failed" if required else errors
            return (f"Parallel workflow '{wf.name}' failed: {reason or 'Unknown error'}. "
                    f"{counts}. Duration: {duration}")
        return f"Parallel workflow '{wf.name}' completed successfully. {counts}. " \
               f"Duration: {duration}"
    if wf.type == "conditional":
        total = len(wf.branches) + (1 if wf.else_steps else 0)
        matched = 0 if run.extra.get("branch") is None else 1
        counts = (f"{matched} branches matched out of {total}, {matched} executed. "
                  f"{len(ran)} steps total, {len(ran) - failed} succeeded, {failed} failed")
        state = "completed successfully" if success else \
            f"failed: {errors or 'Unknown error'}"
        return f"Conditional workflow '{wf.name}' {state}. {counts}. Duration: {duration}"
    if wf.type == "loop":
        done = int(run.extra.get("iterations", 0))
        planned = run.extra.get("planned_iterations")
        total = done if planned is None else planned
        if not success:
            return (f"Loop workflow '{wf.name}' failed: {errors or 'Unknown error'}. "
                    f"{done} of {total} iterations completed. Duration: {duration}")
        reason = LOOP_BREAKS.get(str(run.extra.get("loop_exit")))
        if reason and planned is not None and done >= planned:
            reason = None  # a range or collection capped by max_iterations ran in full
        broke = f" (broke early: {reason})" if reason else ""
        return (f"Loop workflow '{wf.name}' completed successfully. {done} of {total} "
                f"iterations completed{broke}. Duration: {duration}")
    if not success:
        return (f"Sequential workflow '{wf.name}' failed: {errors or 'Unknown error'}. "
                f"{len(ran)} steps executed, {failed} failed. Duration: {duration}")
    return (f"Sequential workflow '{wf.name}' completed successfully. {len(ran)} steps "
            f"executed. Duration: {duration}")


LOOP_BREAKS = {"break_condition": "break condition met",
               "loop_condition": "loop condition no longer holds",
               "while_condition": "while condition no longer holds",
               "max_iterations": "max_iterations reached"}

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.\-]*)\s*\}\}")
# Characters of text one step's templates may splice in: a template repeated many times
# (or naming a large output) would otherwise build any amount of text in Python, outside
# the Lua heap's cap.
RENDER_LIMIT = 16 * 1024 * 1024


def _spliced(count: list[int], text: str) -> str:
    count[0] += len(text)
    if count[0] > RENDER_LIMIT:
        raise WorkflowError(f"templates in the step's input expand to more than "
                            f"{RENDER_LIMIT} characters")
    return text


# Step outputs one execution may hold (characters of text, plus 8 per list or table
# entry): a loop or many steps keep every output until the run ends, in Python, outside
# the Lua heap's cap.
RUN_OUTPUT_LIMIT = 128 * 1024 * 1024


class Run:
    """The state of one execution."""

    def __init__(self, wf: Workflow, input: Any, deadline: float | None) -> None:
        self.workflow = wf
        self.input = input
        self.execution_id = str(uuid.uuid4())
        self.deadline = deadline
        self.outputs: dict[str, Any] = {}
        self.results: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.extra: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.held = 0  # see RUN_OUTPUT_LIMIT

    def record(self, result: dict[str, Any]) -> None:
        size = size_of(result.get("output"), RUN_OUTPUT_LIMIT)
        with self.lock:
            self.held += size
            if self.held > RUN_OUTPUT_LIMIT:
                raise WorkflowError(f"Workflow '{self.workflow.name}': its step outputs hold "
                                    f"more than {RUN_OUTPUT_LIMIT} bytes")
            self.results.append(result)
            if result["success"] and not result.get("skipped"):
                self.outputs[result["name"]] = result.get("output")

    def lookup(self, path: str, prev: Any, extra: dict[str, Any]) -> tuple[bool, Any]:
        head, _, rest = path.partition(".")
        if head == "input":
            value: Any = self.input
        elif head in ("prev", "previous"):
            value = prev
        elif head in ("step", "steps"):
            name, _, rest = rest.partition(".")
            if name not in self.outputs:
                return False, None
            value = self.outputs[name]
        elif head == "shared":
            value = self.workflow.shared
        elif head in extra:
            value = extra[head]
        else:
            return False, None
        for part in filter(None, rest.split(".")):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and 0 < int(part) <= len(value):
                value = value[int(part) - 1]
            else:
                return False, None
        return True, value

    def render(self, value: Any, prev: Any, extra: dict[str, Any],
               tables_as_text: bool = False, count: list[int] | None = None) -> Any:
        """Resolve ``{{...}}`` templates in a step's parameters.

        Upstream hands ``{{...}}`` to tools untouched, so resolving must never break a
        step that works there: a template naming nothing (or nil) stays as written, and
        with ``tables_as_text`` (tool parameters) a whole-string template whose value is a
        table becomes text (its ``text`` field, else JSON) and a boolean ``"true"`` or
        ``"false"``, so a string parameter stays a string. Custom Lua steps and nested
        workflows get tables as tables. At most ``RENDER_LIMIT`` characters are spliced in
        (``count`` carries the total through nested parameters).
        """
        if count is None:
            count = [0]
        if isinstance(value, str) and "{{" in value:
            whole = _TEMPLATE.fullmatch(value.strip())
            if whole:
                found, got = self.lookup(whole.group(1), prev, extra)
                if not found or got is None:
                    return value
                # tools coerce numbers to strings and "true"/"false" to booleans, not
                # the other way: tables and booleans reach them as text
                return _spliced(count, text_of(got)) \
                    if tables_as_text and isinstance(got, dict | list | bool) else got

            def sub(m: re.Match[str]) -> str:
                found, got = self.lookup(m.group(1), prev, extra)
                return _spliced(count, text_of(got)) if found and got is not None \
                    else m.group(0)

            return _TEMPLATE.sub(sub, value)
        if isinstance(value, dict):
            return {k: self.render(v, prev, extra, tables_as_text, count)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, prev, extra, tables_as_text, count) for v in value]
        return value


class Engine:
    """Executes workflows for one runtime. See the module docstring.

    ``tool(name, params) -> dict`` and ``agent(name, input) -> dict`` are the services
    steps call; ``store(key, value)`` writes step outputs to State (or None);
    ``services`` is the run's ``Services`` (its hook registry and event bus, if made,
    are looked up at call time; None: no hooks, no events); ``log(line)`` prints debug
    lines when debugging is on.
    """

    def __init__(self, gate: LuaGate, services: Watchers | None = None, *,
                 tool: Callable[[str, dict[str, Any]], Any] | None = None,
                 agent: Callable[[str, dict[str, Any]], Any] | None = None,
                 store: Callable[[str, Any], None] | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.gate = gate
        self.services = services
        self.tool = tool
        self.agent = agent
        self.store = store
        self.log = log
        self.debug = False
        self.default_error_handler: Callable[[dict[str, Any]], Any] | None = None

    # -- hooks and events -------------------------------------------------------

    def _hook(self, point: str, data: dict[str, Any], wf: Workflow) -> Any:
        hooks = self.services.hooks_if_made if self.services is not None else None
        if hooks is None or not hooks.has(point):
            return None
        return hooks.run(point, data, component=("workflow", wf.name))

    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        bus = self.services.events_if_made if self.services is not None else None
        if bus is not None:
            bus.emit(event_type, data, component=data.get("workflow_name"))

    def _debug(self, text: str) -> None:
        if self.debug and self.log is not None:
            self.log(text)

    # -- the public entry -------------------------------------------------------

    def execute(self, wf: Workflow, input: Any = None, *, deadline: float | None = None
                ) -> dict[str, Any]:
        problems = wf.validate()
        if problems:
            raise WorkflowError(f"Workflow '{wf.name}' is not valid: {'; '.join(problems)}")
        if isinstance(input, dict) and input.get("input") == "":
            raise WorkflowError("Workflow input text cannot be empty")
        if input is None:
            input = {}
        if wf.timeout_ms:
            own = time.monotonic() + wf.timeout_ms / 1000
            deadline = own if deadline is None else min(deadline, own)
        run = Run(wf, input, deadline)
        wf.last_run = run
        info = {"workflow_id": wf.id, "workflow_name": wf.name, "workflow_type": wf.type,
                "execution_id": run.execution_id}
        self._debug(f"workflow '{wf.name}' ({wf.type}) started, execution {run.execution_id}")
        try:
            for cb in wf.before:
                answer = cb(dict(info, input=run.input))
                if answer is False:
                    raise HookCancelled(
                        f"Workflow '{wf.name}' cancelled by on_before_execute")
                if isinstance(answer, dict):
                    run.input = answer
            res = self._hook("BeforeWorkflowStart", dict(info, input=run.input), wf)
            if res is not None:
                if res.action == "cancel":
                    raise HookCancelled(f"Workflow '{wf.name}' cancelled by hook: {res.reason}")
                if res.action == "modified":
                    data = res.data
                    run.input = data["input"] if isinstance(data, dict) and "input" in data \
                        else data
            self._emit("workflow.started", dict(info))
            if wf.type == "sequential":
                output = self._run_steps(run, wf.steps, run.input, {})
            elif wf.type == "parallel":
                output = self._run_parallel(run)
            elif wf.type == "conditional":
                output = self._run_conditional(run)
            else:
                output = self._run_loop(run)
        except BaseException as exc:
            output = self._failed(run, info, exc)
        result = self._result(run, output)
        res = self._hook("AfterWorkflowComplete", dict(info, output=output, result=result), wf)
        if res is not None and res.action in ("modified", "replace") and res.data is not None:
            data = res.data
            new = data["output"] if isinstance(data, dict) and "output" in data else data
            result = self._result(run, new)
        for cb in wf.after:
            answer = cb(result)
            if isinstance(answer, dict):
                result = answer
        elapsed = (time.perf_counter() - run.started) * 1000
        m = wf.metrics
        m.total_executions += 1
        m.total_duration_ms += elapsed
        m.last_execution_id = run.execution_id
        if result.get("success", True):
            m.successful_executions += 1
        else:
            m.failed_executions += 1
        self._emit("workflow.completed", dict(info, duration_ms=elapsed,
                                              success=result.get("success", True)))
        self._store(run)
        self._debug(f"workflow '{wf.name}' finished in {elapsed:.2f} ms")
        return result

    def _failed(self, run: Run, info: dict[str, Any], exc: BaseException) -> Any:
        """A run failed: metrics, events, WorkflowError hooks, on_error callbacks; re-raise
        unless a WorkflowError hook replaced the failure with an output."""
        wf = run.workflow
        if isinstance(exc, KeyboardInterrupt | SystemExit) or not isinstance(exc, Exception):
            raise exc
        if isinstance(exc, Cancelled):  # the script is stopping: no hooks or callbacks
            wf.metrics.total_executions += 1
            wf.metrics.failed_executions += 1
            raise exc
        message = str(exc)
        if isinstance(exc, StepFailed):
            message = (f"Workflow '{wf.name}' failed at step '{exc.step}': {exc.message}")
        self._emit("workflow.failed", dict(info, error=message))
        # WorkflowRollback: hooks get what completed, to undo it (the result is advisory)
        self._hook("WorkflowRollback", dict(info, error=message,
                                            completed_steps=list(run.outputs),
                                            outputs=dict(run.outputs)), wf)
        res = self._hook("WorkflowError", dict(info, error=message), wf)
        if res is not None and res.action in ("replace", "modified") and res.data is not None:
            run.extra["recovered_error"] = message
            return res.data
        ctx = dict(info, error=message, failed_step=getattr(exc, "step", None))
        handlers = wf.on_error or ([self.default_error_handler]
                                   if self.default_error_handler else [])
        for handler in handlers:
            handler(ctx)
        elapsed = (time.perf_counter() - run.started) * 1000
        wf.metrics.total_executions += 1
        wf.metrics.failed_executions += 1
        wf.metrics.total_duration_ms += elapsed
        wf.metrics.last_execution_id = run.execution_id
        self._store(run)
        if isinstance(exc, HookCancelled | WorkflowError) and not isinstance(exc, StepFailed):
            raise exc
        raise WorkflowError(message) from exc

    def _store(self, run: Run) -> None:
        if self.store is None:
            return
        for name, value in list(run.outputs.items()):
            try:
                self.store(f"workflow:{run.execution_id}:{name}", value)
            except Exception as exc:  # State refused the value: say so in the result
                run.extra.setdefault("state_errors", []).append(f"{name}: {exc}")

    def _result(self, run: Run, output: Any) -> dict[str, Any]:
        wf = run.workflow
        results = run.results
        ok = sum(1 for r in results if r["success"] and not r.get("skipped"))
        skipped = sum(1 for r in results if r.get("skipped"))
        failed = sum(1 for r in results if not r["success"])
        total = len(results)
        success = failed == 0 or bool(run.extra.get("recovered_error")) or bool(
            run.extra.get("tolerated"))
        if run.extra.get("required_failed"):
            success = False
        seconds = time.perf_counter() - run.started
        elapsed = int(seconds * 1000)
        extra = {
            "workflow_type": wf.type, "workflow_name": wf.name, "workflow_id": wf.id,
            "execution_id": run.execution_id, "total_steps": total,
            "successful_steps": ok, "failed_steps": failed, "skipped_steps": skipped,
            "success_rate": (ok / total * 100.0) if total else 100.0,
            "success": success, "outputs": dict(run.outputs),
            "step_results": list(results),
            "errors": [f"{r['name']}: {r['error']}" for r in results if not r["success"]],
            **run.extra,
        }
        return {"text": summary(run, success, seconds), "media": [], "tool_calls": [],
                "output": output,
                "success": success, "execution_id": run.execution_id,
                "metadata": {"execution_time_ms": elapsed, "extra": extra}}

    # -- steps ------------------------------------------------------------------

    def _check_time(self, run: Run) -> None:
        if run.deadline is not None and time.monotonic() >= run.deadline:
            raise _timeout(run.workflow)
        scope = current_scope()
        if scope is not None and scope.is_cancelled():
            raise Cancelled("workflow run abandoned")

    def _run_steps(self, run: Run, steps: list[Step], value: Any,
                   extra: dict[str, Any]) -> Any:
        wf = run.workflow
        strategy = wf.error_strategy
        previous: str | None = None
        for step in steps:
            self._check_time(run)
            if previous is not None:
                res = self._hook("WorkflowStageTransition", {
                    "workflow_id": wf.id, "workflow_name": wf.name,
                    "execution_id": run.execution_id, "from_step": previous,
                    "to_step": step.name, "input": value}, wf)
                if res is not None and res.action == "cancel":
                    raise HookCancelled(f"Workflow '{wf.name}' stopped before step "
                                        f"'{step.name}' by hook: {res.reason}")
                if res is not None and res.action == "skipped":
                    run.record({"name": step.name, "type": step.type, "success": True,
                                "skipped": True, "reason": res.reason, "duration_ms": 0.0,
                                "attempts": 0, **{k: extra[k] for k in ("branch", "iteration")
                                                  if k in extra}})
                    continue
            previous = step.name
            result = self._run_step(run, step, value, extra)
            if result["success"]:
                if not result.get("skipped"):
                    value = result.get("output")
                    res = self._hook("WorkflowCheckpoint", {
                        "workflow_id": wf.id, "workflow_name": wf.name,
                        "execution_id": run.execution_id, "step_name": step.name,
                        "outputs": dict(run.outputs)}, wf)
                    if res is not None and res.action == "cancel":
                        raise HookCancelled(f"Workflow '{wf.name}' stopped after step "
                                            f"'{step.name}' by hook: {res.reason}")
            elif strategy.kind != "continue":
                raise StepFailed(step.name, result["error"])
        return value

    def _run_step(self, run: Run, step: Step, value: Any,
                  extra: dict[str, Any]) -> dict[str, Any]:
        wf = run.workflow
        strategy = wf.error_strategy
        info = {"workflow_id": wf.id, "workflow_name": wf.name,
                "execution_id": run.execution_id, "step_name": step.name,
                "step_type": step.type, **{k: v for k, v in extra.items()
                                           if isinstance(v, str | int | float)}}
        started = time.perf_counter()
        record: dict[str, Any] = {"name": step.name, "type": step.type, "success": True}
        for key in ("branch", "iteration"):
            if key in extra:
                record[key] = extra[key]
        res = self._hook("BeforeWorkflowStage", dict(info, input=value), wf)
        if res is not None:
            if res.action == "cancel":
                raise HookCancelled(f"Workflow '{wf.name}' step '{step.name}' cancelled by "
                                    f"hook: {res.reason}")
            if res.action == "skipped":
                record.update(skipped=True, reason=res.reason, duration_ms=0.0, attempts=0)
                run.record(record)
                self._debug(f"  step '{step.name}' skipped by hook")
                return record
            if res.action == "replace":
                record.update(output=res.data, replaced=True, duration_ms=0.0, attempts=0)
                run.record(record)
                return record
            if res.action == "modified":
                data = res.data
                value = data["input"] if isinstance(data, dict) and "input" in data else data
        self._emit("workflow.step.started", dict(info))
        attempts = max(1, 1 + int(step.retry_count or 0))
        if strategy.kind == "retry":
            attempts = max(attempts, strategy.max_attempts)
        error = None
        output = None
        attempt = 0
        while attempt < attempts:
            attempt += 1
            try:
                output = self._call_step(run, step, value, extra)
                error = None
                break
            except (Cancelled, HookCancelled, WorkflowTimeout):
                raise
            except Exception as exc:
                self._check_time(run)  # the whole workflow ran out of time
                error = str(exc) or type(exc).__name__
                if isinstance(exc, TimeoutError):
                    limit = step.timeout_ms or wf.step_timeout_ms
                    error = f"step '{step.name}' timed out after {limit} ms"
                self._debug(f"  step '{step.name}' attempt {attempt} failed: {error}")
                if attempt < attempts:
                    wf.metrics.retries += 1
                    delay = strategy.backoff_ms / 1000 if strategy.kind == "retry" else 0
                    if run.deadline is not None:
                        delay = min(delay, max(0.0, run.deadline - time.monotonic()))
                    if delay:
                        time.sleep(delay)
                    self._check_time(run)
        record["attempts"] = attempt
        record["duration_ms"] = (time.perf_counter() - started) * 1000
        wf.metrics.steps_executed += 1
        if error is not None:
            wf.metrics.steps_failed += 1
            record.update(success=False, error=error)
            run.record(record)
            self._emit("workflow.step.failed", dict(info, error=error))
            self._debug(f"  step '{step.name}' failed: {error}")
            return record
        res = self._hook("AfterWorkflowStage", dict(info, input=value, output=output), wf)
        if res is not None:
            if res.action == "replace" and res.data is not None:
                output = res.data
            elif res.action == "modified" and res.data is not None:
                data = res.data
                output = data["output"] if isinstance(data, dict) and "output" in data else data
            elif res.action == "cancel":
                raise HookCancelled(f"Workflow '{wf.name}' step '{step.name}' rejected by "
                                    f"hook: {res.reason}")
        record["output"] = output
        run.record(record)
        self._emit("workflow.step.completed", dict(info, duration_ms=record["duration_ms"]))
        self._debug(f"  step '{step.name}' ok ({record['duration_ms']:.2f} ms)")
        return record

    def _step_deadline(self, run: Run, step: Step) -> float:
        limit = step.timeout_ms or run.workflow.step_timeout_ms
        deadline = time.monotonic() + limit / 1000
        return deadline if run.deadline is None else min(deadline, run.deadline)

    def _call_step(self, run: Run, step: Step, value: Any, extra: dict[str, Any]) -> Any:
        deadline = self._step_deadline(run, step)
        if step.type == "custom":
            assert step.fn is not None
            # outputs/shared are the live dicts (read them, do not change them); "_run"
            # lets an adapter convert them incrementally instead of once per step
            ctx = {"workflow": run.workflow.name, "workflow_id": run.workflow.id,
                   "execution_id": run.execution_id, "step": step.name,
                   "input": run.input, "outputs": run.outputs,
                   "shared": run.workflow.shared, "deadline": deadline, "_run": run,
                   **extra}
            if step.input is not None:
                ctx["parameters"] = run.render(step.input, value, extra)
            return step.fn(value, ctx)
        if step.type == "tool":
            if self.tool is None:
                raise WorkflowError("tool steps need the Tool service, which is not available")
            if step.input is not None:
                # a whole `input = "{{prev}}"` may yield the parameter table itself
                params = run.render(step.input, value, extra,
                                    tables_as_text=isinstance(step.input, dict))
            else:
                params = {"input": text_of(value)} if value not in (None, {}) else {}
            if not isinstance(params, dict):
                params = {"input": params}
            tool, name = self.tool, step.tool or ""
            return self._blocking(lambda: tool(name, params), deadline, step)
        if step.type == "agent":
            if self.agent is None:
                raise WorkflowError("agent steps need the Agent service, "
                                    "which is not available")
            prompt = run.render(step.input, value, extra) if step.input is not None else None
            if isinstance(prompt, dict):
                agent_input = prompt if "text" in prompt else {"text": text_of(prompt)}
            else:
                agent_input = {"text": text_of(prompt) if prompt else text_of(value)}
            agent, name = self.agent, step.agent or ""
            return self._blocking(lambda: agent(name, agent_input), deadline, step)
        if step.type == "workflow":
            assert step.workflow is not None
            nested_input = run.render(step.input, value, extra) \
                if step.input is not None else value
            if not isinstance(nested_input, dict):
                nested_input = {"input": text_of(nested_input)}
            result = self.execute(step.workflow, nested_input, deadline=deadline)
            if not result.get("success", True):
                raise WorkflowError(f"nested workflow '{step.workflow.name}' failed: "
                                    + "; ".join(result["metadata"]["extra"]["errors"]))
            return result.get("output")
        raise WorkflowError(f"Unknown step type: {step.type}")

    def _blocking(self, fn: Callable[[], Any], deadline: float, step: Step) -> Any:
        """Run blocking I/O in a worker thread; give up at ``deadline``."""
        scope = Scope(current_scope())
        worker = Worker(self.gate, fn, scope).start()
        try:
            finished = self.gate.wait([worker], deadline)
        finally:
            if not worker.done:
                scope.cancelled = True
        if not finished:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"step '{step.name}' timed out")
            raise Cancelled("script stopped")
        if worker.error is not None:
            raise worker.error
        return worker.result

    # -- workflow kinds ---------------------------------------------------------

    def _run_parallel(self, run: Run) -> Any:
        wf = run.workflow
        branches = wf.branches or [Branch(s.name, [s]) for s in wf.steps]
        limit = max(1, min(wf.max_concurrency or len(branches), len(branches),
                           MAX_WORKER_THREADS))
        scope = Scope(current_scope())
        outcome: dict[str, tuple[bool, Any]] = {}
        lock = threading.Lock()
        pending = list(range(len(branches)))
        stop = threading.Event()
        timed_out = threading.Event()
        fail_fast = wf.error_strategy.kind != "continue"

        def worker_loop() -> None:
            while not stop.is_set():
                with lock:
                    if not pending:
                        return
                    index = pending.pop(0)
                branch = branches[index]
                try:
                    out = self._run_steps(run, branch.steps, run.input, {"branch": branch.name})
                    with run.lock:
                        errors = [f"step '{r['name']}': {r['error']}" for r in run.results
                                  if not r["success"] and r.get("branch") == branch.name]
                    with lock:
                        outcome[branch.name] = (False, "; ".join(errors)) if errors \
                            else (True, out)
                except Cancelled:
                    return
                except WorkflowTimeout:
                    timed_out.set()
                    stop.set()
                    return
                except Exception as exc:
                    msg = (f"step '{exc.step}': {exc.message}" if isinstance(exc, StepFailed)
                           else str(exc))
                    with lock:
                        outcome[branch.name] = (False, msg)
                    if fail_fast and branch.required:
                        stop.set()

        def slot_loop() -> None:
            try:
                worker_loop()
            finally:
                self.gate.give_slot()

        granted = self.gate.take_slots(limit)  # run-wide cap: nesting cannot multiply it
        if granted == 0:  # every slot is taken (by enclosing runs): branches run here
            workers: list[Worker] = []
            worker_loop()
            finished = True
        else:
            workers = [Worker(self.gate, slot_loop, scope).start() for _ in range(granted)]
        try:
            if workers:
                finished = self.gate.wait(workers, run.deadline, until=stop.is_set)
        finally:
            if not all(w.done for w in workers):
                scope.cancelled = True
                stop.set()
        for w in workers:
            if w.error is not None and not isinstance(w.error, Cancelled):
                raise w.error
        if timed_out.is_set() or (not finished and run.deadline is not None
                                  and time.monotonic() >= run.deadline):
            raise _timeout(wf)
        if not finished:
            raise Cancelled("script stopped")
        failures = {name: err for name, (ok, err) in outcome.items() if not ok}
        required = [b.name for b in branches if b.required and b.name in failures]
        run.extra["branches"] = {b.name: ("completed" if outcome.get(b.name, (False,))[0]
                                          else "failed" if b.name in failures
                                          else "not_run") for b in branches}
        if required and fail_fast:
            name = required[0]
            raise WorkflowError(f"Workflow '{wf.name}' failed in branch '{name}': "
                                f"{failures[name]}")
        if required:
            run.extra["required_failed"] = required
        elif failures:
            run.extra["tolerated"] = True
        return {b.name: outcome[b.name][1] for b in branches
                if outcome.get(b.name, (False,))[0]}

    def evaluate(self, cond: Any, run: Run, value: Any, extra: dict[str, Any]) -> bool:
        """A condition: a callable(ctx) or ``{type=...}`` (see docs/workflows.md)."""
        if cond is None:
            return True
        if callable(cond):
            ctx = {"input": run.input, "prev": value, "outputs": dict(run.outputs),
                   "shared": dict(run.workflow.shared), **extra}
            return bool(cond(ctx))
        if not isinstance(cond, dict):
            return bool(cond)
        kind = cond.get("type")
        shared = run.workflow.shared
        if kind == "always":
            return True
        if kind == "never":
            return False
        if kind == "shared_data_equals":
            return shared.get(cond.get("key")) == cond.get("value")
        if kind == "shared_data_exists":
            return cond.get("key") in shared
        if kind == "input_contains":
            return str(cond.get("value", cond.get("text", ""))) in text_of(run.input)
        if kind == "input_equals":
            return run.input == cond.get("value") or text_of(run.input) == cond.get("value")
        if kind in ("step_output_equals", "step_output_contains"):
            found = cond.get("step") in run.outputs
            got = run.outputs.get(cond.get("step"))
            if kind == "step_output_equals":
                return found and (got == cond.get("value") or text_of(got) == cond.get("value"))
            return found and str(cond.get("value", "")) in text_of(got)
        if kind == "and":
            return all(self.evaluate(c, run, value, extra) for c in cond.get("conditions", []))
        if kind == "or":
            return any(self.evaluate(c, run, value, extra) for c in cond.get("conditions", []))
        if kind == "not":
            return not self.evaluate(cond.get("condition"), run, value, extra)
        if kind == "custom" and callable(cond.get("fn")):
            return self.evaluate(cond["fn"], run, value, extra)
        raise WorkflowError(f"Unknown condition type: {kind}")

    def _run_conditional(self, run: Run) -> Any:
        wf = run.workflow
        chosen: Branch | None = None
        for branch in wf.branches:
            if branch.condition is not None and self.evaluate(branch.condition, run,
                                                              run.input, {}):
                chosen = branch
                break
        if chosen is None and wf.default_branch:
            chosen = next((b for b in wf.branches if b.name == wf.default_branch), None)
        if chosen is None and wf.else_steps:
            chosen = Branch("else", wf.else_steps)
        if chosen is None:
            run.extra["branch"] = None
            return None
        run.extra["branch"] = chosen.name
        self._debug(f"  branch '{chosen.name}' chosen")
        return self._run_steps(run, chosen.steps, run.input, {"branch": chosen.name})

    def _iterate(self, wf: Workflow) -> Any:
        it = wf.iterator or {}
        if "range" in it:
            r = it["range"] or {}
            start, end, step = int(r.get("start", 0)), int(r.get("end", 0)), int(
                r.get("step", 1) or 1)
            return ((i, v) for i, v in enumerate(range(start, end, step)))
        if "collection" in it:
            values = it["collection"]
            if isinstance(values, dict):
                values = values.get("values", list(values.values()))
            return enumerate(values or [])
        return ((i, None) for i in range(10**12))  # while: bounded by conditions

    @staticmethod
    def _planned(wf: Workflow) -> int | None:
        """How many iterations a range or collection loop has (None for while loops)."""
        it = wf.iterator or {}
        if "range" in it:
            r = it["range"] or {}
            return len(range(int(r.get("start", 0)), int(r.get("end", 0)),
                             int(r.get("step", 1) or 1)))
        if "collection" in it:
            values = it["collection"]
            if isinstance(values, dict):
                values = values.get("values", list(values.values()))
            return len(values or [])
        return None

    def _run_loop(self, run: Run) -> Any:
        wf = run.workflow
        it = wf.iterator or {}
        while_cond = it.get("while_condition")
        cap = wf.max_iterations if wf.max_iterations is not None else DEFAULT_MAX_ITERATIONS
        results: list[Any] = []
        last = run.input
        reason = "completed"
        planned = self._planned(wf)
        if planned is not None:
            run.extra["planned_iterations"] = min(planned, cap)
        for index, item in self._iterate(wf):
            self._check_time(run)
            if index >= cap:
                reason = "max_iterations"
                break
            extra = {"iteration": index + 1, "index": index, "last": last}
            if item is not None:
                extra["item"] = item
            if wf.loop_condition is not None and not self.evaluate(wf.loop_condition, run,
                                                                   last, extra):
                reason = "loop_condition"
                break
            if while_cond is not None and not self.evaluate(while_cond, run, last, extra):
                reason = "while_condition"
                break
            first_input = item if item is not None else last
            out = self._run_steps(run, wf.steps, first_input, extra)
            results.append(out)
            last = out
            extra["last"] = out
            if any(self.evaluate(c, run, out, extra) for c in wf.break_conditions):
                reason = "break_condition"
                break
        run.extra["iterations"] = len(results)
        run.extra["loop_exit"] = reason
        return results
