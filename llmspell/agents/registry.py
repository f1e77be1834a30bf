"""The agents of one run: creation, lookup, contexts, shared memory, composites, templates.

Every agent call ends in ``AgentRegistry.invoke`` (an agent's ``invoke`` delegates to the
registry that keeps it): the agent hooks (Before/AfterAgentExecution, AgentError) and the
``agent.execution.*`` events run there, around the agent's own ``respond``. Storing and
removing an agent fire Before/AfterAgentInit and Before/AfterAgentShutdown.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import AgentError, ShownAsIs
from ..held import AGENTS_HELD_LIMIT, HeldBytes, HeldBytesFull
from ..hooks import PROCEED
from .llm import DEFAULT_LIMITS, AgentConfig, LLMAgent

if TYPE_CHECKING:
    from ..hooks import ServiceHooks

AGENT_TYPES = {
    "llm": {"type": "llm", "description": "An agent backed by a chat model (OpenAI, "
            "Anthropic, Ollama or any OpenAI-compatible server)",
            "required_parameters": ["model"],
            "optional_parameters": ["name", "description", "system_prompt", "temperature",
                                    "max_tokens", "allowed_tools", "resource_limits"],
            "capabilities": ["chat", "text_generation", "streaming", "conversation_memory",
                             "tool_use"]},
}

TEMPLATES: dict[str, dict[str, str]] = {
    "chat_assistant": {"description": "General conversational assistant",
                       "system_prompt": "You are a helpful, concise assistant."},
    "researcher": {"description": "Gathers and summarises information on a topic",
                   "system_prompt": "You are a careful researcher. Gather the relevant facts, "
                                    "say what is uncertain, and summarise concisely."},
    "summarizer": {"description": "Summarises text",
                   "system_prompt": "Summarise the user's text in a few clear sentences."},
    "code_assistant": {"description": "Writes and reviews code",
                       "system_prompt": "You are an experienced programmer. Answer with "
                                        "correct, minimal code and short explanations."},
}

INHERITANCE = ("inherit", "isolate", "copy", "share")
SCOPE_TYPES = ("global", "session", "workflow", "agent", "user")


class CompositeAgent:
    """Runs its member agents in order, each one's text feeding the next (or all on the
    same input with ``mode = "parallel"``, texts joined)."""

    def __init__(self, name: str, members: list[str], config: dict[str, Any],
                 registry: AgentRegistry) -> None:
        self.name = name
        self.members = members
        self.config = config
        self.registry = registry
        self.state = "Ready"

    def invoke(self, agent_input: dict[str, Any], on_chunk: Any = None,
               context: Any = None) -> Any:
        """Run the members under the run's hooks (``AgentRegistry.invoke``)."""
        return self.registry.invoke(self, agent_input, on_chunk, context)

    def respond(self, agent_input: dict[str, Any], on_chunk: Any = None,
                context: Any = None) -> dict[str, Any]:
        mode = str(self.config.get("mode") or self.config.get("type") or "sequential")
        current = dict(agent_input)
        outputs: list[dict[str, Any]] = []
        for member in self.members:
            agent = self.registry.require(member)
            out = agent.invoke(current if mode != "parallel" else dict(agent_input))
            outputs.append(out)
            if mode != "parallel":
                current = {"text": out.get("text") or out.get("_raw_text") or ""}
        if mode == "parallel":
            text = "\n\n".join(f"[{m}] {o.get('text') or o.get('_raw_text') or ''}"
                               for m, o in zip(self.members, outputs, strict=True))
        else:
            text = current["text"]
        return {"text": text, "metadata": {"composite": self.name, "mode": mode,
                                           "agents": list(self.members)}}


