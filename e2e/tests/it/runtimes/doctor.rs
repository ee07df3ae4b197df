//! `ash doctor` against the real runtimes: where doctor says ok, the runtime really calls the
//! hook; where the runtime skips it, doctor says why. Each case runs the runtime with agentd
//! absent and a shell call the runtime would otherwise run by itself: a hook that runs denies
//! it (no marker), a hook that is skipped lets it run (a marker).

use std::path::Path;

use serde_json::{json, Value};

use super::{finished, said, touch, Rig, Runtime, Setup};
use crate::common;

/// `ash doctor --json` run in `dir` with the rig's HOME; the checks named `runtime`.
fn doctor(rig: &Rig, dir: &Path, runtime: &str) -> Vec<Value> {
    let out = std::process::Command::new(common::ash_bin())
        .args(["doctor", "--json"])
        .current_dir(dir)
        .env("HOME", rig.home())
        .env("CODEX_HOME", rig.home().join(".codex"))
        .env("AGENTD_SOCKET", rig.socket())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mine: Vec<Value> = all.into_iter().filter(|c| c["name"] == runtime).collect();
    // A hook that will not run fails the doctor (interface.md).
    if mine.iter().any(|c| c["status"] == "warn") {
        assert_eq!(out.status.code(), Some(1), "{mine:?}");
    }
    mine
}

/// `ash doctor` as a person reads it, run in `dir`.
fn doctor_text(rig: &Rig, dir: &Path) -> String {
    let out = std::process::Command::new(common::ash_bin())
        .arg("doctor")
        .current_dir(dir)
        .env("HOME", rig.home())
        .env("CODEX_HOME", rig.home().join(".codex"))
        .env("AGENTD_SOCKET", rig.socket())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Whether doctor says ok for `runtime` and nothing worse.
fn says_ok(checks: &[Value]) -> bool {
    !checks.is_empty()
        && checks.iter().any(|c| c["status"] == "ok")
        && checks
            .iter()
            .all(|c| c["status"] == "ok" || c["status"] == "info")
}

/// Runs `setup`'s runtime in `dir` with agentd absent on a call that makes a marker; true when
/// the hook ran (and, failing closed, stopped the call).
async fn hook_ran(rig: &Rig, setup: Setup, dir: &Path) -> bool {
    let mut cmd = rig.command(setup.runtime());
    cmd.current_dir(dir);
    match setup.runtime() {
        // Allowed by Claude Code's own rules, so only a hook stops it.
        Runtime::ClaudeCode => cmd.args(["-p", "make the marker", "--allowedTools", "Bash"]),
        Runtime::Codex => cmd.args(super::codex::EXEC).arg("make the marker"),
        Runtime::Gemini => cmd.args(["-p", "make the marker", "--yolo"]),
    };
    let out = finished(cmd.spawn().unwrap()).await;
    let made = dir.join("marker").exists();
    assert!(
        made || !rig.model.results().is_empty() || !out.status.success(),
        "the runtime neither ran the call nor told the model: {}",
        said(&out)
    );
    !made
}

/// A rig whose model makes the marker in the folder it runs in.
async fn rig(setup: Setup) -> Rig {
    Rig::without_agentd(vec![vec![setup.shell(&touch("marker"))]]).await
}

/// Fails unless some check's text holds `text`.
fn mentions(checks: &[Value], text: &str) {
    assert!(detail(checks).contains(text), "{}", detail(checks));
}

/// Rewrites the file at `path` with `change`.
fn edit(path: &Path, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, change(text)).unwrap();
}

