//! What a call reaches, for grants wider than the exact call: the commands of a shell call
//! that no rule approves (by their prefix), the files a file tool changes, the host a fetch
//! goes to, or just the tool. From it come the grant options a request offers (`options`) and
//! the test whether a wider grant covers a later call (`grants`).
//!
//! Whatever cannot be accounted for reaches "exact only": a line not fully understood, a
//! command that runs as another user, sets a variable that changes what runs, writes through a
//! redirection or names a secret; a program that is never granted wider (interpreters, `rm`,
//! `git push` ...); a path that always asks; a call a rule sent to a person; a critical one.

pub mod options;
pub mod paths;

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::commands::CommandVerdict;
use crate::shell::Command;

/// A tool whose calls change files, and where the paths are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTool {
    pub name: String,
    /// A JSON pointer to the path (`path` format) or to the patch text (`patch` format).
    pub pointer: String,
    #[serde(default)]
    pub format: FileFormat,
}

/// How a file tool carries its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One path.
    #[default]
    Path,
    /// A patch in the `*** Update File: PATH` form of Codex's `apply_patch`.
    Patch,
}

/// A tool whose calls fetch a URL, and where it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchTool {
    pub name: String,
    pub pointer: String,
}

/// What a call reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Only a grant for these exact arguments may answer it; why.
    ExactOnly(String),
    /// A shell call: the commands no rule approves, each by the prefix a grant would name,
    /// and the files its redirections write (absolute, normalised).
    Shell {
        prefixes: Vec<Vec<String>>,
        writes: Vec<PathBuf>,
    },
    /// The files a file tool changes, absolute and normalised.
    Files(Vec<PathBuf>),
    /// The host (with a port other than the scheme's) a fetch goes to.
    Host(String),
    /// Any other tool's call.
    Tool,
}

/// Programs never granted wider than the exact call: each call of them is its own question,
/// because "with any arguments" would be anything (interpreters, shells), or destroys, escalates
/// or sends data away whatever the arguments.
const NEVER_WIDER: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "csh",
    "tcsh",
    "ash",
    "mksh",
    "eval",
    "exec",
    "source",
    ".",
    "python",
    "python2",
    "python3",
    "node",
    "nodejs",
    "deno",
    "perl",
    "ruby",
    "php",
    "lua",
    "Rscript",
    "osascript",
    "pwsh",
    "powershell",
    "sudo",
    "doas",
    "su",
    "pkexec",
    "runuser",
    "rm",
    "rmdir",
    "shred",
    "dd",
    "mkfs",
    "fdisk",
    "parted",
    "wipefs",
    "truncate",
    "chmod",
    "chown",
    "chgrp",
    "chattr",
    "mv",
    "cp",
    "ln",
    "tee",
    "curl",
    "wget",
    "ssh",
    "scp",
    "rsync",
    "nc",
    "crontab",
    "docker",
];

/// Programs whose first argument is a subcommand: a grant names program and subcommand
/// (`git commit`), never the program alone.
const SUBCOMMANDS: &[&str] = &[
    "make",
    "git",
    "npm",
    "pnpm",
    "yarn",
    "bun",
    "npx",
    "cargo",
    "go",
    "mix",
    "kubectl",
    "gh",
    "pip",
    "pip3",
    "uv",
    "poetry",
    "bundle",
    "rails",
    "rake",
    "dotnet",
    "mvn",
    "gradle",
    "./gradlew",
    "./mvnw",
    "terraform",
    "helm",
    "systemctl",
    "brew",
    "apt",
    "apt-get",
    "podman",
];

/// Subcommands never granted wider: they rewrite or delete history, publish, deploy or
/// install system-wide.
const NEVER_WIDER_SUB: &[(&str, &str)] = &[
    ("make", "install"),
    ("make", "uninstall"),
    ("git", "push"),
    ("git", "reset"),
    ("git", "clean"),
    ("git", "checkout"),
    ("git", "restore"),
    ("git", "rebase"),
    ("git", "config"),
    ("git", "filter-branch"),
    ("git", "update-ref"),
    ("git", "reflog"),
    ("git", "gc"),
    ("git", "branch"),
    ("git", "tag"),
    ("git", "remote"),
    ("git", "submodule"),
    ("npm", "publish"),
    ("npm", "exec"),
    ("pnpm", "publish"),
    ("yarn", "publish"),
    ("cargo", "publish"),
    ("gh", "api"),
    ("kubectl", "delete"),
    ("terraform", "apply"),
    ("terraform", "destroy"),
    ("helm", "uninstall"),
    ("systemctl", "stop"),
    ("apt-get", "remove"),
];

