//! Codex (`codex exec`) through its PreToolUse hook and its PermissionRequest hook, each
//! written and trusted by `ash setup codex`.

use super::scenarios;
use super::{Rig, Setup};

/// `codex exec` as the tests run it: in the project, sandboxed to it, without a git check.
pub const EXEC: &[&str] = &[
    "exec",
    "--skip-git-repo-check",
    "--sandbox",
    "workspace-write",
];

/// `$CODEX_HOME/config.toml`: the model server as the provider, then the hook on `event` by
/// `ash setup codex`.
pub fn configure(rig: &Rig, event: &str) {
    let home = rig.home().join(".codex");
    std::fs::create_dir_all(&home).unwrap();
    let config = format!(
        r#"model = "gpt-5.5"
model_provider = "scripted"

[model_providers.scripted]
name = "scripted"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "MODEL_SERVER_KEY"
"#,
        url = rig.model.url()
    );
    std::fs::write(home.join("config.toml"), config).unwrap();
    rig.setup(&["codex", "--event", event]);
}

mod pre_tool_use {
    use super::*;
    scenario_tests!(
        Setup::CodexPreToolUse,
        approved_runs,
        denied_with_reason,
        edited_runs_instead,
        read_only_at_once,
        agentd_absent_fails_closed,
        restart_while_waiting,
        two_calls_both_gated,
        mcp_tool_is_gated,
    );
}

mod permission_request {
    use super::*;
    scenario_tests!(
        Setup::CodexPermissionRequest,
        approved_runs,
        denied_with_reason,
        agentd_absent_fails_closed,
    );
}
