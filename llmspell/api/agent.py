"""The Agent global (spec §2): builder, module functions, instance methods.

Three ``lua/objects.py`` classes: ``AgentGlobal`` (the ``Agent`` table), ``AgentBuilder``
(each setter returns a new builder) and ``AgentInstance`` (one per agent name and run).
All behaviour lives in ``llmspell/agents`` (no Lua there); this file checks arguments
(``lua/args.py``) and converts.

``agent_service(rt)`` is the run's ``AgentRegistry`` (workflows call agents by name:
``agent_service(rt).get(name).invoke({"text": ...})``).
"""

from __future__ import annotations

import copy
import json
import time
from typing import TYPE_CHECKING, Any

from ..agents.llm import DEFAULT_LIMITS, AgentConfig
from ..agents.registry import AGENT_TYPES, TEMPLATES, AgentRegistry, CompositeAgent
from ..errors import ApiError, ShownAsIs
from ..lua import args, convert
from ..lua.objects import LuaObject, forwarding, lua_objects

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


def agent_input(value: Any, fn: str) -> dict[str, Any]:
    """Lua AgentInput table -> dict (spec §0.6); a bare string is taken as the text."""
    if isinstance(value, bytes):
        return {"text": convert.decode(value)}
    if value is None:
        return {"text": ""}
    data = args.table_data(value, fn, 1, name="AgentInput")
    if not isinstance(data, dict):
        return {"text": ""}
    text = data.get("text")
    data["text"] = text if isinstance(text, str) else ("" if text is None else str(text))
    return data


# -- the builder (spec § 2.2) ----------------------------------------------------

LIMIT_NAMES = ("max_execution_time_secs", "max_memory_mb", "max_tool_calls",
               "max_recursion_depth")


@forwarding("_text", "name", "description", "provider", "system_prompt", "base_url",
            "api_key")
