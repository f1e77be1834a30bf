"""The Workflow global (spec § 4): builder, module functions and workflow instances.

    local wf = Workflow.sequential({name = "pipeline", steps = {
      {name = "double", type = "custom", ["function"] = function(input) return input.n * 2 end},
      {name = "save", type = "tool", tool = "file_operations",
       input = {operation = "write", path = "/tmp/x.txt", input = "{{prev}}"}},
    }})
    local result = wf:execute({n = 21})   -- result.text, result.metadata.extra.*

Lua-function steps (``type="custom"`` with ``function`` = a function or the name of a
global function) get ``(input, ctx)`` and return the step output. They run on the
script's thread; tool and agent steps run in worker threads, so parallel branches
really overlap on I/O. Everything upstream accepts and never calls (``on_before_execute``,
``on_after_execute``, ``on_error``, ``loop_condition``, ``with_while``,
``setDefaultErrorHandler``) is called here, and ``get_metrics`` counts for real.
The engine lives in ``llmspell/workflows/``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..held import WORKFLOWS_HELD_LIMIT, HeldBytes, HeldBytesFull
from ..lua import args, convert
from ..lua.objects import LuaObject, lua_objects
from ..run import Slot
from ..workflows.engine import Engine
from ..workflows.gate import Cancelled
from ..workflows.model import TYPES, Workflow, WorkflowError
from ..workflows.spec import Draft, Parser, collection, error_strategy
from .hook import lua_gate

try:
    from lupa.luajit21 import LuaError
except ImportError:  # pragma: no cover
    from lupa import LuaError

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

TYPE_INFO = {
    "sequential": ("Runs steps one after another; each step gets the previous output",
                   ["ordered_steps", "output_passing", "error_strategies", "timeouts"]),
    "parallel": ("Runs branches at the same time; tool and agent steps overlap on I/O",
                 ["concurrent_branches", "max_concurrency", "optional_branches",
                  "fail_fast", "timeouts"]),
    "conditional": ("Runs the first branch whose condition holds (else the default)",
                    ["conditions", "lua_function_conditions", "default_branch"]),
    "loop": ("Runs its body over a range, a collection or while a condition holds",
             ["range", "collection", "while_condition", "break_conditions",
              "max_iterations"]),
}


class StepError(Exception):
    """A Lua step raised an error (message without the Lua traceback)."""


# -- calling Lua ----------------------------------------------------------------


def _lua_call(rt: Runtime, fn: Any, args: tuple[Any, ...], deadline: float | None) -> Any:
    """Call a Lua function on the script's thread; ``deadline`` bounds its run time.

    The runtime's instruction hook already stops scripts at their deadline; for a step
    we tighten that deadline for the duration of the call and, if it is our deadline
    that fired, turn the abort back into an ordinary step timeout.
    """
    lua = rt.lua
    failure: LuaError | None = None
    with rt.step_deadline(deadline) as limit:
        try:
            result = fn(*(convert.to_lua(lua, a) for a in args))
        except LuaError as exc:
            failure = exc
    if failure is not None:
        if limit.fired:
            raise TimeoutError("step timed out") from None
        if rt.stop_reason is not None:
            raise Cancelled("script stopped") from None
        raise StepError(convert.lua_error_text(failure)) from None
    if isinstance(result, tuple):
        result = result[0] if result else None
    try:
        return convert.to_python(result)
    except TypeError as exc:
        raise StepError(f"returned a value that cannot be passed on: {exc}") from None


class Bridge:
    """Per-run state of the Workflow global: the engine, instances, Lua wrappers."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.gate = lua_gate(rt)
        self.engine = Engine(self.gate, rt.services, store=self._store,
                             log=lambda line: rt.output.error(
                                 convert.encode(f"[workflow] {line}\n")))
        self.instances: dict[str, Workflow] = {}
        self.objects: dict[str, WorkflowInstance] = {}
        self.held = HeldBytes(WORKFLOWS_HELD_LIMIT, "workflow instances (definitions, "
                              "inputs, shared data, last run)")
        if _exporting(rt):  # exported events include workflow lifecycle events
            from .event import event_bus

            event_bus(rt)
        self._ctx_cache: dict[str, list[Any]] = {}
        self._state: Any = None
        self._state_failed = False

    # Lua callables -----------------------------------------------------------------

    def callback(self, fn: Any) -> Callable[..., Any]:
        """A Python callable running the Lua function ``fn`` on the script's thread."""
        rt, gate = self.rt, self.gate

        def call(*args: Any) -> Any:
            return gate.call(_lua_call, rt, fn, args, None)

        return call

    def step_function(self, fn: Any, name: str | None) -> Callable[[Any, dict[str, Any]], Any]:
        """A custom step: the Lua function ``fn``, or the global function ``name``."""
        rt, gate = self.rt, self.gate

        def resolve() -> Any:
            if fn is not None:
                return fn
            target = rt.lua.globals()[convert.encode(name or "")]
            if convert.lua_type(target) != "function":
                raise StepError(f"no global function named '{name}'")
            return target

        bridge = self

        def run(value: Any, ctx: dict[str, Any]) -> Any:
            deadline = ctx.pop("deadline", None)
            return gate.call(lambda: _lua_call(rt, resolve(), (value, bridge.lua_ctx(ctx)),
                                               deadline))

        return run

    def lua_ctx(self, ctx: dict[str, Any]) -> Any:
        """The Lua table a step function gets as ``ctx``. ``ctx.outputs`` and ``ctx.input``
        are converted once per run and then kept up to date, not rebuilt for every step."""
        lua = self.rt.lua
        run = ctx.pop("_run", None)
        outputs = ctx.pop("outputs", {})
        given = ctx.pop("input", None)
        plain = {k: v for k, v in ctx.items() if v is not None}
        table = convert.to_lua(lua, plain)
        if run is None:
            table[b"outputs"] = convert.to_lua(lua, outputs)
            table[b"input"] = convert.to_lua(lua, given)
            return table
        entry = self._ctx_cache.get(run.execution_id)
        if entry is None:
            if len(self._ctx_cache) > 64:
                self._ctx_cache.clear()
            entry = self._ctx_cache[run.execution_id] = [lua.table(), 0,
                                                         convert.to_lua(lua, given)]
        results = run.results
        seen = len(results)
        if seen > entry[1]:
            out_table = entry[0]
            for r in results[entry[1]:seen]:
                if r["success"] and not r.get("skipped"):
                    out_table[convert.encode(r["name"])] = convert.to_lua(lua, r.get("output"))
            entry[1] = seen
        table[b"outputs"] = entry[0]
        table[b"input"] = entry[2]
        return table

    # State -------------------------------------------------------------------------

    def state(self) -> Any:
        if self._state is None and not self._state_failed:
            try:
                from .state import state_service

                self._state = state_service(self.rt)
            except Exception:
                self._state_failed = True
        return self._state

    def _store(self, key: str, value: Any) -> None:
        svc = self.state()
        if svc is None:
            return
        svc.set(key, value)
        svc.set("global:" + key, value)

    # services for tool / agent steps ---------------------------------------------

    def prepare(self, wf: Workflow, seen: set[str] | None = None) -> None:
        """Resolve the tool and agent services a workflow needs (on the script thread)."""
        seen = seen if seen is not None else set()
        if wf.id in seen:
            return
        seen.add(wf.id)
        for step in wf.all_steps():
            if step.type == "tool" and self.engine.tool is None:
                self.engine.tool = self._tool_backend()
            elif step.type == "agent" and self.engine.agent is None:
                self.engine.agent = self._agent_backend()
            elif step.type == "workflow" and step.workflow is not None:
                self.prepare(step.workflow, seen)

    def _tool_backend(self) -> Callable[[str, dict[str, Any]], Any]:
        try:
            from .tool import tool_service
        except ImportError as exc:
            raise ApiError(f"workflow tool steps need the Tool service: {exc}") from None
        service = tool_service(self.rt)
        return service.invoke

    def _agent_backend(self) -> Callable[[str, dict[str, Any]], Any]:
        try:
            from .agent import agent_service  # type: ignore[attr-defined]
        except ImportError as exc:
            raise ApiError(f"workflow agent steps need the Agent service: {exc}") from None
        service = agent_service(self.rt)

        def invoke(name: str, data: dict[str, Any]) -> Any:
            agent = service.get(name)
            if agent is None:
                raise WorkflowError(f"Agent '{name}' not found")
            return agent.invoke(data)

        return invoke

    # the spec parser's Resolver (callback and step_function are above) -------------

    def expression(self, text: str) -> Callable[[dict[str, Any]], Any]:
        """A Lua expression string as a condition: ``"iteration < 3"``, ``"shared.done"``."""
        # workflow_conditions.lua: compiled before the script ran, with the original load
        compiled = self.rt.chunk("workflow_conditions")(convert.encode(text))
        if isinstance(compiled, tuple):
            fn, err = (compiled + (None,))[:2]
            if fn is None:
                raise ApiError(f"invalid condition expression '{text}': "
                               f"{convert.decode(err) if isinstance(err, bytes) else err}")
            compiled = fn
        return self.callback(compiled)

    def workflow(self, ref: Any) -> Workflow | None:
        """A nested workflow: an instance (its ``id`` field) or an id string."""
        wid = ref.get("id") if isinstance(ref, dict) else ref
        return self.instances.get(wid) if isinstance(wid, str) else None

    def parser(self, where: str) -> Parser:
        return Parser(self, where)

    # instances ---------------------------------------------------------------------

    def charge(self, wf: Workflow, fn: str) -> None:
        """Count what ``wf`` keeps against the run's budget (``llmspell/held.py``)."""
        try:
            self.held.charge_value(wf.id, wf, fn)
        except HeldBytesFull as exc:
            raise ApiError(str(exc)) from None

    def register(self, wf: Workflow, fn: str = "WorkflowBuilder:build") -> WorkflowInstance:
        if not wf.id.startswith("workflow_"):
            wf.id = f"workflow_{uuid.uuid4().hex[:12]}"
        wf.created_at = time.time()
        self.charge(wf, fn)
        self.instances[wf.id] = wf
        obj = self.objects[wf.id] = WorkflowInstance(self, wf)
        return obj

    def from_table(self, kind: str, cfg: Any, where: str) -> WorkflowInstance:
        """``Workflow.<kind>(cfg)`` / ``Workflow.register(kind, cfg)``."""
        data = args.table_data(cfg, where, 1, functions=True)
        with spec_errors():
            wf = self.parser(where).workflow(kind, data)
        return self.register(wf, where)

    def execute(self, wf: Workflow, value: Any) -> dict[str, Any]:
        if value is None:
            data: Any = {}
        elif isinstance(value, bytes):
            data = {"input": convert.decode(value)}
        else:
            try:
                data = convert.to_python(value)
            except TypeError as exc:
                raise ApiError(f"workflow:execute: cannot convert input: {exc}") from None
            if not isinstance(data, dict):
                data = {"input": data}
        self.prepare(wf)
        try:
            with spec_errors():
                return self.engine.execute(wf, data)
        except Cancelled:
            raise ApiError(f"Workflow '{wf.name}' was stopped") from None
        finally:
            if wf.id in self.instances:  # its last run (input, outputs) stays with it
                try:
                    self.charge(wf, "workflow:execute")
                except ApiError:
                    wf.last_run = None
                    self.charge(wf, "workflow:execute")
                    raise

    def warnings(self, wf: Workflow) -> list[str]:
        out: list[str] = []
        tools = self.rt.services.tools_if_made
        for step in wf.all_steps():
            if step.type == "tool" and tools is not None and hasattr(tools, "get") \
                    and tools.get(step.tool) is None:
                out.append(f"step '{step.name}': tool '{step.tool}' is not registered")
            if (step.timeout_ms or wf.step_timeout_ms) > (wf.timeout_ms or 10**12):
                out.append(f"step '{step.name}': its timeout exceeds the workflow's")
        if wf.type == "loop" and wf.iterator and "while_condition" in wf.iterator \
                and wf.max_iterations is None:
            out.append("while loop without max_iterations (capped at 1000)")
        return out


