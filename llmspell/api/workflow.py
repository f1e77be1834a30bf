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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert
from ..workflows.engine import Engine
from ..workflows.gate import Cancelled
from ..workflows.model import (
    DEFAULT_STEP_TIMEOUT_MS,
    STEP_TYPES,
    TYPES,
    Branch,
    ErrorStrategy,
    Step,
    Workflow,
    WorkflowError,
)
from .hook import lua_error_text, lua_gate

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
CONDITION_TYPES = ("always", "never", "shared_data_equals", "shared_data_exists",
                   "input_contains", "input_equals", "step_output_equals",
                   "step_output_contains", "and", "or", "not", "custom")


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
        raise StepError(lua_error_text(failure)) from None
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
        self.objects: dict[str, Any] = {}
        if _exporting(rt):  # exported events include workflow lifecycle events
            from .event import event_bus

            event_bus(rt)
        self._ctx_cache: dict[str, list[Any]] = {}
        self._state: Any = None
        self._state_failed = False

    # Lua callables -----------------------------------------------------------------

    def callable(self, fn: Any, deadline_arg: bool = False) -> Callable[..., Any]:
        """A Python callable running the Lua function ``fn`` on the script's thread."""
        rt, gate = self.rt, self.gate

        def call(*args: Any) -> Any:
            return gate.call(_lua_call, rt, fn, args, None)

        return call

    def step_fn(self, fn: Any, name: str | None) -> Callable[[Any, dict[str, Any]], Any]:
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

    # parsing Lua tables ------------------------------------------------------------

    def workflow_of(self, value: Any) -> Workflow | None:
        if isinstance(value, bytes):
            return self.instances.get(convert.decode(value))
        if convert.lua_type(value) == "table":
            wid = value[b"id"]
            if isinstance(wid, bytes):
                return self.instances.get(convert.decode(wid))
        return None

    def parse_step(self, value: Any, fn: str) -> Step:
        if convert.lua_type(value) != "table":
            raise ApiError(f"{fn}: a step must be a table, got {convert.describe(value)}")
        name = value[b"name"]
        if not isinstance(name, bytes):
            raise ApiError(f"{fn}: step is missing its 'name' (a string)")
        step_name = convert.decode(name)
        kind_raw = value[b"type"]
        function = value[b"function"]
        if kind_raw is None and function is not None:
            kind_raw = b"custom"
        if not isinstance(kind_raw, bytes):
            raise ApiError(f"{fn}: step '{step_name}' is missing its 'type' "
                           "(tool, agent, workflow or custom)")
        kind = convert.decode(kind_raw)
        if kind in ("function", "lua"):
            kind = "custom"
        if kind not in STEP_TYPES:
            raise ApiError(f"Unknown step type: {kind}")
        step = Step(step_name, kind)
        timeout = value[b"timeout_ms"]
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
            step.timeout_ms = int(timeout)
        retry = value[b"retry_count"]
        if isinstance(retry, int | float) and not isinstance(retry, bool) and retry > 0:
            step.retry_count = int(retry)

        def data(key: bytes) -> Any:
            raw = value[key]
            if raw is None:
                return None
            try:
                return convert.to_python(raw)
            except TypeError as exc:
                raise ApiError(f"{fn}: step '{step_name}' {key.decode()}: {exc}") from None

        if kind == "tool":
            tool = value[b"tool"]
            if not isinstance(tool, bytes):
                raise ApiError(f"{fn}: tool step '{step_name}' needs 'tool' (a tool name)")
            step.tool = convert.decode(tool)
            step.input = data(b"input") if value[b"input"] is not None else data(
                b"parameters")
        elif kind == "agent":
            agent = value[b"agent"]
            if convert.lua_type(agent) == "table":
                agent = self.agent_name(agent)
            if not isinstance(agent, bytes):
                raise ApiError(f"{fn}: agent step '{step_name}' needs 'agent' (an agent "
                               "name or instance)")
            step.agent = convert.decode(agent)
            step.input = data(b"input")
        elif kind == "workflow":
            nested = self.workflow_of(value[b"workflow"])
            if nested is None:
                raise ApiError(f"{fn}: workflow step '{step_name}' needs 'workflow' "
                               "(a workflow instance or id)")
            step.workflow = nested
            step.input = data(b"input")
        else:
            if convert.lua_type(function) == "function":
                step.fn = self.step_fn(function, None)
                step.fn_name = "<lua function>"
            elif isinstance(function, bytes):
                step.fn_name = convert.decode(function)
                step.fn = self.step_fn(None, step.fn_name)
            else:
                raise ApiError(f"{fn}: custom step '{step_name}' needs 'function' "
                               "(a function or the name of a global function)")
            step.input = data(b"parameters") if value[b"parameters"] is not None else data(
                b"input")
        return step

    def agent_name(self, agent: Any) -> Any:
        """The name of an agent instance table (``agent:get_config().name``), or None."""
        if isinstance(agent[b"name"], bytes):
            return agent[b"name"]
        getter = agent[b"get_config"]
        if convert.lua_type(getter) != "function":
            return None
        try:
            config = getter(agent)
        except LuaError:
            return None
        if convert.lua_type(config) == "table" and isinstance(config[b"name"], bytes):
            return config[b"name"]
        return None

    def parse_steps(self, value: Any, fn: str) -> list[Step]:
        if convert.lua_type(value) != "table":
            raise ApiError(f"{fn}: steps must be an array of step tables")
        return [self.parse_step(value[i], fn) for i in range(1, len(value) + 1)]

    def parse_condition(self, value: Any, fn: str) -> Any:
        kind = convert.lua_type(value)
        if kind == "function":
            return self.callable(value)
        if isinstance(value, bytes):
            # a Lua expression, evaluated with ctx fields as variables
            return self.expression(convert.decode(value))
        if kind != "table":
            raise ApiError(f"{fn}: a condition must be a table, a function or a string, "
                           f"got {convert.describe(value)}")
        ctype = value[b"type"]
        ctype = convert.decode(ctype) if isinstance(ctype, bytes) else None
        if ctype not in CONDITION_TYPES:
            raise ApiError(f"Unknown condition type: {ctype}")
        out: dict[str, Any] = {"type": ctype}
        for key, item in value.items():
            if not isinstance(key, bytes) or key == b"type":
                continue
            name = convert.decode(key)
            if name in ("fn", "function") and convert.lua_type(item) == "function":
                out["fn"] = self.callable(item)
            elif name == "conditions" and convert.lua_type(item) == "table":
                out[name] = [self.parse_condition(item[i], fn)
                             for i in range(1, len(item) + 1)]
            elif name == "condition":
                out[name] = self.parse_condition(item, fn)
            else:
                try:
                    out[name] = convert.to_python(item)
                except TypeError as exc:
                    raise ApiError(f"{fn}: condition field '{name}': {exc}") from None
        return out

    def expression(self, text: str) -> Callable[[dict[str, Any]], Any]:
        """A Lua expression string as a condition: ``"iteration < 3"``, ``"shared.done"``."""
        compiled = self.rt.lua.execute(
            b"local load, setmetatable, G = load, setmetatable, _G\n"
            b"return function(src) local f, err = load('return ' .. src, '=condition', 't')\n"
            b"  if not f then return nil, err end\n"
            b"  return function(ctx) setfenv(f, setmetatable({}, {__index = function(_, k)\n"
            b"    local v = ctx[k]; if v == nil then return G[k] end; return v end}))\n"
            b"    return f() end end")(convert.encode(text))
        if isinstance(compiled, tuple):
            fn, err = (compiled + (None,))[:2]
            if fn is None:
                raise ApiError(f"invalid condition expression '{text}': "
                               f"{convert.decode(err) if isinstance(err, bytes) else err}")
            compiled = fn
        return self.callable(compiled)

    # building ----------------------------------------------------------------------

    def register(self, wf: Workflow) -> Any:
        if not wf.id.startswith("workflow_"):
            wf.id = f"workflow_{uuid.uuid4().hex[:12]}"
        wf.created_at = time.time()
        self.instances[wf.id] = wf
        obj = self.instance_object(wf)
        self.objects[wf.id] = obj
        return obj

    def from_config(self, kind: str, cfg: Any, fn: str) -> Workflow:
        if convert.lua_type(cfg) != "table":
            raise ApiError(f"{fn}: argument #1 must be a table, got {convert.describe(cfg)}")
        name = cfg[b"name"]
        if not isinstance(name, bytes):
            raise ApiError("Failed to get workflow name")
        wf = Workflow(convert.decode(name), kind)
        desc = cfg[b"description"]
        if isinstance(desc, bytes):
            wf.description = convert.decode(desc)
        try:
            strategy = cfg[b"error_strategy"]
            wf.error_strategy = ErrorStrategy.parse(
                convert.to_python(strategy) if strategy is not None else None)
        except TypeError:
            wf.error_strategy = ErrorStrategy()
        for key, attr in ((b"timeout_ms", "timeout_ms"), (b"max_concurrency", "max_concurrency"),
                          (b"max_iterations", "max_iterations"),
                          (b"step_timeout_ms", "step_timeout_ms")):
            v = cfg[key]
            if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
                setattr(wf, attr, int(v))
        if kind == "sequential":
            if cfg[b"steps"] is None:
                raise ApiError("Failed to get workflow steps")
            wf.steps = self.parse_steps(cfg[b"steps"], fn)
        elif kind == "parallel":
            branches = cfg[b"branches"]
            if branches is not None:
                for i in range(1, len(branches) + 1):
                    b = branches[i]
                    if convert.lua_type(b) != "table":
                        raise ApiError(f"{fn}: branch #{i} must be a table")
                    bname = b[b"name"]
                    wf.branches.append(Branch(
                        convert.decode(bname) if isinstance(bname, bytes) else f"branch_{i}",
                        self.parse_steps(b[b"steps"], fn), required=b[b"required"] is not False))
            elif cfg[b"steps"] is not None:
                wf.steps = self.parse_steps(cfg[b"steps"], fn)
            else:
                raise ApiError("Failed to get workflow steps")
        elif kind == "conditional":
            branches = cfg[b"branches"]
            if convert.lua_type(branches) != "table":
                raise ApiError(f"{fn}: conditional workflows need 'branches'")
            for i in range(1, len(branches) + 1):
                b = branches[i]
                if convert.lua_type(b) != "table":
                    raise ApiError(f"{fn}: branch #{i} must be a table")
                bname = b[b"name"]
                cond = b[b"condition"]
                wf.branches.append(Branch(
                    convert.decode(bname) if isinstance(bname, bytes) else f"branch_{i}",
                    self.parse_steps(b[b"steps"], fn),
                    condition=self.parse_condition(cond, fn) if cond is not None
                    else {"type": "always"}))
            default = cfg[b"default_branch"]
            if isinstance(default, bytes):
                wf.default_branch = convert.decode(default)
            elif convert.lua_type(default) == "table":
                wf.else_steps = self.parse_steps(default, fn)
        else:  # loop
            it = cfg[b"iterator"]
            if convert.lua_type(it) != "table":
                raise ApiError(f"{fn}: loop workflows need 'iterator' "
                               "({range=...}, {collection=...} or {while_condition=...})")
            wf.iterator = self.parse_iterator(it, fn)
            body = cfg[b"body"] if cfg[b"body"] is not None else cfg[b"steps"]
            if body is None:
                raise ApiError("Failed to get workflow steps")
            wf.steps = self.parse_steps(body, fn)
            breaks = cfg[b"break_conditions"]
            if convert.lua_type(breaks) == "table":
                wf.break_conditions = [self.parse_condition(breaks[i], fn)
                                       for i in range(1, len(breaks) + 1)]
            cond = cfg[b"loop_condition"]
            if cond is not None:
                wf.loop_condition = self.parse_condition(cond, fn)
        return wf

    def parse_iterator(self, it: Any, fn: str) -> dict[str, Any]:
        if it[b"range"] is not None:
            r = convert.to_python(it[b"range"])
            if not isinstance(r, dict):
                raise ApiError(f"{fn}: iterator.range must be {{start=, ['end']=, step=}}")
            return {"range": r}
        if it[b"collection"] is not None:
            values = convert.to_python(it[b"collection"])
            if isinstance(values, dict):
                values = values.get("values", list(values.values()))
            return {"collection": values}
        cond = it[b"while_condition"]
        if cond is not None:
            return {"while_condition": self.parse_condition(cond, fn)}
        raise ApiError(f"{fn}: iterator needs range, collection or while_condition")

    # instances ---------------------------------------------------------------------

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
            return self.engine.execute(wf, data)
        except Cancelled:
            raise ApiError(f"Workflow '{wf.name}' was stopped") from None
        except WorkflowError as exc:
            raise ApiError(str(exc)) from None

    def instance_object(self, wf: Workflow) -> Any:
        bridge = self

        def need_run(fn: str) -> Any:
            if wf.last_run is None:
                raise ApiError("No workflow execution found. Run execute() first.")
            return wf.last_run

        def execute(_s: Any = None, value: Any = None) -> Any:
            return bridge.execute(wf, value)

        def get_info(_s: Any = None) -> dict[str, Any]:
            return {"id": wf.id, "name": wf.name, "type": wf.type,
                    "description": wf.description}

        def get_state(_s: Any = None, key: Any = None) -> Any:
            k = convert.text_arg(key, "workflow:get_state", 1)
            svc = bridge.state()
            return None if svc is None else svc.get(f"global:workflow:{wf.id}:{k}")

        def set_state(_s: Any = None, key: Any = None, value: Any = None) -> bool:
            k = convert.text_arg(key, "workflow:set_state", 1)
            svc = bridge.state()
            if svc is None:
                return False
            svc.set(f"global:workflow:{wf.id}:{k}", _plain(value, "workflow:set_state"))
            return True

        def set_shared_data(_s: Any = None, key: Any = None, value: Any = None) -> None:
            k = convert.text_arg(key, "workflow:set_shared_data", 1)
            v = _plain(value, "workflow:set_shared_data")
            if v is None:
                wf.shared.pop(k, None)
            else:
                wf.shared[k] = v
            svc = bridge.state()
            if svc is not None:
                svc.set(f"global:workflow:{wf.id}:shared:{k}", v)

        def get_shared_data(_s: Any = None, key: Any = None) -> Any:
            return wf.shared.get(convert.text_arg(key, "workflow:get_shared_data", 1))

        def hook_adder(kind: str, target: list[Any]) -> Any:
            def add(_s: Any = None, fn: Any = None) -> dict[str, Any]:
                if convert.lua_type(fn) != "function":
                    raise ApiError(f"workflow:{kind}: argument must be a function, "
                                   f"got {convert.describe(fn)}")
                target.append(bridge.callable(fn))
                return {"message": "Hook registered", "workflow_id": wf.id,
                        "hook_type": kind}
            return add

        def get_output(_s: Any = None, step: Any = None) -> Any:
            name = convert.text_arg(step, "workflow:get_output", 1)
            return need_run("get_output").outputs.get(name)

        def get_all_outputs(_s: Any = None) -> dict[str, Any]:
            return dict(need_run("get_all_outputs").outputs)

        def list_outputs(_s: Any = None) -> list[str]:
            return list(need_run("list_outputs").outputs)

        def clear_outputs(_s: Any = None) -> dict[str, Any]:
            run = need_run("clear_outputs")
            names = list(run.outputs)
            svc = bridge.state()
            if svc is not None:
                for name in names:
                    svc.remove(f"workflow:{run.execution_id}:{name}")
                    svc.remove(f"global:workflow:{run.execution_id}:{name}")
            run.outputs.clear()
            return {"deleted": len(names)}

        def get_execution_id(_s: Any = None) -> str:
            return need_run("get_execution_id").execution_id

        def emit(_s: Any = None, event: Any = None, data: Any = None) -> dict[str, Any]:
            from .event import event_bus

            name = convert.text_arg(event, "workflow:emit", 1)
            payload = _plain(data, "workflow:emit")
            event_bus(bridge.rt).publish(name, payload, metadata={"workflow_id": wf.id})
            return {"success": True, "workflow_id": wf.id, "event_name": name}

        def debug(_s: Any = None) -> dict[str, Any]:
            svc = bridge.state()
            keys = svc.keys(f"global:workflow:{wf.id}:") if svc is not None else []
            return {"workflow_id": wf.id, "name": wf.name, "type": wf.type,
                    "runtime": {"created_at": wf.created_at, "state_keys": keys},
                    "steps": [s.describe() for s in wf.all_steps()],
                    "branches": [b.name for b in wf.branches],
                    "error_strategy": wf.error_strategy.to_dict(),
                    "timeout_ms": wf.timeout_ms,
                    "metrics": wf.metrics.to_dict()}

        def validate(_s: Any = None) -> dict[str, Any]:
            errors = wf.validate()
            warnings = bridge.warnings(wf)
            return {"valid": not errors, "workflow_id": wf.id, "warnings": warnings,
                    "errors": errors}

        def get_metrics(_s: Any = None) -> dict[str, Any]:
            return {"workflow_id": wf.id, "execution": wf.metrics.to_dict()}

        methods = {
            "execute": execute, "get_info": get_info, "get_state": get_state,
            "set_state": set_state, "set_shared_data": set_shared_data,
            "get_shared_data": get_shared_data,
            "on_before_execute": hook_adder("on_before_execute", wf.before),
            "on_after_execute": hook_adder("on_after_execute", wf.after),
            "on_error": hook_adder("on_error", wf.on_error),
            "get_output": get_output, "get_all_outputs": get_all_outputs,
            "list_outputs": list_outputs, "clear_outputs": clear_outputs,
            "get_execution_id": get_execution_id, "emit": emit, "debug": debug,
            "validate": validate, "get_metrics": get_metrics,
        }
        return self.rt.object("WorkflowInstance", methods,
                              fields={"id": wf.id, "name": wf.name, "type": wf.type})

    def warnings(self, wf: Workflow) -> list[str]:
        out: list[str] = []
        tools = self.rt.services.get("tools")
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


