//! Command rules: decisions about shell tool calls made on the commands a line runs, as the
//! shell parser found them (`shell`), never on the raw text.
//!
//! A rule names command prefixes (`git status`: the program, then the first words) and flags
//! that disqualify (`--output`, `-exec`, `-i`). A call approves at once only if every simple
//! command it runs is approved by a rule, no word is computed at run time, nothing is written
//! by a redirection, nothing runs through `sudo`/`doas`, and no word names a file that holds
//! secrets; it is denied if any command matches a deny rule; otherwise a person is asked, and
//! the reason says which parts were not covered.

use agentd_proto::Verdict;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::shell::{analyze, Analysis, Command};

/// A tool whose calls carry a shell command, and where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellTool {
    pub name: String,
    /// A JSON pointer to the command: a string (a command line) or an array (an argv, often
    /// `["bash", "-lc", SCRIPT]`).
    pub pointer: String,
}

/// A command rule as a preset or config writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEntry {
    pub name: String,
    /// Command prefixes, e.g. `"git status"`, `"ls"`.
    pub prefixes: Vec<String>,
    /// Flags that take a command out of the rule, as written or before `=` (`--output`).
    #[serde(default)]
    pub refuse_flags: Vec<String>,
    /// `approve` or `deny`.
    pub auto: String,
    /// Command lines the rule must cover, and ones it must not: checked when it is read.
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub counter_examples: Vec<String>,
}

/// A compiled command rule.
#[derive(Debug, Clone)]
pub struct CommandRule {
    pub name: String,
    prefixes: Vec<Vec<String>>,
    refuse_flags: Vec<String>,
    pub verdict: Verdict,
    examples: Vec<String>,
    counter_examples: Vec<String>,
}

impl CommandRule {
    /// Compiles `entry`; its examples are checked with the rules it is read with
    /// ([`compile_all`]).
    pub fn compile(entry: CommandEntry) -> Result<CommandRule, String> {
        let fail = |m: String| format!("[[command]] '{}': {m}", entry.name);
        let verdict = match entry.auto.as_str() {
            "approve" => Verdict::Approve,
            "deny" => Verdict::Deny,
            other => {
                return Err(fail(format!(
                    "auto = '{other}' must be \"approve\" or \"deny\""
                )))
            }
        };
        if entry.prefixes.is_empty() {
            return Err(fail("prefixes is empty".into()));
        }
        Ok(CommandRule {
            name: entry.name,
            prefixes: entry
                .prefixes
                .iter()
                .map(|p| p.split_whitespace().map(String::from).collect())
                .collect(),
            refuse_flags: entry.refuse_flags,
            verdict,
            examples: entry.examples,
            counter_examples: entry.counter_examples,
        })
    }

    /// Whether the rule covers one simple command: a prefix matches its words and no
    /// refused flag is among its arguments.
    pub fn covers(&self, command: &Command) -> bool {
        if !from_the_system(command) {
            return false;
        }
        let program = command.program();
        let words: Vec<&str> = command.argv.iter().map(|w| w.text.as_str()).collect();
        let prefix_ok = self.prefixes.iter().any(|p| {
            p.first().is_some_and(|first| first == program)
                && p.len() <= words.len()
                && p[1..].iter().zip(&words[1..]).all(|(a, b)| a == b)
        });
        prefix_ok
            && !command.args().iter().any(|w| {
                let flag = w.text.split('=').next().unwrap_or(&w.text);
                self.refuse_flags.iter().any(|r| r == flag || r == &w.text)
            })
    }
}

/// Whether the program is found where the system keeps programs: by name alone (looked up
/// in `PATH`, which no variable in the line changed; see `disqualified`) or in a system
/// folder. `./ls` or `/tmp/x/ls` is whatever someone put there, not `ls`.
pub fn from_the_system(command: &Command) -> bool {
    const SYSTEM: [&str; 6] = [
        "/bin/",
        "/usr/bin/",
        "/usr/local/bin/",
        "/sbin/",
        "/usr/sbin/",
        "/opt/homebrew/bin/",
    ];
    let written = command.argv.first().map_or("", |w| w.text.as_str());
    !written.contains('/')
        || SYSTEM.iter().any(|dir| {
            written
                .strip_prefix(dir)
                .is_some_and(|rest| !rest.contains('/'))
        })
}

