//! Claude Code's hooks: `PreToolUse` (before every tool call) and `PermissionRequest` (only
//! when Claude Code would ask a person), chosen by `hook_event_name`. Contract as checked
//! against Claude Code's hooks documentation, v2.1 (docs/INTEGRATIONS.md).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{mode_note, name_part, summary, Answer, Asked, Call, Runtime};

pub struct ClaudeCode;

/// The fields this adapter reads; newer fields are ignored.
#[derive(Deserialize)]
struct Input {
    hook_event_name: Option<String>,
    session_id: Option<String>,
    cwd: Option<String>,
    permission_mode: Option<String>,
    /// Inside a sub-agent: its type (`Explore`, `general-purpose` ...).
    agent_type: Option<String>,
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
}

impl Runtime for ClaudeCode {
    fn default_agent(&self) -> &'static str {
        "claude-code"
    }

    fn parse(&self, text: &str, agent: &str) -> Result<(Call, String), String> {
        let input: Input = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let event = input
            .hook_event_name
            .clone()
            .unwrap_or_else(|| "PreToolUse".into());
        if !matches!(event.as_str(), "PreToolUse" | "PermissionRequest") {
            return Err(format!(
                "hook_event_name {event:?}: this hook serves PreToolUse and PermissionRequest"
            ));
        }
        let notes = mode_note(input.permission_mode.as_deref());
        let agent = match input.agent_type.as_deref().and_then(name_part) {
            Some(sub) => format!("{agent}/{sub}"),
            None => agent.to_string(),
        };
        let call = Call {
            summary: summary(
                &input.tool_name,
                &input.tool_input,
                input.cwd.as_deref(),
                &notes,
            ),
            agent,
            tool: input.tool_name,
            tool_input: input.tool_input,
            session: input.session_id,
            // The project's folder (Claude Code gives hooks CLAUDE_PROJECT_DIR), else where the
            // agent is now: agentd judges file paths against it and offers folder grants for it.
            cwd: std::env::var("CLAUDE_PROJECT_DIR").ok().or(input.cwd),
        };
        Ok((call, event))
    }

    fn render(&self, asked: &Asked<'_>, answer: &Answer) -> Option<Value> {
        match asked.event {
            Some("PermissionRequest") => {
                let decision = match answer {
                    Answer::Allow(_, None) => json!({ "behavior": "allow" }),
                    Answer::Allow(_, Some(edited)) => {
                        json!({ "behavior": "allow", "updatedInput": edited })
                    }
                    Answer::Deny(why) => json!({ "behavior": "deny", "message": why }),
                    // No decision: Claude Code shows its own prompt.
                    Answer::Undecided(_) => return None,
                };
                Some(json!({
                    "hookSpecificOutput": {
                        "hookEventName": "PermissionRequest",
                        "decision": decision,
                    }
                }))
            }
            // PreToolUse, or an input that could not be read: PreToolUse's shape, which
            // blocks the call.
            _ => {
                let (decision, reason) = match answer {
                    Answer::Allow(r, _) => ("allow", r),
                    Answer::Deny(r) => ("deny", r),
                    Answer::Undecided(r) => ("ask", r),
                };
                let mut out = json!({
                    "hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": decision,
                        "permissionDecisionReason": reason,
                    }
                });
                // Approved with edited arguments: Claude Code runs the tool with these.
                if let Answer::Allow(_, Some(edited)) = answer {
                    out["hookSpecificOutput"]["updatedInput"] = edited.clone();
                }
                Some(out)
            }
        }
    }
}
