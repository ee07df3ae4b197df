//! Command rules: decisions about shell tool calls made on the commands a line runs, as the
//! shell parser found them (`shell`), never on the raw text.
//!
//! A rule names command prefixes (`git status`: the program, then the first words), every flag
//! it allows and the kind of every operand (`flags`). A call approves at once only if bash is
//! certain to read the line as agentd did (the plain reading), every simple command it runs is
//! approved by a rule, every file read is in a harmless place (`reads`), no word is computed
//! at run time, nothing is written by a redirection and nothing runs through `sudo`/`doas`; it
//! is denied if any command matches a deny rule (by prefix and refused flags); otherwise a
//! person is asked, and the reason says which parts were not covered and why.

use agentd_proto::Verdict;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use std::path::PathBuf;

use crate::policy::flags::{Allowlist, Kind};
use crate::policy::reads::{self, How, Place, Read};
use crate::policy::shell::{read, Analysis, Command};

/// A tool whose calls carry a shell command, and where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellTool {
    pub name: String,
    /// A JSON pointer to the command: a string (a command line) or an array (an argv, often
    /// `["bash", "-lc", SCRIPT]`).
    pub pointer: String,
    /// A JSON pointer to the folder the command runs in, when the tool takes one (Gemini CLI's
    /// `dir_path` or `directory`, Codex's `workdir`); relative to the agent's working folder.
    #[serde(default)]
    pub workdir: Vec<String>,
    /// Whether command rules may approve its calls at once (the default). `ash exec`'s tool
    /// asks every time, whatever the command: a person wrapped it to be asked.
    #[serde(default = "yes")]
    pub rules_approve: bool,
}

fn yes() -> bool {
    true
}

/// A command rule as a preset or config writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEntry {
    pub name: String,
    /// Command prefixes, e.g. `"git status"`, `"ls"`.
    pub prefixes: Vec<String>,
    /// Flags that take a command out of the rule, as written or before `=` (`--output`): for
    /// deny rules (an approving rule lists what it allows instead).
    #[serde(default)]
    pub refuse_flags: Vec<String>,
    /// The flags an approving rule allows, as the program reads them: `-n`, `-n <count>`,
    /// `--key <text>`, `--color[=<text>]`, `-NUM`. Any other flag asks.
    #[serde(default)]
    pub flags: Vec<String>,
    /// The kinds of its operands, in order; the last may end in `...` to repeat (`path...`).
    /// Without it, any number of plain words.
    #[serde(default)]
    pub operands: Option<Vec<String>>,
    /// Flags that give the first operand instead (`grep -e PATTERN`).
    #[serde(default)]
    pub first_operand_flags: Vec<String>,
    /// How the program reads its arguments: `gnu` (the default) or `find`.
    #[serde(default)]
    pub style: Option<String>,
    /// The program searches folders named as operands recursively: each must hold no file
    /// that holds secrets.
    #[serde(default)]
    pub recursive: bool,
    /// The program shows names and sizes of the files it is given, never what they hold
    /// (`ls`, `find`, `du`): a secret's name in its operands is no secret.
    #[serde(default)]
    pub names_only: bool,
    /// A recursive search that reads hidden files too (`git grep` reads every tracked file).
    #[serde(default)]
    pub hidden: bool,
    /// A git command: `names` (status, refs) or `contents` (what tracked files hold). It passes
    /// only in the project's own repository, and `contents` only when no tracked file holds
    /// secrets.
    #[serde(default)]
    pub repository: Option<String>,
    /// `approve` or `deny`.
    pub auto: String,
    /// Command lines the rule must cover, and ones it must not: checked when it is read.
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub counter_examples: Vec<String>,
}

