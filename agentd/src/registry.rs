//! The tool registry: the built-in `sensitive-op`, tools from the config file, tools an
//! operator registers at run time, and the tightenings each agent registers for itself.
//!
//! A tool the registry does not know requires approval (unknown means ask, never allow). An
//! agent's registration applies only to that agent's own requests (its kernel uid and the
//! name it gave) and can only make a tool stricter than what would apply without it, so no
//! agent can open a tool, or shorten anyone's timeout, by registering it. Loosening a tool is
//! an operator's act: the config file, or a registration from an operator's connection.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use agentd_proto::{Risk, ToolSpec};

use crate::agent::AgentKey;
use crate::config::Settings;
use crate::tool_spec::validate_spec;

/// The built-in tool every agentd knows.
pub const SENSITIVE_OP: &str = "sensitive-op";

/// How many tools one agent (uid and name) may register for itself.
pub const MAX_TOOLS_PER_AGENT: usize = 256;
/// How many registrations all the agents of one uid may hold together, so that a new name per
/// connection cannot grow agentd's memory without bound.
pub const MAX_TOOLS_PER_UID: usize = 4096;
/// How many tools operators may register at run time.
pub const MAX_OPERATOR_TOOLS: usize = 4096;

/// Where a tool's policy came from; shown as part of the reason for a risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    /// From a built-in preset, by its name.
    Preset(&'static str),
    Config,
    /// Registered at run time from an operator's connection.
    Operator,
    /// Not in the registry: the defaults apply.
    Unknown,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::BuiltIn => "built in",
            Origin::Preset("claude-code") => "from the claude-code preset",
            Origin::Preset("codex") => "from the codex preset",
            Origin::Preset("gemini") => "from the gemini preset",
            Origin::Preset(_) => "from a preset",
            Origin::Config => "from the config file",
            Origin::Operator => "registered by an operator",
            Origin::Unknown => "not in the registry, so the default applies",
        }
    }
}

/// A tool's policy as looked up for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub spec: ToolSpec,
    pub origin: Origin,
    /// The requesting agent's own registration made it stricter.
    pub tightened: bool,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Limit(String),
}

#[derive(Default)]
struct Runtime {
    /// Tools operators registered; they replace the config's and the defaults for everyone.
    operator: HashMap<String, ToolSpec>,
    /// Each agent's own tightenings, by uid and name.
    agents: HashMap<AgentKey, HashMap<String, ToolSpec>>,
    /// How many tightenings each uid's agents hold together.
    per_uid: HashMap<Option<u32>, usize>,
}

pub struct Registry {
    /// Built in and from the config file: fixed while agentd runs.
    base: HashMap<String, Policy>,
    runtime: RwLock<Runtime>,
    /// Risk rules from the config, in file order, then the presets'.
    pub rules: Vec<crate::policy::rules::Rule>,
    /// Tools whose calls carry a shell command, and the rules deciding on the commands.
    pub shell_tools: Vec<crate::policy::commands::ShellTool>,
    pub command_rules: Vec<crate::policy::commands::CommandRule>,
    /// File and fetch tools, for folder and host grants.
    pub shapes: crate::policy::reach::Shapes,
    /// Words naming files that hold secrets; `None` if it could not be built, and then no
    /// command passes without a person.
    pub secrets: Option<regex::Regex>,
    default_timeout_secs: u64,
    default_risk: Risk,
}

/// The stricter of two specs on every field.
fn stricter(base: &ToolSpec, other: &ToolSpec) -> ToolSpec {
    ToolSpec {
        name: base.name.clone(),
        requires_approval: base.requires_approval || other.requires_approval,
        approval_timeout_secs: base.approval_timeout_secs.min(other.approval_timeout_secs),
        risk: base.risk.max(other.risk),
    }
}