class AgentRegistry:
    def __init__(self, providers: Any, tools: Callable[[], Any] | None = None,
                 output: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
                 default_provider: str | None = None,
                 hooks: ServiceHooks | None = None) -> None:
        self.providers = providers
        self.hooks = hooks  # the run's hooks and events; None: a call is just the call
        self.tools = tools
        self.output = output
        self.default_provider = default_provider
        self.agents: dict[str, Any] = {}
        self.contexts: dict[str, dict[str, Any]] = {}
        self.shared: dict[str, dict[str, Any]] = {}
        self.saved: dict[str, dict[str, Any]] = {}
        self.held = HeldBytes(AGENTS_HELD_LIMIT, "agents (configs and conversations)")

    # -- agents ---------------------------------------------------------------

    def charge(self, name: str, agent: Any, fn: str) -> None:
        """Count what ``agent`` keeps (config, conversation) against the run's budget."""
        kept = (getattr(agent, "config", None), getattr(agent, "history", None))
        try:
            self.held.charge_value(name, kept, fn)
        except HeldBytesFull as exc:
            raise AgentError(str(exc)) from None

    def create(self, config: AgentConfig, fn: str = "AgentBuilder:build") -> LLMAgent:
        if not config.model:
            raise AgentError("Model is required")
        if not config.provider:
            raise AgentError("Provider is required")
        if config.name in self.agents:
            raise AgentError(f"Agent '{config.name}' already exists")
        agent = LLMAgent(config, self.providers, self.tools, self.output, registry=self)
        self._store(config.name, agent, fn)
        return agent

    def _store(self, name: str, agent: Any, fn: str = "Agent") -> None:
        """Keep ``agent``: a BeforeAgentInit hook may refuse it (nothing is stored)."""
        self.charge(name, agent, fn)
        try:
            if self.hooks is not None:
                self.hooks.agent_lifecycle("BeforeAgentInit", name, agent, "creation")
        except BaseException:
            self.held.release(name)
            raise
        self.agents[name] = agent
        if self.hooks is not None:
            self.hooks.agent_lifecycle("AfterAgentInit", name, agent, "creation")

    def invoke(self, agent: Any, agent_input: dict[str, Any], on_chunk: Any = None,
               context: Any = None) -> Any:
        """Run ``agent.respond`` under the run's hooks and events (see the module
        docstring); a BeforeAgentExecution hook may redirect the call to another agent."""
        call = self.hooks.call("agent", agent.name, agent_input) \
            if self.hooks is not None else None
        if call is None:  # no hooks, no listeners
            return agent.respond(agent_input, on_chunk, context)
        given = call.before()  # BeforeAgentExecution
        if given is not PROCEED:
            return given

        def respond(name: str, value: Any) -> Any:
            target = agent if name == agent.name else self.require(name)
            return target.respond(value, on_chunk, context)

        result = call.attempt(respond)  # AgentError hooks may retry or replace
        return call.after(result)  # AfterAgentExecution

    def create_from_dict(self, data: dict[str, Any], fn: str = "Agent.register") -> LLMAgent:
        """``Agent.register({...})``: the effective-config shape or a flat one."""
        from ..providers.registry import split_model

        config = AgentConfig()
        if data.get("name"):
            config.name = str(data["name"])
        if data.get("description"):
            config.description = str(data["description"])
        agent_type = data.get("agent_type") or data.get("type") or "llm"
        if agent_type not in AGENT_TYPES:
            raise AgentError(f"Unknown agent type: {agent_type} (available: llm)")
        model = data.get("model")
        if isinstance(model, dict):
            config.provider = model.get("provider")
            config.model = model.get("model_id") or model.get("model")
            config.temperature = model.get("temperature")
            config.max_tokens = model.get("max_tokens")
            settings = model.get("settings") or {}
            config.base_url = settings.get("base_url")
            config.api_key = settings.get("api_key")
        elif isinstance(model, str):
            config.provider, config.model = split_model(model)
        config.provider = data.get("provider") or config.provider
        if not config.provider:
            config.provider = self.default_provider or "openai"
        if not config.model:
            info = self.providers.info(config.provider)
            config.model = info.default_model
        for key in ("temperature", "max_tokens", "system_prompt", "max_conversation_length",
                    "base_url", "api_key"):
            if data.get(key) is not None:
                setattr(config, key, data[key])
        custom = data.get("custom_config") or {}
        if isinstance(custom, dict):
            config.system_prompt = custom.get("system_prompt", config.system_prompt)
            config.max_conversation_length = custom.get("max_conversation_length",
                                                        config.max_conversation_length)
        tools = data.get("allowed_tools") or data.get("tools") or []
        config.allowed_tools = [str(t) for t in tools] if isinstance(tools, list) else []
        limits = data.get("resource_limits") or {}
        config.resource_limits = dict(DEFAULT_LIMITS)
        if isinstance(limits, dict):
            for key in DEFAULT_LIMITS:
                if isinstance(limits.get(key), int):
                    config.resource_limits[key] = limits[key]
        return self.create(config, fn)

    def get(self, name: str) -> Any:
        return self.agents.get(name)

    def require(self, name: str) -> Any:
        agent = self.agents.get(name)
        if agent is None:
            raise AgentError(f"Agent '{name}' not found")
        return agent

    def names(self) -> list[str]:
        return list(self.agents)

    def remove(self, name: str) -> None:
        agent = self.require(name)
        if self.hooks is not None:
            self.hooks.agent_lifecycle("BeforeAgentShutdown", name, agent, "shutdown")
        del self.agents[name]
        self.held.release(name)
        if self.hooks is not None:
            self.hooks.agent_lifecycle("AfterAgentShutdown", name, agent, "shutdown")

    def from_template(self, instance: str, template: str, params: dict[str, Any]) -> LLMAgent:
        spec = TEMPLATES.get(template)
        if spec is None:
            raise AgentError(f"Failed to create from template: unknown template '{template}' "
                           f"(available: {', '.join(sorted(TEMPLATES))})")
        data = {"name": instance, "description": spec["description"],
                "system_prompt": spec["system_prompt"], **params}
        try:
            return self.create_from_dict(data)
        except ShownAsIs as exc:
            raise AgentError(f"Failed to create from template: {exc}") from None

    def composite(self, name: str, members: list[str], config: dict[str, Any]) -> None:
        if name in self.agents:
            raise AgentError(f"Failed to create composite: agent '{name}' already exists")
        for member in members:
            if member not in self.agents:
                raise AgentError(f"Failed to create composite: agent '{member}' not found")
        self._store(name, CompositeAgent(name, list(members), config, self),
                    "Agent.create_composite")

    def capabilities_of(self, agent: Any) -> list[str]:
        if isinstance(agent, CompositeAgent):
            return ["composite", *sorted({c for m in agent.members if m in self.agents
                                          for c in self.capabilities_of(self.agents[m])})]
        caps = ["chat", "text_generation", "streaming", "conversation_memory",
                agent.config.provider or ""]
        if agent.config.allowed_tools:
            caps.append("tool_use")
        return [c for c in caps if c]

    def by_capability(self, capability: str) -> list[str]:
        return [name for name, agent in self.agents.items()
                if capability in self.capabilities_of(agent)]

    def hierarchy(self, name: str) -> dict[str, Any]:
        agent = self.require(name)
        if isinstance(agent, CompositeAgent):
            return {"name": name, "type": "composite",
                    "children": [self.hierarchy(m) for m in agent.members if m in self.agents]}
        return {"name": name, "type": "llm", "children": []}

    def details(self, name: str) -> dict[str, Any]:
        agent = self.require(name)
        if isinstance(agent, CompositeAgent):
            return {"name": name, "type": "composite", "agents": agent.members,
                    "config": agent.config, "state": agent.state}
        return {**agent.config.public(), "state": agent.state,
                "capabilities": self.capabilities_of(agent),
                "conversation_length": len(agent.history), "metrics": agent.metrics()}

    # -- contexts ---------------------------------------------------------------

    def create_context(self, config: dict[str, Any], parent: str | None = None,
                       inheritance: str = "inherit", scope: Any = None) -> str:
        if inheritance not in INHERITANCE:
            raise AgentError(f"unknown inheritance '{inheritance}' (use one of "
                           f"{', '.join(INHERITANCE)})")
        cid = f"ctx_{uuid.uuid4().hex[:12]}"
        data: dict[str, Any] = {}
        if isinstance(config.get("data"), dict):
            data.update(config["data"])
        if parent is not None:
            parent_ctx = self.context(parent)
            if inheritance == "copy":
                data = {**copy.deepcopy(self.context_data(parent)), **data}
            elif inheritance == "share":
                data = parent_ctx["data"]
        self.contexts[cid] = {"id": cid, "config": config, "data": data, "parent": parent,
                              "inheritance": inheritance, "scope": scope}
        return cid

    def context(self, cid: str) -> dict[str, Any]:
        ctx = self.contexts.get(cid)
        if ctx is None:
            raise AgentError(f"Context '{cid}' not found")
        return ctx

    def context_data(self, cid: str) -> dict[str, Any]:
        ctx = self.context(cid)
        data: dict[str, Any] = {}
        if ctx["parent"] is not None and ctx["inheritance"] == "inherit" and \
                ctx["parent"] in self.contexts:
            data.update(self.context_data(ctx["parent"]))
        data.update(ctx["data"])
        return data

    def remove_context(self, cid: str) -> None:
        self.context(cid)
        del self.contexts[cid]

    # -- shared memory ----------------------------------------------------------

    @staticmethod
    def scope_key(scope: Any) -> str:
        if isinstance(scope, str):
            scope = {"type": scope}
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES:
            raise AgentError("invalid scope: expected a table like {type=\"global\"} or "
                           "{type=\"session\", id=\"...\"} (types: " + ", ".join(SCOPE_TYPES)
                           + ")")
        if scope["type"] != "global" and not scope.get("id"):
            raise AgentError(f"invalid scope: type '{scope['type']}' needs an id")
        return json.dumps({"type": scope["type"], "id": scope.get("id")}, sort_keys=True)
