"""llmspell: scriptable AI workflows in Lua, backed by Python services."""

__version__ = "0.1.0"
