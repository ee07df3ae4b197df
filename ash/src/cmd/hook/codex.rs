//! Codex's hooks: `PermissionRequest` (before Codex would ask for approval of a shell command
//! or network access) and `PreToolUse` (before a Bash call), chosen by `hook_event_name`.
//! Contract as checked against openai/codex's hook schemas and output parser
//! (`codex-rs/hooks`, docs/INTEGRATIONS.md): a PermissionRequest answer may not carry
//! `updatedInput`; a PreToolUse `allow` must carry `updatedInput`, a `deny` a non-empty reason,
//! and `ask` is not supported there.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{mode_note, summary, Answer, Asked, Call, Runtime};

pub struct Codex;

#[derive(Deserialize)]
struct Input {
    hook_event_name: Option<String>,
    session_id: Option<String>,
    cwd: Option<String>,
    permission_mode: Option<String>,
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
}

impl Runtime for Codex {
    fn default_agent(&self) -> &'static str {
        "codex"
    }

    fn parse(&self, text: &str, agent: &str) -> Result<(Call, String), String> {
        let input: Input = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let event = input.hook_event_name.clone().ok_or("no hook_event_name")?;
        if !matches!(event.as_str(), "PreToolUse" | "PermissionRequest") {
            return Err(format!(
                "hook_event_name {event:?}: this hook serves PermissionRequest and PreToolUse"
            ));
        }
        let notes = mode_note(input.permission_mode.as_deref());
        Ok((
            Call {
                summary: summary(
                    &input.tool_name,
                    &input.tool_input,
                    input.cwd.as_deref(),
                    &notes,
                ),
                agent: agent.to_string(),
                tool: input.tool_name,
                tool_input: input.tool_input,
                session: input.session_id,
                cwd: input.cwd,
            },
            event,
        ))
    }

    fn render(&self, asked: &Asked<'_>, answer: &Answer) -> Option<Value> {
        match (asked.event, answer) {
            // No decision: Codex asks in its own way.
            (_, Answer::Undecided(_)) => None,
            // Codex takes `allow` here only with the arguments to run: the operator's edited
            // ones, else those asked about.
            (Some("PreToolUse"), Answer::Allow(_, edited)) => Some(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "allow",
                    "updatedInput": edited.clone().or_else(|| asked.input.cloned()).unwrap_or(Value::Null),
                }
            })),
            // A PermissionRequest answer cannot change the command (Codex fails closed on
            // `updatedInput`): an approval of edited arguments is a denial that says what was
            // approved, so the agent can ask again with it.
            (_, Answer::Allow(_, Some(edited))) => Some(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PermissionRequest",
                    "decision": {
                        "behavior": "deny",
                        "message": format!(
                            "the operator approved this call only with edited arguments, which this hook cannot pass on; ask again with: {edited}"
                        ),
                    },
                }
            })),
            (Some("PreToolUse") | None, Answer::Deny(why)) => Some(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": non_empty(why),
                }
            })),
            (_, Answer::Allow(_, None)) => Some(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PermissionRequest",
                    "decision": { "behavior": "allow" },
                }
            })),
            (_, Answer::Deny(why)) => Some(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PermissionRequest",
                    "decision": { "behavior": "deny", "message": non_empty(why) },
                }
            })),
        }
    }
}

fn non_empty(why: &str) -> String {
    match why.trim().is_empty() {
        true => "denied by agentd".into(),
        false => why.to_string(),
    }
}
