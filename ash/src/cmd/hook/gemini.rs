//! Gemini CLI's `BeforeTool` hook. Contract as checked against google-gemini/gemini-cli's
//! hooks reference (docs/INTEGRATIONS.md): `{"decision": "allow"|"deny", "reason": ...}` on
//! stdout, the reason reaching the agent as the tool's error; timeouts are in milliseconds.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{summary, Answer, Asked, Call, Runtime};

pub struct Gemini;

#[derive(Deserialize)]
struct Input {
    hook_event_name: Option<String>,
    session_id: Option<String>,
    cwd: Option<String>,
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
}

impl Runtime for Gemini {
    fn default_agent(&self) -> &'static str {
        "gemini"
    }

    fn parse(&self, text: &str, agent: &str) -> Result<(Call, String), String> {
        let input: Input = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let event = input
            .hook_event_name
            .clone()
            .unwrap_or_else(|| "BeforeTool".into());
        if event != "BeforeTool" {
            return Err(format!(
                "hook_event_name {event:?}: this hook serves BeforeTool"
            ));
        }
        Ok((
            Call {
                summary: summary(
                    &input.tool_name,
                    &input.tool_input,
                    input.cwd.as_deref(),
                    &[],
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

    fn render(&self, _asked: &Asked<'_>, answer: &Answer) -> Option<Value> {
        Some(match answer {
            Answer::Allow(why, None) => json!({ "decision": "allow", "reason": why }),
            // Edited arguments: Gemini CLI merges these over the model's before running.
            Answer::Allow(why, Some(edited)) => json!({
                "decision": "allow",
                "reason": why,
                "hookSpecificOutput": { "tool_input": edited },
            }),
            Answer::Deny(why) => json!({ "decision": "deny", "reason": why }),
            // No decision: Gemini CLI's own policy decides.
            Answer::Undecided(_) => return None,
        })
    }
}
