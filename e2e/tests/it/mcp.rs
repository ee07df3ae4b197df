//! `ash mcp` driven by an MCP client written by others: the official Python SDK (`mcp` from
//! PyPI, which `.ci/run` installs), calling the `approve` tool as Claude Code's
//! `--permission-prompt-tool` does; allow (with the arguments to use), deny with the reason,
//! and deny when agentd cannot be reached.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

fn client(socket: &Path, tool: &str, input: &Value) -> Child {
    Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py"))
        .args([
            common::ash_bin().to_str().unwrap(),
            socket.to_str().unwrap(),
            tool,
        ])
        .arg(input.to_string())
        .env_remove("CLAUDE_PROJECT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn answer(child: Child) -> Value {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["tools"], json!(["approve"]));
    doc["answer"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_mcp_client_gets_allow_and_deny_in_claude_codes_shape() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let input = json!({ "command": "npm publish" });
    let child = client(d.socket(), "Bash", &input);
    let req = common::first_pending(&d, "the permission prompt's request").await;
    assert_eq!(req["tool"], "Bash");
    assert_eq!(req["agent"], "claude-code");
    assert_eq!(req["args"], input);
    // One session per `ash mcp` process (one Claude Code run), so session grants work.
    assert!(
        req["session"]
            .as_str()
            .is_some_and(|s| s.starts_with("mcp-")),
        "{req}"
    );
    common::ash_ok(d.socket(), &["approve", req["id"].as_str().unwrap()]).await;
    assert_eq!(
        answer(child).await,
        json!({ "behavior": "allow", "updatedInput": { "command": "npm publish" } })
    );
    // Edited on the way: the edited arguments come back.
    let child = client(d.socket(), "Bash", &input);
    let req = common::first_pending(&d, "the second request").await;
    common::ash_ok(
        d.socket(),
        &[
            "approve",
            req["id"].as_str().unwrap(),
            "--args",
            r#"{"command":"npm publish --dry-run"}"#,
        ],
    )
    .await;
    assert_eq!(
        answer(child).await,
        json!({ "behavior": "allow", "updatedInput": { "command": "npm publish --dry-run" } })
    );
    let child = client(d.socket(), "Bash", &input);
    let req = common::first_pending(&d, "the third request").await;
    common::ash_ok(
        d.socket(),
        &[
            "deny",
            req["id"].as_str().unwrap(),
            "--operator",
            "bob",
            "--reason",
            "not from CI",
        ],
    )
    .await;
    assert_eq!(
        answer(child).await,
        json!({ "behavior": "deny", "message": "denied by operator bob: not from CI" })
    );
    d.stop().await.unwrap();
    // agentd gone: deny, saying why.
    let gone = tempfile::tempdir().unwrap();
    let got = answer(client(&gone.path().join("nobody.sock"), "Bash", &input)).await;
    assert_eq!(got["behavior"], "deny");
    assert!(
        got["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach agentd"),
        "{got}"
    );
}
