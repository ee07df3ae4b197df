//! Built-in presets for the agents people run: readable TOML in `agentd/presets/`, compiled
//! in, on by default (`presets = ["claude-code", "codex", "gemini"]`), turned off with
//! `presets = []`. A preset holds `[[tool]]` and `[[rule]]` entries like a config file's; the
//! config's own tools override a preset's.

use agentd_proto::{Risk, ToolSpec};
use serde::Deserialize;

use crate::policy::commands::{CommandEntry, CommandRule, ShellTool};
use crate::policy::rules::{Rule, RuleEntry};
use crate::tool_spec::ToolEntry;

/// The presets agentd knows, in the order they apply, with their text.
const PRESETS: [(&str, &str); 3] = [
    (
        "claude-code",
        include_str!("../../presets/claude-code.toml"),
    ),
    ("codex", include_str!("../../presets/codex.toml")),
    ("gemini", include_str!("../../presets/gemini.toml")),
];

/// The shell commands that only read, shared by every preset.
const READ_ONLY_COMMANDS: &str = include_str!("../../presets/read-only-commands.toml");

/// The presets on when the config names none.
pub fn default_names() -> Vec<String> {
    PRESETS.iter().map(|(name, _)| name.to_string()).collect()
}

/// A preset, read.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    pub tools: Vec<ToolSpec>,
    pub rules: Vec<Rule>,
    /// Tools whose calls carry a shell command, decided by command rules.
    pub shell_tools: Vec<ShellTool>,
    /// Tools that change files and that fetch URLs, for folder and host grants.
    pub shapes: crate::policy::reach::Shapes,
}

impl Preset {
    /// How this preset answers calls of `tool`: "command rules", "read tool", "file tool",
    /// "fetch tool", "needs no approval" or "asks on purpose"; `None` for a tool it does not
    /// know (the unknown-tool default applies). The runtimes' tests check that every tool a
    /// pinned runtime offers is known.
    pub fn kind_of(&self, tool: &str) -> Option<&'static str> {
        if self.shell_tools.iter().any(|t| t.name == tool) {
            return Some("command rules");
        }
        if self.shapes.read_tools.iter().any(|t| t.name == tool) {
            return Some("read tool");
        }
        if self.shapes.file_tools.iter().any(|t| t.name == tool) {
            return Some("file tool");
        }
        if self.shapes.fetch_tools.iter().any(|t| t.name == tool) {
            return Some("fetch tool");
        }
        self.tools
            .iter()
            .find(|t| t.name == tool)
            .map(|t| match t.requires_approval {
                true => "asks on purpose",
                false => "needs no approval",
            })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "tool")]
    tools: Vec<ToolEntry>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleEntry>,
    #[serde(default, rename = "shell_tool")]
    shell_tools: Vec<ShellTool>,
    #[serde(default, rename = "command")]
    commands: Vec<CommandEntry>,
    #[serde(default, rename = "file_tool")]
    file_tools: Vec<crate::policy::reach::FileTool>,
    #[serde(default, rename = "fetch_tool")]
    fetch_tools: Vec<crate::policy::reach::FetchTool>,
    #[serde(default, rename = "read_tool")]
    read_tools: Vec<crate::policy::reach::ReadTool>,
}