class AgentBuilder(LuaObject):
    """``Agent.builder()``: every setter returns a new builder (upstream copies the
    builder on each call), so a half-built builder can be reused."""

    lua_name = "AgentBuilder"
    lua_names = {"kind": "type"}

    def __init__(self, agents: AgentGlobal, config: dict[str, Any]) -> None:
        self._agents = agents
        self._config = config

    def _with(self, method: str, value: Any, apply: Any) -> AgentBuilder:
        """A copy of this builder with ``apply(config, value, "AgentBuilder:<method>")``."""
        config = copy.deepcopy(self._config)
        apply(config, value, f"AgentBuilder:{method}")
        return AgentBuilder(self._agents, config)

    def _text(self, key: str, value: Any) -> AgentBuilder:
        return self._with(key, value, lambda c, v, fn: c.__setitem__(key, args.text(v, fn)))

    def _limit(self, method: str, key: str, value: Any) -> AgentBuilder:
        def apply(config: dict[str, Any], v: Any, fn: str) -> None:
            config["resource_limits"][key] = args.integer(v, fn, minimum=0)

        return self._with(method, value, apply)

    def model(self, value: Any = None) -> AgentBuilder:
        default = self._agents.service.default_provider or "openai"

        def apply(config: dict[str, Any], v: Any, fn: str) -> None:
            spec = args.text(v, fn)
            if "/" in spec:
                config["provider"], config["model"] = spec.split("/", 1)
            else:
                config["model"] = spec
                if not config.get("provider"):
                    config["provider"] = default

        return self._with("model", value, apply)

    def temperature(self, value: Any = None) -> AgentBuilder:
        return self._with("temperature", value, lambda c, v, fn: c.__setitem__(
            "temperature", float(args.number(v, fn))))

    def max_tokens(self, value: Any = None) -> AgentBuilder:
        return self._with("max_tokens", value, lambda c, v, fn: c.__setitem__(
            "max_tokens", args.integer(v, fn, minimum=0)))

    def max_conversation_length(self, value: Any = None) -> AgentBuilder:
        return self._with("max_conversation_length", value, lambda c, v, fn: c.__setitem__(
            "max_conversation_length", args.integer(v, fn, minimum=0)))

    def allow_tool(self, value: Any = None) -> AgentBuilder:
        return self._with("allow_tool", value, lambda c, v, fn: c["allowed_tools"].append(
            args.text(v, fn)))

    def allowed_tools(self, value: Any = None) -> AgentBuilder:
        return self._with("allowed_tools", value, lambda c, v, fn: c.__setitem__(
            "allowed_tools", list(args.names(v, fn))))

    def max_execution_time(self, value: Any = None) -> AgentBuilder:
        return self._limit("max_execution_time", "max_execution_time_secs", value)

    def max_memory_mb(self, value: Any = None) -> AgentBuilder:
        return self._limit("max_memory_mb", "max_memory_mb", value)

    def max_tool_calls(self, value: Any = None) -> AgentBuilder:
        return self._limit("max_tool_calls", "max_tool_calls", value)

    def max_recursion_depth(self, value: Any = None) -> AgentBuilder:
        return self._limit("max_recursion_depth", "max_recursion_depth", value)

    def kind(self, value: Any = None) -> AgentBuilder:
        """``:type(s)``: accepted and ignored (agents are always ``llm``), as upstream."""
        return self._with("type", value, lambda c, v, fn: None)

    def custom_config(self, value: Any = None) -> AgentBuilder:
        def apply(config: dict[str, Any], v: Any, fn: str) -> None:
            data = args.fields(v, fn)
            if isinstance(data.get("system_prompt"), str):
                config["system_prompt"] = data["system_prompt"]
            if isinstance(data.get("max_conversation_length"), int):
                config["max_conversation_length"] = data["max_conversation_length"]

        return self._with("custom_config", value, apply)

    def resource_limits(self, value: Any = None) -> AgentBuilder:
        def apply(config: dict[str, Any], v: Any, fn: str) -> None:
            data = args.fields(v, fn)
            for key in LIMIT_NAMES:
                if isinstance(data.get(key), int):
                    config["resource_limits"][key] = data[key]

        return self._with("resource_limits", value, apply)

    def build(self) -> AgentInstance:
        config = self._config
        if not config.get("model"):
            raise ApiError("Model is required")
        if not config.get("provider"):
            raise ApiError("Provider is required")
        agent_config = AgentConfig(**{k: v for k, v in config.items()
                                      if k in AgentConfig.__dataclass_fields__})
        return self._agents._instance(self._agents.service.create(agent_config).name)


# -- agent instances (spec § 2.3) ---------------------------------------------------

LIFECYCLE = ("initialize", "start", "pause", "resume", "stop", "terminate", "recover")


@forwarding("_transition", "initialize", "start", "pause", "resume", "stop", "terminate",
            "recover", takes_value=False)