/// Interpreters granted wider only with the script they run: `python3 tool.py`,
/// `python3 -m json.tool`, `node build.js`, never with `-c`/`-e` or on their own.
const INTERPRETERS: &[&str] = &["python", "python3", "node", "ruby", "perl", "php", "deno"];

/// The prefix a grant for `command` would name, or why it may not be granted wider.
/// Redirections are not looked at here (see [`of_call`]).
pub fn prefix(command: &Command, secrets: &regex::Regex) -> Result<Vec<String>, String> {
    if let Some(why) = crate::commands::blocked_but_writes(command, secrets) {
        return Err(why.to_string());
    }
    let written = command
        .argv
        .first()
        .map(|w| w.text.clone())
        .ok_or("no program")?;
    let program = command.program();
    let never = |p: &str| format!("`{p}` is never granted wider than the exact call");
    if INTERPRETERS.contains(&program) || (program.starts_with("python3.") && program.len() <= 10) {
        return script_prefix(command, &written)
            .ok_or_else(|| never(&format!("{program} without a script file")));
    }
    if NEVER_WIDER.contains(&program)
        || program.starts_with("python")
        || program.starts_with("mkfs")
    {
        return Err(never(program));
    }
    if !SUBCOMMANDS.contains(&program) && !SUBCOMMANDS.contains(&written.as_str()) {
        return Ok(vec![written]);
    }
    let sub = command
        .argv
        .get(1)
        .filter(|w| w.literal && subcommand_like(&w.text))
        .ok_or_else(|| format!("`{program}` without a plain subcommand first"))?;
    if NEVER_WIDER_SUB.contains(&(program, sub.text.as_str())) {
        return Err(never(&format!("{program} {}", sub.text)));
    }
    Ok(vec![written, sub.text.clone()])
}

/// A plain word in the subcommand's place: `commit`, `run`, `create-next-app@latest`,
/// `@scope/pkg` (npx); never a flag, a path that starts at `.` or `/`, or one that climbs.
fn subcommand_like(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || "._:-@/".contains(c))
        && !word.contains("..")
}

/// `[interpreter, script]` or `[interpreter, -m, module]`: the script is a literal file name
/// (not an option, not `-`), the module a plain dotted name.
fn script_prefix(command: &Command, written: &str) -> Option<Vec<String>> {
    let first = command.argv.get(1).filter(|w| w.literal)?;
    if first.text == "-m" {
        let module = command.argv.get(2).filter(|w| w.literal)?;
        let plain = !module.text.is_empty()
            && module
                .text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._".contains(c));
        return plain.then(|| vec![written.to_string(), "-m".into(), module.text.clone()]);
    }
    let script = &first.text;
    let is_file = !script.starts_with('-')
        && [".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".php"]
            .iter()
            .any(|ext| script.ends_with(ext));
    is_file.then(|| vec![written.to_string(), script.clone()])
}

/// The tools whose calls are judged by what they reach, beyond shell tools.
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    pub file_tools: Vec<FileTool>,
    pub fetch_tools: Vec<FetchTool>,
}

impl Shapes {
    pub fn file_tool(&self, tool: &str) -> Option<&FileTool> {
        self.file_tools.iter().find(|t| t.name == tool)
    }
}

/// What the call of `tool` with `args` reaches; `commands` is the command rules' verdict when
/// `tool` is a shell tool.
pub fn of_call(
    shapes: &Shapes,
    secrets: &regex::Regex,
    tool: &str,
    args: &Value,
    cwd: Option<&str>,
    commands: Option<&CommandVerdict>,
) -> Reach {
    if let Some(found) = commands {
        return shell(found, secrets, cwd);
    }
    if let Some(file_tool) = shapes.file_tool(tool) {
        return files(file_tool, secrets, args, cwd);
    }
    if let Some(fetch) = shapes.fetch_tools.iter().find(|t| t.name == tool) {
        let Some(text) = args.pointer(&fetch.pointer).and_then(Value::as_str) else {
            return Reach::ExactOnly(format!("no URL at {}", fetch.pointer));
        };
        return match host(text) {
            Some(h) => Reach::Host(h),
            None => Reach::ExactOnly("the URL has no http(s) host".into()),
        };
    }
    Reach::Tool
}

