//! The agent runtimes' hook settings `ash doctor` finds: Claude Code's (`.claude/settings.json`,
//! `.claude/settings.local.json`, `~/.claude/settings.json`), Codex's (`.codex/config.toml`,
//! `~/.codex/config.toml`) and Gemini CLI's (`.gemini/settings.json`,
//! `~/.gemini/settings.json`). For each runtime with a settings file: whether it runs `ash hook`,
//! on which events, and whether its timeout leaves the hook time to answer (a hook the runtime
//! kills at its timeout gives no decision, and the runtime goes on without agentd).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{check, Check, Status};

/// The hook's own deadline by default, in seconds: a runtime's timeout must be longer.
const DEADLINE_SECS: u64 = 550;

/// One hook entry found: the event, the command, the timeout in seconds if set.
struct Entry {
    event: String,
    command: String,
    timeout_secs: Option<u64>,
}

pub fn checks() -> Vec<Check> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let places = |project: &[&str], user: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = project.iter().map(PathBuf::from).collect();
        v.extend(home.as_ref().map(|h| h.join(user)));
        v
    };
    let runtimes = [
        (
            "claude-code",
            places(
                &[".claude/settings.json", ".claude/settings.local.json"],
                ".claude/settings.json",
            ),
            Format::Json { millis: false },
            &["PreToolUse", "PermissionRequest"][..],
        ),
        (
            "codex",
            places(&[".codex/config.toml"], ".codex/config.toml"),
            Format::Toml,
            &["PermissionRequest", "PreToolUse"][..],
        ),
        (
            "gemini",
            places(&[".gemini/settings.json"], ".gemini/settings.json"),
            Format::Json { millis: true },
            &["BeforeTool"][..],
        ),
    ];
    let mut out = Vec::new();
    for (runtime, files, format, events) in runtimes {
        let found: Vec<&PathBuf> = files.iter().filter(|p| p.is_file()).collect();
        if found.is_empty() {
            continue;
        }
        out.push(runtime_check(runtime, &found, format, events));
    }
    if out.is_empty() {
        out.push(check(
            "hooks",
            Status::Info,
            "no Claude Code, Codex or Gemini CLI settings found here or in your home folder (docs/INTEGRATIONS.md sets each up)",
        ));
    }
    out
}

#[derive(Clone, Copy)]
enum Format {
    /// JSON settings; timeouts in milliseconds (Gemini CLI) or seconds (Claude Code).
    Json { millis: bool },
    /// Codex's TOML; timeouts in seconds.
    Toml,
}

fn runtime_check(
    runtime: &'static str,
    files: &[&PathBuf],
    format: Format,
    events: &[&str],
) -> Check {
    let command = format!("ash hook {runtime}");
    let mut problems = Vec::new();
    let mut serving = Vec::new();
    for file in files {
        let entries = match read_entries(file, format) {
            Ok(entries) => entries,
            Err(why) => {
                problems.push(format!("{} does not parse: {why}", file.display()));
                continue;
            }
        };
        for e in entries.iter().filter(|e| e.command.contains("ash hook")) {
            if !e.command.contains(&command) {
                problems.push(format!(
                    "{}: {} runs `{}`, the hook of another runtime",
                    file.display(),
                    e.event,
                    e.command
                ));
            } else if !events.contains(&e.event.as_str()) {
                problems.push(format!(
                    "{}: `{command}` on {}, which it does not serve ({})",
                    file.display(),
                    e.event,
                    events.join(", ")
                ));
            } else {
                match e.timeout_secs {
                    Some(t) if t <= DEADLINE_SECS => problems.push(format!(
                        "{}: the {} hook's timeout is {t} s, below the hook's {DEADLINE_SECS} s deadline",
                        file.display(),
                        e.event
                    )),
                    None if matches!(format, Format::Json { millis: true }) => problems.push(format!(
                        "{}: the {} hook has no timeout, and Gemini CLI's default is 60 s",
                        file.display(),
                        e.event
                    )),
                    _ => serving.push(format!("{} ({})", e.event, file.display())),
                }
            }
        }
    }
    let unit = match format {
        Format::Json { millis: true } => "timeout 600000 (milliseconds)",
        _ => "timeout 600",
    };
    match (problems.is_empty(), serving.is_empty()) {
        (true, false) => check(runtime, Status::Ok, format!("asks agentd on {}", serving.join(", "))),
        (true, true) => check(
            runtime,
            Status::Info,
            format!("{} found, but it does not run `{command}`", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")),
        )
        .fix("docs/INTEGRATIONS.md has the settings to add"),
        (false, _) => check(runtime, Status::Warn, problems.join("; ")).fix(format!(
            "give the hook `{unit}` (or pass `--deadline` below it) on {}; docs/INTEGRATIONS.md has the settings",
            events.join(" or ")
        )),
    }
}

/// The hook entries of one settings file: `hooks.EVENT[].hooks[]` with `command` and
/// `timeout`.
fn read_entries(file: &Path, format: Format) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let doc: Value = match format {
        Format::Json { .. } => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        Format::Toml => {
            let v: toml::Value = toml::from_str(&text).map_err(|e| e.message().to_string())?;
            serde_json::to_value(v).map_err(|e| e.to_string())?
        }
    };
    let millis = matches!(format, Format::Json { millis: true });
    let mut entries = Vec::new();
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return Ok(entries);
    };
    for (event, groups) in hooks {
        for group in groups.as_array().into_iter().flatten() {
            for hook in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(command) = hook.get("command").and_then(Value::as_str) else {
                    continue;
                };
                let timeout = hook.get("timeout").and_then(Value::as_u64);
                entries.push(Entry {
                    event: event.clone(),
                    command: command.to_string(),
                    timeout_secs: timeout.map(|t| if millis { t / 1000 } else { t }),
                });
            }
        }
    }
    Ok(entries)
}
