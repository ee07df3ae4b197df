//! Gemini CLI (`gemini -p --yolo`) through its BeforeTool hook.

use serde_json::json;

use super::scenarios;
use super::Rig;

/// `~/.gemini/settings.json`: the API-key auth the model server takes, then the hook and the
/// project folder's trust by `ash setup gemini --trust-folder`.
pub fn configure(rig: &Rig) {
    let dir = rig.home().join(".gemini");
    std::fs::create_dir_all(&dir).unwrap();
    let settings = json!({ "security": { "auth": { "selectedType": "gemini-api-key" } } });
    std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
    rig.setup(&["gemini", "--trust-folder"]);
}

mod before_tool {
    use super::*;
    use crate::runtimes::Setup;
    scenario_tests!(
        Setup::GeminiBeforeTool,
        approved_runs,
        denied_with_reason,
        edited_runs_instead,
        read_only_at_once,
        agentd_absent_fails_closed,
        restart_while_waiting,
        two_calls_both_gated,
        mcp_tool_is_gated,
        subagent_call_is_named,
    );
}
