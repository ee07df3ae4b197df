//! What a tool definition may say, checked the same way whether it comes from the config,
//! a preset or an agent's registration: a short printable name and a timeout in range; and
//! the `[[tool]]` entry the config file and the presets share.

use agentd_proto::{Risk, ToolSpec};
use serde::Deserialize;

/// The longest approval timeout any tool may have: a week.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// Checks a tool definition's fields; the message names the tool and the field.
pub fn validate_spec(spec: &ToolSpec) -> Result<(), String> {
    validate_tool_name(&spec.name)?;
    check_timeout(spec.approval_timeout_secs).map_err(|m| format!("tool '{}': {m}", spec.name))
}

/// The longest tool name accepted.
pub const MAX_TOOL_NAME: usize = 128;

/// Tool names are short, printable and free of white space, so they fit a table cell.
pub fn validate_tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("tool name must not be empty".into());
    }
    if name.len() > MAX_TOOL_NAME {
        return Err(format!(
            "tool name is {} bytes long; the limit is {MAX_TOOL_NAME}",
            name.len()
        ));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "tool name {name:?} contains white space or control characters"
        ));
    }
    Ok(())
}

/// Checks an approval timeout is within 1 s and a week.
pub fn check_timeout(secs: u64) -> Result<(), String> {
    if (1..=MAX_TIMEOUT_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(format!(
            "approval_timeout_secs = {secs} is out of range (1 to {MAX_TIMEOUT_SECS})"
        ))
    }
}

/// A `[[tool]]` entry as the config file and the presets write it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolEntry {
    name: String,
    requires_approval: Option<bool>,
    approval_timeout_secs: Option<u64>,
    risk: Option<Risk>,
}

impl ToolEntry {
    /// The tool as specified, with the defaults filled in (approval required unless it says
    /// otherwise), checked.
    pub fn into_spec(self, timeout_secs: u64, risk: Risk) -> Result<ToolSpec, String> {
        let spec = ToolSpec {
            requires_approval: self.requires_approval.unwrap_or(true),
            approval_timeout_secs: self.approval_timeout_secs.unwrap_or(timeout_secs),
            risk: self.risk.unwrap_or(risk),
            name: self.name,
        };
        validate_spec(&spec)?;
        Ok(spec)
    }
}
