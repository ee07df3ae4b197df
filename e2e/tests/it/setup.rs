//! `ash setup`: the hook merged into each runtime's own settings (what was there kept, a
//! backup beside it), Codex's trust recorded, `--dry-run` changing nothing, a second run
//! changing nothing, `--remove` taking only agentd's hook out, and bad input refused in one
//! line. That the runtimes then really run the hook is tested against them in `runtimes`.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::common;

/// `ash setup ARGS` with `home` as HOME, run in `dir`.
fn setup(home: &Path, dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(common::ash_bin())
        .arg("setup")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("CODEX_HOME", home.join(".codex"))
        .env_remove("GEMINI_CLI_HOME")
        .env_remove("GEMINI_CLI_TRUSTED_FOLDERS_PATH")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn claude_code_settings_are_merged_backed_up_and_written_once() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let file = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mine = json!({
        "model": "opus",
        "hooks": {"PostToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "my-logger"}]}]}
    });
    std::fs::write(&file, mine.to_string()).unwrap();

    // --dry-run shows the change and writes nothing.
    let dry = setup(home.path(), project.path(), &["claude-code", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains("+") && text(&dry).contains("ash hook claude-code"),
        "{}",
        text(&dry)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), mine.to_string());

    let out = setup(home.path(), project.path(), &["claude-code"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["model"], "opus");
    assert_eq!(doc["hooks"]["PostToolUse"], mine["hooks"]["PostToolUse"]);
    assert_eq!(
        doc["hooks"]["PreToolUse"][0]["hooks"][0],
        json!({"type": "command", "command": "ash hook claude-code", "timeout": 600})
    );
    let backup = home.path().join(".claude/settings.json.bak");
    assert_eq!(std::fs::read_to_string(backup).unwrap(), mine.to_string());
    assert!(
        text(&out).contains("ok    claude-code") || text(&out).contains("ok  "),
        "{}",
        text(&out)
    );

    // A second run changes nothing.
    let before = std::fs::read_to_string(&file).unwrap();
    let again = setup(home.path(), project.path(), &["claude-code"]);
    assert!(
        text(&again).contains("nothing to change"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // --remove takes out agentd's hook only.
    let out = setup(home.path(), project.path(), &["claude-code", "--remove"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc, mine);
}

#[test]
fn codex_gets_the_hook_and_its_trust_with_comments_kept() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let mine = "# my settings\nmodel = \"gpt-5.5\"  # the default one\n";
    std::fs::write(&config, mine).unwrap();
    let out = setup(home.path(), home.path(), &["codex"]);
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.starts_with(mine), "{written}");
    let hooks = ash::runtimes::codex::read(&config, &written).unwrap();
    assert_eq!(hooks.handlers.len(), 1, "{written}");
    assert_eq!(hooks.handlers[0].event, "PreToolUse");
    assert!(hooks.trusted(&hooks.handlers[0]), "{written}");
    assert!(
        text(&out).contains("recorded Codex's trust"),
        "{}",
        text(&out)
    );
    let again = setup(home.path(), home.path(), &["codex"]);
    assert!(
        text(&again).contains("nothing to change"),
        "{}",
        text(&again)
    );
    let out = setup(home.path(), home.path(), &["codex", "--remove"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap().trim(),
        mine.trim()
    );
}

#[test]
fn gemini_switches_back_on_and_trusts_the_folder_when_asked() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let file = home.path().join(".gemini/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        "{\n  // mine\n  \"hooksConfig\": {\"enabled\": false, \"disabled\": [\"agentd\", \"other\"]}\n}\n",
    )
    .unwrap();
    let out = setup(home.path(), project.path(), &["gemini", "--trust-folder"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        doc["hooksConfig"],
        json!({"enabled": true, "disabled": ["other"]})
    );
    assert_eq!(doc["hooks"]["BeforeTool"][0]["hooks"][0]["timeout"], 600000);
    let trusted: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join(".gemini/trustedFolders.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        trusted[project.path().to_string_lossy().as_ref()],
        "TRUST_FOLDER"
    );
    let said = text(&out);
    assert!(
        said.contains("hooksConfig.enabled") && said.contains("hooksConfig.disabled"),
        "{said}"
    );
}

#[test]
fn bad_input_is_one_line_naming_what_and_where() {
    let home = tempfile::tempdir().unwrap();
    let out = setup(
        home.path(),
        home.path(),
        &["gemini", "--event", "PreToolUse"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--event PreToolUse: gemini takes BeforeTool"),
        "{}",
        text(&out)
    );
    let file = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{ not json").unwrap();
    let out = setup(home.path(), home.path(), &["claude-code"]);
    assert_ne!(out.status.code(), Some(0));
    let said = text(&out);
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(
        said.contains(&file.display().to_string()) && said.contains("line 1"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{ not json",
        "left as it was"
    );
}