/// Why a set of command rules does not compile: typed, so that callers and tests can tell the
/// cases apart; shown to people as one line naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("[[command]] '{rule}': auto = '{auto}' must be \"approve\" or \"deny\"")]
    Verdict { rule: String, auto: String },
    #[error("[[command]] '{rule}': prefixes is empty")]
    NoPrefixes { rule: String },
    #[error("[[command]] '{rule}': repository = '{value}' must be \"names\", \"contents\" or \"remotes\"")]
    Repository { rule: String, value: String },
    #[error("[[command]] '{rule}': {source}")]
    Allowlist {
        rule: String,
        source: crate::policy::flags::AllowlistError,
    },
    #[error("[[command]] '{rule}': the example {example:?} is not approved ({why})")]
    ExampleNotApproved {
        rule: String,
        example: String,
        why: String,
    },
    #[error("[[command]] '{rule}': the counter-example {example:?} is approved")]
    CounterExampleApproved { rule: String, example: String },
}

/// A compiled command rule.
#[derive(Debug, Clone)]
pub struct CommandRule {
    pub name: String,
    prefixes: Vec<Vec<String>>,
    refuse_flags: Vec<String>,
    allow: Allowlist,
    recursive: bool,
    names_only: bool,
    hidden: bool,
    repository: Option<crate::policy::git::Reads>,
    pub verdict: Verdict,
    examples: Vec<String>,
    counter_examples: Vec<String>,
}

impl CommandRule {
    /// Compiles `entry`; its examples are checked with the rules it is read with
    /// ([`compile_all`]).
    pub fn compile(entry: CommandEntry) -> Result<CommandRule, RuleError> {
        let verdict = match entry.auto.as_str() {
            "approve" => Verdict::Approve,
            "deny" => Verdict::Deny,
            other => {
                return Err(RuleError::Verdict {
                    rule: entry.name,
                    auto: other.into(),
                })
            }
        };
        if entry.prefixes.is_empty() {
            return Err(RuleError::NoPrefixes { rule: entry.name });
        }
        let repository = match entry.repository.as_deref() {
            None => None,
            Some("names") => Some(crate::policy::git::Reads::Names),
            Some("contents") => Some(crate::policy::git::Reads::Contents),
            Some("remotes") => Some(crate::policy::git::Reads::Remotes),
            Some(other) => {
                return Err(RuleError::Repository {
                    rule: entry.name,
                    value: other.into(),
                })
            }
        };
        let operands = entry
            .operands
            .clone()
            .unwrap_or_else(|| vec!["text...".into()]);
        let allow = Allowlist::compile(
            &entry.flags,
            &operands,
            &entry.first_operand_flags,
            entry.style.as_deref(),
        )
        .map_err(|source| RuleError::Allowlist {
            rule: entry.name.clone(),
            source,
        })?;
        Ok(CommandRule {
            name: entry.name,
            prefixes: entry
                .prefixes
                .iter()
                .map(|p| p.split_whitespace().map(String::from).collect())
                .collect(),
            refuse_flags: entry.refuse_flags,
            allow,
            recursive: entry.recursive,
            names_only: entry.names_only,
            hidden: entry.hidden,
            repository,
            verdict,
            examples: entry.examples,
            counter_examples: entry.counter_examples,
        })
    }

    /// The length of the rule's prefix that `command` starts with, if one does.
    fn prefix_of(&self, command: &Command) -> Option<usize> {
        if !from_the_system(command) {
            return None;
        }
        let program = command.program();
        let words: Vec<&str> = command.argv.iter().map(|w| w.text.as_str()).collect();
        self.prefixes
            .iter()
            .filter(|p| {
                p.first().is_some_and(|first| first == program)
                    && p.len() <= words.len()
                    && p[1..].iter().zip(&words[1..]).all(|(a, b)| a == b)
                    && command.argv[..p.len()].iter().all(|w| w.literal)
            })
            .map(Vec::len)
            .max()
    }

    /// Whether the rule covers one simple command: a prefix matches its words and no
    /// refused flag is among its arguments (what a deny rule asks).
    pub fn covers(&self, command: &Command) -> bool {
        self.prefix_of(command).is_some()
            && !command.args().iter().any(|w| {
                let flag = w.text.split('=').next().unwrap_or(&w.text);
                self.refuse_flags.iter().any(|r| r == flag || r == &w.text)
            })
    }

