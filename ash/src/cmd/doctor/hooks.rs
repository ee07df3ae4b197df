//! The agent runtimes' hook settings, judged as each runtime will act on them: `ash doctor`
//! says ok only for a hook the runtime will really run, and otherwise says why and how to fix
//! it, one line each. What each runtime does was checked by running it (see
//! docs/INTEGRATIONS.md): Claude Code reads `~/.claude/settings.json` and the project's
//! `.claude/settings*.json` and runs nothing with `disableAllHooks`; Codex skips a hook that is
//! not trusted, or every hook with `[features] hooks = false`; Gemini CLI reads project
//! settings only in the folder it starts in, runs no hook in a folder it does not trust, and
//! skips hooks `hooksConfig` switches off.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{check, Check, Status};
use crate::runtimes::{claude, codex, gemini, settings_json, Runtime};

/// Every runtime's checks, for a run started in the current folder.
pub fn checks() -> Vec<Check> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut out = Vec::new();
    for runtime in [Runtime::ClaudeCode, Runtime::Codex, Runtime::Gemini] {
        out.extend(checks_for(runtime, &cwd));
    }
    if out.is_empty() {
        out.push(check(
            "hooks",
            Status::Info,
            "no Claude Code, Codex or Gemini CLI settings found here or in your home folder (`ash setup RUNTIME` writes them)",
        ));
    }
    out
}

/// Whether `c` is about a runtime's hooks.
pub fn is_runtime_check(c: &Check) -> bool {
    [Runtime::ClaudeCode, Runtime::Codex, Runtime::Gemini]
        .iter()
        .any(|r| r.name() == c.name)
}

/// One runtime's checks (none when it has no settings at all).
pub fn checks_for(runtime: Runtime, cwd: &Path) -> Vec<Check> {
    match runtime {
        Runtime::ClaudeCode => claude_checks(cwd),
        Runtime::Codex => codex_checks(cwd),
        Runtime::Gemini => gemini_checks(cwd),
    }
}

/// A settings file read: its path and parsed contents, or why it could not be.
struct File {
    path: PathBuf,
    doc: Result<Value, String>,
}

fn existing(
    paths: impl IntoIterator<Item = PathBuf>,
    parse: fn(&str) -> Result<Value, String>,
) -> Vec<File> {
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .map(|path| {
            let doc = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| parse(&t));
            File { path, doc }
        })
        .collect()
}

