//! `ash setup RUNTIME`: writes agentd's hook into an agent runtime's own settings, merged into
//! what is there (a backup of the old file beside it), with Codex's trust recorded the way
//! Codex records it and, on request, Gemini CLI's trust in the current folder; then checks the
//! result as `ash doctor` does. Running it twice changes nothing.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use serde_json::{json, Value};

use crate::outcome::UsageError;
use crate::runtimes::{claude, codex, gemini, settings_json, Runtime};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The runtime to set up
    #[arg(value_enum)]
    pub runtime: Runtime,
    /// Write the project's settings (in the current folder) instead of your own
    #[arg(long, conflicts_with = "user")]
    pub project: bool,
    /// Write your own settings, for every project (the default)
    #[arg(long)]
    pub user: bool,
    /// The event to hook: PreToolUse (the default; every call reaches agentd) or
    /// PermissionRequest (only the calls the runtime would ask you about); Gemini CLI has
    /// BeforeTool only
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// Print the change instead of making it
    #[arg(long)]
    pub dry_run: bool,
    /// Take agentd's hook out instead
    #[arg(long)]
    pub remove: bool,
    /// Gemini CLI: also trust the current folder (Gemini CLI runs no hook in a folder it does
    /// not trust)
    #[arg(long)]
    pub trust_folder: bool,
}

/// One file to write: its path, what it holds now (`None`: no file), and what it will hold.
struct Change {
    path: PathBuf,
    old: Option<String>,
    new: String,
    /// Why, when more than the hook changes (said once written).
    notes: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let event = event(&args)?;
    let changes = match args.runtime {
        Runtime::ClaudeCode => claude_changes(&args, &cwd, &event)?,
        Runtime::Codex => codex_changes(&args, &cwd, &event)?,
        Runtime::Gemini => gemini_changes(&args, &cwd)?,
    };
    let changed: Vec<&Change> = changes
        .iter()
        .filter(|c| c.old.as_deref() != Some(c.new.as_str()))
        .collect();
    if changed.is_empty() {
        println!(
            "{}: nothing to change ({})",
            args.runtime.name(),
            changes
                .iter()
                .map(|c| c.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for change in &changed {
        if args.dry_run {
            print_diff(change);
            continue;
        }
        write(change)?;
    }
    if args.dry_run {
        return Ok(0);
    }
    let checks = super::doctor::hooks::checks_for(args.runtime, &cwd);
    let mut worst = 0;
    for c in &checks {
        super::doctor::print_check(c);
        if matches!(
            c.status,
            super::doctor::Status::Warn | super::doctor::Status::Fail
        ) && !args.remove
        {
            worst = 1;
        }
    }
    Ok(worst)
}

fn event(args: &Args) -> anyhow::Result<String> {
    let allowed: &[&str] = match args.runtime {
        Runtime::Gemini => &["BeforeTool"],
        _ => &["PreToolUse", "PermissionRequest"],
    };
    let event = args.event.clone().unwrap_or_else(|| allowed[0].to_string());
    if !allowed.contains(&event.as_str()) {
        return Err(UsageError(format!(
            "--event {event}: {} takes {}",
            args.runtime.name(),
            allowed.join(" or ")
        ))
        .into());
    }
    Ok(event)
}

fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("{}: {e}", path.display())),
    }
}

fn home_file(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    path.ok_or_else(|| {
        anyhow!("HOME is not set, so your own settings cannot be found; use --project")
    })
}

fn claude_changes(args: &Args, cwd: &Path, event: &str) -> anyhow::Result<Vec<Change>> {
    let path = match args.project {
        true => cwd.join(".claude/settings.json"),
        false => home_file(claude::user_settings())?,
    };
    let old = read(&path)?;
    let mut doc = parse_json(&path, old.as_deref())?;
    let mut notes = Vec::new();
    let command = Runtime::ClaudeCode.command();
    settings_json::remove_hooks(&mut doc, &command);
    if !args.remove {
        let handler = json!({"type": "command", "command": command, "timeout": 600});
        settings_json::put_hook(&mut doc, event, handler).map_err(|e| at(&path, e))?;
        if doc.get("disableAllHooks") == Some(&json!(true)) {
            if let Some(doc) = doc.as_object_mut() {
                doc.remove("disableAllHooks");
            }
            notes.push(
                "removed disableAllHooks, which kept Claude Code from running any hook".into(),
            );
        }
    }
    Ok(vec![json_change(path, old, &doc, notes)])
}

