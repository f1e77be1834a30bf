"""The Lua side of llmspell: the sandboxed runtime, value conversion, global installation."""