class AgentInstance(LuaObject):
    """An agent as a script holds it: found by name on every call, so a destroyed agent
    says so and one re-created under the same name answers again."""

    lua_name = "Agent"
    lua_names = {"invoke_stream": "invokeStream", "invoke_tool": "invokeTool",
                 "log_event": "logEvent"}

    def __init__(self, agents: AgentGlobal, name: str) -> None:
        self._agents = agents
        self._name = name

    def lua_fields(self) -> dict[str, Any]:
        return {"name": self._name}

    def _agent(self) -> Any:
        agent = self._agents.service.get(self._name)
        if agent is None:
            raise ApiError(f"Agent '{self._name}' not found (it was destroyed)")
        return agent

    def _llm(self, method: str) -> Any:
        agent = self._agent()
        if isinstance(agent, CompositeAgent):
            raise ApiError(f"Agent:{method}: not available on composite agent '{agent.name}'")
        return agent

    def invoke(self, value: Any = None) -> Any:
        agent = self._agent()
        return agent.invoke(agent_input(value, "Agent:invoke"))

    def execute(self, value: Any = None) -> Any:
        """Upstream's exact alias of ``invoke``."""
        return self.invoke(value)

    def invoke_stream(self, value: Any = None, callback: Any = None) -> Any:
        agent = self._llm("invokeStream")
        data = agent_input(value, "Agent:invokeStream")
        fn = args.function(callback, "Agent:invokeStream", 2, name="callback")
        return self._agents._stream(agent, data, fn)

    def execute_with_context(self, value: Any = None, cid: Any = None) -> Any:
        agent = self._agent()
        data = agent_input(value, "Agent:execute_with_context")
        context = self._agents.service.context_data(
            args.text(cid, "Agent:execute_with_context", 2))
        return agent.invoke(data, context=context)

    def invoke_tool(self, name: Any = None, params: Any = None) -> Any:
        agent = self._llm("invokeTool")
        tool = args.text(name, "Agent:invokeTool", 1)
        data = args.optional_fields(params, "Agent:invokeTool", 2)
        return agent.invoke_tool(self._agents._tools(), tool, data)

    def discover_tools(self) -> list[str]:
        self._agent()
        return [t.name for t in self._agents._tools().list()]

    def has_tool(self, name: Any = None) -> bool:
        self._agent()
        return self._agents._tools().exists(args.text(name, "Agent:has_tool"))

    def get_tool_metadata(self, name: Any = None) -> dict[str, Any] | None:
        self._agent()
        spec = self._agents._tools().get(args.text(name, "Agent:get_tool_metadata"))
        return None if spec is None else tool_metadata(spec)

    def get_all_tool_metadata(self) -> dict[str, Any]:
        self._agent()
        return {t.name: tool_metadata(t) for t in self._agents._tools().list()}

    def get_state(self) -> str:
        return self._agent().state

    def get_agent_state(self) -> str:
        return self.get_state()

    def _transition(self, method: str) -> None:
        self._llm(method).transition(method)

    def set_error(self, message: Any = None) -> None:
        self._llm("set_error").set_error(args.text(message, "Agent:set_error"))

    def get_state_history(self) -> Any:
        return self._llm("get_state_history").state_history

    def get_last_error(self) -> str | None:
        return self._llm("get_last_error").last_error

    def get_recovery_attempts(self) -> int:
        return self._llm("get_recovery_attempts").recovery_attempts

    def is_healthy(self) -> bool:
        return self._llm("is_healthy").is_healthy()

    def get_state_metrics(self) -> dict[str, Any]:
        return self._llm("get_state_metrics").state_metrics()

    def get_metrics(self) -> dict[str, Any]:
        return self._llm("get_metrics").metrics()

    def get_health(self) -> dict[str, Any]:
        return self._llm("get_health").health()

    def get_performance(self) -> dict[str, Any]:
        return self._llm("get_performance").performance()

    def log_event(self, kind: Any = None, message: Any = None) -> None:
        agent = self._llm("logEvent")
        agent.events.append({"type": args.text(kind, "Agent:logEvent", 1),
                             "message": args.text(message, "Agent:logEvent", 2),
                             "timestamp": time.time()})

    def configure_alerts(self, cfg: Any = None) -> None:
        self._llm("configure_alerts").alert_config = args.fields(cfg, "Agent:configure_alerts")

    def get_alerts(self) -> Any:
        return self._llm("get_alerts").alerts

    def get_bridge_metrics(self) -> dict[str, Any]:
        agent, service = self._llm("get_bridge_metrics"), self._agents.service
        return {"agents": len(service.agents), "contexts": len(service.contexts),
                "agent": agent.metrics(), "performance": agent.performance(),
                "conversation_length": len(agent.history)}

    def get_config(self) -> dict[str, Any]:
        agent = self._agent()
        if isinstance(agent, CompositeAgent):
            return {"name": agent.name, "agents": agent.members, **agent.config}
        return agent.config.public()

    def set_state(self, value: Any = None) -> None:
        self._llm("set_state").restore(args.fields(value, "Agent:set_state"))

    def save_state(self) -> None:
        agent = self._llm("save_state")
        self._agents._state_store(agent).save(f"agent:{agent.name}", "agent_state",
                                             agent.snapshot())

    def load_state(self) -> bool:
        agent = self._llm("load_state")
        data = self._agents._state_store(agent).load(f"agent:{agent.name}", "agent_state")
        if not isinstance(data, dict):
            return False
        agent.restore(data)
        return True

    def delete_state(self) -> None:
        agent = self._llm("delete_state")
        self._agents._state_store(agent).delete(f"agent:{agent.name}", "agent_state")

    def destroy(self) -> None:
        self._agents.service.remove(self._agent().name)


