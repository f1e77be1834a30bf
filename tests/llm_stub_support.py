"""Older name of the fake LLM server's fixtures: ``pytest_plugins = ["llm_stub_support"]``
keeps working. New tests need nothing: ``fake_llm`` (and ``stub``) come from conftest.py;
the server is ``tests/fakellm.py``."""

from __future__ import annotations

from fakellm import ANTHROPIC_KEY, OPENAI_KEY, fake_llm, fake_llm_server, stub
from fakellm import FakeLLM as Stub

__all__ = ["ANTHROPIC_KEY", "OPENAI_KEY", "Stub", "fake_llm", "fake_llm_server", "stub"]
