//! Claude Code (`claude -p`) through its PreToolUse hook, its PermissionRequest hook (each
//! written by `ash setup claude-code`), and `--permission-prompt-tool` with `ash mcp`.

use serde_json::json;

use super::scenarios;
use super::{Rig, Setup};

/// The hook on `event` in the project's `.claude/settings.json`, written by `ash setup`.
pub fn hook(rig: &Rig, event: &str) {
    rig.setup(&["claude-code", "--project", "--event", event]);
}

/// `ash mcp` as the MCP server named `agentd`, as INTEGRATIONS.md shows it.
pub fn mcp(rig: &Rig) {
    let config = json!({ "mcpServers": { "agentd": { "command": "ash", "args": ["mcp"] } } });
    std::fs::write(rig.dir.path().join("agentd-mcp.json"), config.to_string()).unwrap();
}

mod pre_tool_use {
    use super::*;
    scenario_tests!(
        Setup::ClaudePreToolUse,
        approved_runs,
        denied_with_reason,
        edited_runs_instead,
        read_only_at_once,
        agentd_absent_fails_closed,
        restart_while_waiting,
        two_calls_both_gated,
        subagent_call_is_named,
        mcp_tool_is_gated,
    );
}

mod permission_request {
    use super::*;
    scenario_tests!(
        Setup::ClaudePermissionRequest,
        approved_runs,
        denied_with_reason,
        edited_runs_instead,
        agentd_absent_fails_closed,
    );
}

mod permission_prompt_tool {
    use super::*;
    scenario_tests!(
        Setup::ClaudeMcp,
        approved_runs,
        denied_with_reason,
        edited_runs_instead,
        agentd_absent_fails_closed,
    );
}
