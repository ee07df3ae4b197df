//! The tool registry: the built-in `sensitive-op`, tools from the config file, and tools agents
//! register at run time.
//!
//! A tool the registry does not know requires approval (unknown means ask, never allow). A
//! registration can only tighten a tool that already exists, so an agent cannot switch off the
//! approval of a tool the operator configured.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use shared::{Risk, ToolSpec};

use crate::config::{check_timeout, Settings};

/// The built-in tool every agentd knows.
pub const SENSITIVE_OP: &str = "sensitive-op";

/// Where a tool's policy came from; shown as part of the reason for a risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    Config,
    Runtime,
    /// Not in the registry: the defaults apply.
    Unknown,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::BuiltIn => "built in",
            Origin::Config => "from the config file",
            Origin::Runtime => "registered by an agent",
            Origin::Unknown => "not in the registry, so the default applies",
        }
    }
}

/// A tool's policy as looked up for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub spec: ToolSpec,
    pub origin: Origin,
}

pub struct Registry {
    tools: RwLock<HashMap<String, Policy>>,
    /// Risk rules from the config, in file order.
    pub rules: Vec<crate::rules::Rule>,
    default_timeout_secs: u64,
    default_risk: Risk,
}

impl Registry {
    pub fn new(settings: &Settings) -> Registry {
        let mut tools = HashMap::new();
        tools.insert(
            SENSITIVE_OP.to_string(),
            Policy {
                spec: ToolSpec {
                    name: SENSITIVE_OP.to_string(),
                    requires_approval: true,
                    approval_timeout_secs: 300,
                    risk: Risk::High,
                },
                origin: Origin::BuiltIn,
            },
        );
        // The operator's own config may redefine the built-in tool: it is trusted.
        for spec in &settings.tools {
            tools.insert(
                spec.name.clone(),
                Policy {
                    spec: spec.clone(),
                    origin: Origin::Config,
                },
            );
        }
        Registry {
            tools: RwLock::new(tools),
            rules: settings.rules.clone(),
            default_timeout_secs: settings.default_timeout_secs,
            default_risk: settings.default_risk,
        }
    }

    /// The policy for `tool`; the defaults (approval required) for an unknown tool.
    pub fn lookup(&self, tool: &str) -> Policy {
        let tools = self.tools.read().unwrap_or_else(PoisonError::into_inner);
        tools.get(tool).cloned().unwrap_or_else(|| Policy {
            spec: ToolSpec {
                name: tool.to_string(),
                requires_approval: true,
                approval_timeout_secs: self.default_timeout_secs,
                risk: self.default_risk,
            },
            origin: Origin::Unknown,
        })
    }

    /// Registers a tool. For a tool that exists already the result is the stricter of the two
    /// on every field; the policy now in force is returned.
    pub fn register(&self, spec: ToolSpec) -> Result<ToolSpec, String> {
        validate_spec(&spec)?;
        let mut tools = self.tools.write().unwrap_or_else(PoisonError::into_inner);
        let merged = match tools.get(&spec.name) {
            Some(existing) => Policy {
                spec: ToolSpec {
                    name: spec.name.clone(),
                    requires_approval: existing.spec.requires_approval || spec.requires_approval,
                    approval_timeout_secs: existing
                        .spec
                        .approval_timeout_secs
                        .min(spec.approval_timeout_secs),
                    risk: existing.spec.risk.max(spec.risk),
                },
                origin: existing.origin,
            },
            None => Policy {
                spec: spec.clone(),
                origin: Origin::Runtime,
            },
        };
        let result = merged.spec.clone();
        tools.insert(spec.name, merged);
        Ok(result)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, requires: bool, secs: u64, risk: Risk) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            requires_approval: requires,
            approval_timeout_secs: secs,
            risk,
        }
    }

    #[test]
    fn sensitive_op_is_built_in() {
        let reg = Registry::new(&Settings::default());
        let p = reg.lookup(SENSITIVE_OP);
        assert_eq!(p.spec, spec(SENSITIVE_OP, true, 300, Risk::High));
        assert_eq!(p.origin, Origin::BuiltIn);
    }

    #[test]
    fn unknown_tools_require_approval_with_the_defaults() {
        let settings = Settings {
            default_timeout_secs: 42,
            default_risk: Risk::Low,
            ..Settings::default()
        };
        let p = Registry::new(&settings).lookup("rm");
        assert_eq!(p.spec, spec("rm", true, 42, Risk::Low));
        assert_eq!(p.origin, Origin::Unknown);
    }

    #[test]
    fn registering_a_new_tool_takes_it_as_given() {
        let reg = Registry::new(&Settings::default());
        let got = reg.register(spec("ls", false, 10, Risk::Low)).unwrap();
        assert_eq!(got, spec("ls", false, 10, Risk::Low));
        assert_eq!(reg.lookup("ls").origin, Origin::Runtime);
    }

    #[test]
    fn registering_an_existing_tool_only_tightens_it() {
        let reg = Registry::new(&Settings::default());
        let weaker = reg
            .register(spec(SENSITIVE_OP, false, 900, Risk::Low))
            .unwrap();
        assert_eq!(weaker, spec(SENSITIVE_OP, true, 300, Risk::High));
        let stricter = reg
            .register(spec(SENSITIVE_OP, true, 60, Risk::Critical))
            .unwrap();
        assert_eq!(stricter, spec(SENSITIVE_OP, true, 60, Risk::Critical));
        assert_eq!(reg.lookup(SENSITIVE_OP).spec, stricter);
    }

    #[test]
    fn bad_definitions_are_refused() {
        let reg = Registry::new(&Settings::default());
        assert!(reg.register(spec("", true, 10, Risk::Low)).is_err());
        assert!(reg.register(spec("a b", true, 10, Risk::Low)).is_err());
        assert!(reg
            .register(spec("x\u{1b}[2J", true, 10, Risk::Low))
            .is_err());
        assert!(reg.register(spec("x", true, 0, Risk::Low)).is_err());
        assert!(reg
            .register(spec(&"x".repeat(129), true, 1, Risk::Low))
            .is_err());
    }
}