@contextmanager
def spec_errors() -> Iterator[None]:
    """The one translation at this border: a workflow's own error reaches Lua as its text."""
    try:
        yield
    except WorkflowError as exc:
        raise ApiError(str(exc)) from None


def _exporting(rt: Runtime) -> bool:
    return bool(rt.settings.get("events.export.stdout") or rt.settings.get("events.export.file")
                or rt.settings.get("events.export.webhook"))


WORKFLOWS: Slot[Bridge] = Slot("workflows")


def workflow_bridge(rt: Runtime) -> Bridge:
    return rt.services.slot(WORKFLOWS, lambda: Bridge(rt))


# -- a workflow instance (spec § 4.4) ----------------------------------------------


class WorkflowInstance(LuaObject):
    """What ``Workflow.sequential{...}`` and ``builder:build()`` return."""

    lua_name = "WorkflowInstance"

    def __init__(self, bridge: Bridge, wf: Workflow) -> None:
        self._bridge = bridge
        self._wf = wf

    @property
    def workflow(self) -> Workflow:
        return self._wf

    def lua_fields(self) -> dict[str, Any]:
        return {"id": self._wf.id, "name": self._wf.name, "type": self._wf.type}

    def _run(self) -> Any:
        if self._wf.last_run is None:
            raise ApiError("No workflow execution found. Run execute() first.")
        return self._wf.last_run

    def _key(self, key: Any, fn: str) -> str:
        return f"global:workflow:{self._wf.id}:{args.text(key, fn, 1)}"

    def execute(self, value: Any = None) -> Any:
        return self._bridge.execute(self._wf, value)

    def get_info(self) -> dict[str, Any]:
        wf = self._wf
        return {"id": wf.id, "name": wf.name, "type": wf.type, "description": wf.description}

    def get_state(self, key: Any = None) -> Any:
        full = self._key(key, "workflow:get_state")
        svc = self._bridge.state()
        return None if svc is None else svc.get(full)

    def set_state(self, key: Any = None, value: Any = None) -> bool:
        full = self._key(key, "workflow:set_state")
        svc = self._bridge.state()
        if svc is None:
            return False
        svc.set(full, args.data(value, "workflow:set_state"))
        return True

    def set_shared_data(self, key: Any = None, value: Any = None) -> None:
        k = args.text(key, "workflow:set_shared_data", 1)
        v = args.data(value, "workflow:set_shared_data")
        if v is None:
            self._wf.shared.pop(k, None)
        else:
            old = self._wf.shared.get(k)
            self._wf.shared[k] = v
            if self._wf.id in self._bridge.instances:
                try:
                    self._bridge.charge(self._wf, "workflow:set_shared_data")
                except ApiError:
                    if old is None:
                        self._wf.shared.pop(k, None)
                    else:
                        self._wf.shared[k] = old
                    raise
        svc = self._bridge.state()
        if svc is not None:
            svc.set(f"global:workflow:{self._wf.id}:shared:{k}", v)

    def get_shared_data(self, key: Any = None) -> Any:
        return self._wf.shared.get(args.text(key, "workflow:get_shared_data", 1))

    def _add_hook(self, kind: str, target: list[Any], fn: Any) -> dict[str, Any]:
        target.append(self._bridge.callback(args.function(fn, f"workflow:{kind}", 1)))
        return {"message": "Hook registered", "workflow_id": self._wf.id, "hook_type": kind}

    def on_before_execute(self, fn: Any = None) -> dict[str, Any]:
        return self._add_hook("on_before_execute", self._wf.before, fn)

    def on_after_execute(self, fn: Any = None) -> dict[str, Any]:
        return self._add_hook("on_after_execute", self._wf.after, fn)

    def on_error(self, fn: Any = None) -> dict[str, Any]:
        return self._add_hook("on_error", self._wf.on_error, fn)

    def get_output(self, step: Any = None) -> Any:
        name = args.text(step, "workflow:get_output", 1)
        return self._run().outputs.get(name)

    def get_all_outputs(self) -> dict[str, Any]:
        return dict(self._run().outputs)

    def list_outputs(self) -> list[str]:
        return list(self._run().outputs)

    def clear_outputs(self) -> dict[str, Any]:
        run = self._run()
        names = list(run.outputs)
        svc = self._bridge.state()
        if svc is not None:
            for name in names:
                svc.remove(f"workflow:{run.execution_id}:{name}")
                svc.remove(f"global:workflow:{run.execution_id}:{name}")
        run.outputs.clear()
        return {"deleted": len(names)}

    def get_execution_id(self) -> str:
        return str(self._run().execution_id)

    def emit(self, event: Any = None, data: Any = None) -> dict[str, Any]:
        from .event import event_bus

        name = args.text(event, "workflow:emit", 1)
        payload = args.data(data, "workflow:emit")
        event_bus(self._bridge.rt).publish(name, payload, metadata={"workflow_id": self._wf.id})
        return {"success": True, "workflow_id": self._wf.id, "event_name": name}

    def debug(self) -> dict[str, Any]:
        wf = self._wf
        svc = self._bridge.state()
        keys = svc.keys(f"global:workflow:{wf.id}:") if svc is not None else []
        return {"workflow_id": wf.id, "name": wf.name, "type": wf.type,
                "runtime": {"created_at": wf.created_at, "state_keys": keys},
                "steps": [s.describe() for s in wf.all_steps()],
                "branches": [b.name for b in wf.branches],
                "error_strategy": wf.error_strategy.to_dict(),
                "timeout_ms": wf.timeout_ms,
                "metrics": wf.metrics.to_dict()}

    def validate(self) -> dict[str, Any]:
        errors = self._wf.validate()
        return {"valid": not errors, "workflow_id": self._wf.id,
                "warnings": self._bridge.warnings(self._wf), "errors": errors}

    def get_metrics(self) -> dict[str, Any]:
        return {"workflow_id": self._wf.id, "execution": self._wf.metrics.to_dict()}


