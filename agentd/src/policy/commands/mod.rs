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

use std::path::PathBuf;

use crate::policy::flags::{Allowlist, Kind};
use crate::policy::reads::{self, How, Place, Read};
use crate::policy::shell::Command;

mod decide;

pub use decide::{
    blocked_but_writes, decide, CommandVerdict, COMPUTED_WORD, READS, READS_REFUSED, RULE_REFUSED,
    WRITES,
};

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
        let hidden = self.hidden
            || typed
                .iter()
                .any(|(k, _)| matches!(k, Kind::FileGlob | Kind::FileType));
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
                if let Some(why) = crate::policy::search::searches_secrets(
                    &word.text, dirs, place, secrets, hidden,
                ) {
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
