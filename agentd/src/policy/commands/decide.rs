//! A shell tool's call decided: the line read (plainly, or it asks), deny rules, each command
//! against the approving rules with the folders it may run in, what it reads, and what a
//! grant would have to cover when it asks.

use std::path::PathBuf;

use agentd_proto::Verdict;
use regex::Regex;
use serde_json::Value;

use super::{CommandRule, ShellTool};
use crate::policy::reads::{self, How, Place, Read};
use crate::policy::shell::{read, Analysis, Command};

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
    /// The files read outside the harmless places by commands a rule otherwise approves
    /// (absolute): a grant of reads under a folder holding them may cover them.
    pub reads: Vec<PathBuf>,
}

/// Decides a call of `tool` with `args`, if `tool` is a shell tool; `None` otherwise. `place`
/// is where the agent works, for the files the line reads.
pub fn decide(
    tools: &[ShellTool],
    rules: &[CommandRule],
    secrets: &Regex,
    tool: &str,
    args: &Value,
    place: &Place,
) -> Option<CommandVerdict> {
    let shell = tools.iter().find(|t| t.name == tool)?;
    let ask = |reason: String| {
        Some(CommandVerdict {
            verdict: None,
            reason,
            uncovered: None,
            changes_dir: true,
            reads: Vec::new(),
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
    // The folder the line starts in: the tool's own working-folder argument, else the
    // agent's.
    // Where a runtime has had more than one name for it (Gemini's `dir_path` and
    // `directory`), every one given is a folder the line may start in.
    let mut starts = Vec::new();
    for pointer in &shell.workdir {
        match args.pointer(pointer) {
            None | Some(Value::Null) => {}
            Some(Value::String(dir)) if !dir.is_empty() => {
                let dir_start = place.absolute(dir, place.project.as_deref());
                if dir_start.is_none() {
                    return ask(format!("it runs in {dir}, not a known folder"));
                }
                starts.push(dir_start);
            }
            Some(_) => return ask(format!("{pointer} is not a folder name")),
        }
    }
    if starts.is_empty() {
        starts.push(place.project.clone());
    }
    let reading = read(&line);
    let commands = match reading.analysis {
        Analysis::Commands(c) => c,
        Analysis::Unknown(why) => {
            return ask(format!("the command is not fully understood: {why}"))
        }
    };
    let changes_dir = starts.iter().any(|s| *s != place.project)
        || commands
            .iter()
            .any(|c| matches!(c.program(), "cd" | "pushd" | "popd"));
    // Deny rules hold however the line was read.
    for command in &commands {
        if let Some(rule) = rules
            .iter()
            .find(|r| r.verdict == Verdict::Deny && r.covers(command))
        {
            return Some(CommandVerdict {
                verdict: Some(Verdict::Deny),
                reason: format!("{}: denied by command rule {}", shown(command), rule.name),
                uncovered: None,
                changes_dir: true,
                reads: Vec::new(),
            });
        }
    }
    // Each pattern is expanded on disk to be judged: a line of many is asked about instead.
    const MAX_PATTERNS: usize = 16;
    let patterns = commands
        .iter()
        .flat_map(|c| c.argv.iter().chain(c.redirects.iter().map(|r| &r.target)))
        .filter(|w| w.glob)
        .count();
    if patterns > MAX_PATTERNS {
        return ask(format!(
            "it holds {patterns} patterns, over the {MAX_PATTERNS} checked on disk"
        ));
    }
    if !reading.certain {
        return ask(
            "bash may read this line otherwise than agentd: it holds syntax outside the plain \
             set (a backslash, a glob bracket or brace, an unquoted here-document, `&>`, `>&FILE`, \
             a subshell, a keyword ...)"
                .into(),
        );
    }
    // Every folder a relative path may be taken from: where the line starts, and every folder
    // a `cd` before it may have gone to (a `cd` in a subshell or a pipeline may not hold).
    let mut dirs = starts;
    let mut uncovered = Vec::new();
    let mut needed = Vec::new();
    let mut covered: Vec<String> = Vec::new();
    let mut outside = Vec::new();
    for command in &commands {
        let shown = shown(command);
        let mut why_not: Option<String> = None;
        let mut approved = None;
        for rule in rules
            .iter()
            .filter(|r| r.verdict == Verdict::Approve && shell.rules_approve)
        {
            match rule.approves(command, &dirs, place, secrets) {
                Ok(Some(read)) => {
                    approved = Some((rule, read));
                    break;
                }
                Ok(None) => {}
                Err(why) => {
                    why_not.get_or_insert(format!("{}: {why}", rule.name));
                }
            }
        }
        let blocker = match approved {
            // A program a rule knows but does not approve here (a flag not on its list, a
            // read it refuses) is asked about as it is: a grant of "plain arguments" would let
            // its paths go unjudged.
            None if why_not.is_some() => Some((Some(RULE_REFUSED), why_not.unwrap_or_default())),
            None => Some((None, "no command rule covers it".into())),
            Some((rule, read)) => {
                covered.push(format!("{} ({})", command.program(), rule.name));
                let read = read.and(reads_by_redirect(command, &dirs, place, secrets));
                match disqualified_by_rule(command) {
                    Some(why) => Some((Some(why), why.to_string())),
                    None => match read {
                        Read::Harmless => None,
                        Read::Outside(paths) => {
                            let why = Read::Outside(paths.clone()).why().unwrap_or_default();
                            outside.extend(paths);
                            Some((Some(READS), why))
                        }
                        Read::Refused(why) => Some((Some(READS_REFUSED), why)),
                    },
                }
            }
        };
        // git run where it would use another repository's config (a bare one in the project,
        // a `.git` file) is asked about as it is, whatever a grant says.
        let blocker = match blocker {
            Some((None, why)) if command.program() == "git" => {
                match crate::policy::git::check(
                    &dirs,
                    place,
                    secrets,
                    crate::policy::git::Reads::Names,
                ) {
                    Read::Refused(elsewhere) => Some((Some(RULE_REFUSED), elsewhere)),
                    _ => Some((None, why)),
                }
            }
            other => other,
        };
        if let Some((blocker, why)) = blocker {
            uncovered.push(format!("{shown} ({why})"));
            needed.push((command.clone(), blocker));
        }
        if matches!(command.program(), "cd" | "pushd" | "popd") {
            // `cd --` is `cd`: the home folder.
            let args: Vec<_> = command
                .args()
                .iter()
                .skip_while(|w| w.text == "--")
                .cloned()
                .collect();
            let target = match (command.program(), args.as_slice()) {
                ("cd", []) => vec![place.home.clone()],
                ("cd", [dir]) if dir.literal && !dir.glob && dir.text != "-" => dirs
                    .iter()
                    .map(|d| place.absolute(&dir.text, d.as_deref()))
                    .collect(),
                _ => vec![None],
            };
            for dir in target {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
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
            reads: Vec::new(),
        });
    }
    Some(CommandVerdict {
        verdict: None,
        reason: format!("not covered: {}", uncovered.join("; ")),
        uncovered: Some(needed),
        changes_dir,
        reads: outside,
    })
}

/// Why a rule covering a command would still ask when it reads files outside the harmless
/// places (a grant of reads under their folder may cover them).
pub const READS: &str = "it reads a file outside the harmless places";

/// Why a rule covering a command would still ask when it reads a secret, or a place never
/// read without a person.
pub const READS_REFUSED: &str = "it reads a secret, or where no read is granted";

/// Why a command a rule knows, or git somewhere else than the project's repository, is asked
/// about as it is, never covered by a wider grant.
pub const RULE_REFUSED: &str = "a rule knows it and refuses it here";

/// What the files a command reads by `<` are.
fn reads_by_redirect(
    command: &Command,
    dirs: &[Option<PathBuf>],
    place: &Place,
    secrets: &Regex,
) -> Read {
    command
        .redirects
        .iter()
        .filter(|r| r.op.trim_start_matches(|c: char| c.is_ascii_digit()) == "<")
        .fold(Read::Harmless, |read, r| {
            read.and(reads::judge(
                &r.target.text,
                dirs,
                place,
                secrets,
                How::CONTENTS,
            ))
        })
}

/// Why a command a rule approves still needs a person: what no rule lifts (a computed word, a
/// write, a variable that changes what runs, `sudo`). What its words name was judged by kind
/// already: paths where they are read, text as text (`grep -e .env` names no file).
fn disqualified_by_rule(command: &Command) -> Option<&'static str> {
    if !command.argv.is_empty() && command.argv.iter().any(|w| !w.literal) {
        return Some(COMPUTED_WORD);
    }
    if command.redirects.iter().any(|r| r.writes()) && !command.argv.is_empty() {
        return Some(WRITES);
    }
    runs_otherwise(command)
}

/// Why a command may run otherwise than it reads: a variable that changes what runs, a
/// redirection with no command, another user.
fn runs_otherwise(command: &Command) -> Option<&'static str> {
    if command
        .env
        .iter()
        .any(|name| !crate::policy::shell::harmless_variable(name))
    {
        Some("it sets a variable that can change what runs")
    } else if command.argv.is_empty() {
        Some("a redirection alone")
    } else if command.via.iter().any(|v| v == "sudo" || v == "doas") {
        Some("it runs as another user")
    } else {
        None
    }
}

/// Why a rule covering a command would still ask.
pub const COMPUTED_WORD: &str = "a word is computed when it runs";

/// Why a rule covering a command would still ask when it writes through a redirection.
pub const WRITES: &str = "it writes to a file";

/// Why no grant may answer a command, writing redirections aside (a folder grant may cover
/// where they write).
pub fn blocked_but_writes(command: &Command, secrets: &Regex) -> Option<&'static str> {
    if let Some(why) = runs_otherwise(command) {
        Some(why)
    } else if command.argv.iter().any(|w| {
        // `REV:PATH` names PATH (`git show HEAD~1:.env`).
        secrets.is_match(&w.text)
            || w.text
                .rsplit_once(':')
                .is_some_and(|(_, file)| secrets.is_match(file))
    }) {
        Some("it names a file that holds secrets")
    } else if command.argv.iter().any(|w| w.glob && hidden_glob(&w.text)) {
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
    // Single quotes, and `"'"` for a quote inside: no backslash, which a plain line keeps
    // simple, and no empty quotes.
    if word.is_empty() {
        return "''".into();
    }
    let mut out = String::with_capacity(word.len() + 2);
    for (i, part) in word.split('\'').enumerate() {
        if i > 0 {
            out.push_str("\"'\"");
        }
        if !part.is_empty() {
            out.push('\'');
            out.push_str(part);
            out.push('\'');
        }
    }
    out
}
