//! `ash doctor` reads each agent runtime's hook settings it finds (Claude Code, Codex, Gemini
//! CLI, in the project and the home folder) and says whether they ask agentd, on which events,
//! and whether their timeout leaves the hook time to answer.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::path::Path;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::Value;
use tokio::process::Command;

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// `ash doctor --json` with `home` as the home folder and `project` as the working folder.
async fn doctor(socket: &Path, home: &Path, project: &Path) -> Vec<Value> {
    let out = Command::new(common::ash_bin())
        .args(["doctor", "--json"])
        .env("AGENTD_SOCKET", socket)
        .env("HOME", home)
        .env_remove("AGENTD_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .current_dir(project)
        .output()
        .await
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The checks named `name`, every detail and fix joined, and the worst status among them.
fn check(checks: &[Value], name: &str) -> Value {
    let mine: Vec<&Value> = checks.iter().filter(|c| c["name"] == name).collect();
    assert!(!mine.is_empty(), "no {name} check in {checks:?}");
    let rank = |s: &str| {
        ["ok", "info", "warn", "fail"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let worst = mine
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .max_by_key(|s| rank(s))
        .unwrap();
    let join = |key: &str| {
        mine.iter()
            .filter_map(|c| c[key].as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    serde_json::json!({"status": worst, "detail": join("detail"), "fix": join("fix")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_runtimes_hook_settings_are_checked() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    // Claude Code: right, in the home folder.
    write(
        home.path(),
        ".claude/settings.json",
        r#"{"hooks":{"PreToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"ash hook claude-code","timeout":600}]}]}}"#,
    );
    // Codex: a timeout the hook cannot answer within.
    write(
        project.path(),
        ".codex/config.toml",
        "[[hooks.PermissionRequest]]\nmatcher = \"*\"\n[[hooks.PermissionRequest.hooks]]\ntype = \"command\"\ncommand = \"ash hook codex\"\ntimeout = 30\n",
    );
    // Gemini CLI: no timeout (its default is 60 s), and another runtime's hook.
    write(
        home.path(),
        ".gemini/settings.json",
        r#"{"hooks":{"BeforeTool":[{"matcher":"*","hooks":[{"type":"command","command":"ash hook gemini"},{"type":"command","command":"ash hook codex","timeout":600000}]}]}}"#,
    );
    let checks = doctor(d.socket(), home.path(), project.path()).await;
    let claude = check(&checks, "claude-code");
    assert_eq!(claude["status"], "ok", "{claude}");
    assert!(claude["detail"]
        .as_str()
        .unwrap()
        .contains("asks agentd on PreToolUse"));
    let codex = check(&checks, "codex");
    assert_eq!(codex["status"], "warn", "{codex}");
    assert!(
        codex["detail"]
            .as_str()
            .unwrap()
            .contains("timeout is 30 s"),
        "{codex}"
    );
    assert!(
        codex["fix"].as_str().unwrap().contains("timeout = 600"),
        "{codex}"
    );
    let gemini = check(&checks, "gemini");
    assert_eq!(gemini["status"], "warn", "{gemini}");
    let detail = gemini["detail"].as_str().unwrap();
    assert!(detail.contains("60000 ms by default"), "{detail}");
    assert!(detail.contains("the hook of another runtime"), "{detail}");
    assert!(
        gemini["fix"].as_str().unwrap().contains("(milliseconds)"),
        "{gemini}"
    );
    // A settings file that does not parse is said so, and one without our hook is information.
    write(project.path(), ".claude/settings.local.json", "{ not json");
    write(
        project.path(),
        ".codex/config.toml",
        "model = \"gpt-5.5\"\n",
    );
    let checks = doctor(d.socket(), home.path(), project.path()).await;
    let claude = check(&checks, "claude-code");
    assert_eq!(claude["status"], "warn");
    assert!(
        claude["detail"]
            .as_str()
            .unwrap()
            .contains("does not parse"),
        "{claude}"
    );
    assert_eq!(check(&checks, "codex")["status"], "info");
    d.stop().await.unwrap();
}