/// Compiles a set of rules and checks every rule's examples against the whole set, as calls
/// would be decided (an example passes when the set approves it at once): a rule whose example
/// is not approved, or whose counter-example is, is refused with its name and the example.
pub fn compile_all(
    entries: Vec<CommandEntry>,
    secrets: &Regex,
) -> Result<Vec<CommandRule>, String> {
    let rules = entries
        .into_iter()
        .map(CommandRule::compile)
        .collect::<Result<Vec<_>, _>>()?;
    let tool = [ShellTool {
        name: "example".into(),
        pointer: "/command".into(),
    }];
    let approves = |line: &str| {
        let args = serde_json::json!({ "command": line });
        decide(&tool, &rules, secrets, "example", &args)
            .is_some_and(|v| v.verdict == Some(Verdict::Approve))
    };
    for rule in &rules {
        if let Some(example) = rule.examples.iter().find(|e| !approves(e)) {
            return Err(format!(
                "[[command]] '{}': the example {example:?} is not approved",
                rule.name
            ));
        }
        if let Some(example) = rule.counter_examples.iter().find(|e| approves(e)) {
            return Err(format!(
                "[[command]] '{}': the counter-example {example:?} is approved",
                rule.name
            ));
        }
    }
    Ok(rules)
}

/// What the command rules say about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandVerdict {
    pub verdict: Option<Verdict>,
    /// For people: what decided, or which parts were not covered.
    pub reason: String,
    /// The commands no rule approves (each with why a rule that covers it still asks, if one
    /// does), for grant options; `None` when the line was not understood, so nothing but an
    /// exact grant may answer it.
    pub uncovered: Option<Vec<(Command, Option<&'static str>)>>,
    /// Whether the line changes folder (`cd`, `pushd`, `popd`) before or between commands,
    /// so that a relative path in it may not be relative to the agent's working folder.
    pub changes_dir: bool,
}

/// Decides a call of `tool` with `args`, if `tool` is a shell tool; `None` otherwise.
pub fn decide(
    tools: &[ShellTool],
    rules: &[CommandRule],
    secrets: &Regex,
    tool: &str,
    args: &Value,
) -> Option<CommandVerdict> {
    let shell = tools.iter().find(|t| t.name == tool)?;
    let ask = |reason: String| {
        Some(CommandVerdict {
            verdict: None,
            reason,
            uncovered: None,
            changes_dir: true,
        })
    };
    let line = match args.pointer(&shell.pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(words)) => {
            let words: Option<Vec<&str>> = words.iter().map(Value::as_str).collect();
            let Some(words) = words else {
                return ask("the command is not a list of words".into());
            };
            words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
        }
        _ => return ask(format!("no command at {}", shell.pointer)),
    };
    let commands = match analyze(&line) {
        Analysis::Commands(c) => c,
        Analysis::Unknown(why) => {
            return ask(format!("the command is not fully understood: {why}"))
        }
    };
    let changes_dir = commands
        .iter()
        .any(|c| matches!(c.program(), "cd" | "pushd" | "popd"));
    let mut uncovered = Vec::new();
    let mut needed = Vec::new();
    let mut covered: Vec<String> = Vec::new();
    for command in &commands {
        let shown = shown(command);
        if let Some(rule) = rules
            .iter()
            .find(|r| r.verdict == Verdict::Deny && r.covers(command))
        {
            return Some(CommandVerdict {
                verdict: Some(Verdict::Deny),
                reason: format!("{shown}: denied by command rule {}", rule.name),
                uncovered: None,
                changes_dir: true,
            });
        }
        let approved = rules
            .iter()
            .find(|r| r.verdict == Verdict::Approve && r.covers(command));
        let why_not = match approved {
            None => Some((None, "no command rule covers it")),
            Some(rule) => {
                covered.push(format!("{} ({})", command.program(), rule.name));
                disqualified(command, secrets).map(|why| (Some(why), why))
            }
        };
        if let Some((blocker, why)) = why_not {
            uncovered.push(format!("{shown} ({why})"));
            needed.push((command.clone(), blocker));
        }
    }
    if uncovered.is_empty() {
        // Each command with the rule that covers it, so people see what decided.
        covered.dedup();
        return Some(CommandVerdict {
            verdict: Some(Verdict::Approve),
            reason: format!("every command is covered by a rule: {}", covered.join(", ")),
            uncovered: Some(Vec::new()),
            changes_dir,
        });
    }
    Some(CommandVerdict {
        verdict: None,
        reason: format!("not covered: {}", uncovered.join("; ")),
        uncovered: Some(needed),
        changes_dir,
    })
}

