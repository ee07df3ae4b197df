//! Approving an edited call: `ash approve ID --args JSON` approves with other arguments; the
//! agent's outcome carries them, `ash show`, the history and the audit trail keep both the asked
//! and the approved ones, the hooks hand them to their runtime where it can take them (and say
//! so where it cannot), `ash exec` runs the edited command, and no grant is ever made from them.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Stdio;

use agentd::Settings;
use agentd_proto::{DecideRequest, Scope, Verdict};
use agentd_testkit::TempDaemon;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

fn ash(socket: &Path) -> Command {
    let mut cmd = Command::new(common::ash_bin());
    cmd.env("AGENTD_SOCKET", socket)
        .env("USER", "alice")
        .env_remove("CLAUDE_PROJECT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn id_of_pending(d: &TempDaemon) -> String {
    common::first_pending(d, "the request").await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_gets_the_edited_arguments_and_both_are_kept() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let asker = ash(d.socket())
        .args([
            "request",
            "--tool",
            "deploy",
            "--args",
            r#"{"env":"prod","force":true}"#,
            "--json",
        ])
        .spawn()
        .unwrap();
    let id = id_of_pending(&d).await;
    let out = ash(d.socket())
        .args(["approve", &id, "--args", r#"{"env": "staging"}"#])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("with edited arguments"),
        "{}",
        text(&out.stdout)
    );
    let out = asker.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["approved_args"], json!({"env": "staging"}));
    // Both kept: the request's arguments as asked, the decision's as approved.
    let shown: Value = serde_json::from_slice(
        &ash(d.socket())
            .args(["show", &id, "--json"])
            .output()
            .await
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(shown["args"], json!({"env": "prod", "force": true}));
    assert_eq!(
        shown["decision"]["approved_args"],
        json!({"env": "staging"})
    );
    let shown = text(
        &ash(d.socket())
            .args(["show", &id])
            .output()
            .await
            .unwrap()
            .stdout,
    );
    assert!(
        shown.contains("approved arguments (edited by the operator"),
        "{shown}"
    );
    assert!(shown.contains("\"staging\""), "{shown}");
    // The audit trail records them with the decision.
    let exported = text(
        &ash(d.socket())
            .args(["export"])
            .output()
            .await
            .unwrap()
            .stdout,
    );
    assert!(exported.contains("staging"), "{exported}");
    let verify = ash(d.socket())
        .args(["audit", "verify"])
        .output()
        .await
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_arguments_never_make_a_grant_and_mistakes_are_one_line() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let _asker = ash(d.socket())
        .args([
            "request",
            "--tool",
            "deploy",
            "--session",
            "s",
            "--args",
            "{}",
        ])
        .spawn()
        .unwrap();
    let id = id_of_pending(&d).await;
    for (args, expect) in [
        (
            vec!["approve", &id, "--args", "{nope"],
            "invalid JSON in --args",
        ),
        (
            vec!["deny", &id, "--args", "{}"],
            "--args goes with approve",
        ),
        (
            vec!["approve", &id, "--args", "{\"a\":1}", "--scope", "session"],
            "it goes without --scope and --grant",
        ),
    ] {
        let out = ash(d.socket()).args(&args).output().await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(expect),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // agentd refuses it too, from any client.
    let mut op = d.operator("alice").await.unwrap();
    let err = op
        .decide(&DecideRequest {
            id: id.clone(),
            verdict: Verdict::Approve,
            operator: "alice".into(),
            reason: None,
            scope: Scope::Session,
            grant: None,
            args_json: Some("{\"a\":1}".into()),
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("for this call only"), "{err}");
    assert!(op.grants().await.unwrap().is_empty());
    assert_eq!(
        common::first_pending(&d, "still pending").await["id"],
        id.as_str()
    );
    d.stop().await.unwrap();
}

async fn hook(socket: &Path, runtime: &str, input: &str) -> Child {
    let mut child = ash(socket).args(["hook", runtime]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

/// What a hook answers when its call is approved with `edited` arguments.
async fn approved_edited(d: &TempDaemon, runtime: &str, input: &str, edited: &str) -> Value {
    let child = hook(d.socket(), runtime, input).await;
    let id = id_of_pending(d).await;
    let out = ash(d.socket())
        .args(["approve", &id, "--args", edited])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_hand_the_edited_arguments_to_their_runtime() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let edited = r#"{"command":"terraform plan"}"#;
    let out = approved_edited(&d, "claude-code", &fixture("claude-code/bash.json"), edited).await;
    assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "allow");
    assert_eq!(
        out["hookSpecificOutput"]["updatedInput"],
        json!({"command": "terraform plan"})
    );
    let out = approved_edited(
        &d,
        "claude-code",
        &fixture("claude-code/permission-request.json"),
        edited,
    )
    .await;
    assert_eq!(
        out["hookSpecificOutput"]["decision"],
        json!({"behavior": "allow", "updatedInput": {"command": "terraform plan"}})
    );
    let out = approved_edited(&d, "gemini", &fixture("gemini/before-tool.json"), edited).await;
    assert_eq!(out["decision"], "allow");
    assert_eq!(
        out["hookSpecificOutput"]["tool_input"],
        json!({"command": "terraform plan"})
    );
    let out = approved_edited(&d, "codex", &fixture("codex/pre-tool-use.json"), edited).await;
    assert_eq!(
        out["hookSpecificOutput"]["updatedInput"],
        json!({"command": "terraform plan"})
    );
    // Codex's PermissionRequest cannot take new arguments: it says so, and does not run the old.
    let out = approved_edited(
        &d,
        "codex",
        &fixture("codex/permission-request.json"),
        edited,
    )
    .await;
    let decision = &out["hookSpecificOutput"]["decision"];
    assert_eq!(decision["behavior"], "deny");
    assert!(
        decision["message"]
            .as_str()
            .unwrap()
            .contains("terraform plan"),
        "{decision}"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ash_exec_runs_the_command_as_edited() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = ash(d.socket())
        .args(["exec", "--", "sh", "-c", "echo asked"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let id = id_of_pending(&d).await;
    let out = ash(d.socket())
        .args(["approve", &id, "--args", r#"{"argv":["echo","edited"]}"#])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "edited\n");
    // Edited into something that is not a command: nothing runs.
    let child = ash(d.socket())
        .args(["exec", "--", "sh", "-c", "echo asked"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let id = id_of_pending(&d).await;
    ash(d.socket())
        .args(["approve", &id, "--args", r#"{"argv":"echo"}"#])
        .output()
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    d.stop().await.unwrap();
}
