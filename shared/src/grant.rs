//! Grant options: the grants an operator may make from a request, narrowest first, and what
//! each would cover. agentd works them out when a request reaches a person; the operator picks
//! one by its key (`ash approve ID --scope session --grant KEY`).

use serde::{Deserialize, Serialize};

/// What a grant covers besides the call it was made from. Externally tagged, so bincode can
/// carry it; JSON output writes it as an object with a `kind` (see [`GrantCover::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GrantCover {
    /// The same tool with the same canonical arguments: the narrowest grant.
    #[default]
    Exact,
    /// Shell calls whose every simple command is covered by one of these keys: the program and
    /// its subcommand words exactly, flags only among the key's (each with the value the
    /// person saw, as `-j 8`), and plain arguments otherwise; each command must still pass the
    /// checks that no grant lifts (no computed words, no writing redirections, no `sudo`, no
    /// secret files).
    Commands { prefixes: Vec<Vec<String>> },
    /// File changes by any file tool at paths under this folder, except the paths that always
    /// ask (`.git/`, agent and editor settings, start-up files, secrets).
    Folder { dir: String },
    /// Fetches by the same tool from this host (exactly; not its subdomains).
    Domain { host: String },
    /// Any call of the same tool.
    Tool,
    /// Reads by any tool (a read tool, or a shell command a rule approves but for where it
    /// reads) of files under this folder, secrets never.
    Reads { dir: String },
}

impl GrantCover {
    /// The stable key operators name it by.
    pub fn key(&self) -> &'static str {
        match self {
            GrantCover::Exact => "exact",
            GrantCover::Commands { .. } => "commands",
            GrantCover::Folder { .. } => "folder",
            GrantCover::Domain { .. } => "domain",
            GrantCover::Tool => "tool",
            GrantCover::Reads { .. } => "reads",
        }
    }

    /// The JSON form scripts read: `{"kind": KEY, ...the fields}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            GrantCover::Exact => json!({ "kind": "exact" }),
            GrantCover::Commands { prefixes } => json!({
                "kind": "commands",
                "prefixes": prefixes.iter().map(|p| p.join(" ")).collect::<Vec<_>>(),
            }),
            GrantCover::Folder { dir } => json!({ "kind": "folder", "dir": dir }),
            GrantCover::Domain { host } => json!({ "kind": "domain", "host": host }),
            GrantCover::Tool => json!({ "kind": "tool" }),
            GrantCover::Reads { dir } => json!({ "kind": "reads", "dir": dir }),
        }
    }
}

/// One grant an operator may make from a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantOption {
    /// Stable: `exact`, `commands`, `folder`, `domain`, `tool` or `reads`.
    pub key: String,
    /// For people, e.g. "`git commit`, `npm run` with any arguments".
    pub label: String,
    pub covers: GrantCover,
}

impl GrantOption {
    pub fn new(covers: GrantCover, label: String) -> GrantOption {
        GrantOption {
            key: covers.key().to_string(),
            label,
            covers,
        }
    }

    /// The exact-arguments grant every request offers first.
    pub fn exact() -> GrantOption {
        GrantOption::new(
            GrantCover::Exact,
            "this exact call (same tool and arguments)".into(),
        )
    }

    /// The JSON form scripts read.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "label": self.label,
            "covers": self.covers.to_json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_json_are_stable() {
        let o = GrantOption::new(
            GrantCover::Commands {
                prefixes: vec![vec!["git".into(), "commit".into()]],
            },
            "`git commit` with any arguments".into(),
        );
        assert_eq!(o.key, "commands");
        assert_eq!(
            o.to_json(),
            serde_json::json!({
                "key": "commands",
                "label": "`git commit` with any arguments",
                "covers": {"kind": "commands", "prefixes": ["git commit"]},
            })
        );
        assert_eq!(GrantOption::exact().covers.to_json()["kind"], "exact");
    }
}