def _exporting(rt: Runtime) -> bool:
    return any(rt.settings.get(f"events.export.{k}") for k in ("stdout", "file", "webhook"))


def _plain(value: Any, fn: str) -> Any:
    try:
        return convert.to_python(value)
    except TypeError as exc:
        raise ApiError(f"{fn}: {exc}") from None


def workflow_bridge(rt: Runtime) -> Bridge:
    bridge = rt.services.get("workflows")
    if bridge is None:
        bridge = rt.services["workflows"] = Bridge(rt)
    return bridge


# -- the builder ------------------------------------------------------------------


def _builder(bridge: Bridge) -> Any:
    rt = bridge.rt
    spec: dict[str, Any] = {"type": None, "name": None, "description": "",
                            "strategy": ErrorStrategy(), "timeout_ms": None,
                            "steps": [], "then": [], "else": [], "condition": None,
                            "branches": [], "iterator": None, "max_iterations": None,
                            "max_concurrency": None, "loop_condition": None}

    def setter(fn: Callable[..., None]) -> Callable[..., Any]:
        def method(self: Any, *args: Any) -> Any:
            fn(*args)
            return self
        return method

    def set_type(kind: str) -> Callable[..., Any]:
        return setter(lambda *a: spec.__setitem__("type", kind))

    def name(value: Any = None) -> None:
        spec["name"] = convert.text_arg(value, "WorkflowBuilder:name", 1)

    def description(value: Any = None) -> None:
        spec["description"] = convert.text_arg(value, "WorkflowBuilder:description", 1)

    def error_strategy(value: Any = None) -> None:
        spec["strategy"] = ErrorStrategy.parse(_plain(value, "WorkflowBuilder:error_strategy"))

    def timeout_ms(value: Any = None) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ApiError("WorkflowBuilder:timeout_ms: expected a number of milliseconds")
        spec["timeout_ms"] = int(value) if value > 0 else None

    def add_step(value: Any = None) -> None:
        spec["steps"].append(bridge.parse_step(value, "WorkflowBuilder:add_step"))

    def condition(value: Any = None) -> None:
        spec["condition"] = bridge.parse_condition(value, "WorkflowBuilder:condition")

    def add_then_step(value: Any = None) -> None:
        spec["then"].append(bridge.parse_step(value, "WorkflowBuilder:add_then_step"))

    def add_else_step(value: Any = None) -> None:
        spec["else"].append(bridge.parse_step(value, "WorkflowBuilder:add_else_step"))

    def add_branch(cond: Any = None, steps: Any = None) -> None:
        fn = "WorkflowBuilder:add_branch"
        if steps is None and convert.lua_type(cond) == "table" and cond[b"steps"] is not None:
            table = cond  # add_branch({name=, condition=, steps=, required=})
            bname = table[b"name"]
            c = table[b"condition"]
            spec["branches"].append(Branch(
                convert.decode(bname) if isinstance(bname, bytes)
                else f"branch_{len(spec['branches']) + 1}",
                bridge.parse_steps(table[b"steps"], fn),
                condition=bridge.parse_condition(c, fn) if c is not None else None,
                required=table[b"required"] is not False))
            return
        spec["branches"].append(Branch(
            f"branch_{len(spec['branches']) + 1}", bridge.parse_steps(steps, fn),
            condition=bridge.parse_condition(cond, fn) if cond is not None else None))

    def with_range(value: Any = None) -> None:
        r = _plain(value, "WorkflowBuilder:with_range")
        if not isinstance(r, dict):
            raise ApiError("WorkflowBuilder:with_range: expected {start=, ['end']=, step=}")
        spec["iterator"] = {"range": r}

    def with_collection(value: Any = None) -> None:
        values = _plain(value, "WorkflowBuilder:with_collection")
        if isinstance(values, dict):
            values = values.get("values", list(values.values()))
        spec["iterator"] = {"collection": values}

    def with_while(value: Any = None) -> None:
        spec["iterator"] = {"while_condition": bridge.parse_condition(
            value, "WorkflowBuilder:with_while")}

    def loop_condition(value: Any = None) -> None:
        if convert.lua_type(value) != "function":
            raise ApiError("WorkflowBuilder:loop_condition: expected a function")
        spec["loop_condition"] = bridge.callable(value)

    def max_iterations(value: Any = None) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ApiError("WorkflowBuilder:max_iterations: expected a number")
        spec["max_iterations"] = int(value)

    def max_concurrency(value: Any = None) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ApiError("WorkflowBuilder:max_concurrency: expected a number")
        spec["max_concurrency"] = max(1, int(value))

    def build(_self: Any = None) -> Any:
        kind = spec["type"]
        if kind is None:
            raise ApiError("Workflow type not specified")
        wf = Workflow(spec["name"] or f"workflow_{uuid.uuid4().hex[:8]}", kind,
                      description=spec["description"], error_strategy=spec["strategy"],
                      timeout_ms=spec["timeout_ms"], max_iterations=spec["max_iterations"],
                      max_concurrency=spec["max_concurrency"],
                      step_timeout_ms=DEFAULT_STEP_TIMEOUT_MS)
        if kind == "conditional":
            branches = []
            if spec["then"] or spec["condition"] is not None:
                branches.append(Branch("then", list(spec["then"]),
                                       condition=spec["condition"] or {"type": "always"}))
            branches.extend(spec["branches"])
            wf.branches = branches
            wf.else_steps = list(spec["else"])
            if spec["steps"]:  # upstream's conditional builder drops them too
                names = ", ".join(f"'{s.name}'" for s in spec["steps"])
                rt.output.error(convert.encode(
                    f"warning: WorkflowBuilder:build: conditional workflow '{wf.name}' "
                    f"ignores steps added with add_step ({names}); use add_then_step "
                    "or add_else_step\n"))
        elif kind == "parallel":
            wf.branches = list(spec["branches"])
            wf.steps = list(spec["steps"])
        else:
            wf.steps = list(spec["steps"])
            if kind == "loop":
                wf.iterator = spec["iterator"] or ({"range": {"start": 0, "end": 1}}
                                                   if spec["loop_condition"] is None else None)
                wf.loop_condition = spec["loop_condition"]
        return bridge.register(wf)

    methods: dict[str, Callable[..., Any]] = {
        "sequential": set_type("sequential"), "parallel": set_type("parallel"),
        "conditional": set_type("conditional"), "loop": set_type("loop"),
        "loop_workflow": set_type("loop"),
        "name": setter(name), "description": setter(description),
        "error_strategy": setter(error_strategy), "timeout_ms": setter(timeout_ms),
        "add_step": setter(add_step), "condition": setter(condition),
        "add_then_step": setter(add_then_step), "add_else_step": setter(add_else_step),
        "add_branch": setter(add_branch), "with_range": setter(with_range),
        "with_collection": setter(with_collection), "with_while": setter(with_while),
        "loop_condition": setter(loop_condition), "max_iterations": setter(max_iterations),
        "max_concurrency": setter(max_concurrency), "build": build,
    }
    return rt.object("WorkflowBuilder", methods)


