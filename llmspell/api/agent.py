"""The Agent global (spec §2): builder, module functions, instance methods.

Builders and agent instances are Lua tables sharing one metatable per kind (methods are
made once per run); each table holds a handle to its Python object. All behaviour lives
in ``llmspell/agents`` (no Lua there); this file checks arguments and converts.

``agent_service(rt)`` is the run's ``AgentRegistry`` (workflows call agents by name:
``agent_service(rt).get(name).invoke({"text": ...})``).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from ..agents.llm import DEFAULT_LIMITS, AgentConfig
from ..agents.registry import AGENT_TYPES, TEMPLATES, AgentRegistry, CompositeAgent
from ..errors import ApiError, ShownAsIs
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..providers import ProviderManager

DEPRECATED = ("Agent.create() is deprecated. Use Agent.builder() instead:\n"
              "  local agent = Agent.builder()\n"
              "      :name(\"my_agent\")\n"
              "      :model(\"openai/gpt-4o-mini\")\n"
              "      :build()")


def provider_manager(rt: Runtime) -> ProviderManager:
    """The run's providers (clients are reused across agents; closed at the end)."""
    return rt.services.providers


def agent_service(rt: Runtime) -> AgentRegistry:
    """The run's agents (``rt.services.agents``, made on first use)."""
    return rt.services.agents


# -- argument helpers ---------------------------------------------------------

def _text(value: Any, fn: str, position: int = 1) -> str:
    return convert.text_arg(value, fn, position)


def _table(value: Any, fn: str, position: int, what: str = "table") -> Any:
    if convert.lua_type(value) != "table":
        raise ApiError(f"{fn}: argument #{position} must be a {what}, "
                       f"got {convert.describe(value)}")
    try:
        return convert.to_python(value)
    except TypeError as exc:
        raise ApiError(f"{fn}: {exc}") from None


def _dict(value: Any, fn: str, position: int) -> dict[str, Any]:
    data = _table(value, fn, position)
    return data if isinstance(data, dict) else {}


def _number(value: Any, fn: str, position: int = 1) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(f"{fn}: argument #{position} must be a number, "
                       f"got {convert.describe(value)}")
    return value


def _integer(value: Any, fn: str, position: int = 1) -> int:
    number = _number(value, fn, position)
    if number != int(number) or number < 0:
        raise ApiError(f"{fn}: argument #{position} must be a non-negative integer")
    return int(number)


def agent_input(value: Any, fn: str) -> dict[str, Any]:
    """Lua AgentInput table -> dict (spec §0.6); a bare string is taken as the text."""
    if isinstance(value, bytes):
        return {"text": convert.decode(value)}
    if value is None:
        return {"text": ""}
    data = _table(value, fn, 1, "table (AgentInput)")
    if not isinstance(data, dict):
        return {"text": ""}
    text = data.get("text")
    data["text"] = text if isinstance(text, str) else ("" if text is None else str(text))
    return data


# -- installation --------------------------------------------------------------

