"""The LLM agent: system prompt + capped conversation + the user's text -> a provider.

``invoke(input)`` takes the AgentInput dict (spec §0.6: ``text``, ``parameters``, ...)
and returns what a script sees (spec §0.5: ``text``, ``metadata``, or the flattened
JSON object). Given allowed tools, the agent offers them to the model through the
provider's function calling, runs the calls it asks for through the tool service, and
returns the model's final answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import AgentError, ProviderError, ShownAsIs
from ..providers.base import ChatRequest, ChatResponse

DEFAULT_LIMITS = {"max_execution_time_secs": 300, "max_memory_mb": 512,
                  "max_tool_calls": 100, "max_recursion_depth": 10}
DEFAULT_HISTORY = 100


def new_agent_name() -> str:
    return f"agent_{uuid.uuid4().hex[:8]}"


@dataclass
class AgentConfig:
    name: str = field(default_factory=new_agent_name)
    description: str = "LLM-powered agent"
    provider: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None
    max_conversation_length: int | None = None
    base_url: str | None = None
    api_key: str | None = None
    allowed_tools: list[str] = field(default_factory=list)
    resource_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    agent_type: str = "llm"

    def public(self) -> dict[str, Any]:
        """The config as scripts may see it (never the API key)."""
        data = asdict(self)
        data.pop("api_key")
        data["model"] = {"provider": self.provider, "model_id": self.model,
                         "temperature": self.temperature, "max_tokens": self.max_tokens,
                         "settings": {"base_url": self.base_url}}
        data.pop("provider")
        data.pop("temperature")
        data.pop("max_tokens")
        data.pop("base_url")
        data["custom_config"] = {k: v for k, v in (
            ("system_prompt", data.pop("system_prompt")),
            ("max_conversation_length", data.pop("max_conversation_length"))) if v is not None}
        return data


# lifecycle: method -> (allowed from-states, to-state)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "initialize": (("Uninitialized", "Ready"), "Ready"),
    "start": (("Ready",), "Running"),
    "pause": (("Running",), "Paused"),
    "resume": (("Paused",), "Running"),
    "stop": (("Running", "Paused"), "Ready"),
    "terminate": (("Uninitialized", "Ready", "Running", "Paused", "Error"), "Terminated"),
    "recover": (("Error",), "Ready"),
}


class LLMAgent:
    def __init__(self, config: AgentConfig, providers: Any,
                 tools: Callable[[], Any] | None = None,
                 output: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
                 *, registry: Any = None) -> None:
        self.config = config
        self.registry = registry  # the AgentRegistry keeping it: runs its calls' hooks
        self.providers = providers
        self._tools = tools
        self._output = output
        self.history: list[dict[str, Any]] = []
        self.state = "Ready"
        self.created = time.time()
        self._entered = time.monotonic()
        self.state_history: list[dict[str, Any]] = []
        self.state_time: dict[str, float] = {}
        self.last_error: str | None = None
        self.error_count = 0
        self.recovery_attempts = 0
        self.requests_total = 0
        self.requests_failed = 0
        self.requests_active = 0
        self.tool_invocations = 0
        self.total_time_ms = 0.0
        self.cpu_seconds = 0.0
        self.events: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.alert_config: dict[str, Any] = {}
        # resolve now: an unknown provider fails at build time, as upstream
        self.info = providers.info(config.provider, config.base_url, config.api_key)

    @property
    def name(self) -> str:
        return self.config.name

    # -- lifecycle ------------------------------------------------------------

    def _move(self, to: str, reason: str | None = None) -> None:
        now = time.monotonic()
        self.state_time[self.state] = self.state_time.get(self.state, 0.0) + now - self._entered
        entry = {"from": self.state, "to": to, "timestamp": time.time(),
                 "elapsed": now - self._entered}
        if reason:
            entry["reason"] = reason
        self.state_history.append(entry)
        self.state = to
        self._entered = now

    def transition(self, method: str) -> None:
        allowed, target = TRANSITIONS[method]
        if self.state not in allowed:
            raise AgentError(f"Agent '{self.name}': cannot {method} from state {self.state}")
        if method == "recover":
            self.recovery_attempts += 1
            self._move("Recovering", "recover")
        if self.state != target or method != "initialize":
            self._move(target, method)

    def set_error(self, message: str) -> None:
        self.last_error = message
        self.error_count += 1
        self._move("Error", message)
        self._alert("error", message)

    def _alert(self, severity: str, message: str) -> None:
        self.alerts.append({"severity": severity, "message": message, "timestamp": time.time()})

    # -- invocation -----------------------------------------------------------

    def _system_prompt(self) -> str:
        return self.config.system_prompt or \
            f"You are {self.name}, an AI assistant. {self.config.description}"

    def _tool_defs(self) -> tuple[Any, list[dict[str, Any]]]:
        if not self.config.allowed_tools or self._tools is None:
            return None, []
        service = self._tools()
        allowed = set(self.config.allowed_tools)
        defs = [{"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in service.list() if t.name in allowed]
        return service, defs

    def invoke(self, agent_input: dict[str, Any],
               on_chunk: Callable[[str], None] | None = None,
               context: dict[str, Any] | None = None) -> Any:
        """Run one turn under the run's hooks (``AgentRegistry.invoke``)."""
        if self.registry is not None:
            return self.registry.invoke(self, agent_input, on_chunk, context)
        return self.respond(agent_input, on_chunk, context)

    def respond(self, agent_input: dict[str, Any],
                on_chunk: Callable[[str], None] | None = None,
                context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one turn; return the script-visible output (spec §0.5)."""
        from ..providers.http import deadline

        if self.state in ("Terminated", "Paused", "Error"):
            raise AgentError(f"Agent '{self.name}' cannot run: it is {self.state}")
        text = agent_input.get("text")
        text = text if isinstance(text, str) else ("" if text is None else str(text))
        if context:
            text = "Context:\n" + json.dumps(context, sort_keys=True, ensure_ascii=False) + \
                "\n\n" + text
        started = time.perf_counter()
        cpu_started = time.process_time()
        self.requests_total += 1
        self.requests_active += 1
        try:
            client = self.providers.client(self.config.provider, self.config.base_url,
                                           self.config.api_key)
            with deadline(self.config.resource_limits.get("max_execution_time_secs")):
                reply, used, prompt, completion = self._converse(client, text, on_chunk,
                                                                 images(agent_input))
        except Exception as exc:
            self.requests_failed += 1
            self.last_error = str(exc)
            self._alert("error", str(exc))
            raise
        finally:
            self.requests_active -= 1
            self.cpu_seconds += time.process_time() - cpu_started
        elapsed = (time.perf_counter() - started) * 1000
        self.total_time_ms += elapsed
        self.history.append({"role": "user", "content": text})
        self.history.append({"role": "assistant", "content": reply.text})
        cap = self.config.max_conversation_length
        cap = DEFAULT_HISTORY if cap is None else max(0, cap)
        if len(self.history) > cap:
            del self.history[:len(self.history) - cap]
        if self.registry is not None and self.registry.get(self.name) is self:
            try:  # the conversation counts against the run's budget (llmspell/held.py)
                self.registry.charge(self.name, self, "agent:invoke")
            except AgentError:
                del self.history[-2:]
                raise
        metadata: dict[str, Any] = {"model": self.config.model,
                                    "execution_time_ms": int(elapsed),
                                    "provider": self.config.provider, "agent": self.name}
        if prompt is not None or completion is not None:
            metadata.update(token_count=(prompt or 0) + (completion or 0),
                            prompt_tokens=prompt or 0, completion_tokens=completion or 0)
        if reply.finish_reason:
            metadata["finish_reason"] = reply.finish_reason
        if used:
            metadata["tool_calls"] = used
        return self.output(reply.text, metadata)

    def output(self, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
        if self._output is not None:
            return self._output(text, metadata)
        return {"text": text, "metadata": metadata}

    def _converse(self, client: Any, text: str, on_chunk: Callable[[str], None] | None,
                  media: list[dict[str, Any]] | None = None
                  ) -> tuple[ChatResponse, list[dict[str, Any]], int | None, int | None]:
        question: dict[str, Any] = {"role": "user", "content": text}
        if media:
            question["images"] = media
        messages = [{"role": "system", "content": self._system_prompt()}, *self.history,
                    question]
        service, tools = self._tool_defs()
        limit = int(self.config.resource_limits.get("max_tool_calls") or 0)
        used: list[dict[str, Any]] = []
        prompt = completion = None
        while True:
            reply = client.chat(ChatRequest(model=self.config.model or "", messages=messages,
                                            temperature=self.config.temperature,
                                            max_tokens=self.config.max_tokens,
                                            tools=tools or None), on_chunk)
            if reply.prompt_tokens is not None:
                prompt = (prompt or 0) + reply.prompt_tokens
            if reply.completion_tokens is not None:
                completion = (completion or 0) + reply.completion_tokens
            if not reply.tool_calls or not tools:
                return reply, used, prompt, completion
            if len(used) + len(reply.tool_calls) > limit:
                raise ProviderError(
                    f"Agent '{self.name}': the model asked for more than {limit} tool calls "
                    "(resource_limits.max_tool_calls)")
            messages.append({"role": "assistant", "content": reply.text,
                             "tool_calls": reply.tool_calls})
            for call in reply.tool_calls:
                result = self._run_tool(service, call["name"], call["arguments"])
                used.append({"name": call["name"], "arguments": call["arguments"],
                             "success": result.get("success", "error" not in result)})
                messages.append({"role": "tool", "tool_call_id": call["id"],
                                 "name": call["name"], "content": _tool_text(result)})

    def _run_tool(self, service: Any, name: str, arguments: dict[str, Any]
                  ) -> dict[str, Any]:
        self.tool_invocations += 1
        if name not in self.config.allowed_tools:
            return {"success": False, "error": f"tool '{name}' is not allowed for this agent"}
        try:
            return service.invoke(name, arguments)
        except ShownAsIs as exc:
            return {"success": False, "error": str(exc)}

    def invoke_tool(self, service: Any, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``agent:invokeTool``: a direct call of an allowed (or any, if none listed) tool."""
        if self.config.allowed_tools and name not in self.config.allowed_tools:
            raise AgentError(f"Tool '{name}' is not allowed for agent '{self.name}'")
        self.tool_invocations += 1
        return service.invoke(name, params)

    # -- reporting ------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        return {"agent_id": self.name, "requests_total": self.requests_total,
                "requests_failed": self.requests_failed,
                "requests_active": self.requests_active,
                "tool_invocations": self.tool_invocations,
                "memory_bytes": sum(len((m.get("content") or "").encode("utf-8"))
                                    for m in self.history),
                "cpu_percent": (100.0 * self.cpu_seconds / (self.total_time_ms / 1000)
                                if self.total_time_ms else 0.0)}

    def performance(self) -> dict[str, Any]:
        n = self.requests_total
        ok = n - self.requests_failed
        return {"total_executions": n,
                "avg_execution_time_ms": self.total_time_ms / ok if ok else 0.0,
                "success_rate": ok / n if n else 1.0,
                "error_rate": self.requests_failed / n if n else 0.0}

    def state_metrics(self) -> dict[str, Any]:
        now = time.monotonic()
        dist = dict(self.state_time)
        dist[self.state] = dist.get(self.state, 0.0) + now - self._entered
        out: dict[str, Any] = {"current_state": self.state,
                               "total_transitions": len(self.state_history),
                               "error_count": self.error_count,
                               "recovery_attempts": self.recovery_attempts,
                               "uptime": time.time() - self.created,
                               "state_time_distribution": dist}
        if self.state_history:
            out["last_transition"] = self.state_history[-1]
        return out

    def health(self) -> dict[str, Any]:
        healthy = self.is_healthy()
        status = "healthy" if healthy else ("unhealthy" if self.state in ("Error", "Terminated")
                                            else "degraded")
        out: dict[str, Any] = {"status": status, "timestamp": time.time()}
        if self.last_error:
            out["message"] = self.last_error
        return out

    def is_healthy(self) -> bool:
        if self.state in ("Error", "Terminated"):
            return False
        n = self.requests_total
        return not n or self.requests_failed / n < 0.5

    def snapshot(self) -> dict[str, Any]:
        """What ``save_state`` keeps: the conversation and counters."""
        return {"name": self.name, "history": list(self.history), "state": self.state,
                "requests_total": self.requests_total, "saved_at": time.time()}

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the conversation with ``data.history`` (or ``data.messages``): a list of
        ``{role = "user"|"assistant", content = "..."}``; other entries are skipped."""
        history = data.get("history", data.get("messages"))
        if isinstance(history, list):
            self.history = [{"role": m["role"], "content": m["content"]} for m in history
                            if isinstance(m, dict) and m.get("role") in ("user", "assistant")
                            and isinstance(m.get("content"), str)]


IMAGE_FORMATS = ("png", "jpeg", "jpg", "webp", "gif", "svg", "tiff")


def images(agent_input: dict[str, Any]) -> list[dict[str, Any]]:
    """The images of an AgentInput (spec §0.6: ``media`` list, else ``image``); entries
    without ``base64`` or with an unknown format are skipped."""
    media = agent_input.get("media")
    if not isinstance(media, list):
        single = agent_input.get("image")
        media = [single] if isinstance(single, dict) else []
    out = []
    for item in media:
        if not isinstance(item, dict) or not isinstance(item.get("base64"), str):
            continue
        fmt = str(item.get("format") or "png").lower()
        if fmt in IMAGE_FORMATS:
            out.append({"format": fmt, "base64": item["base64"]})
    return out


def _tool_text(result: dict[str, Any]) -> str:
    raw = result.get("_raw_text")
    if isinstance(raw, str):
        return raw
    if isinstance(result.get("text"), str):
        return result["text"]
    return json.dumps({k: v for k, v in result.items() if k != "metadata"},
                      ensure_ascii=False, default=str)