fn codex_changes(args: &Args, cwd: &Path, event: &str) -> anyhow::Result<Vec<Change>> {
    let user = home_file(codex::user_config())?;
    let path = match args.project {
        true => cwd.join(".codex/config.toml"),
        false => user.clone(),
    };
    let command = Runtime::Codex.command();
    let old = read(&path)?;
    let text = codex::without_hook(old.as_deref().unwrap_or(""), &path, &command)
        .map_err(|e| at(&path, e))?;
    if args.remove {
        return Ok(vec![Change {
            path,
            old,
            new: text,
            notes: Vec::new(),
        }]);
    }
    let (text, (key, hash)) =
        codex::with_hook(&text, &path, event, &command).map_err(|e| at(&path, e))?;
    // Codex reads trust from the user's config only, whichever file holds the hook.
    if path == user {
        let new = codex::with_trust(&text, &key, &hash).map_err(|e| at(&path, e))?;
        return Ok(vec![Change {
            path,
            old,
            new,
            notes: vec!["recorded Codex's trust in the hook".into()],
        }]);
    }
    let user_old = read(&user)?;
    let user_new = codex::with_trust(user_old.as_deref().unwrap_or(""), &key, &hash)
        .map_err(|e| at(&user, e))?;
    Ok(vec![
        Change {
            path,
            old,
            new: text,
            notes: Vec::new(),
        },
        Change {
            path: user,
            old: user_old,
            new: user_new,
            notes: vec!["recorded Codex's trust in the project's hook".into()],
        },
    ])
}

fn gemini_changes(args: &Args, cwd: &Path) -> anyhow::Result<Vec<Change>> {
    let path = match args.project {
        true => gemini::project_settings(cwd),
        false => home_file(gemini::user_settings())?,
    };
    let old = read(&path)?;
    let mut doc = parse_json(&path, old.as_deref())?;
    let command = Runtime::Gemini.command();
    let mut notes = Vec::new();
    settings_json::remove_hooks(&mut doc, &command);
    if !args.remove {
        let handler =
            json!({"name": "agentd", "type": "command", "command": command, "timeout": 600000});
        settings_json::put_hook(&mut doc, "BeforeTool", handler).map_err(|e| at(&path, e))?;
        if !gemini::hooks_enabled(&[&doc]) {
            doc["hooksConfig"]["enabled"] = json!(true);
            notes
                .push("set hooksConfig.enabled to true: with false Gemini CLI runs no hook".into());
        }
        if let Some(disabled) = doc["hooksConfig"]["disabled"].as_array_mut() {
            let before = disabled.len();
            disabled.retain(|d| d != "agentd" && *d != json!(command));
            if disabled.len() != before {
                notes.push("took agentd out of hooksConfig.disabled".into());
            }
        }
    }
    let mut changes = vec![json_change(path, old, &doc, notes)];
    if args.trust_folder && !args.remove {
        let file = home_file(gemini::trusted_folders())?;
        let old = read(&file)?;
        let trusted = parse_json(&file, old.as_deref())?;
        let new = gemini::with_trusted(&trusted, cwd);
        let note = format!("Gemini CLI trusts {} now", cwd.display());
        changes.push(json_change(file, old, &new, vec![note]));
    }
    Ok(changes)
}

fn parse_json(path: &Path, text: Option<&str>) -> anyhow::Result<Value> {
    match text {
        None => Ok(json!({})),
        Some(text) => settings_json::parse(text).map_err(|e| at(path, e)),
    }
}

/// The change to `path` whose new content is `doc`; an untouched document keeps its text as
/// it was (comments, order), so a second run changes nothing.
fn json_change(path: PathBuf, old: Option<String>, doc: &Value, notes: Vec<String>) -> Change {
    let unchanged = old
        .as_deref()
        .and_then(|t| settings_json::parse(t).ok())
        .is_some_and(|before| before == *doc);
    let new = match (&old, unchanged) {
        (Some(old), true) => old.clone(),
        _ => settings_json::render(doc),
    };
    Change {
        path,
        old,
        new,
        notes,
    }
}

fn at(path: &Path, why: String) -> anyhow::Error {
    anyhow!("{}: {why}", path.display())
}

fn print_diff(change: &Change) {
    let old = change.old.as_deref().unwrap_or("");
    let diff = similar::TextDiff::from_lines(old, &change.new);
    let from = match change.old {
        Some(_) => change.path.display().to_string(),
        None => "/dev/null".to_string(),
    };
    print!(
        "{}",
        diff.unified_diff()
            .header(&from, &change.path.display().to_string())
    );
}

/// Writes `change`: the old file copied to `FILE.bak` first, the new one put in place whole
/// (written beside it, then renamed), with the old file's permissions.
fn write(change: &Change) -> anyhow::Result<()> {
    let path = &change.path;
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("{}: no folder", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut said = format!("wrote {}", path.display());
    if change.old.is_some() {
        let backup = PathBuf::from(format!("{}.bak", path.display()));
        std::fs::copy(path, &backup)
            .with_context(|| format!("cannot back {} up", path.display()))?;
        said.push_str(&format!(" (the old one is {})", backup.display()));
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, change.new.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{said}");
    for note in &change.notes {
        println!("  {note}");
    }
    Ok(())
}