fn detail(checks: &[Value]) -> String {
    checks
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_a_hook_written_by_hand_is_untrusted_and_skipped() {
    let setup = Setup::CodexPreToolUse;
    let rig = rig(setup).await;
    setup.configure(&rig);
    // The hook as a person pastes it from the docs: Codex has not recorded trust in it.
    let config = rig.home().join(".codex/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let cut = text.find("[hooks.state").unwrap();
    std::fs::write(&config, &text[..cut]).unwrap();
    let checks = doctor(&rig, &rig.project(), "codex");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    mentions(&checks, "not trusted");
    // One line says what is wrong and how to fix it.
    let text = doctor_text(&rig, &rig.project());
    let line = text.lines().find(|l| l.contains("not trusted")).unwrap();
    assert!(
        line.starts_with("WARN  codex") && line.contains("fix: `ash setup codex`"),
        "{text}"
    );
    assert!(
        !hook_ran(&rig, setup, &rig.project()).await,
        "codex exec skipped it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_after_setup_the_hook_is_trusted_and_runs() {
    let setup = Setup::CodexPreToolUse;
    let rig = rig(setup).await;
    setup.configure(&rig);
    let checks = doctor(&rig, &rig.project(), "codex");
    assert!(says_ok(&checks), "{}", detail(&checks));
    assert!(hook_ran(&rig, setup, &rig.project()).await);
    // Edited after it was trusted: Codex skips it again, and doctor says so.
    edit(&rig.home().join(".codex/config.toml"), |t| {
        t.replace("timeout = 600", "timeout = 900")
    });
    let checks = doctor(&rig, &rig.project(), "codex");
    mentions(&checks, "not trusted");
    assert!(
        !hook_ran(&rig, setup, &rig.project()).await,
        "an edited hook is skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_hooks_switched_off_by_the_feature_flag() {
    let setup = Setup::CodexPreToolUse;
    let rig = rig(setup).await;
    setup.configure(&rig);
    edit(&rig.home().join(".codex/config.toml"), |t| {
        format!("{t}\n[features]\nhooks = false\n")
    });
    let checks = doctor(&rig, &rig.project(), "codex");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    assert!(!hook_ran(&rig, setup, &rig.project()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_on_error_ask_lets_exec_run_the_call() {
    let setup = Setup::CodexPreToolUse;
    let rig = rig(setup).await;
    let home = rig.home().join(".codex");
    setup.configure(&rig);
    // The hook with --on-error ask, trusted as setup trusts it.
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let cut = text.find("[[hooks").unwrap();
    std::fs::write(&config, &text[..cut]).unwrap();
    let out = std::process::Command::new(common::ash_bin())
        .args(["setup", "codex"])
        .env("HOME", rig.home())
        .env("CODEX_HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&config).unwrap();
    let (with_ask, _) = text.split_once("[hooks.state").unwrap();
    let with_ask = with_ask.replace("ash hook codex", "ash hook codex --on-error ask");
    let handler =
        json!({"type": "command", "command": "ash hook codex --on-error ask", "timeout": 600});
    let hash = ash::runtimes::codex::hook_hash("PreToolUse", Some("*"), &handler);
    let key = ash::runtimes::codex::hook_key(&config, "PreToolUse", 0, 0);
    std::fs::write(
        &config,
        format!("{with_ask}[hooks.state.\"{key}\"]\ntrusted_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let checks = doctor(&rig, &rig.project(), "codex");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    mentions(&checks, "--on-error ask");
    assert!(
        !hook_ran(&rig, setup, &rig.project()).await,
        "with agentd away the call ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_hooks_switched_off_or_disabled_by_name() {
    let setup = Setup::GeminiBeforeTool;
    for config in [
        json!({"hooksConfig": {"enabled": false}}),
        json!({"hooksConfig": {"disabled": ["agentd"]}}),
    ] {
        let rig = rig(setup).await;
        setup.configure(&rig);
        let file = rig.home().join(".gemini/settings.json");
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        doc["hooksConfig"] = config["hooksConfig"].clone();
        std::fs::write(&file, doc.to_string()).unwrap();
        let checks = doctor(&rig, &rig.project(), "gemini");
        assert!(!says_ok(&checks), "{config}: {}", detail(&checks));
        assert!(!hook_ran(&rig, setup, &rig.project()).await, "{config}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_in_a_folder_it_does_not_trust_runs_no_hook() {
    let setup = Setup::GeminiBeforeTool;
    let rig = rig(setup).await;
    setup.configure(&rig);
    std::fs::remove_file(rig.home().join(".gemini/trustedFolders.json")).unwrap();
    let checks = doctor(&rig, &rig.project(), "gemini");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    mentions(&checks, "does not trust");
    let mut cmd = rig.command(Runtime::Gemini);
    cmd.args(["-p", "make the marker", "--yolo"]);
    let out = finished(cmd.spawn().unwrap()).await;
    assert_eq!(out.status.code(), Some(55), "{}", said(&out));
    assert!(rig.model.requests().is_empty(), "nothing reached the model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_project_settings_do_not_apply_from_a_subfolder() {
    let setup = Setup::GeminiBeforeTool;
    let rig = rig(setup).await;
    setup.configure(&rig);
    // The hook in the project's settings only, and Gemini CLI started one folder down.
    let user = rig.home().join(".gemini/settings.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&user).unwrap()).unwrap();
    let hooks = doc["hooks"].take();
    doc.as_object_mut().unwrap().remove("hooks");
    std::fs::write(&user, doc.to_string()).unwrap();
    let project = rig.project().join(".gemini");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("settings.json"),
        json!({"hooks": hooks}).to_string(),
    )
    .unwrap();
    let sub = rig.project().join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let checks = doctor(&rig, &sub, "gemini");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    mentions(&checks, "applies only when Gemini CLI starts in");
    assert!(
        !hook_ran(&rig, setup, &sub).await,
        "started in src/, the hook is not read"
    );
    // Started in the project folder itself, it is.
    let checks = doctor(&rig, &rig.project(), "gemini");
    assert!(says_ok(&checks), "{}", detail(&checks));
    assert!(hook_ran(&rig, setup, &rig.project()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_disable_all_hooks_and_project_subfolders() {
    let setup = Setup::ClaudePreToolUse;
    let rig = rig(setup).await;
    setup.configure(&rig);
    // From a subfolder of the project, Claude Code finds the project's settings as doctor does.
    let sub = rig.project().join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let checks = doctor(&rig, &sub, "claude-code");
    mentions(&checks, "applies only when Claude Code starts in");
    let found = says_ok(&checks);
    assert_eq!(
        found,
        hook_ran(&rig, setup, &sub).await,
        "no git: {}",
        detail(&checks)
    );
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(rig.project())
        .status()
        .unwrap();
    assert!(git.success());
    std::fs::remove_file(sub.join("marker")).ok();
    let checks = doctor(&rig, &sub, "claude-code");
    let found = says_ok(&checks);
    assert_eq!(
        found,
        hook_ran(&rig, setup, &sub).await,
        "in a git repository: {}",
        detail(&checks)
    );
    // disableAllHooks: nothing runs, and doctor says so.
    let file = rig.project().join(".claude/settings.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    doc["disableAllHooks"] = json!(true);
    std::fs::write(&file, doc.to_string()).unwrap();
    let checks = doctor(&rig, &rig.project(), "claude-code");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    assert!(!hook_ran(&rig, setup, &rig.project()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_a_deadline_above_the_timeout_is_named() {
    let setup = Setup::ClaudePreToolUse;
    let rig = rig(setup).await;
    setup.configure(&rig);
    let file = rig.project().join(".claude/settings.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "ash hook claude-code",
            "ash hook claude-code --deadline 700",
        ),
    )
    .unwrap();
    let checks = doctor(&rig, &rig.project(), "claude-code");
    assert!(!says_ok(&checks), "{}", detail(&checks));
    mentions(&checks, "700 s deadline");
}
