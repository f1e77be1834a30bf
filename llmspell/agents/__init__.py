"""Agents: the LLM agent (conversation, streaming, tool calling, lifecycle) and the
per-run registry (names, contexts, shared memory, templates). No Lua here: the
``Agent`` global (``llmspell/api/agent.py``) is a thin adapter over these."""

from .llm import AgentConfig, LLMAgent
from .registry import AgentRegistry

__all__ = ["AgentConfig", "AgentRegistry", "LLMAgent"]