/// Why a command a rule covers still needs a person, if it does.
pub fn disqualified(command: &Command, secrets: &Regex) -> Option<&'static str> {
    if !command.argv.is_empty() && command.argv.iter().any(|w| !w.literal) {
        return Some(COMPUTED_WORD);
    }
    blocked(command, secrets)
}

/// Why a rule covering a command would still ask.
pub const COMPUTED_WORD: &str = "a word is computed when it runs";

/// Why no grant or rule may answer a command, computed words aside: those matter to a rule,
/// whose refused flags a computed word could hide, not to a grant of "any arguments".
pub fn blocked(command: &Command, secrets: &Regex) -> Option<&'static str> {
    if command.redirects.iter().any(|r| r.writes()) && !command.argv.is_empty() {
        return Some(WRITES);
    }
    blocked_but_writes(command, secrets)
}

/// Why a rule covering a command would still ask when it writes through a redirection.
pub const WRITES: &str = "it writes to a file";

/// [`blocked`], writing redirections aside: a folder grant may cover where they write.
pub fn blocked_but_writes(command: &Command, secrets: &Regex) -> Option<&'static str> {
    if command
        .env
        .iter()
        .any(|name| !crate::shell::harmless_variable(name))
    {
        Some("it sets a variable that can change what runs")
    } else if command.argv.is_empty() {
        Some("a redirection alone")
    } else if command.via.iter().any(|v| v == "sudo" || v == "doas") {
        Some("it runs as another user")
    } else if command.argv.iter().any(|w| secrets.is_match(&w.text)) {
        Some("it names a file that holds secrets")
    } else if command.argv.iter().any(|w| hidden_glob(&w.text)) {
        Some("a pattern can match hidden files")
    } else if command.args().iter().any(|w| whole_home(&w.text)) {
        Some("it reaches into a home or the root folder as a whole")
    } else {
        None
    }
}

/// A glob with a wildcard in a path component that starts with a dot (`.*`, `.s*/id*`): it can
/// match hidden files, where secrets live, though no name in it looks like one.
fn hidden_glob(word: &str) -> bool {
    word.split('/')
        .any(|part| part.starts_with('.') && part.contains(['*', '?', '[']))
}

/// A whole home folder or the root (`~`, `/`, `/home/dev`, `/Users/dev`, `/root`): a
/// recursive read of it reads every secret in it.
fn whole_home(word: &str) -> bool {
    let w = word.trim_end_matches('/');
    if matches!(w, "" | "~" | "/root" | "/home" | "/Users") && !word.is_empty() {
        return true;
    }
    let parts: Vec<&str> = w.split('/').collect();
    matches!(parts.as_slice(), ["", "home" | "Users", user] if !user.is_empty())
}

/// One command, short, for reasons.
fn shown(command: &Command) -> String {
    let text: Vec<&str> = command.argv.iter().map(|w| w.text.as_str()).collect();
    let mut out = text.join(" ");
    if out.chars().count() > 60 {
        out = out.chars().take(59).collect::<String>() + "…";
    }
    if out.is_empty() {
        "(no command)".into()
    } else {
        out
    }
}

/// A word quoted for the shell, so an argv becomes a line the parser reads back word for word.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Words that name files that hold secrets (the presets' rule, for single words).
pub fn secret_words() -> Result<Regex, regex::Error> {
    Regex::new(
        r#"(?i)(^|/)(\.env(\.[a-z0-9_-]+)?|\.netrc|\.pgpass|\.npmrc|\.pypirc|id_(rsa|dsa|ecdsa|ed25519)|credentials(\.json)?|[a-z0-9_-]*\.(pem|key|p12|pfx)|environ|shadow|gshadow|sudoers|\.[a-z]*_history)$|(^|/)\.(ssh|aws|gnupg|kube|docker)(/|$)"#,
    )
}