    /// Whether an approving rule approves `command` run from any of `dirs`: a prefix matches,
    /// every flag is on its list with a value of the right kind, every operand is of its kind,
    /// and every file it reads is in a harmless place. `Err` says why not, for people; `Ok(None)`
    /// when no prefix matches.
    fn approves(
        &self,
        command: &Command,
        dirs: &[Option<PathBuf>],
        place: &Place,
        secrets: &Regex,
    ) -> Result<Option<Read>, String> {
        let Some(len) = self.prefix_of(command) else {
            return Ok(None);
        };
        if !self.covers(command) {
            return Err("a flag this rule refuses".into());
        }
        let typed = self.allow.read(&command.argv[len..])?;
        // With no file named, a program that reads files reads the folder it runs in (`ls`,
        // `rg`) or its input; the folder is checked either way.
        let dot = crate::policy::shell::Word::literal(".");
        let reads_files = self.allow.reads_paths();
        let here =
            (reads_files && !typed.iter().any(|(k, _)| k.is_path())).then_some((Kind::Path, &dot));
        // A glob given to a search (`rg -g '*.production'`) matches hidden names too.
        let hidden = self.hidden || typed.iter().any(|(k, _)| *k == Kind::FileGlob);
        let mut read = Read::Harmless;
        for (kind, word) in typed.into_iter().chain(here) {
            if !kind.is_path() {
                continue;
            }
            let how = How {
                names_only: self.names_only,
                project_only: matches!(kind, Kind::Pathspec | Kind::Worktree),
                file_only: kind == Kind::File,
            };
            if self.recursive && word.glob {
                read = read.and(Read::Refused(format!(
                    "{}: a pattern given to a search is not checked for what it searches",
                    word.text
                )));
            }
            // A revision or anything else that is not there: git would read history.
            if kind == Kind::Worktree && place.project.as_ref().is_some_and(|p| p.exists()) {
                let missing = dirs.iter().any(|d| {
                    place
                        .absolute(&word.text, d.as_deref())
                        .is_none_or(|p| std::fs::symlink_metadata(p).is_err())
                });
                if missing {
                    read = read.and(Read::Refused(format!(
                        "{} is not a file of the working tree: git would read it from history",
                        word.text
                    )));
                }
            }
            read = read.and(reads::judge(&word.text, dirs, place, secrets, how));
            // `REV:PATH` names a file of the repository, from its top.
            if let Some((_, file)) = word
                .text
                .rsplit_once(':')
                .filter(|_| kind == Kind::Pathspec)
            {
                if !file.is_empty() {
                    let top = [place.project.clone()];
                    read = read.and(reads::judge(file, &top, place, secrets, how));
                }
            }
            if kind == Kind::File {
                let folder = dirs.iter().any(|d| {
                    place
                        .absolute(&word.text, d.as_deref())
                        .is_some_and(|p| p.is_dir())
                });
                if folder {
                    read = read.and(Read::Refused(format!(
                        "{} is a folder: the program would read every file in it",
                        word.text
                    )));
                }
            }
            if self.recursive {
                if let Some(why) = reads::searches_secrets(&word.text, dirs, place, secrets, hidden)
                {
                    read = read.and(Read::Refused(why));
                }
            }
        }
        if let Some(reads) = self.repository {
            read = read.and(crate::policy::git::check(dirs, place, secrets, reads));
        }
        Ok(Some(read))
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
) -> Result<Vec<CommandRule>, RuleError> {
    let rules = entries
        .into_iter()
        .map(CommandRule::compile)
        .collect::<Result<Vec<_>, _>>()?;
    let tool = [ShellTool {
        name: "example".into(),
        pointer: "/command".into(),
        workdir: Vec::new(),
        rules_approve: true,
    }];
    let verdict = |line: &str| {
        let args = serde_json::json!({ "command": line });
        decide(&tool, &rules, secrets, "example", &args, &example_place())
    };
    let approves = |line: &str| verdict(line).is_some_and(|v| v.verdict == Some(Verdict::Approve));
    for rule in &rules {
        if let Some(example) = rule.examples.iter().find(|e| !approves(e)) {
            return Err(RuleError::ExampleNotApproved {
                rule: rule.name.clone(),
                example: example.clone(),
                why: verdict(example).map(|v| v.reason).unwrap_or_default(),
            });
        }
        if let Some(example) = rule.counter_examples.iter().find(|e| approves(e)) {
            return Err(RuleError::CounterExampleApproved {
                rule: rule.name.clone(),
                example: example.clone(),
            });
        }
    }
    Ok(rules)
}

/// Where rule examples are judged: a project folder that does not exist on this machine, so
/// no file of this machine changes the verdict.
pub fn example_place() -> Place {
    Place {
        project: Some(PathBuf::from("/nonexistent-agentd-example/project")),
        home: Some(PathBuf::from("/nonexistent-agentd-example/home")),
    }
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
            None => Some((
                None,
                why_not.unwrap_or_else(|| "no command rule covers it".into()),
            )),
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
    } else if command.argv.iter().any(|w| secrets.is_match(&w.text)) {
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

/// Words that name files that hold secrets (the presets' rule, for single words).
pub fn secret_words() -> Result<Regex, regex::Error> {
    Regex::new(
        r#"(?i)(^|/)(\.env(\.[a-z0-9_-]+)?|\.envrc|\.dev\.vars|\.netrc|\.pgpass|\.?npmrc|\.pypirc|pip\.conf|\.yarnrc(\.yml)?|\.git-credentials|\.vault-token|\.my\.cnf|\.s3cfg|\.boto|\.htpasswd|kubeconfig|(id|[a-z0-9_-]*)_(rsa|dsa|ecdsa|ed25519|key)(\.[a-z0-9]+)?|\.?credentials(\.json|\.toml)?|auth\.json|oauth_creds\.json|google_accounts\.json|service[-_]?account[a-z0-9_.-]*\.json|secrets?\.(ya?ml|json|toml)|[a-z0-9_.-]*\.(pem|key|p12|pfx|jks|keystore|ppk|kdbx|tfstate|tfstate\.backup)|\.git/config|environ|shadow|gshadow|sudoers|\.[a-z]*_history)$|(^|/)(\.(ssh|aws|gnupg|kube|docker|azure|password-store)|\.config/(gh|gcloud|hub)|\.local/share/keyrings)(/|$)"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::flags::AllowlistError;

    fn entry(flags: &[&str], examples: &[&str], counter: &[&str]) -> CommandEntry {
        CommandEntry {
            name: "t".into(),
            prefixes: vec!["wc".into()],
            refuse_flags: Vec::new(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            operands: Some(vec!["path...".into()]),
            first_operand_flags: Vec::new(),
            style: None,
            recursive: false,
            names_only: false,
            hidden: false,
            repository: None,
            auto: "approve".into(),
            examples: examples.iter().map(|s| s.to_string()).collect(),
            counter_examples: counter.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn compile(e: CommandEntry) -> Result<Vec<CommandRule>, RuleError> {
        compile_all(vec![e], &secret_words().unwrap())
    }

    #[test]
    fn rule_errors_are_typed() {
        assert!(compile(entry(&["-l"], &["wc -l README.md"], &["wc -c x"])).is_ok());
        assert!(matches!(
            compile(entry(&["-l"], &["wc -c README.md"], &[])),
            Err(RuleError::ExampleNotApproved { example, .. }) if example == "wc -c README.md"
        ));
        assert!(matches!(
            compile(entry(&["-l", "-c"], &[], &["wc -c x"])),
            Err(RuleError::CounterExampleApproved { .. })
        ));
        assert!(matches!(
            compile(entry(&["l"], &[], &[])),
            Err(RuleError::Allowlist {
                source: AllowlistError::Flag(_),
                ..
            })
        ));
        assert!(matches!(
            compile(entry(&["-l <size>"], &[], &[])),
            Err(RuleError::Allowlist {
                source: AllowlistError::Kind(_),
                ..
            })
        ));
        let mut e = entry(&[], &[], &[]);
        e.auto = "maybe".into();
        assert!(matches!(compile(e), Err(RuleError::Verdict { .. })));
    }
}