# -- the builder (spec § 4.2) ---------------------------------------------------------


class WorkflowBuilder(LuaObject):
    """``Workflow.builder()``: each setter parses its piece at once and returns the builder."""

    lua_name = "WorkflowBuilder"

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._draft = Draft()

    def _parser(self, method: str) -> Parser:
        return self._bridge.parser(f"WorkflowBuilder:{method}")

    def _data(self, value: Any, method: str) -> Any:
        return args.data(value, f"WorkflowBuilder:{method}", functions=True)

    def _type(self, kind: str) -> WorkflowBuilder:
        self._draft.type = kind
        return self

    def sequential(self) -> WorkflowBuilder:
        return self._type("sequential")

    def parallel(self) -> WorkflowBuilder:
        return self._type("parallel")

    def conditional(self) -> WorkflowBuilder:
        return self._type("conditional")

    def loop(self) -> WorkflowBuilder:
        return self._type("loop")

    def loop_workflow(self) -> WorkflowBuilder:
        return self._type("loop")

    def name(self, value: Any = None) -> WorkflowBuilder:
        self._draft.name = args.text(value, "WorkflowBuilder:name", 1)
        return self

    def description(self, value: Any = None) -> WorkflowBuilder:
        self._draft.description = args.text(value, "WorkflowBuilder:description", 1)
        return self

    def error_strategy(self, value: Any = None) -> WorkflowBuilder:
        self._draft.error_strategy = error_strategy(self._data(value, "error_strategy"))
        return self

    def timeout_ms(self, value: Any = None) -> WorkflowBuilder:
        ms = args.number(value, "WorkflowBuilder:timeout_ms", 1)
        self._draft.timeout_ms = int(ms) if ms > 0 else None
        return self

    def max_iterations(self, value: Any = None) -> WorkflowBuilder:
        self._draft.max_iterations = int(args.number(value, "WorkflowBuilder:max_iterations", 1))
        return self

    def max_concurrency(self, value: Any = None) -> WorkflowBuilder:
        n = args.number(value, "WorkflowBuilder:max_concurrency", 1)
        self._draft.max_concurrency = max(1, int(n))
        return self

    def _step(self, value: Any, method: str) -> Any:
        with spec_errors():
            return self._parser(method).step(self._data(value, method))

    def add_step(self, value: Any = None) -> WorkflowBuilder:
        self._draft.steps.append(self._step(value, "add_step"))
        return self

    def add_then_step(self, value: Any = None) -> WorkflowBuilder:
        self._draft.then_steps.append(self._step(value, "add_then_step"))
        return self

    def add_else_step(self, value: Any = None) -> WorkflowBuilder:
        self._draft.else_steps.append(self._step(value, "add_else_step"))
        return self

    def condition(self, value: Any = None) -> WorkflowBuilder:
        with spec_errors():
            self._draft.condition = self._parser("condition").condition(
                self._data(value, "condition"))
        return self

    def add_branch(self, cond: Any = None, steps: Any = None) -> WorkflowBuilder:
        """``add_branch(condition, steps)`` or ``add_branch{name=, condition=, steps=,
        required=}``."""
        first = self._data(cond, "add_branch")
        if steps is None and isinstance(first, dict) and first.get("steps") is not None:
            spec = first
        else:
            spec = {"condition": first, "steps": self._data(steps, "add_branch")}
        index = len(self._draft.branches) + 1
        with spec_errors():
            self._draft.branches.append(self._parser("add_branch").branch(spec, index))
        return self

    def with_range(self, value: Any = None) -> WorkflowBuilder:
        r = args.table_data(value, "WorkflowBuilder:with_range", 1)
        with spec_errors():
            self._draft.iterator = self._parser("with_range").iterator({"range": r})
        return self

    def with_collection(self, value: Any = None) -> WorkflowBuilder:
        values = args.data(value, "WorkflowBuilder:with_collection")
        self._draft.iterator = {"collection": collection(values)}
        return self

    def with_while(self, value: Any = None) -> WorkflowBuilder:
        with spec_errors():
            self._draft.iterator = {"while_condition": self._parser("with_while").condition(
                self._data(value, "with_while"))}
        return self

    def loop_condition(self, value: Any = None) -> WorkflowBuilder:
        fn = args.function(value, "WorkflowBuilder:loop_condition", 1)
        self._draft.loop_condition = self._bridge.callback(fn)
        return self

    def build(self) -> WorkflowInstance:
        draft = self._draft
        with spec_errors():
            wf = draft.build()
        if draft.ignored_steps:  # upstream's conditional builder drops them too
            names = ", ".join(f"'{s.name}'" for s in draft.ignored_steps)
            self._bridge.rt.output.error(convert.encode(
                f"warning: WorkflowBuilder:build: conditional workflow '{wf.name}' "
                f"ignores steps added with add_step ({names}); use add_then_step "
                "or add_else_step\n"))
        return self._bridge.register(wf)