def install(rt: Runtime, table: Any) -> None:
    service = agent_service(rt)
    setmetatable = rt.setmetatable
    builders: dict[int, dict[str, Any]] = {}
    handles: dict[str, int] = {}
    objects: dict[int, Any] = {}
    counter = [0]

    def next_handle() -> int:
        counter[0] += 1
        return counter[0]

    # -- builder ------------------------------------------------------------

    builder_mt = rt.table({})

    def new_builder(config: dict[str, Any]) -> Any:
        handle = next_handle()
        builders[handle] = config
        return setmetatable(rt.table({"_builder": handle}), builder_mt)

    def builder_of(self: Any, method: str) -> dict[str, Any]:
        handle = self[b"_builder"] if convert.lua_type(self) == "table" else None
        config = builders.get(handle) if isinstance(handle, int) else None
        if config is None:
            raise ApiError(f"AgentBuilder:{method}: call it with a colon "
                           f"(builder:{method}(...))")
        return config

    def setter(method: str, apply: Any) -> Any:
        def fn(self: Any = None, value: Any = None) -> Any:
            config = copy.deepcopy(builder_of(self, method))
            apply(config, value, f"AgentBuilder:{method}")
            return new_builder(config)

        return fn

    def set_model(config: dict[str, Any], value: Any, fn: str) -> None:
        spec = _text(value, fn)
        if "/" in spec:
            config["provider"], config["model"] = spec.split("/", 1)
        else:
            config["model"] = spec
            if not config.get("provider"):
                config["provider"] = service.default_provider or "openai"

    def set_custom(config: dict[str, Any], value: Any, fn: str) -> None:
        data = _dict(value, fn, 1)
        if isinstance(data.get("system_prompt"), str):
            config["system_prompt"] = data["system_prompt"]
        if isinstance(data.get("max_conversation_length"), int):
            config["max_conversation_length"] = data["max_conversation_length"]

    def set_limits(config: dict[str, Any], value: Any, fn: str) -> None:
        data = _dict(value, fn, 1)
        names = {"max_execution_time_secs": "max_execution_time_secs",
                 "max_memory_mb": "max_memory_mb", "max_tool_calls": "max_tool_calls",
                 "max_recursion_depth": "max_recursion_depth"}
        for key, target in names.items():
            if isinstance(data.get(key), int):
                config["resource_limits"][target] = data[key]

    def set_limit(key: str) -> Any:
        def apply(config: dict[str, Any], value: Any, fn: str) -> None:
            config["resource_limits"][key] = _integer(value, fn)

        return apply

    def set_text(key: str) -> Any:
        def apply(config: dict[str, Any], value: Any, fn: str) -> None:
            config[key] = _text(value, fn)

        return apply

    def allow_tool(config: dict[str, Any], value: Any, fn: str) -> None:
        config["allowed_tools"].append(_text(value, fn))

    def allowed_tools(config: dict[str, Any], value: Any, fn: str) -> None:
        data = _table(value, fn, 1, "array of tool names")
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            data = [] if data == {} else None
        if data is None:
            raise ApiError(f"{fn}: argument #1 must be an array of tool names")
        config["allowed_tools"] = list(data)

    def ignore(config: dict[str, Any], value: Any, fn: str) -> None:
        return None

    builder_methods: dict[str, Any] = {
        "name": setter("name", set_text("name")),
        "description": setter("description", set_text("description")),
        "model": setter("model", set_model),
        "provider": setter("provider", set_text("provider")),
        "system_prompt": setter("system_prompt", set_text("system_prompt")),
        "temperature": setter("temperature", lambda c, v, fn: c.__setitem__(
            "temperature", float(_number(v, fn)))),
        "max_tokens": setter("max_tokens", lambda c, v, fn: c.__setitem__(
            "max_tokens", _integer(v, fn))),
        "max_conversation_length": setter("max_conversation_length", lambda c, v, fn:
                                          c.__setitem__("max_conversation_length",
                                                        _integer(v, fn))),
        "base_url": setter("base_url", set_text("base_url")),
        "api_key": setter("api_key", set_text("api_key")),
        "allow_tool": setter("allow_tool", allow_tool),
        "allowed_tools": setter("allowed_tools", allowed_tools),
        "max_execution_time": setter("max_execution_time",
                                     set_limit("max_execution_time_secs")),
        "max_memory_mb": setter("max_memory_mb", set_limit("max_memory_mb")),
        "max_tool_calls": setter("max_tool_calls", set_limit("max_tool_calls")),
        "max_recursion_depth": setter("max_recursion_depth", set_limit("max_recursion_depth")),
        "type": setter("type", ignore),
        "custom_config": setter("custom_config", set_custom),
        "resource_limits": setter("resource_limits", set_limits),
    }

    def build(self: Any = None) -> Any:
        config = builder_of(self, "build")
        if not config.get("model"):
            raise ApiError("Model is required")
        if not config.get("provider"):
            raise ApiError("Provider is required")
        fields = dict(config)
        agent_config = AgentConfig(**{k: v for k, v in fields.items()
                                      if k in AgentConfig.__dataclass_fields__})
        agent = service.create(agent_config)
        return instance(agent.name)

    builder_methods["build"] = build
    builder_mt[b"__index"] = rt.object("AgentBuilder", builder_methods)

    def builder() -> Any:
        return new_builder({"resource_limits": dict(DEFAULT_LIMITS), "allowed_tools": []})

    # -- instances ------------------------------------------------------------

    agent_mt = rt.table({})

    def instance(name: str) -> Any:
        handle = handles.get(name)
        if handle is None:
            handle = next_handle()
            handles[name] = handle
        objects[handle] = name
        return setmetatable(rt.table({"_agent": handle, "name": name}), agent_mt)

    def agent_of(self: Any, method: str) -> Any:
        handle = self[b"_agent"] if convert.lua_type(self) == "table" else None
        name = objects.get(handle) if isinstance(handle, int) else None
        if name is None:
            raise ApiError(f"Agent:{method}: call it with a colon (agent:{method}(...))")
        agent = service.get(name)
        if agent is None:
            raise ApiError(f"Agent '{name}' not found (it was destroyed)")
        return agent

    def llm_of(self: Any, method: str) -> Any:
        agent = agent_of(self, method)
        if isinstance(agent, CompositeAgent):
            raise ApiError(f"Agent:{method}: not available on composite agent '{agent.name}'")
        return agent

    def invoke(self: Any = None, value: Any = None) -> Any:
        agent = agent_of(self, "invoke")
        return agent.invoke(agent_input(value, "Agent:invoke"))

    def invoke_stream(self: Any = None, value: Any = None, callback: Any = None) -> Any:
        agent = llm_of(self, "invokeStream")
        data = agent_input(value, "Agent:invokeStream")
        if convert.lua_type(callback) != "function":
            raise ApiError("Agent:invokeStream: argument #2 (callback) must be a function, "
                           f"got {convert.describe(callback)}")
        from ..tools.output import output_to_lua_value

        count = [0]

        def on_chunk(piece: str) -> None:
            count[0] += 1
            rt.call(callback, output_to_lua_value(piece, {"chunk_index": count[0],
                                                          "model": agent.config.model}))

        agent.invoke(data, on_chunk=on_chunk)
        return {"success": True, "chunks_received": count[0]}

    def execute_with_context(self: Any = None, value: Any = None, cid: Any = None) -> Any:
        agent = agent_of(self, "execute_with_context")
        data = agent_input(value, "Agent:execute_with_context")
        context = service.context_data(_text(cid, "Agent:execute_with_context", 2))
        return agent.invoke(data, context=context)

    def tools_service() -> Any:
        from .tool import tool_service

        return tool_service(rt)

    def invoke_tool(self: Any = None, name: Any = None, params: Any = None) -> Any:
        agent = llm_of(self, "invokeTool")
        tool = _text(name, "Agent:invokeTool", 1)
        args = _dict(params, "Agent:invokeTool", 2) if params is not None else {}
        return agent.invoke_tool(tools_service(), tool, args)

    def tool_meta(name: str) -> dict[str, Any] | None:
        spec = tools_service().get(name)
        if spec is None:
            return None
        return {"name": spec.name, "description": spec.description, "version": spec.version}

    def discover_tools(self: Any = None) -> Any:
        agent_of(self, "discover_tools")
        return [t.name for t in tools_service().list()]

    def has_tool(self: Any = None, name: Any = None) -> bool:
        agent_of(self, "has_tool")
        return tools_service().exists(_text(name, "Agent:has_tool"))

    def get_tool_metadata(self: Any = None, name: Any = None) -> Any:
        agent_of(self, "get_tool_metadata")
        return tool_meta(_text(name, "Agent:get_tool_metadata"))

    def get_all_tool_metadata(self: Any = None) -> Any:
        agent_of(self, "get_all_tool_metadata")
        return {t.name: {"name": t.name, "description": t.description, "version": t.version}
                for t in tools_service().list()}

    def get_state(self: Any = None) -> str:
        return agent_of(self, "get_state").state

    def lifecycle(method: str) -> Any:
        def fn(self: Any = None) -> None:
            llm_of(self, method).transition(method)

        return fn

    def set_error(self: Any = None, message: Any = None) -> None:
        llm_of(self, "set_error").set_error(_text(message, "Agent:set_error"))

    def state_key(agent: Any) -> tuple[Any, str]:
        if not rt.settings.get("runtime.state_persistence.enabled"):
            raise ApiError(f"Agent '{agent.name}': state persistence is disabled "
                           "(runtime.state_persistence.enabled = false)")
        from .state import state_service

        return state_service(rt), f"agent:{agent.name}"

    def save_state(self: Any = None) -> None:
        agent = llm_of(self, "save_state")
        store, scope = state_key(agent)
        store.save(scope, "agent_state", agent.snapshot())

    def load_state(self: Any = None) -> bool:
        agent = llm_of(self, "load_state")
        store, scope = state_key(agent)
        data = store.load(scope, "agent_state")
        if not isinstance(data, dict):
            return False
        agent.restore(data)
        return True

    def delete_state(self: Any = None) -> None:
        agent = llm_of(self, "delete_state")
        store, scope = state_key(agent)
        store.delete(scope, "agent_state")

    def get_config(self: Any = None) -> Any:
        agent = agent_of(self, "get_config")
        if isinstance(agent, CompositeAgent):
            return {"name": agent.name, "agents": agent.members, **agent.config}
        return agent.config.public()

    def set_state(self: Any = None, value: Any = None) -> None:
        llm_of(self, "set_state").restore(_dict(value, "Agent:set_state", 1))

    def destroy(self: Any = None) -> None:
        agent = agent_of(self, "destroy")
        service.remove(agent.name)

    def log_event(self: Any = None, kind: Any = None, message: Any = None) -> None:
        agent = llm_of(self, "logEvent")
        import time

        agent.events.append({"type": _text(kind, "Agent:logEvent", 1),
                             "message": _text(message, "Agent:logEvent", 2),
                             "timestamp": time.time()})

    def configure_alerts(self: Any = None, cfg: Any = None) -> None:
        llm_of(self, "configure_alerts").alert_config = _dict(cfg, "Agent:configure_alerts", 1)

    def bridge_metrics(self: Any = None) -> Any:
        agent = llm_of(self, "get_bridge_metrics")
        return {"agents": len(service.agents), "contexts": len(service.contexts),
                "agent": agent.metrics(), "performance": agent.performance(),
                "conversation_length": len(agent.history)}

    agent_methods: dict[str, Any] = {
        "invoke": invoke,
        "execute": invoke,
        "invokeStream": invoke_stream,
        "execute_with_context": execute_with_context,
        "invokeTool": invoke_tool,
        "discover_tools": discover_tools,
        "has_tool": has_tool,
        "get_tool_metadata": get_tool_metadata,
        "get_all_tool_metadata": get_all_tool_metadata,
        "get_state": get_state,
        "get_agent_state": get_state,
        "set_error": set_error,
        "get_state_history": lambda self=None: llm_of(self, "get_state_history").state_history,
        "get_last_error": lambda self=None: llm_of(self, "get_last_error").last_error,
        "get_recovery_attempts": lambda self=None: llm_of(
            self, "get_recovery_attempts").recovery_attempts,
        "is_healthy": lambda self=None: llm_of(self, "is_healthy").is_healthy(),
        "get_state_metrics": lambda self=None: llm_of(self, "get_state_metrics").state_metrics(),
        "get_metrics": lambda self=None: llm_of(self, "get_metrics").metrics(),
        "get_health": lambda self=None: llm_of(self, "get_health").health(),
        "get_performance": lambda self=None: llm_of(self, "get_performance").performance(),
        "logEvent": log_event,
        "configure_alerts": configure_alerts,
        "get_alerts": lambda self=None: llm_of(self, "get_alerts").alerts,
        "get_bridge_metrics": bridge_metrics,
        "get_config": get_config,
        "set_state": set_state,
        "save_state": save_state,
        "load_state": load_state,
        "delete_state": delete_state,
        "destroy": destroy,
    }
    for method in ("initialize", "start", "pause", "resume", "stop", "terminate", "recover"):
        agent_methods[method] = lifecycle(method)
    agent_mt[b"__index"] = rt.object("Agent", agent_methods)

    # -- module functions -------------------------------------------------------

    def create(_: Any = None) -> None:
        raise ApiError(DEPRECATED)

    def list_agents() -> Any:
        return [{"name": name} for name in service.names()]

    def get(name: Any = None) -> Any:
        key = _text(name, "Agent.get")
        return instance(key) if service.get(key) is not None else None

    def register(config: Any = None) -> str:
        data = _dict(config, "Agent.register", 1)
        return service.create_from_dict(data).name

    def wrap_as_tool(agent_name: Any = None, config: Any = None) -> str:
        name = _text(agent_name, "Agent.wrap_as_tool", 1)
        cfg = _dict(config, "Agent.wrap_as_tool", 2) if config is not None else {}
        try:
            agent = service.require(name)
            return _wrap(tools_service(), agent, cfg)
        except (ShownAsIs, ValueError) as exc:
            raise ApiError(f"Failed to wrap agent as tool: {exc}") from None

    def get_info(kind: Any = None) -> Any:
        key = _text(kind, "Agent.get_info")
        info = AGENT_TYPES.get(key)
        if info is None:
            raise ApiError(f"Agent.get_info: unknown agent type '{key}' (available: "
                           f"{', '.join(AGENT_TYPES)})")
        return info

    def create_composite(name: Any = None, agents: Any = None, config: Any = None) -> None:
        try:
            key = _text(name, "Agent.create_composite", 1)
            members = _table(agents, "Agent.create_composite", 2, "array of agent names")
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ApiError("agents must be an array of agent names")
            cfg = _dict(config, "Agent.create_composite", 3) if config is not None else {}
            service.composite(key, members, cfg)
        except ShownAsIs as exc:
            text = str(exc)
            raise ApiError(text if text.startswith("Failed to create composite")
                           else f"Failed to create composite: {text}") from None

    def from_template(instance_name: Any = None, template: Any = None,
                      params: Any = None) -> Any:
        inst = _text(instance_name, "Agent.create_from_template", 1)
        tpl = _text(template, "Agent.create_from_template", 2)
        args = _dict(params, "Agent.create_from_template", 3) if params is not None else {}
        return instance(service.from_template(inst, tpl, args).name)

    def create_context(config: Any = None) -> str:
        cfg = _dict(config, "Agent.create_context", 1) if config is not None else {}
        return service.create_context(cfg)

    def create_child_context(parent: Any = None, scope: Any = None,
                             inheritance: Any = None) -> str:
        pid = _text(parent, "Agent.create_child_context", 1)
        scope_data = _table(scope, "Agent.create_child_context", 2) if scope is not None \
            else None
        mode = _text(inheritance, "Agent.create_child_context", 3) \
            if inheritance is not None else "inherit"
        return service.create_context({}, parent=pid, inheritance=mode.lower(),
                                      scope=scope_data)

    def update_context(cid: Any = None, key: Any = None, value: Any = None) -> None:
        ctx = service.context(_text(cid, "Agent.update_context", 1))
        try:
            ctx["data"][_text(key, "Agent.update_context", 2)] = convert.to_python(value)
        except TypeError as exc:
            raise ApiError(f"Agent.update_context: {exc}") from None

    def get_context_data(cid: Any = None, key: Any = None) -> Any:
        data = service.context_data(_text(cid, "Agent.get_context_data", 1))
        return data.get(_text(key, "Agent.get_context_data", 2))

    def remove_context(cid: Any = None) -> None:
        service.remove_context(_text(cid, "Agent.remove_context", 1))

    def set_shared(scope: Any = None, key: Any = None, value: Any = None) -> None:
        slot = service.scope_key(_table(scope, "Agent.set_shared_memory", 1))
        try:
            service.shared.setdefault(slot, {})[_text(key, "Agent.set_shared_memory", 2)] = \
                convert.to_python(value)
        except TypeError as exc:
            raise ApiError(f"Agent.set_shared_memory: {exc}") from None

    def get_shared(scope: Any = None, key: Any = None) -> Any:
        slot = service.scope_key(_table(scope, "Agent.get_shared_memory", 1))
        return service.shared.get(slot, {}).get(_text(key, "Agent.get_shared_memory", 2))

    functions: dict[str, Any] = {
        "builder": builder,
        "create": create,
        "list": list_agents,
        "discover": lambda: [{"type": t} for t in AGENT_TYPES],
        "wrap_as_tool": wrap_as_tool,
        "get_info": get_info,
        "list_capabilities": lambda: {t: info["capabilities"] for t, info in
                                      AGENT_TYPES.items()},
        "create_composite": create_composite,
        "discover_by_capability": lambda cap=None: service.by_capability(
            _text(cap, "Agent.discover_by_capability")),
        "register": register,
        "get": get,
        "list_templates": lambda: sorted(TEMPLATES),
        "create_from_template": from_template,
        "list_instances": lambda: service.names(),
        "create_context": create_context,
        "create_child_context": create_child_context,
        "update_context": update_context,
        "get_context_data": get_context_data,
        "remove_context": remove_context,
        "set_shared_memory": set_shared,
        "get_shared_memory": get_shared,
        "get_hierarchy": lambda name=None: service.hierarchy(_text(name, "Agent.get_hierarchy")),
        "get_details": lambda name=None: service.details(_text(name, "Agent.get_details")),
    }
    for fname, fn in functions.items():
        table[convert.encode(fname)] = rt.function(fn, f"Agent.{fname}")


def _wrap(tools: Any, agent: Any, cfg: dict[str, Any]) -> str:
    """Register ``agent`` as a tool: params ``{text|input|prompt}`` -> the agent's reply."""
    from ..tools.registry import ToolOutput, ToolSpec
    from ..tools.schema import Param

    name = str(cfg.get("tool_name") or cfg.get("name") or f"{agent.name}_tool")
    description = str(cfg.get("description") or f"Ask agent '{agent.name}': "
                      f"{getattr(getattr(agent, 'config', None), 'description', '')}")

    def execute(ctx: Any, params: Any) -> Any:
        text = params.raw("text") or params.raw("input") or params.raw("prompt") or ""
        out = agent.invoke({"text": str(text)})
        reply = out.get("text") if isinstance(out.get("text"), str) else out.get("_raw_text", "")
        envelope = {"operation": "invoke", "success": True, "result": {"text": reply,
                                                                        "agent": agent.name}}
        return ToolOutput(text=json.dumps(envelope, ensure_ascii=False), parsed=envelope)

    spec = ToolSpec(name=name, category="agent", description=description,
                    params=[Param("text", "string", "What to ask the agent", required=True)],
                    execute=execute)
    tools.register(spec)  # for this run only
    return name
