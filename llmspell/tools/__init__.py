"""Built-in tools: registry, schema, path guard and one module per tool family."""