# -- the global (spec § 4.1) ------------------------------------------------------------


def type_info(kind: str) -> dict[str, Any]:
    desc, features = TYPE_INFO[kind]
    return {"id": kind, "type": kind, "description": desc, "features": features}


class WorkflowGlobal(LuaObject):
    """The ``Workflow`` table: its methods are the dot-call functions."""

    lua_name = "Workflow"
    lua_names = {"list_all": "list", "set_default_error_handler": "setDefaultErrorHandler",
                 "enable_debug": "enableDebug", "is_debug_enabled": "isDebugEnabled"}

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def builder(self) -> WorkflowBuilder:
        return WorkflowBuilder(self._bridge)

    def sequential(self, cfg: Any = None) -> WorkflowInstance:
        return self._bridge.from_table("sequential", cfg, "Workflow.sequential")

    def parallel(self, cfg: Any = None) -> WorkflowInstance:
        return self._bridge.from_table("parallel", cfg, "Workflow.parallel")

    def conditional(self, cfg: Any = None) -> WorkflowInstance:
        return self._bridge.from_table("conditional", cfg, "Workflow.conditional")

    def loop(self, cfg: Any = None) -> WorkflowInstance:
        return self._bridge.from_table("loop", cfg, "Workflow.loop")

    def types(self) -> list[str]:
        return list(TYPES)

    def list_all(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"id": wf.id, "name": wf.name, "type": "instance", "workflow_type": wf.type}
            for wf in self._bridge.instances.values()]
        out.extend(type_info(k) for k in TYPES)
        return out

    def get(self, wid: Any = None) -> dict[str, Any]:
        key = args.text(wid, "Workflow.get", 1)
        wf = self._bridge.instances.get(key)
        if wf is not None:
            info = type_info(wf.type)
            return dict(info, id=wf.id, name=wf.name,
                        description=wf.description or info["description"])
        if key in TYPE_INFO:
            return type_info(key)
        raise ApiError(f"Workflow not found: {key}")

    def instance(self, wid: Any = None) -> WorkflowInstance:
        key = args.text(wid, "Workflow.instance", 1)
        obj = self._bridge.objects.get(key)
        if obj is None:
            raise ApiError(f"Workflow not found: {key}")
        return obj

    def remove(self, wid: Any = None) -> None:
        key = args.text(wid, "Workflow.remove", 1)
        if self._bridge.instances.pop(key, None) is None:
            raise ApiError(f"Workflow not found: {key}")
        self._bridge.objects.pop(key, None)
        self._bridge.held.release(key)

    def register(self, kind: Any = None, params: Any = None) -> str:
        k = args.text(kind, "Workflow.register", 1)
        if k not in TYPES:
            raise ApiError(f"Workflow.register: unknown workflow type '{k}' "
                           f"(one of {', '.join(TYPES)})")
        return self._bridge.from_table(k, params, "Workflow.register").workflow.id

    def clear(self) -> None:
        for key in self._bridge.instances:
            self._bridge.held.release(key)
        self._bridge.instances.clear()
        self._bridge.objects.clear()

    def set_default_error_handler(self, fn: Any = None) -> None:
        handler = args.optional_function(fn, "Workflow.setDefaultErrorHandler", 1)
        engine = self._bridge.engine
        engine.default_error_handler = None if handler is None else self._bridge.callback(
            handler)

    def enable_debug(self, flag: Any = None) -> None:
        self._bridge.engine.debug = bool(flag)

    def is_debug_enabled(self) -> bool:
        return self._bridge.engine.debug


def install(rt: Runtime, table: Any) -> None:
    lua_objects(rt).install(table, WorkflowGlobal(workflow_bridge(rt)))
