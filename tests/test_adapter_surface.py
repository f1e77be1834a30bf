"""The Lua functions of the adapters that are lua/objects.py classes: exactly the spec's
names (a helper method left public would become a Lua function; a renamed one would
vanish). Names as of the move from install() closures to classes; extend on purpose."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.api import agent, artifact, debug, event, rag, replay, session
from llmspell.lua.objects import lua_methods

SURFACE = {
    agent.AgentGlobal: "builder create create_child_context create_composite create_context "
    "create_from_template discover discover_by_capability get get_context_data get_details "
    "get_hierarchy get_info get_shared_memory list list_capabilities list_instances "
    "list_templates register remove_context set_shared_memory update_context wrap_as_tool",
    agent.AgentBuilder: "allow_tool allowed_tools api_key base_url build custom_config "
    "description max_conversation_length max_execution_time max_memory_mb "
    "max_recursion_depth max_tokens max_tool_calls model name provider resource_limits "
    "system_prompt temperature type",
    agent.AgentInstance: "configure_alerts delete_state destroy discover_tools execute "
    "execute_with_context get_agent_state get_alerts get_all_tool_metadata "
    "get_bridge_metrics get_config get_health get_last_error get_metrics get_performance "
    "get_recovery_attempts get_state get_state_history get_state_metrics get_tool_metadata "
    "has_tool initialize invoke invokeStream invokeTool is_healthy load_state logEvent "
    "pause recover resume save_state set_error set_state start stop terminate",
    session.SessionGlobal: "builder can_replay complete create delete get get_current "
    "get_replay_metadata list list_replayable load replay resume save set_current suspend",
    session.SessionBuilder: "build description name tag tags",
    artifact.ArtifactGlobal: "delete get list query store store_file",
    rag.RagGlobal: "cleanup_scope configure configure_session create_session_collection "
    "get_stats ingest list_providers purge_expired save search",
    event.EventGlobal: "get_stats list_subscriptions publish receive subscribe unsubscribe",
    debug.DebugGlobal: "addAdvancedFilter addModuleFilter clearCaptured clearModuleFilters "
    "debug error flameGraph getCapturedEntries getFilterSummary getLevel info isEnabled "
    "jsonReport log logWithData memorySnapshot memoryStats performanceReport recordEvent "
    "removeModuleFilter setDefaultFilterEnabled setEnabled setLevel stackTraceJson timer "
    "trace warn",
    debug.Timer: "elapsed lap stop",
    replay.ReplayGlobal: "create_comparator create_config create_modification",
    replay.Schedules: "cron interval once",
    replay.ReplayMode: "name",
    replay.ParameterModification: "get_path get_value is_enabled set_enabled",
    replay.ConfigObject: "add_modification apply get_mode get_modifications "
    "get_timeout_seconds set_compare_results set_mode set_stop_on_error "
    "set_timeout_seconds should_compare_results should_stop_on_error",
    replay.ScheduleObject: "expression next_run type_name",
    replay.Comparator: "compare_json",
}


@pytest.mark.parametrize("cls", list(SURFACE), ids=lambda c: c.__name__)
def test_lua_functions_are_the_spec_names(cls: type) -> None:
    assert sorted(lua_methods(cls)) == SURFACE[cls].split()


def test_event_emit_and_debug_dumps_are_there(lua: Any) -> None:
    run = lua("""
      return {Event.emit == Event.publish, type(Debug.dump), type(Debug.dumpCompact),
              type(Debug.dumpVerbose), type(Debug.dumpWithOptions), type(Debug.stackTrace),
              #Replay.create_config():get_modifications(), Replay.modes.debug:name()}
    """)
    assert run.value == [True, "function", "function", "function", "function", "function",
                         0, "debug"]
