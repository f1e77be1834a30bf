"""Lua-facing adapters, one module per global. Each exposes ``install(rt, table)``."""