def tool_metadata(spec: Any) -> dict[str, Any]:
    return {"name": spec.name, "description": spec.description, "version": spec.version}


# -- the global (spec § 2.1) --------------------------------------------------------


class AgentGlobal(LuaObject):
    """The ``Agent`` table: its methods are the dot-call functions."""

    lua_name = "Agent"
    lua_names = {"list_agents": "list", "set_shared": "set_shared_memory",
                 "get_shared": "get_shared_memory"}

    def __init__(self, rt: Runtime, service: AgentRegistry) -> None:
        self._rt = rt
        self.service = service
        self._instances: dict[str, AgentInstance] = {}

    # shared by builders and instances ---------------------------------------------

    def _instance(self, name: str) -> AgentInstance:
        """The one Lua object standing for the agent ``name`` in this run."""
        found = self._instances.get(name)
        if found is None:
            found = self._instances[name] = AgentInstance(self, name)
        return found

    def _tools(self) -> Any:
        from .tool import tool_service

        return tool_service(self._rt)

    def _state_store(self, agent: Any) -> Any:
        if not self._rt.settings.get("runtime.state_persistence.enabled"):
            raise ApiError(f"Agent '{agent.name}': state persistence is disabled "
                           "(runtime.state_persistence.enabled = false)")
        from .state import state_service

        return state_service(self._rt)

    def _stream(self, agent: Any, data: dict[str, Any], callback: Any) -> dict[str, Any]:
        """Run ``agent`` streaming: ``callback`` gets each chunk as an AgentOutput table."""
        from ..tools.output import output_to_lua_value

        count = 0

        def on_chunk(piece: str) -> None:
            nonlocal count
            count += 1
            self._rt.call(callback, output_to_lua_value(piece, {"chunk_index": count,
                                                                "model": agent.config.model}))

        agent.invoke(data, on_chunk=on_chunk)
        return {"success": True, "chunks_received": count}

    # Agent.* ------------------------------------------------------------------------

    def builder(self) -> AgentBuilder:
        return AgentBuilder(self, {"resource_limits": dict(DEFAULT_LIMITS),
                                   "allowed_tools": []})

    def create(self, _: Any = None) -> None:
        raise ApiError(DEPRECATED)

    def list_agents(self) -> list[dict[str, str]]:
        return [{"name": name} for name in self.service.names()]

    def discover(self) -> list[dict[str, str]]:
        return [{"type": t} for t in AGENT_TYPES]

    def list_capabilities(self) -> dict[str, Any]:
        return {t: info["capabilities"] for t, info in AGENT_TYPES.items()}

    def list_templates(self) -> list[str]:
        return sorted(TEMPLATES)

    def list_instances(self) -> list[str]:
        return self.service.names()

    def get(self, name: Any = None) -> AgentInstance | None:
        key = args.text(name, "Agent.get")
        return self._instance(key) if self.service.get(key) is not None else None

    def register(self, config: Any = None) -> str:
        return self.service.create_from_dict(args.fields(config, "Agent.register")).name

    def wrap_as_tool(self, agent_name: Any = None, config: Any = None) -> str:
        name = args.text(agent_name, "Agent.wrap_as_tool", 1)
        cfg = args.optional_fields(config, "Agent.wrap_as_tool", 2)
        try:
            return _wrap(self._tools(), self.service.require(name), cfg)
        except (ShownAsIs, ValueError) as exc:
            raise ApiError(f"Failed to wrap agent as tool: {exc}") from None

    def get_info(self, kind: Any = None) -> Any:
        key = args.text(kind, "Agent.get_info")
        info = AGENT_TYPES.get(key)
        if info is None:
            raise ApiError(f"Agent.get_info: unknown agent type '{key}' (available: "
                           f"{', '.join(AGENT_TYPES)})")
        return info

    def create_composite(self, name: Any = None, agents: Any = None,
                         config: Any = None) -> None:
        fn = "Agent.create_composite"
        try:
            key = args.text(name, fn, 1)
            members = args.names(agents, fn, 2, name="agents")
            self.service.composite(key, members, args.optional_fields(config, fn, 3))
        except ShownAsIs as exc:
            text = str(exc)
            raise ApiError(text if text.startswith("Failed to create composite")
                           else f"Failed to create composite: {text}") from None

    def discover_by_capability(self, cap: Any = None) -> list[str]:
        return self.service.by_capability(args.text(cap, "Agent.discover_by_capability"))

    def create_from_template(self, instance_name: Any = None, template: Any = None,
                             params: Any = None) -> AgentInstance:
        fn = "Agent.create_from_template"
        inst, tpl = args.text(instance_name, fn, 1), args.text(template, fn, 2)
        data = args.optional_fields(params, fn, 3)
        return self._instance(self.service.from_template(inst, tpl, data).name)

    def create_context(self, config: Any = None) -> str:
        return self.service.create_context(args.optional_fields(config, "Agent.create_context"))

    def create_child_context(self, parent: Any = None, scope: Any = None,
                             inheritance: Any = None) -> str:
        fn = "Agent.create_child_context"
        pid = args.text(parent, fn, 1)
        scope_data = None if scope is None else args.table_data(scope, fn, 2, name="scope")
        mode = args.optional_text(inheritance, fn, 3, default="inherit") or "inherit"
        return self.service.create_context({}, parent=pid, inheritance=mode.lower(),
                                           scope=scope_data)

    def update_context(self, cid: Any = None, key: Any = None, value: Any = None) -> None:
        fn = "Agent.update_context"
        ctx = self.service.context(args.text(cid, fn, 1))
        ctx["data"][args.text(key, fn, 2)] = args.data(value, fn)

    def get_context_data(self, cid: Any = None, key: Any = None) -> Any:
        fn = "Agent.get_context_data"
        return self.service.context_data(args.text(cid, fn, 1)).get(args.text(key, fn, 2))

    def remove_context(self, cid: Any = None) -> None:
        self.service.remove_context(args.text(cid, "Agent.remove_context", 1))

    def set_shared(self, scope: Any = None, key: Any = None, value: Any = None) -> None:
        fn = "Agent.set_shared_memory"
        slot = self.service.scope_key(args.table_data(scope, fn, 1, name="scope"))
        name = args.text(key, fn, 2)
        self.service.shared.setdefault(slot, {})[name] = args.data(value, fn)

    def get_shared(self, scope: Any = None, key: Any = None) -> Any:
        fn = "Agent.get_shared_memory"
        slot = self.service.scope_key(args.table_data(scope, fn, 1, name="scope"))
        return self.service.shared.get(slot, {}).get(args.text(key, fn, 2))

    def get_hierarchy(self, name: Any = None) -> Any:
        return self.service.hierarchy(args.text(name, "Agent.get_hierarchy"))

    def get_details(self, name: Any = None) -> Any:
        return self.service.details(args.text(name, "Agent.get_details"))


def install(rt: Runtime, table: Any) -> None:
    lua_objects(rt).install(table, AgentGlobal(rt, agent_service(rt)))


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
