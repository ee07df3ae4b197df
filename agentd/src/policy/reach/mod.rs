//! What a call reaches, for grants wider than the exact call: the commands of a shell call
//! that no rule approves (by their key: program, subcommand words, flags seen), the files a
//! file tool or a redirection changes, the files read outside the harmless places, the host a
//! fetch goes to, or just the tool. From it come the grant options a request offers (`options`) and
//! the test whether a wider grant covers a later call (`grants`).
//!
//! Whatever cannot be accounted for reaches "exact only": a line not fully understood, a
//! command that runs as another user, sets a variable that changes what runs, writes through a
//! redirection or names a secret; a program that is never granted wider (interpreters, `rm`,
//! `git push` ...); a path that always asks; a call a rule sent to a person; a critical one.

pub mod options;

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::policy::commands::CommandVerdict;
use crate::policy::paths;
use crate::policy::shell::Command;

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
    /// `url` (the default): the pointer is the URL; `prompt`: a text with the URLs in it
    /// (Gemini CLI's `web_fetch`), all of which must go to one host.
    #[serde(default)]
    pub format: FetchFormat,
}

/// How a fetch tool carries its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FetchFormat {
    #[default]
    Url,
    Prompt,
}

/// A tool that reads files (or lists or searches them) without changing any, and where its
/// paths are: it passes at once only when every path is somewhere reads are harmless.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadTool {
    pub name: String,
    /// JSON pointers to the paths it reads: each a string or an array of strings. A missing
    /// one means the working folder when `here` is set.
    pub paths: Vec<String>,
    /// JSON pointers to patterns of file names it reads (`glob`, `include`): each must match
    /// no secret's name.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// With no path, it reads the working folder.
    #[serde(default)]
    pub here: bool,
    /// It reads the contents of every file under a folder (a search), not only names.
    #[serde(default)]
    pub recursive: bool,
    /// It shows names (a listing, a glob), never what a file holds.
    #[serde(default)]
    pub names: bool,
    /// Its search reads hidden files too (Gemini's `rg --hidden`).
    #[serde(default)]
    pub hidden: bool,
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
        /// Files read outside the harmless places by commands a rule otherwise approves.
        reads: Vec<PathBuf>,
    },
    /// Files a read tool reads outside the harmless places (none a secret).
    Reads(Vec<PathBuf>),
    /// The files a file tool changes, absolute and normalised.
    Files(Vec<PathBuf>),
    /// The host (with a port other than the scheme's) a fetch goes to.
    Host(String),
    /// Any other tool's call.
    Tool,
}

/// The key a `commands` grant for `command` would name (`policy::grant_key`), or why it may
/// not be granted wider. Redirections are not looked at here (see [`of_call`]).
pub fn prefix(command: &Command, secrets: &regex::Regex) -> Result<Vec<String>, String> {
    if let Some(why) = crate::policy::commands::blocked_but_writes(command, secrets) {
        return Err(why.to_string());
    }
    crate::policy::grant_key::of(command)
}

/// The tools whose calls are judged by what they reach, beyond shell tools.
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    pub file_tools: Vec<FileTool>,
    pub fetch_tools: Vec<FetchTool>,
    pub read_tools: Vec<ReadTool>,
}

impl ReadTool {
    /// How it reads the paths it is given.
    pub fn how(&self) -> crate::policy::reads::How {
        crate::policy::reads::How {
            names_only: self.names,
            project_only: false,
            file_only: false,
        }
    }
}

impl Shapes {
    pub fn read_tool(&self, tool: &str) -> Option<&ReadTool> {
        self.read_tools.iter().find(|t| t.name == tool)
    }

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
        if fetch.format == FetchFormat::Prompt {
            let mut hosts: Vec<String> = text
                .split(|c: char| c.is_whitespace() || "<>()[]{}\"'`,".contains(c))
                .filter(|w| w.contains("://"))
                .map(|w| host(w).ok_or_else(|| w.to_string()))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|w| vec![format!("\0{w}")]);
            hosts.sort();
            hosts.dedup();
            return match hosts.as_slice() {
                [h] if !h.starts_with('\0') => Reach::Host(h.clone()),
                [] => Reach::ExactOnly("the prompt names no URL".into()),
                _ => {
                    Reach::ExactOnly("the prompt names several hosts, or a URL not http(s)".into())
                }
            };
        }
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
        if let Some(why) = crate::policy::commands::blocked_but_writes(command, secrets) {
            return Reach::ExactOnly(why.into());
        }
        if matches!(
            *rule_blocker,
            Some(crate::policy::commands::READS_REFUSED | crate::policy::commands::RULE_REFUSED)
        ) {
            return Reach::ExactOnly(format!(
                "{}: {}",
                command.program(),
                rule_blocker.unwrap_or_default()
            ));
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
        // A rule covers it and it only writes, or only reads outside the harmless places:
        // the writes and reads are all it needs granted.
        if matches!(
            *rule_blocker,
            Some(crate::policy::commands::WRITES | crate::policy::commands::READS)
        ) {
            continue;
        }
        // Codex's `apply_patch <<'PATCH'` as a shell command is the file tool it is: what it
        // reaches is the files its patch names.
        if matches!(command.program(), "apply_patch" | "applypatch") {
            match patch_in_line(command, found.changes_dir, cwd, secrets) {
                Ok(files) => {
                    for file in files {
                        if !writes.contains(&file) {
                            writes.push(file);
                        }
                    }
                    continue;
                }
                Err(why) => return Reach::ExactOnly(why),
            }
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
    Reach::Shell {
        prefixes,
        writes,
        reads: found.reads.clone(),
    }
}

/// The files an `apply_patch` command's here-document patch changes, as a file tool's.
fn patch_in_line(
    command: &Command,
    changes_dir: bool,
    cwd: Option<&str>,
    secrets: &regex::Regex,
) -> Result<Vec<PathBuf>, String> {
    let [body] = command
        .redirects
        .iter()
        .filter(|r| r.op == "<<")
        .collect::<Vec<_>>()[..]
    else {
        return Err("apply_patch without its patch in the line".into());
    };
    if command.argv.len() != 1 || !body.target.literal {
        return Err("apply_patch with arguments, or a patch computed when it runs".into());
    }
    if changes_dir {
        return Err("apply_patch after a change of folder".into());
    }
    let tool = FileTool {
        name: "apply_patch".into(),
        pointer: "/input".into(),
        format: FileFormat::Patch,
    };
    match files(
        &tool,
        secrets,
        &serde_json::json!({ "input": body.target.text }),
        cwd,
    ) {
        Reach::Files(files) => Ok(files),
        Reach::ExactOnly(why) => Err(why),
        _ => Err("apply_patch's patch".into()),
    }
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