fn toml_json(text: &str) -> Result<Value, String> {
    let v: toml::Value = toml::from_str(text).map_err(|e| e.message().to_string())?;
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// What one hook handler running `ash hook` amounts to.
enum Verdict {
    Runs(String),
    Problem(String, String),
}

/// The checks common to every runtime: the right command, an event it serves, and a timeout
/// above the hook's deadline (`unit_ms`: the runtime counts milliseconds).
fn judge(
    runtime: Runtime,
    file: &Path,
    e: &settings_json::Entry,
    events: &[&str],
    unit_ms: bool,
) -> Verdict {
    let command = runtime.command();
    let place = format!("{} ({})", e.event, file.display());
    if !e.command.contains(&command) {
        return Verdict::Problem(
            format!("{place} runs `{}`, the hook of another runtime", e.command),
            format!("write `{command}` there instead"),
        );
    }
    if !events.contains(&e.event.as_str()) {
        return Verdict::Problem(
            format!("{place}: `{command}` on an event it does not serve"),
            format!("hook it on {}", events.join(" or ")),
        );
    }
    let deadline = claude::deadline_of(&e.command);
    let (timeout_secs, written) = match (e.timeout, unit_ms) {
        (Some(t), true) => (Some(t / 1000), format!("{t} ms")),
        (Some(t), false) => (Some(t), format!("{t} s")),
        (None, true) => (Some(60), "not set (60000 ms by default)".to_string()),
        (None, false) => (None, String::new()),
    };
    if let Some(t) = timeout_secs.filter(|t| *t <= deadline) {
        let hint = match unit_ms {
            true => format!(
                "give it `\"timeout\": {}` (milliseconds)",
                (deadline + 50) * 1000
            ),
            false => format!("give it `timeout = {}` or more", deadline + 50),
        };
        let _ = t;
        return Verdict::Problem(
            format!("{place}: the timeout is {written}, not above the hook's {deadline} s deadline: the runtime kills the hook first and goes on without agentd"),
            format!("{hint}, or lower the hook's --deadline"),
        );
    }
    Verdict::Runs(place)
}

fn problem(runtime: Runtime, detail: String, fix: String) -> Check {
    check(runtime.name(), Status::Warn, detail).fix(fix)
}

fn unreadable(runtime: Runtime, files: &[File]) -> Vec<Check> {
    files
        .iter()
        .filter_map(|f| f.doc.as_ref().err().map(|why| (f, why)))
        .map(|(f, why)| {
            check(
                runtime.name(),
                Status::Warn,
                format!("{} does not parse: {why}", f.path.display()),
            )
            .fix("fix the file; the runtime cannot read it either")
        })
        .collect()
}

/// The final verdict for a runtime: ok naming what runs when something does and nothing is
/// wrong, else the problems, else a note that the settings run no `ash hook`.
fn summary(
    runtime: Runtime,
    files: &[File],
    runs: Vec<String>,
    mut problems: Vec<Check>,
) -> Vec<Check> {
    problems.extend(unreadable(runtime, files));
    if !problems.is_empty() {
        return problems;
    }
    if runs.is_empty() {
        let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        return vec![check(
            runtime.name(),
            Status::Info,
            format!(
                "{} found, but nothing there runs `{}`",
                names.join(", "),
                runtime.command()
            ),
        )
        .fix(format!("`ash setup {}` writes the hook", runtime.name()))];
    }
    vec![check(
        runtime.name(),
        Status::Ok,
        format!("asks agentd on {}", runs.join(", ")),
    )]
}

fn claude_checks(cwd: &Path) -> Vec<Check> {
    let runtime = Runtime::ClaudeCode;
    let mut paths: Vec<PathBuf> = claude::user_settings().into_iter().collect();
    paths.extend(claude::project_settings(&claude::project_dir(cwd)));
    let files = existing(paths, settings_json::parse);
    let mut problems = settings_above(runtime, cwd, ".claude/settings.json");
    if files.is_empty() && problems.is_empty() {
        return Vec::new();
    }
    let events = ["PreToolUse", "PermissionRequest"];
    let (mut runs, mut served) = (Vec::new(), Vec::new());
    for f in &files {
        let Ok(doc) = &f.doc else { continue };
        if doc.get("disableAllHooks") == Some(&Value::Bool(true)) {
            problems.push(problem(
                runtime,
                format!(
                    "{}: disableAllHooks is true, so Claude Code runs no hook at all",
                    f.path.display()
                ),
                "remove disableAllHooks (`ash setup claude-code` does)".into(),
            ));
        }
        for e in settings_json::entries(doc)
            .iter()
            .filter(|e| e.command.contains("ash hook"))
        {
            match judge(runtime, &f.path, e, &events, false) {
                Verdict::Runs(place) => {
                    served.push(e.event.clone());
                    runs.push(place);
                }
                Verdict::Problem(d, fix) => problems.push(problem(runtime, d, fix)),
            }
        }
    }
    if problems.is_empty() && !served.is_empty() && served.iter().all(|e| e == "PermissionRequest")
    {
        let mut out = summary(runtime, &files, runs, problems);
        out.push(
            check(
                runtime.name(),
                Status::Info,
                "only PermissionRequest runs `ash hook claude-code`: `claude -p` asks it, but interactive Claude Code starts in auto mode, where it asks nothing, so the hook sees nothing",
            )
            .fix("add the PreToolUse hook (`ash setup claude-code`), or start Claude Code with --permission-mode manual"),
        );
        return out;
    }
    summary(runtime, &files, runs, problems)
}

/// Project settings with agentd's hook in a folder above `cwd` (short of the home folder):
/// Claude Code and Gemini CLI read project settings only from the folder they start in, so
/// those do not apply to a run started here.
fn settings_above(runtime: Runtime, cwd: &Path, file: &str) -> Vec<Check> {
    let home = crate::runtimes::home();
    let label = match runtime {
        Runtime::ClaudeCode => "Claude Code",
        Runtime::Codex => "Codex",
        Runtime::Gemini => "Gemini CLI",
    };
    cwd.ancestors()
        .skip(1)
        .take_while(|d| home.as_deref() != Some(*d))
        .filter_map(|dir| {
            let above = dir.join(file);
            let text = std::fs::read_to_string(&above).ok()?;
            let doc = settings_json::parse(&text).ok()?;
            let hooked = settings_json::entries(&doc)
                .iter()
                .any(|e| e.command.contains(&runtime.command()));
            hooked.then(|| {
                problem(
                    runtime,
                    format!(
                        "{} applies only when {label} starts in {}, not here ({})",
                        above.display(),
                        dir.display(),
                        cwd.display()
                    ),
                    format!(
                        "start {label} in {}, or `ash setup {}` for your own settings",
                        dir.display(),
                        runtime.name()
                    ),
                )
            })
        })
        .collect()
}

fn codex_checks(cwd: &Path) -> Vec<Check> {
    let runtime = Runtime::Codex;
    let user = codex::user_config();
    let mut paths: Vec<PathBuf> = user.iter().cloned().collect();
    paths.push(cwd.join(".codex/config.toml"));
    let files = existing(paths, toml_json);
    if files.is_empty() {
        return Vec::new();
    }
    // Trust and the hooks feature are read from the user's config only.
    let user_text = user
        .as_ref()
        .and_then(|u| std::fs::read_to_string(u).ok())
        .unwrap_or_default();
    let user_hooks = user
        .as_ref()
        .and_then(|u| codex::read(u, &user_text).ok())
        .unwrap_or_default();
    let events = ["PermissionRequest", "PreToolUse"];
    let (mut runs, mut problems) = (Vec::new(), Vec::new());
    if user_hooks.disabled {
        problems.push(problem(
            runtime,
            "[features] hooks = false: Codex runs no hook at all".into(),
            "remove it from the [features] of your Codex config".into(),
        ));
    }
    for f in &files {
        let Ok(text) = std::fs::read_to_string(&f.path) else {
            continue;
        };
        let Ok(hooks) = codex::read(&f.path, &text) else {
            continue;
        };
        for h in hooks
            .handlers
            .iter()
            .filter(|h| h.command.contains("ash hook"))
        {
            let entry = settings_json::Entry {
                event: h.event.clone(),
                command: h.command.clone(),
                timeout: h.timeout_secs,
                name: None,
            };
            let place = format!("{} ({})", h.event, f.path.display());
            match judge(runtime, &f.path, &entry, &events, false) {
                Verdict::Problem(d, fix) => problems.push(problem(runtime, d, fix)),
                Verdict::Runs(_) if user_hooks.switched_off(h) => problems.push(problem(
                    runtime,
                    format!("{place}: switched off (enabled = false under [hooks.state])"),
                    "remove `enabled = false` for it, or run `ash setup codex`".into(),
                )),
                Verdict::Runs(_) if !user_hooks.trusted(h) => problems.push(problem(
                    runtime,
                    format!("{place}: not trusted (new or edited since trusted), so `codex exec` skips it without a word"),
                    "`ash setup codex` records the trust Codex asks for (or trust it in Codex's TUI)".into(),
                )),
                Verdict::Runs(place) => {
                    if h.command.contains("--on-error ask") || h.command.contains("--on-error=ask") {
                        problems.push(problem(
                            runtime,
                            format!("{place}: --on-error ask means \"run it\" in `codex exec`, which has no prompt to fall back to"),
                            "drop --on-error ask (a failure then denies)".into(),
                        ));
                    }
                    runs.push(place);
                }
            }
        }
    }
    summary(runtime, &files, runs, problems)
}

fn gemini_checks(cwd: &Path) -> Vec<Check> {
    let runtime = Runtime::Gemini;
    let user = gemini::user_settings();
    let project = gemini::project_settings(cwd);
    let system = gemini::system_settings();
    // Lowest first: user, project, system (Gemini CLI's merge order).
    let mut paths: Vec<PathBuf> = user.iter().cloned().collect();
    if Some(&project) != user.as_ref() {
        paths.push(project.clone());
    }
    paths.push(system.clone());
    let files = existing(paths, settings_json::parse);
    let mut problems = settings_above(runtime, cwd, ".gemini/settings.json");
    if files.is_empty() && problems.is_empty() {
        return Vec::new();
    }
    let layers: Vec<&Value> = files.iter().filter_map(|f| f.doc.as_ref().ok()).collect();
    if !gemini::hooks_enabled(&layers) {
        problems.push(problem(
            runtime,
            "hooksConfig.enabled is false: Gemini CLI runs no hook".into(),
            "set it to true (`ash setup gemini` does, in the file it writes)".into(),
        ));
    }
    let (mut runs, mut any_hook) = (Vec::new(), false);
    for f in &files {
        let Ok(doc) = &f.doc else { continue };
        for e in settings_json::entries(doc)
            .iter()
            .filter(|e| e.command.contains("ash hook"))
        {
            any_hook = true;
            match judge(runtime, &f.path, e, &["BeforeTool"], true) {
                Verdict::Problem(d, fix) => problems.push(problem(runtime, d, fix)),
                Verdict::Runs(place)
                    if gemini::hook_disabled(&layers, e.name.as_deref(), &e.command) =>
                {
                    problems.push(problem(
                        runtime,
                        format!("{place}: hooksConfig.disabled names it, so Gemini CLI skips it"),
                        "take it out of hooksConfig.disabled (`ash setup gemini` does)".into(),
                    ))
                }
                Verdict::Runs(place) => runs.push(place),
            }
        }
    }
    // Project settings cannot switch folder trust off.
    let not_project: Vec<&Value> = files
        .iter()
        .filter(|f| f.path != project)
        .filter_map(|f| f.doc.as_ref().ok())
        .collect();
    let trusted = match gemini::trust_from_env() {
        Some(trusted) => trusted,
        None if !gemini::folder_trust_on(&not_project) => true,
        None => gemini::trusted_folders()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| settings_json::parse(&t).ok())
            .is_some_and(|t| {
                gemini::is_trusted(
                    &t,
                    &std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf()),
                )
            }),
    };
    if any_hook && !trusted {
        problems.push(problem(
            runtime,
            format!("Gemini CLI does not trust {}: it runs no hook there, not even your own (`gemini -p` stops with exit 55)", cwd.display()),
            "`ash setup gemini --trust-folder` here, or trust the folder when Gemini CLI asks".into(),
        ));
    }
    summary(runtime, &files, runs, problems)
}