impl Registry {
    pub fn new(settings: &Settings) -> Registry {
        let mut base = HashMap::new();
        base.insert(
            SENSITIVE_OP.to_string(),
            Policy {
                spec: ToolSpec {
                    name: SENSITIVE_OP.to_string(),
                    requires_approval: true,
                    approval_timeout_secs: 300,
                    risk: Risk::High,
                },
                origin: Origin::BuiltIn,
                tightened: false,
            },
        );
        let mut rules = settings.rules.clone();
        // `ash exec`'s requests carry the command as an argv: judged as a shell call, so a
        // grant made from one names that command, never "any call of exec".
        let mut shell_tools = vec![crate::policy::commands::ShellTool {
            name: "exec".into(),
            pointer: "/argv".into(),
            workdir: vec!["/cwd".into()],
            rules_approve: false,
        }];
        let mut shapes = crate::policy::reach::Shapes::default();
        let secrets = crate::policy::commands::secret_words()
            .map_err(|e| tracing::error!("the secret-file pattern does not compile: {e}"))
            .ok();
        // Checked when the config was read; should they not compile now, none applies and
        // every shell call asks.
        let command_rules = match &secrets {
            Some(secrets) => crate::policy::presets::command_rules(
                !settings.presets.is_empty(),
                &settings.commands,
                secrets,
            )
            .map_err(|e| tracing::error!("command rules not applied: {e}"))
            .unwrap_or_default(),
            None => Vec::new(),
        };
        for name in &settings.presets {
            match crate::policy::presets::load(name, settings.default_timeout_secs) {
                Ok(preset) => {
                    shell_tools.extend(
                        preset
                            .shell_tools
                            .into_iter()
                            .filter(|t| !settings.shell_tools.iter().any(|c| c.name == t.name)),
                    );
                    let own = &settings.shapes;
                    shapes.file_tools.extend(
                        preset
                            .shapes
                            .file_tools
                            .into_iter()
                            .filter(|t| !own.file_tools.iter().any(|c| c.name == t.name)),
                    );
                    shapes.fetch_tools.extend(
                        preset
                            .shapes
                            .fetch_tools
                            .into_iter()
                            .filter(|t| !own.fetch_tools.iter().any(|c| c.name == t.name)),
                    );
                    shapes.read_tools.extend(
                        preset
                            .shapes
                            .read_tools
                            .into_iter()
                            .filter(|t| !own.read_tools.iter().any(|c| c.name == t.name)),
                    );
                    for spec in preset.tools {
                        base.insert(
                            spec.name.clone(),
                            Policy {
                                spec,
                                origin: Origin::Preset(preset.name),
                                tightened: false,
                            },
                        );
                    }
                    rules.extend(preset.rules);
                }
                // The presets are compiled in and tested; should one ever not read, none of
                // it applies (its tools ask), which fails closed.
                Err(e) => tracing::error!("preset {name} not applied: {e}"),
            }
        }
        shell_tools.retain(|t| !settings.shell_tools.iter().any(|c| c.name == t.name));
        shell_tools.extend(settings.shell_tools.iter().cloned());
        shapes
            .file_tools
            .extend(settings.shapes.file_tools.iter().cloned());
        shapes
            .fetch_tools
            .extend(settings.shapes.fetch_tools.iter().cloned());
        shapes
            .read_tools
            .extend(settings.shapes.read_tools.iter().cloned());
        // The operator's own config may redefine the built-in tool and a preset's: it is
        // trusted.
        for spec in &settings.tools {
            base.insert(
                spec.name.clone(),
                Policy {
                    spec: spec.clone(),
                    origin: Origin::Config,
                    tightened: false,
                },
            );
        }
        Registry {
            base,
            runtime: RwLock::new(Runtime::default()),
            rules,
            shell_tools,
            command_rules,
            shapes,
            secrets,
            default_timeout_secs: settings.default_timeout_secs,
            default_risk: settings.default_risk,
        }
    }

    /// The policy that applies to everyone: an operator's registration, the config or the
    /// built-in tool, else the defaults (approval required).
    fn shared_policy(&self, runtime: &Runtime, tool: &str) -> Policy {
        if let Some(spec) = runtime.operator.get(tool) {
            return Policy {
                spec: spec.clone(),
                origin: Origin::Operator,
                tightened: false,
            };
        }
        self.base.get(tool).cloned().unwrap_or_else(|| Policy {
            spec: ToolSpec {
                name: tool.to_string(),
                requires_approval: true,
                approval_timeout_secs: self.default_timeout_secs,
                risk: self.default_risk,
            },
            origin: Origin::Unknown,
            tightened: false,
        })
    }

    /// The policy for `tool` when `agent` asks: the shared policy, made stricter by the
    /// agent's own registration if it made one.
    pub fn lookup(&self, tool: &str, agent: &AgentKey) -> Policy {
        let runtime = self.runtime.read().unwrap_or_else(PoisonError::into_inner);
        let mut policy = self.shared_policy(&runtime, tool);
        if let Some(own) = runtime.agents.get(agent).and_then(|tools| tools.get(tool)) {
            let merged = stricter(&policy.spec, own);
            policy.tightened = merged != policy.spec;
            policy.spec = merged;
        }
        policy
    }

