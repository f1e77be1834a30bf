"""Workflows: sequential, parallel, conditional and loop (spec § 4).

``model`` holds the data (Workflow, Step, Branch, ErrorStrategy), ``spec`` builds it from
plain data (the table form and the builder alike), ``engine`` runs it, ``gate`` keeps
every Lua call on the script's thread while worker threads do I/O.
Nothing here imports lupa; ``llmspell/api/workflow.py`` is the Lua adapter.
"""

from .engine import Engine, text_of
from .gate import Cancelled, LuaGate
from .model import Branch, ErrorStrategy, Step, Workflow, WorkflowError

__all__ = ["Branch", "Cancelled", "Engine", "ErrorStrategy", "LuaGate", "Step", "Workflow",
           "WorkflowError", "text_of"]
