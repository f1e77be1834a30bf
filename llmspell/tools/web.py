"""web tools."""

from __future__ import annotations

TOOLS: list = []