/// Checks that every name is a preset agentd knows.
pub fn check_names(names: &[String]) -> Result<(), String> {
    for name in names {
        if !PRESETS.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "presets: no preset named '{name}'; the presets are {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Reads the preset `name`; tools that set no timeout get `default_timeout_secs`.
pub fn load(name: &str, default_timeout_secs: u64) -> Result<Preset, String> {
    let (name, text) = PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("no preset named '{name}'"))?;
    let file: File =
        toml::from_str(text).map_err(|e| format!("the {name} preset: {}", e.message()))?;
    let mut tools = Vec::new();
    for entry in file.tools {
        let spec = entry
            .into_spec(default_timeout_secs, Risk::Medium)
            .map_err(|m| format!("the {name} preset: {m}"))?;
        tools.push(spec);
    }
    let rules = file
        .rules
        .into_iter()
        .map(|entry| {
            Rule::compile(entry)
                .map(|mut rule| {
                    rule.runtime = Some(name);
                    rule
                })
                .map_err(|m| format!("the {name} preset: {m}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Preset {
        name,
        tools,
        rules,
        shell_tools: file.shell_tools,
        shapes: crate::policy::reach::Shapes {
            file_tools: file.file_tools,
            fetch_tools: file.fetch_tools,
            read_tools: file.read_tools,
        },
    })
}

/// The command rules every preset shares (`read-only-commands.toml`), as written.
pub fn read_only_command_entries() -> Result<Vec<CommandEntry>, String> {
    let file: File = toml::from_str(READ_ONLY_COMMANDS)
        .map_err(|e| format!("the read-only commands: {}", e.message()))?;
    Ok(file.commands)
}

/// The command rules in force: the presets' shared ones (when any preset is on) and the
/// config's own, compiled together, every rule's examples checked against the whole set.
pub fn command_rules(
    presets_on: bool,
    config: &[CommandEntry],
    secrets: &regex::Regex,
) -> Result<Vec<CommandRule>, String> {
    let mut entries = match presets_on {
        true => read_only_command_entries()?,
        false => Vec::new(),
    };
    entries.extend(config.iter().cloned());
    crate::policy::commands::compile_all(entries, secrets).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_proto::SubjectType;
    use serde_json::json;

    #[test]
    fn every_preset_reads() {
        for name in default_names() {
            let preset = load(&name, 300).unwrap();
            assert!(!preset.tools.is_empty(), "{name}");
            // A tool that passes without a person is a low-risk one; the others ask on purpose.
            assert!(preset
                .tools
                .iter()
                .all(|t| t.requires_approval || t.risk == Risk::Low));
        }
        assert!(check_names(&["claude-code".into(), "nope".into()])
            .unwrap_err()
            .contains("no preset named 'nope'; the presets are claude-code, codex, gemini"));
    }

    #[test]
    fn a_presets_rules_apply_to_its_own_runtimes_agents_and_to_unknown_ones() {
        let rules: Vec<Rule> = default_names()
            .iter()
            .flat_map(|n| load(n, 300).unwrap().rules)
            .collect();
        let args = json!({"file_path": "/home/dev/app/.env"});
        let named = |agent: &str| {
            crate::policy::rules::evaluate(&rules, agent, "Read", SubjectType::Tool, &args).reasons
        };
        for agent in ["claude-code", "claude-code/Explore"] {
            let reasons = named(agent);
            assert!(
                reasons
                    .iter()
                    .any(|r| r.starts_with("rule claude-code: secret files")),
                "{reasons:?}"
            );
            assert!(
                !reasons.iter().any(|r| r.contains("gemini")),
                "{agent}: {reasons:?}"
            );
        }
        // An agent of no known runtime (renamed with --agent, or a program of its own) keeps
        // every preset's protection.
        let reasons = named("my-bot");
        assert!(
            reasons.iter().any(|r| r.contains("gemini: secret files")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("claude-code: secret files")),
            "{reasons:?}"
        );
    }

    #[test]
    fn each_tool_is_classified_by_what_its_preset_says() {
        let claude = load("claude-code", 300).unwrap();
        assert_eq!(claude.kind_of("Bash"), Some("command rules"));
        assert_eq!(claude.kind_of("Read"), Some("read tool"));
        assert_eq!(claude.kind_of("Write"), Some("file tool"));
        assert_eq!(claude.kind_of("WebFetch"), Some("fetch tool"));
        assert_eq!(claude.kind_of("Agent"), Some("needs no approval"));
        assert_eq!(claude.kind_of("Workflow"), Some("asks on purpose"));
        assert_eq!(claude.kind_of("NoSuchTool"), None);
    }

    #[test]
    fn the_read_only_commands_read_and_their_examples_hold() {
        let secrets = crate::policy::commands::secret_words().unwrap();
        let rules = command_rules(true, &[], &secrets).unwrap();
        assert!(rules.len() >= 5);
    }

    #[test]
    fn reads_of_files_that_hold_secrets_ask() {
        let preset = load("claude-code", 300).unwrap();
        let asks = |args: serde_json::Value| {
            crate::policy::rules::evaluate(
                &preset.rules,
                "claude-code",
                "Read",
                SubjectType::Tool,
                &args,
            )
            .ask
        };
        for path in [
            "/home/dev/app/.env",
            "/home/dev/app/.env.local",
            "/home/dev/.ssh/id_ed25519",
            "/home/dev/.aws/credentials",
            "server.key",
            "/etc/ssl/private/site.pem",
            "/home/dev/.netrc",
        ] {
            assert!(asks(json!({ "file_path": path })), "{path}");
        }
        for path in [
            "/home/dev/app/src/main.rs",
            "/home/dev/app/.envrc.md",
            "README.md",
            "/home/dev/app/keys.rs",
        ] {
            assert!(!asks(json!({ "file_path": path })), "{path}");
        }
        assert!(asks(
            json!({ "pattern": "TOKEN", "path": "/home/dev/.ssh/" })
        ));
    }
}
