//! `ash hook claude-code` with recorded Claude Code hook inputs (Bash, Edit, Write, an MCP
//! tool): allow when approved, deny with the operator's reason, and deny (fail closed) on a
//! timeout, an unreachable agentd, malformed input, or its own deadline.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::Value;
use tokio::process::Child;

const LIMIT: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/claude-code")
            .join(name),
    )
    .unwrap()
}

async fn hook(socket: &Path, input: &str, extra: &[&str]) -> Child {
    common::hook(socket, "claude-code", input, extra).await
}

/// The hook's answer: exit code 0 and the decision JSON.
async fn answer(child: Child) -> (String, String) {
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a hook always exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &doc["hookSpecificOutput"];
    assert_eq!(h["hookEventName"], "PreToolUse");
    (
        h["permissionDecision"].as_str().unwrap().to_string(),
        h["permissionDecisionReason"].as_str().unwrap().to_string(),
    )
}

async fn ash(d: &TempDaemon, args: &[&str]) {
    common::ash_ok(d.socket(), args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_calls_are_allowed_for_every_recorded_tool() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    for (file, tool, summary) in [
        (
            "bash.json",
            "Bash",
            "terraform apply -auto-approve (in /home/dev/app)",
        ),
        (
            "edit.json",
            "Edit",
            "/home/dev/app/src/main.rs (in /home/dev/app)",
        ),
        (
            "write.json",
            "Write",
            "/home/dev/app/.env (in /home/dev/app)",
        ),
        (
            "mcp.json",
            "mcp__probe__touch",
            "/home/dev/app/from-mcp (in /home/dev/app)",
        ),
    ] {
        let input = fixture(file);
        let recorded: serde_json::Value = serde_json::from_str(&input).unwrap();
        let child = hook(d.socket(), &input, &[]).await;
        let req = common::first_pending(&d, "the hook's request").await;
        assert_eq!(req["tool"], tool);
        assert_eq!(req["agent"], "claude-code");
        assert_eq!(req["session"], recorded["session_id"]);
        assert_eq!(req["summary"], summary);
        ash(
            &d,
            &[
                "approve",
                req["id"].as_str().unwrap(),
                "--operator",
                "alice",
            ],
        )
        .await;
        let (decision, reason) = answer(child).await;
        assert_eq!(decision, "allow", "{file}");
        assert_eq!(reason, "approved by alice");
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_carries_the_operators_reason_to_claude() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let child = hook(d.socket(), &fixture("bash.json"), &[]).await;
    let req = common::first_pending(&d, "the hook's request").await;
    assert_eq!(req["args"]["command"], "terraform apply -auto-approve");
    ash(
        &d,
        &[
            "deny",
            req["id"].as_str().unwrap(),
            "--operator",
            "bob",
            "--reason",
            "plan first",
        ],
    )
    .await;
    assert_eq!(
        answer(child).await,
        ("deny".into(), "denied by operator bob: plan first".into())
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_that_need_no_approval_are_allowed_at_once() {
    let d = TempDaemon::start(Settings {
        tools: vec![agentd_proto::ToolSpec {
            name: "Edit".into(),
            requires_approval: false,
            approval_timeout_secs: 10,
            risk: agentd_proto::Risk::Low,
        }],
        ..Settings::default()
    })
    .unwrap();
    let (decision, _) = answer(hook(d.socket(), &fixture("edit.json"), &[]).await).await;
    assert_eq!(decision, "allow");
    d.stop().await.unwrap();
}

/// A request lasts the shorter of the tool's timeout and the hook's deadline, and the denial
/// says which one ended it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_denial_names_the_deadline_that_ended_it() {
    let d = TempDaemon::start(Settings {
        tools: vec![agentd_proto::ToolSpec {
            name: "Bash".into(),
            requires_approval: true,
            approval_timeout_secs: 1,
            risk: agentd_proto::Risk::High,
        }],
        ..Settings::default()
    })
    .unwrap();
    let (decision, reason) = answer(hook(d.socket(), &fixture("bash.json"), &[]).await).await;
    assert_eq!(decision, "deny");
    assert!(
        reason.contains("the tool's 1 s timeout (set in agentd), before the hook's 550 s deadline"),
        "{reason}"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_fails_closed() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    // Its own deadline: nobody decides within 1 s.
    let (decision, reason) =
        answer(hook(d.socket(), &fixture("bash.json"), &["--deadline", "1"]).await).await;
    assert_eq!(decision, "deny");
    assert!(
        reason.contains("no decision within the hook's 1 s deadline"),
        "{reason}"
    );
    // Malformed input.
    let (decision, reason) = answer(hook(d.socket(), "{\"tool_input\": 3", &[]).await).await;
    assert_eq!(decision, "deny");
    assert!(reason.contains("malformed hook input"), "{reason}");
    let (decision, _) = answer(hook(d.socket(), "{}", &[]).await).await;
    assert_eq!(decision, "deny", "no tool_name");
    d.stop().await.unwrap();
    // agentd down: deny, or ask when told to.
    let gone = tempfile::tempdir().unwrap();
    let socket = gone.path().join("nobody.sock");
    let (decision, reason) = answer(hook(&socket, &fixture("mcp.json"), &[]).await).await;
    assert_eq!(decision, "deny");
    assert!(
        reason.contains("cannot reach agentd") && reason.ends_with("denied to be safe"),
        "{reason}"
    );
    let (decision, _) =
        answer(hook(&socket, &fixture("mcp.json"), &["--on-error", "ask"]).await).await;
    assert_eq!(decision, "ask");
}

/// The recorded Bash input with another command, and the recorded shape for a Read.
fn with_command(command: &str) -> String {
    let mut input: Value = serde_json::from_str(&fixture("bash.json")).unwrap();
    input["tool_input"]["command"] = Value::String(command.into());
    input.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_config_reads_and_git_status_pass_and_rm_then_make_asks() {
    // agentd's settings with no config: the built-in presets and read-only command rules.
    // (This test is both the agent's runtime and the operator, so it may decide its own.)
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut read: Value = serde_json::from_str(&fixture("bash.json")).unwrap();
    read["tool_name"] = Value::String("Read".into());
    read["tool_input"] = serde_json::json!({ "file_path": "/home/dev/app/src/main.rs" });
    for input in [read.to_string(), with_command("git status")] {
        let (decision, reason) = answer(hook(d.socket(), &input, &[]).await).await;
        assert_eq!(decision, "allow", "{input}: {reason}");
    }
    // `rm -rf build && make` waits for a person; the request says what was not covered.
    let child = hook(d.socket(), &with_command("rm -rf build && make"), &[]).await;
    let req = common::first_pending(&d, "the hook's request").await;
    assert_eq!(req["tool"], "Bash");
    let reasons = req["risk_reasons"].to_string();
    assert!(
        reasons.contains("not covered: rm -rf build") && reasons.contains("make"),
        "{reasons}"
    );
    common::ash_ok(
        d.socket(),
        &["deny", req["id"].as_str().unwrap(), "--reason", "no"],
    )
    .await;
    let (decision, _) = answer(child).await;
    assert_eq!(decision, "deny");
    d.stop().await.unwrap();
}

/// A hook its runtime kills (at the runtime's timeout, or because the person answered the
/// runtime's own dialog) leaves nobody to answer: its request is withdrawn at once, not held
/// for the re-attach grace; deciding a request nobody waits for says so and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_hook_withdraws_its_request_at_once() {
    let d = TempDaemon::start(Settings {
        // Long enough that only the ended process can explain the withdrawal.
        grace_period: std::time::Duration::from_secs(3600),
        ..Settings::default()
    })
    .unwrap();
    let mut child = hook(d.socket(), &fixture("bash.json"), &[]).await;
    let req = common::first_pending(&d, "the hook's request").await;
    child.kill().await.unwrap();
    let id = req["id"].as_str().unwrap().to_string();
    let mut poller = agentd_testkit::Poller::new(
        std::time::Duration::from_secs(20),
        "the request to be withdrawn",
    );
    loop {
        let out = common::ash_ok(d.socket(), &["show", &id, "--json"]).await;
        let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if view["state"] == "withdrawn" {
            assert_eq!(
                view["decision"]["reason"], "the agent's process ended",
                "{view}"
            );
            break;
        }
        poller.tick().await;
    }
    // A request whose agent is away but may come back: the decision is kept, and ash says
    // nobody waits for it.
    let agent = d.agent("runner").await.unwrap();
    let mut agent = agent;
    let ticket = agent
        .submit(&agentd_proto::ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let id = match ticket {
        agentd_proto::Submitted::Queued(t) => t.id.to_string(),
        other => panic!("{other:?}"),
    };
    drop(agent);
    let mut poller = agentd_testkit::Poller::new(
        std::time::Duration::from_secs(20),
        "the agent to be seen gone",
    );
    loop {
        let out = common::ash_ok(d.socket(), &["show", &id, "--json"]).await;
        let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if view["attached"] == false {
            break;
        }
        poller.tick().await;
    }
    let out = common::ash_command(d.socket())
        .args(["approve", &id, "--operator", "alice"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody is waiting for this answer"), "{err}");
    d.stop().await.unwrap();
}