# -- the global -------------------------------------------------------------------


def install(rt: Runtime, table: Any) -> None:
    bridge = workflow_bridge(rt)

    def builder() -> Any:
        return _builder(bridge)

    def maker(kind: str) -> Callable[..., Any]:
        fn = f"Workflow.{kind}"

        def make(cfg: Any = None) -> Any:
            return bridge.register(bridge.from_config(kind, cfg, fn))
        return make

    def types() -> list[str]:
        return list(TYPES)

    def type_info(kind: str) -> dict[str, Any]:
        desc, features = TYPE_INFO[kind]
        return {"id": kind, "type": kind, "description": desc, "features": features}

    def list_all() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"id": wf.id, "name": wf.name, "type": "instance", "workflow_type": wf.type}
            for wf in bridge.instances.values()]
        out.extend(type_info(k) for k in TYPES)
        return out

    def get(wid: Any = None) -> dict[str, Any]:
        key = convert.text_arg(wid, "Workflow.get", 1)
        wf = bridge.instances.get(key)
        if wf is not None:
            info = type_info(wf.type)
            return dict(info, id=wf.id, name=wf.name, description=wf.description or
                        info["description"])
        if key in TYPE_INFO:
            return type_info(key)
        raise ApiError(f"Workflow not found: {key}")

    def instance(wid: Any = None) -> Any:
        key = convert.text_arg(wid, "Workflow.instance", 1)
        obj = bridge.objects.get(key)
        if obj is None:
            raise ApiError(f"Workflow not found: {key}")
        return obj

    def remove(wid: Any = None) -> None:
        key = convert.text_arg(wid, "Workflow.remove", 1)
        if bridge.instances.pop(key, None) is None:
            raise ApiError(f"Workflow not found: {key}")
        bridge.objects.pop(key, None)

    def register(kind: Any = None, params: Any = None) -> str:
        k = convert.text_arg(kind, "Workflow.register", 1)
        if k not in TYPES:
            raise ApiError(f"Workflow.register: unknown workflow type '{k}' "
                           f"(one of {', '.join(TYPES)})")
        wf = bridge.from_config(k, params, "Workflow.register")
        bridge.register(wf)
        return wf.id

    def clear() -> None:
        bridge.instances.clear()
        bridge.objects.clear()

    def set_default_error_handler(fn: Any = None) -> None:
        if fn is None:
            bridge.engine.default_error_handler = None
            return
        if convert.lua_type(fn) != "function":
            raise ApiError("Workflow.setDefaultErrorHandler: argument must be a function")
        bridge.engine.default_error_handler = bridge.callable(fn)

    def enable_debug(flag: Any = None) -> None:
        bridge.engine.debug = bool(flag)

    def is_debug_enabled() -> bool:
        return bridge.engine.debug

    functions: dict[str, Callable[..., Any]] = {
        "builder": builder, "sequential": maker("sequential"), "parallel": maker("parallel"),
        "conditional": maker("conditional"), "loop": maker("loop"), "types": types,
        "list": list_all, "get": get, "instance": instance, "remove": remove,
        "register": register, "clear": clear,
        "setDefaultErrorHandler": set_default_error_handler,
        "enableDebug": enable_debug, "isDebugEnabled": is_debug_enabled,
    }
    for name, fn in functions.items():
        table[convert.encode(name)] = rt.function(fn, f"Workflow.{name}")