/// What a shell call reaches: each command no rule approves by its prefix (a command a rule
/// covers and that only writes through a redirection needs none), and every file written.
fn shell(found: &CommandVerdict, secrets: &regex::Regex, cwd: Option<&str>) -> Reach {
    let Some(uncovered) = &found.uncovered else {
        return Reach::ExactOnly("the command is not fully understood".into());
    };
    let mut prefixes = Vec::new();
    let mut writes = Vec::new();
    for (command, rule_blocker) in uncovered {
        if let Some(why) = crate::commands::blocked_but_writes(command, secrets) {
            return Reach::ExactOnly(why.into());
        }
        // What `>` writes must be in the line (a here-document or here-string), as a file
        // tool's content is; `>>` adds to a file. Anything else (`cmd > file`) can empty or
        // rewrite a file with what no one saw.
        let content_in_line = command.redirects.iter().any(|r| r.op.starts_with("<<"));
        for redirect in command.redirects.iter().filter(|r| r.writes()) {
            let target = &redirect.target;
            let appends = redirect.op.trim_start_matches(|c: char| c.is_ascii_digit()) == ">>";
            if !appends && !content_in_line {
                return Reach::ExactOnly(format!(
                    "it overwrites {} with output no one has seen",
                    target.text
                ));
            }
            let relative = !target.text.starts_with('/');
            if !target.literal || (relative && found.changes_dir) {
                return Reach::ExactOnly(format!(
                    "it writes to {}, which is not a known place",
                    target.text
                ));
            }
            let Some(path) = paths::absolute(&target.text, cwd) else {
                return Reach::ExactOnly(format!("it writes to {}", target.text));
            };
            if let Some(why) = paths::always_asks(&path, secrets) {
                return Reach::ExactOnly(why);
            }
            if !writes.contains(&path) {
                writes.push(path);
            }
        }
        // A rule covers it and it only writes: the writes are all it needs granted.
        if *rule_blocker == Some(crate::commands::WRITES) {
            continue;
        }
        match prefix(command, secrets) {
            Ok(p) => {
                if !prefixes.contains(&p) {
                    prefixes.push(p)
                }
            }
            Err(why) => return Reach::ExactOnly(why),
        }
    }
    Reach::Shell { prefixes, writes }
}

fn files(tool: &FileTool, secrets: &regex::Regex, args: &Value, cwd: Option<&str>) -> Reach {
    let Some(text) = args.pointer(&tool.pointer).and_then(Value::as_str) else {
        return Reach::ExactOnly(format!("no path at {}", tool.pointer));
    };
    let written: Vec<&str> = match tool.format {
        FileFormat::Path => vec![text],
        FileFormat::Patch => {
            if text.lines().any(|l| l.starts_with("*** Delete File: ")) {
                return Reach::ExactOnly("the patch deletes a file".into());
            }
            patch_paths(text)
        }
    };
    if written.is_empty() {
        return Reach::ExactOnly("the patch names no file".into());
    }
    let mut out = Vec::new();
    for path in written {
        let Some(abs) = paths::absolute(path, cwd) else {
            return Reach::ExactOnly(format!("{path} is not a path under a known working folder"));
        };
        if let Some(why) = paths::always_asks(&abs, secrets) {
            return Reach::ExactOnly(why);
        }
        out.push(abs);
    }
    Reach::Files(out)
}

/// The paths an `apply_patch` patch adds, updates, deletes or moves to.
pub fn patch_paths(patch: &str) -> Vec<&str> {
    const MARKS: &[&str] = &[
        "*** Add File: ",
        "*** Update File: ",
        "*** Delete File: ",
        "*** Move to: ",
    ];
    patch
        .lines()
        .filter_map(|line| {
            MARKS
                .iter()
                .find_map(|m| line.strip_prefix(m))
                .map(str::trim)
        })
        .collect()
}

/// The host of an http(s) URL, lower case and in ASCII (a look-alike Unicode name shows as its
/// `xn--` form), with its port when it is not the scheme's.
pub fn host(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests;
