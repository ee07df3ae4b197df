//! `ash hook claude-code`: a Claude Code PreToolUse hook. It reads the hook's JSON on stdin,
//! asks agentd for approval of the tool call, blocks, and prints the hook decision.
//!
//! It fails closed: Claude Code runs the tool if a hook errors out or is killed at its timeout,
//! so every failure (agentd unreachable, malformed input, this command's own deadline, which
//! comes before the hook's 600 s) prints an explicit `deny` (or `ask`, with `--on-error ask`)
//! and exits 0.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use shared::{ApprovalRequest, DecisionSource, State};

use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// A PreToolUse hook for Claude Code: JSON on stdin, a decision on stdout
    ClaudeCode(ClaudeArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Block the tool (fail closed)
    Deny,
    /// Let Claude Code ask in its own prompt
    Ask,
}

#[derive(clap::Args, Debug)]
pub struct ClaudeArgs {
    /// Answer deny by then at the latest, in seconds (keep it below the hook's timeout, 600)
    #[arg(long, value_name = "SECS", default_value_t = 550)]
    deadline: u64,
    /// What to answer when agentd cannot be asked or the input is malformed
    #[arg(long, value_enum, default_value_t = OnError::Deny)]
    on_error: OnError,
    /// The agent name requests carry
    #[arg(long, value_name = "NAME", default_value = "claude-code")]
    agent: String,
}

/// The fields of the hook input this adapter reads; newer fields are ignored.
#[derive(Deserialize)]
struct HookInput {
    session_id: Option<String>,
    cwd: Option<String>,
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
}

/// The most hook input read from stdin.
const MAX_INPUT: u64 = 2 * 1024 * 1024;

pub async fn run(globals: &Globals, command: Command) -> anyhow::Result<u8> {
    let Command::ClaudeCode(args) = command;
    let (decision, reason) = decide(globals, &args).await;
    let out = json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    });
    println!("{out}");
    Ok(SUCCESS)
}

async fn decide(globals: &Globals, args: &ClaudeArgs) -> (&'static str, String) {
    let on_error = |why: String| match args.on_error {
        OnError::Deny => ("deny", format!("agentd: {why}; denied to be safe")),
        OnError::Ask => ("ask", format!("agentd: {why}")),
    };
    let mut text = String::new();
    if let Err(e) = std::io::stdin().take(MAX_INPUT).read_to_string(&mut text) {
        return on_error(format!("cannot read the hook input: {e}"));
    }
    let input: HookInput = match serde_json::from_str(&text) {
        Ok(input) => input,
        Err(e) => return on_error(format!("malformed hook input: {e}")),
    };
    let deadline = Duration::from_secs(args.deadline.max(1));
    let summary = summary(&input);
    let req = ApprovalRequest {
        tool: input.tool_name.clone(),
        args_json: input.tool_input.to_string(),
        session: input.session_id.clone(),
        summary: Some(summary),
        // agentd gives up at the same time, so the request does not linger after the answer.
        timeout_ms: Some(deadline.as_millis() as u64),
        // The project's folder (Claude Code gives hooks CLAUDE_PROJECT_DIR), else where the
        // agent is now: agentd judges file paths against it and offers folder grants for it.
        // Absolute paths only.
        cwd: std::env::var("CLAUDE_PROJECT_DIR")
            .ok()
            .or_else(|| input.cwd.clone())
            .filter(|c| c.starts_with('/')),
        ..ApprovalRequest::default()
    };
    let asked = shared::request_approval(&globals.socket, &args.agent, &req, |_| {});
    match tokio::time::timeout(deadline, asked).await {
        Err(_) => (
            "deny",
            format!("no decision within {}s; denied", deadline.as_secs()),
        ),
        Ok(Err(e)) => on_error(e.to_string()),
        Ok(Ok(outcome)) => {
            let d = outcome.decision;
            match d.state {
                State::Approved => ("allow", d.to_string()),
                State::Expired => ("deny", "no decision before the deadline; denied".into()),
                _ if d.source == DecisionSource::Operator => (
                    "deny",
                    match &d.reason {
                        Some(reason) => format!("denied by {}: {reason}", d.by),
                        None => format!("denied by {}", d.by),
                    },
                ),
                _ => ("deny", d.to_string()),
            }
        }
    }
}

/// One line for the operator: the command or the file, and where.
fn summary(input: &HookInput) -> String {
    let what = ["command", "file_path", "url", "path", "pattern"]
        .iter()
        .find_map(|k| input.tool_input.get(k).and_then(Value::as_str))
        .map(|s| s.lines().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| input.tool_name.clone());
    match &input.cwd {
        Some(cwd) => format!("{what} (in {cwd})"),
        None => what,
    }
}