    /// An agent's registration: recorded for that agent alone and merged so that it is never
    /// looser than what applies without it. Returns the policy now in force for the agent.
    pub fn register_for_agent(
        &self,
        agent: &AgentKey,
        spec: ToolSpec,
    ) -> Result<ToolSpec, RegisterError> {
        validate_spec(&spec).map_err(RegisterError::Invalid)?;
        let mut runtime = self.runtime.write().unwrap_or_else(PoisonError::into_inner);
        let shared = self.shared_policy(&runtime, &spec.name).spec;
        let known = runtime
            .agents
            .get(agent)
            .is_some_and(|tools| tools.contains_key(&spec.name));
        if !known {
            let mine = runtime.agents.get(agent).map_or(0, HashMap::len);
            if mine >= MAX_TOOLS_PER_AGENT {
                return Err(RegisterError::Limit(format!(
                    "agent {} has registered {mine} tools, the most one agent may",
                    agent.name
                )));
            }
            let uid_total = runtime.per_uid.get(&agent.uid).copied().unwrap_or(0);
            if uid_total >= MAX_TOOLS_PER_UID {
                return Err(RegisterError::Limit(format!(
                    "the agents of uid {} have registered {uid_total} tools, the most one user's agents may",
                    agent.uid.map_or("unknown".into(), |u| u.to_string())
                )));
            }
            *runtime.per_uid.entry(agent.uid).or_insert(0) += 1;
        }
        let tools = runtime.agents.entry(agent.clone()).or_default();
        // Earlier tightenings by the same agent stay: a registration never loosens.
        let own = match tools.get(&spec.name) {
            Some(earlier) => stricter(earlier, &spec),
            None => spec.clone(),
        };
        let in_force = stricter(&shared, &own);
        tools.insert(spec.name.clone(), own);
        Ok(in_force)
    }

    /// How many tools were registered at run time: for everyone, and by agents for themselves.
    pub fn registered_count(&self) -> usize {
        let runtime = self.runtime.read().unwrap_or_else(PoisonError::into_inner);
        runtime.operator.len() + runtime.agents.values().map(HashMap::len).sum::<usize>()
    }

    /// An operator's registration: applies to everyone, as given (it may loosen, as the config
    /// may). Returns it.
    pub fn register_for_everyone(&self, spec: ToolSpec) -> Result<ToolSpec, RegisterError> {
        validate_spec(&spec).map_err(RegisterError::Invalid)?;
        let mut runtime = self.runtime.write().unwrap_or_else(PoisonError::into_inner);
        if !runtime.operator.contains_key(&spec.name)
            && runtime.operator.len() >= MAX_OPERATOR_TOOLS
        {
            return Err(RegisterError::Limit(format!(
                "operators have registered {MAX_OPERATOR_TOOLS} tools at run time, the most allowed; put them in the config file"
            )));
        }
        runtime.operator.insert(spec.name.clone(), spec.clone());
        Ok(spec)
    }
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

    fn agent(uid: u32, name: &str) -> AgentKey {
        AgentKey::new(Some(uid), name)
    }

    #[test]
    fn sensitive_op_is_built_in() {
        let reg = Registry::new(&Settings::default());
        let p = reg.lookup(SENSITIVE_OP, &agent(1000, "a"));
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
        let p = Registry::new(&settings).lookup("rm", &agent(1000, "a"));
        assert_eq!(p.spec, spec("rm", true, 42, Risk::Low));
        assert_eq!(p.origin, Origin::Unknown);
    }

    #[test]
    fn an_agent_cannot_open_an_unknown_tool_by_registering_it() {
        let reg = Registry::new(&Settings::default());
        let me = agent(1000, "a");
        let got = reg
            .register_for_agent(&me, spec("Bash", false, 1, Risk::Low))
            .unwrap();
        // Approval stays required and the risk stays the default; the timeout may shorten,
        // but only for this agent.
        assert_eq!(got, spec("Bash", true, 1, Risk::Medium));
        assert_eq!(reg.lookup("Bash", &me).spec, got);
        assert!(reg.lookup("Bash", &me).tightened);
        let other = reg.lookup("Bash", &agent(1000, "b"));
        assert_eq!(other.spec, spec("Bash", true, 300, Risk::Medium));
        assert!(!other.tightened);
        assert_eq!(
            reg.lookup("Bash", &agent(1001, "a"))
                .spec
                .approval_timeout_secs,
            300,
            "the same name from another uid is another agent"
        );
    }

    #[test]
    fn an_agents_registration_only_tightens_and_never_loosens_its_own_earlier_one() {
        let reg = Registry::new(&Settings::default());
        let me = agent(1000, "a");
        let weaker = reg
            .register_for_agent(&me, spec(SENSITIVE_OP, false, 900, Risk::Low))
            .unwrap();
        assert_eq!(weaker, spec(SENSITIVE_OP, true, 300, Risk::High));
        let stricter = reg
            .register_for_agent(&me, spec(SENSITIVE_OP, true, 60, Risk::Critical))
            .unwrap();
        assert_eq!(stricter, spec(SENSITIVE_OP, true, 60, Risk::Critical));
        let again = reg
            .register_for_agent(&me, spec(SENSITIVE_OP, true, 300, Risk::Low))
            .unwrap();
        assert_eq!(
            again, stricter,
            "a later registration cannot undo a tightening"
        );
        assert_eq!(reg.lookup(SENSITIVE_OP, &me).spec, stricter);
    }

    #[test]
    fn an_operator_registration_applies_to_everyone_and_may_loosen() {
        let reg = Registry::new(&Settings::default());
        reg.register_for_everyone(spec("ls", false, 30, Risk::Low))
            .unwrap();
        let p = reg.lookup("ls", &agent(1000, "anyone"));
        assert_eq!(p.spec, spec("ls", false, 30, Risk::Low));
        assert_eq!(p.origin, Origin::Operator);
        // An agent can still tighten it for itself.
        reg.register_for_agent(&agent(1000, "careful"), spec("ls", true, 30, Risk::Low))
            .unwrap();
        assert!(
            reg.lookup("ls", &agent(1000, "careful"))
                .spec
                .requires_approval
        );
        assert!(
            !reg.lookup("ls", &agent(1000, "anyone"))
                .spec
                .requires_approval
        );
    }

    #[test]
    fn registrations_are_bounded_per_agent_and_per_uid() {
        let reg = Registry::new(&Settings::default());
        let me = agent(1000, "a");
        for i in 0..MAX_TOOLS_PER_AGENT {
            reg.register_for_agent(&me, spec(&format!("t{i}"), true, 10, Risk::Low))
                .unwrap();
        }
        // Registering a known tool again is fine; a new one is over the limit.
        reg.register_for_agent(&me, spec("t0", true, 5, Risk::Low))
            .unwrap();
        let err = reg
            .register_for_agent(&me, spec("one-more", true, 10, Risk::Low))
            .unwrap_err();
        assert!(matches!(err, RegisterError::Limit(_)), "{err}");
        // A new name per connection does not get around the per-uid bound.
        let mut refused = 0;
        for n in 0..(MAX_TOOLS_PER_UID / MAX_TOOLS_PER_AGENT + 2) {
            for i in 0..MAX_TOOLS_PER_AGENT {
                let name = format!("agent-{n}");
                if reg
                    .register_for_agent(
                        &agent(1000, &name),
                        spec(&format!("t{i}"), true, 10, Risk::Low),
                    )
                    .is_err()
                {
                    refused += 1;
                }
            }
        }
        assert!(refused > 0);
        let held: usize = reg
            .runtime
            .read()
            .unwrap()
            .agents
            .values()
            .map(HashMap::len)
            .sum();
        assert_eq!(held, MAX_TOOLS_PER_UID);
        // Another uid has its own allowance.
        reg.register_for_agent(&agent(1001, "a"), spec("x", true, 10, Risk::Low))
            .unwrap();
    }

    #[test]
    fn bad_definitions_are_refused() {
        let reg = Registry::new(&Settings::default());
        let me = agent(1000, "a");
        for bad in [
            spec("", true, 10, Risk::Low),
            spec("a b", true, 10, Risk::Low),
            spec("x\u{1b}[2J", true, 10, Risk::Low),
            spec("x", true, 0, Risk::Low),
            spec(&"x".repeat(129), true, 1, Risk::Low),
        ] {
            assert!(matches!(
                reg.register_for_agent(&me, bad),
                Err(RegisterError::Invalid(_))
            ));
        }
    }
}
